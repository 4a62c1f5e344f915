//! `mode: rollback`: back to the version the current RC replaced, as a normal rolling update.
//!
//! After a successful update the new RC keeps the previous RC's name, selector and pod template in our
//! annotations (the old RC itself is deleted), so rolling back needs nothing but the cluster: the previous RC
//! is rebuilt from them and rolled to like any new version, with the same floor and the same diagnosis.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerSpec,
};
use kube::api::ObjectMeta;

use super::annotations as ann;
use super::current::Found;
use super::spec::images_of;
use super::{Limits, Observed, Plan};
use crate::inputs::{Mode, Settings};
use crate::k8s::annotation;
use crate::outcome::ImageChange;

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("input `mode: rollback`: no RC of `{rc}` records a previous version (annotation {}); nothing to roll back to. Deploy the old image with `images` instead", ann::PREVIOUS_TEMPLATE)]
    NothingRecorded { rc: String },
    #[error("input `mode: rollback`: the previous version recorded on {name} is unreadable ({detail}); deploy the old image with `images` instead")]
    Unreadable { name: String, detail: String },
}

fn belongs_to(rc: &ReplicationController, base: &str) -> bool {
    rc.metadata.name.as_deref() == Some(base) || annotation(rc, ann::BASE) == Some(base)
}

/// Builds the plan that rolls the current RC back to the previous version it recorded.
pub fn build(
    settings: &Settings,
    namespace: &str,
    observed: &Observed,
) -> Result<Plan, RollbackError> {
    let rc = &settings.rc;
    let mine: Vec<&ReplicationController> =
        observed.rcs.iter().filter(|r| belongs_to(r, rc)).collect();
    // An update in progress (interrupted, or kept by `on_failure: keep`): when it is itself a rollback (heading
    // to the version its source recorded as previous), finish it; otherwise roll it back, which is what the user
    // who asks for a rollback of a failed deploy means.
    if let Some(busy) = mine.iter().find(|r| annotation(r, ann::NEXT).is_some()) {
        let next = annotation(busy, ann::NEXT).unwrap_or_default();
        if annotation(busy, ann::PREVIOUS_NAME) != Some(next) {
            return Ok(abort_plan(settings, namespace, observed, busy, next));
        }
    }
    let current = mine
        .iter()
        .find(|r| annotation(r, ann::PREVIOUS_TEMPLATE).is_some())
        .copied()
        .ok_or_else(|| RollbackError::NothingRecorded { rc: rc.clone() })?;
    let name = current.metadata.name.clone().unwrap_or_default();
    let unreadable = |detail: String| RollbackError::Unreadable {
        name: name.clone(),
        detail,
    };
    let template: PodTemplateSpec =
        serde_json::from_str(annotation(current, ann::PREVIOUS_TEMPLATE).unwrap())
            .map_err(|e| unreadable(format!("pod template: {e}")))?;
    let previous_name = annotation(current, ann::PREVIOUS_NAME)
        .map(str::to_string)
        .ok_or_else(|| unreadable("no previous name".into()))?;
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selector: BTreeMap<String, String> = match annotation(current, ann::PREVIOUS_SELECTOR) {
        Some(json) => {
            serde_json::from_str(json).map_err(|e| unreadable(format!("selector: {e}")))?
        }
        None => {
            let keys = current
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            labels
                .iter()
                .filter(|(k, _)| keys.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
    };
    let version = labels
        .get(&settings.version_label)
        .cloned()
        .unwrap_or_else(|| previous_name.clone());
    let current_spec = current.spec.clone().unwrap_or_default();
    let desired = settings
        .replicas
        .unwrap_or(current_spec.replicas.unwrap_or(1));

    let mut annotations = BTreeMap::new();
    annotations.insert(ann::BASE.to_string(), rc.clone());
    annotations.insert(ann::VERSION.to_string(), version.clone());
    annotations.insert(ann::COMMIT.to_string(), settings.github.event.sha.clone());
    if let Some(run) = &settings.github.run_id {
        annotations.insert(ann::RUN.to_string(), run.clone());
    }
    annotations.insert(ann::DESIRED_REPLICAS.to_string(), desired.to_string());
    annotations.insert(
        ann::SOURCE.to_string(),
        format!(
            "{name}:{}",
            current.metadata.uid.clone().unwrap_or_default()
        ),
    );
    let new_rc = ReplicationController {
        metadata: ObjectMeta {
            name: Some(previous_name.clone()),
            namespace: Some(namespace.to_string()),
            labels: current.metadata.labels.clone(),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(0),
            selector: Some(selector),
            template: Some(template.clone()),
            min_ready_seconds: current_spec.min_ready_seconds,
        }),
        status: None,
    };
    let old_images = images_of(current_spec.template.as_ref());
    let images = images_of(Some(&template))
        .into_iter()
        .map(|(container, image)| ImageChange {
            old: old_images.get(&container).cloned(),
            container,
            new: image,
        })
        .collect();
    Ok(Plan {
        namespace: namespace.to_string(),
        found: Found {
            current: Some(current.clone()),
            reason: Some(format!(
                "rolling back {name} to the previous version {previous_name} it recorded"
            )),
            existing_new: observed
                .rcs
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(previous_name.as_str()))
                .cloned(),
        },
        new_rc,
        limits: Limits::resolve(
            desired,
            settings.pace.max_surge,
            settings.pace.max_unavailable,
        ),
        migration: None,
        images,
        warnings: vec![],
        abort_interrupted: false,
        mode: Mode::Rollback,
    })
}

/// The plan that rolls back the update from `busy` to `next`: `busy` is restored, `next` removed.
fn abort_plan(
    settings: &Settings,
    namespace: &str,
    observed: &Observed,
    busy: &ReplicationController,
    next: &str,
) -> Plan {
    let name = busy.metadata.name.clone().unwrap_or_default();
    let original = annotation(busy, ann::ORIGINAL_REPLICAS)
        .and_then(|v| v.parse::<i32>().ok())
        .or(busy.spec.as_ref().and_then(|s| s.replicas))
        .unwrap_or(1);
    let target = observed
        .rcs
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(next));
    let images = images_of(busy.spec.as_ref().and_then(|s| s.template.as_ref()));
    let now = images_of(
        target
            .and_then(|t| t.spec.as_ref())
            .and_then(|s| s.template.as_ref()),
    );
    Plan {
        namespace: namespace.to_string(),
        found: Found {
            current: Some(busy.clone()),
            reason: Some(format!(
                "an update from {name} to {next} is in progress or was kept; rolling it back: {name} back to {original} replicas, {next} removed"
            )),
            existing_new: target.cloned(),
        },
        new_rc: busy.clone(),
        limits: Limits::resolve(original, settings.pace.max_surge, settings.pace.max_unavailable),
        migration: None,
        images: images
            .into_iter()
            .map(|(container, image)| ImageChange {
                old: now.get(&container).cloned(),
                container,
                new: image,
            })
            .collect(),
        warnings: vec![],
        abort_interrupted: true,
        mode: Mode::Rollback,
    }
}
