//! The new RC: the manifest, or a copy of the current RC, with the image overrides, the versioned name, the
//! version label in selector and template, and our annotations. It starts at 0 replicas: the engine scales it.
//!
//! What the API server owns (uid, resourceVersion, status, managedFields, ...) is stripped: an object copied
//! with them is refused on create, and an annotation written by kubectl for another object would mislead.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, PodTemplateSpec, ReplicationController, ReplicationControllerSpec,
};
use kube::api::ObjectMeta;

use super::annotations as ann;
use super::error::{PlanError, Result};
use crate::inputs::{ImageOverride, Settings};
use crate::outcome::ImageChange;

/// Where the new RC comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Manifest(&'a ReplicationController),
    Current(&'a ReplicationController),
}

impl<'a> Source<'a> {
    fn rc(self) -> &'a ReplicationController {
        match self {
            Source::Manifest(rc) | Source::Current(rc) => rc,
        }
    }
}

fn containers_mut(template: &mut PodTemplateSpec) -> &mut Vec<Container> {
    &mut template
        .spec
        .get_or_insert_with(Default::default)
        .containers
}

/// Every container of a template, init containers after the others.
fn all_containers(template: Option<&PodTemplateSpec>) -> impl Iterator<Item = &Container> {
    template
        .and_then(|t| t.spec.as_ref())
        .into_iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
}

pub fn container_names(template: Option<&PodTemplateSpec>) -> Vec<String> {
    all_containers(template).map(|c| c.name.clone()).collect()
}

pub fn template_of(rc: &ReplicationController) -> Option<&PodTemplateSpec> {
    rc.spec.as_ref()?.template.as_ref()
}

/// Container name -> image of a template (containers and init containers).
pub fn images_of(template: Option<&PodTemplateSpec>) -> BTreeMap<String, String> {
    all_containers(template)
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect()
}

/// Applies `container=image` overrides (containers first, then init containers).
fn apply_images(
    template: &mut PodTemplateSpec,
    overrides: &[ImageOverride],
    rc_name: &str,
) -> Result<()> {
    let names = container_names(Some(template));
    for o in overrides {
        let target: &mut Container = match &o.container {
            None => {
                let containers = containers_mut(template);
                if containers.len() != 1 {
                    return Err(PlanError::BareImageNeedsContainer {
                        rc: rc_name.to_string(),
                        image: o.image.clone(),
                        containers: names.clone(),
                    });
                }
                &mut containers[0]
            }
            Some(name) => {
                let spec = template.spec.get_or_insert_with(Default::default);
                let found = spec
                    .containers
                    .iter_mut()
                    .chain(spec.init_containers.iter_mut().flatten())
                    .find(|c| &c.name == name);
                match found {
                    Some(c) => c,
                    None => {
                        return Err(PlanError::UnknownContainer {
                            rc: rc_name.to_string(),
                            container: name.clone(),
                            containers: names.clone(),
                        })
                    }
                }
            }
        };
        target.image = Some(o.image.clone());
    }
    Ok(())
}

/// Metadata the server owns, cleared from a copied object's metadata.
fn strip_server_fields(meta: &mut ObjectMeta) {
    meta.uid = None;
    meta.resource_version = None;
    meta.creation_timestamp = None;
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
    meta.managed_fields = None;
    meta.generation = None;
    meta.self_link = None;
    meta.owner_references = None;
    meta.finalizers = None;
    meta.generate_name = None;
}

/// Annotations of the source that describe the source, not the new RC: ours and kubectl's.
fn inherited(annotations: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with(ann::PREFIX) && !k.starts_with("kubectl.kubernetes.io/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Everything the new RC needs besides its source.
pub struct Target<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub desired: i32,
    /// The current RC, for the SOURCE annotation and the old images.
    pub current: Option<&'a ReplicationController>,
}

/// Builds the new RC and the per-container image changes.
pub fn new_rc(
    settings: &Settings,
    source: Source<'_>,
    target: &Target<'_>,
) -> Result<(ReplicationController, Vec<ImageChange>)> {
    let from = source.rc();
    let source_name = from
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| settings.rc.clone());
    let from_spec = from.spec.clone().unwrap_or_default();
    let what = match source {
        Source::Manifest(_) => "manifest",
        Source::Current(_) => "current RC",
    };
    let mut template = from_spec
        .template
        .clone()
        .ok_or_else(|| PlanError::NoTemplate {
            rc: source_name.clone(),
            what: what.into(),
        })?;
    super::manifest::check_containers(from, &source_name)?;
    apply_images(&mut template, &settings.images, &source_name)?;

    let template_meta = template.metadata.get_or_insert_with(Default::default);
    strip_server_fields(template_meta);
    let template_labels = template_meta.labels.get_or_insert_with(Default::default);
    // The API server defaults an empty RC selector to the template labels; do the same before adding ours.
    let mut selector = from_spec
        .selector
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| template_labels.clone());
    template_labels.insert(settings.version_label.clone(), settings.version.clone());
    selector.insert(settings.version_label.clone(), settings.version.clone());

    let mut labels = from
        .metadata
        .labels
        .clone()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| template_labels.clone());
    labels.insert(settings.version_label.clone(), settings.version.clone());

    let mut annotations = inherited(from.metadata.annotations.as_ref());
    annotations.insert(ann::BASE.into(), settings.rc.clone());
    annotations.insert(ann::VERSION.into(), settings.version.clone());
    annotations.insert(ann::DESIRED_REPLICAS.into(), target.desired.to_string());
    let gh = &settings.github;
    if !gh.event.status_sha.is_empty() {
        annotations.insert(ann::COMMIT.into(), gh.event.status_sha.clone());
    }
    match (&gh.repository, &gh.run_id) {
        (Some(repo), Some(run)) => {
            annotations.insert(
                ann::RUN.into(),
                format!("{}/{repo}/actions/runs/{run}", gh.urls.server),
            );
        }
        (None, Some(run)) => {
            annotations.insert(ann::RUN.into(), run.clone());
        }
        _ => {}
    }
    if let Some(current) = target.current {
        let name = current.metadata.name.clone().unwrap_or_default();
        let uid = current.metadata.uid.clone().unwrap_or_default();
        annotations.insert(ann::SOURCE.into(), format!("{name}:{uid}"));
    }

    let mut metadata = from.metadata.clone();
    strip_server_fields(&mut metadata);
    metadata.name = Some(target.name.to_string());
    metadata.namespace = Some(target.namespace.to_string());
    metadata.labels = Some(labels);
    metadata.annotations = Some(annotations);

    // An explicit input overrides the inherited value, 0 included; unset inherits it.
    let min_ready_seconds = match settings.pace.min_ready_seconds {
        None => from_spec.min_ready_seconds,
        Some(n) => Some(i32::try_from(n).unwrap_or(i32::MAX)),
    };
    let old_images = images_of(target.current.and_then(template_of));
    let images = template
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
                .map(|c| ImageChange {
                    container: c.name.clone(),
                    old: old_images.get(&c.name).cloned(),
                    new: c.image.clone().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let rc = ReplicationController {
        metadata,
        spec: Some(ReplicationControllerSpec {
            min_ready_seconds,
            replicas: Some(0),
            selector: Some(selector),
            template: Some(template),
        }),
        status: None,
    };
    Ok((rc, images))
}

/// The replica count the new RC must reach: the `replicas` input, else what the current RC had before any
/// update touched it, else its count, else what an earlier run of this version recorded (or its count, when
/// this version is already deployed), else the manifest's, else 1.
pub fn desired_replicas(
    settings: &Settings,
    current: Option<&ReplicationController>,
    existing_new: Option<&ReplicationController>,
    manifest: Option<&ReplicationController>,
) -> i32 {
    let annotated = |rc: &ReplicationController, key: &str| -> Option<i32> {
        rc.metadata.annotations.as_ref()?.get(key)?.parse().ok()
    };
    let replicas = |rc: &ReplicationController| rc.spec.as_ref()?.replicas;
    settings
        .replicas
        .or_else(|| {
            current.and_then(|c| annotated(c, ann::ORIGINAL_REPLICAS).or_else(|| replicas(c)))
        })
        .or_else(|| {
            existing_new.and_then(|n| {
                annotated(n, ann::DESIRED_REPLICAS).or_else(|| replicas(n).filter(|r| *r > 0))
            })
        })
        .or_else(|| manifest.and_then(replicas))
        .unwrap_or(1)
}

/// An RC already named like the new one must run the same images, or the name would stand for two builds.
pub fn check_same_images(
    existing: &ReplicationController,
    new: &ReplicationController,
    version: &str,
) -> Result<()> {
    let have = images_of(template_of(existing));
    let want = images_of(template_of(new));
    if have == want {
        return Ok(());
    }
    let show = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(c, i)| format!("{c}={i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(PlanError::SameName {
        name: existing.metadata.name.clone().unwrap_or_default(),
        version: version.to_string(),
        existing: format!("images {}", show(&have)),
        wanted: format!("images {}", show(&want)),
    })
}
