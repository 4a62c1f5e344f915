//! `mode: preview`: a release per pull request that production can never route to.
//!
//! The preview RC is a copy of the production RC (or of the manifest) under the base name `<rc>-pr-<N>`,
//! rolled with the same versioned machinery, so pushes to the PR roll the preview like any release. Its pods
//! must never become endpoints of a production Service: every label a production Service selects on is
//! rewritten (`name=api-pods` -> `name=api-pods-pr-7`), the PR label is added, and the result is checked
//! against the live Services before anything is created. A preview Service, derived from the production one
//! (or from `service_manifest`), selects exactly the preview pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ReplicationController, Service, ServiceSpec};
use kube::api::ObjectMeta;

use super::annotations as ann;
use crate::k8s::{label_selector as show, selector_matches, service_selector as selector_of};

type Labels = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("input `mode: {mode}` needs a pull_request event (GITHUB_EVENT_NAME is `{event}`); run it `on: pull_request`")]
    NotAPullRequest { mode: &'static str, event: String },
    #[error("input `mode: preview`: no RC `{rc}` to copy for the preview and no `manifest`; deploy production first or pass `manifest`")]
    NoSource { rc: String },
    #[error("input `mode: preview`: the preview pods would still be selected by the production Service `{service}` (selector {selector}); give the Service a selector on a label the pods carry")]
    StillSelected { service: String, selector: String },
    #[error("input `service_manifest`: {0}")]
    ServiceManifest(String),
}

/// The preview's base name: `<rc>-pr-<N>`.
pub fn base_name(rc: &str, pr: u64) -> String {
    format!("{rc}-pr-{pr}")
}

/// The GitHub environment of the preview: `pr-<N>`.
pub fn environment(pr: u64) -> String {
    format!("pr-{pr}")
}

fn is_preview(labels: Option<&Labels>) -> bool {
    labels.is_some_and(|l| l.contains_key(ann::PREVIEW_PR_LABEL))
}

/// A label value with `-pr-<N>` appended, kept a valid label value (<= 63 chars, alphanumeric at the end).
fn suffixed(value: &str, pr: u64) -> String {
    let suffix = format!("-pr-{pr}");
    let keep = 63usize.saturating_sub(suffix.len());
    let head: String = value.chars().take(keep).collect();
    let head = head.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if head.is_empty() {
        format!("pr-{pr}")
    } else {
        format!("{head}{suffix}")
    }
}

/// Production Services: every Service that is not itself a preview.
fn production(services: &[Service]) -> impl Iterator<Item = &Service> {
    services
        .iter()
        .filter(|s| !is_preview(s.metadata.labels.as_ref()))
}

/// Copies `source` into an RC for the preview: labels a production Service selects on are rewritten, the PR
/// label is added to the RC, its selector and its template, and our annotations are dropped.
pub fn isolate(
    source: &ReplicationController,
    services: &[Service],
    rc: &str,
    pr: u64,
    version_label: &str,
    replicas: i32,
) -> Result<ReplicationController, PreviewError> {
    let mut spec = source.spec.clone().unwrap_or_default();
    let mut template = spec.template.clone().unwrap_or_default();
    let meta = template.metadata.get_or_insert_with(Default::default);
    let mut labels = meta.labels.clone().unwrap_or_default();
    labels.remove(version_label);
    let mut selector = spec
        .selector
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| labels.clone());
    selector.remove(version_label);

    // Rewritten: every label the source's own selector uses (so the production RC, whose controller and whose
    // deploys look for its pods by that selector, never counts a preview pod, even for a worker no Service
    // selects), and every label a production Service selects on.
    let original = labels.clone();
    let mut keys: Vec<String> = selector.keys().cloned().collect();
    for service in production(services) {
        let sel = selector_of(service);
        if selector_matches(&sel, &original) {
            keys.extend(sel.into_keys());
        }
    }
    for key in keys {
        let Some(value) = original.get(&key).map(|v| suffixed(v, pr)) else {
            continue;
        };
        labels.insert(key.clone(), value.clone());
        if selector.contains_key(&key) {
            selector.insert(key, value);
        }
    }
    labels.insert(ann::PREVIEW_PR_LABEL.into(), pr.to_string());
    selector.insert(ann::PREVIEW_PR_LABEL.into(), pr.to_string());
    check_isolated(&labels, services)?;

    meta.labels = Some(labels);
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| !k.starts_with(ann::PREFIX));
    }
    spec.template = Some(template);
    spec.selector = Some(selector.clone());
    spec.replicas = Some(replicas);
    let mut rc_labels = selector;
    rc_labels.remove(version_label);
    Ok(ReplicationController {
        metadata: ObjectMeta {
            name: Some(base_name(rc, pr)),
            labels: Some(rc_labels),
            annotations: None,
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    })
}

/// Refuses labels that a production Service would select.
pub fn check_isolated(labels: &Labels, services: &[Service]) -> Result<(), PreviewError> {
    match production(services).find(|s| selector_matches(&selector_of(s), labels)) {
        Some(s) => Err(PreviewError::StillSelected {
            service: s.metadata.name.clone().unwrap_or_default(),
            selector: show(&selector_of(s)),
        }),
        None => Ok(()),
    }
}

/// The preview Service: `service_manifest` if given, else a copy of the production Service that selects the
/// production pods, named `<service>-pr-<N>`, selecting the preview pods by their rewritten labels. None when
/// production has no Service for these pods (a worker): a preview of it needs no Service either, and a
/// Service without ports is invalid.
pub fn service(
    production_labels: &Labels,
    preview_labels: &Labels,
    services: &[Service],
    manifest: Option<Service>,
    rc: &str,
    pr: u64,
) -> Result<Option<Service>, PreviewError> {
    let from_production =
        production(services).find(|s| selector_matches(&selector_of(s), production_labels));
    let (name, base_spec, keys): (String, ServiceSpec, Vec<String>) =
        match (manifest, from_production) {
            (Some(m), _) => {
                let spec = m
                    .spec
                    .clone()
                    .ok_or_else(|| PreviewError::ServiceManifest("it has no spec".into()))?;
                let keys = spec
                    .selector
                    .clone()
                    .unwrap_or_default()
                    .into_keys()
                    .collect();
                let name = m.metadata.name.clone().unwrap_or_else(|| rc.to_string());
                (name, spec, keys)
            }
            (None, Some(p)) => {
                let spec = p.spec.clone().unwrap_or_default();
                let keys = selector_of(p).into_keys().collect();
                (p.metadata.name.clone().unwrap_or_default(), spec, keys)
            }
            (None, None) => return Ok(None),
        };
    let mut selector: Labels = keys
        .iter()
        .filter_map(|k| preview_labels.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    selector.insert(ann::PREVIEW_PR_LABEL.into(), pr.to_string());
    let ports = base_spec.ports.clone().map(|ports| {
        ports
            .into_iter()
            .map(|mut p| {
                p.node_port = None;
                p
            })
            .collect()
    });
    let mut labels = Labels::new();
    labels.insert(ann::PREVIEW_PR_LABEL.into(), pr.to_string());
    Ok(Some(Service {
        metadata: ObjectMeta {
            name: Some(suffixed(&name, pr)),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports,
            type_: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: None,
    }))
}

/// Where the preview is reached inside the cluster: `http://<service>.<namespace>.svc.cluster.local[:port]`.
pub fn environment_url(service: &Service, namespace: &str) -> String {
    let name = service.metadata.name.clone().unwrap_or_default();
    let port = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
        .map(|p| p.port)
        .filter(|p| *p != 80)
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!("http://{name}.{namespace}.svc.cluster.local{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture<T: serde::de::DeserializeOwned>(path: &str) -> T {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        serde_saphyr::from_str(&text).unwrap()
    }

    /// The preview Service of `rc`'s PR 7 pods, where `srv` is the namespace's only Service and no
    /// `service_manifest` is given.
    fn pr7_service(
        production: &Labels,
        preview: &Labels,
        srv: &Service,
        rc: &str,
    ) -> Option<Service> {
        service(production, preview, std::slice::from_ref(srv), None, rc, 7).unwrap()
    }

    #[test]
    fn preview_pods_are_never_selected_by_the_production_service() {
        let rc: ReplicationController = fixture("rcs/api-rc.legacy.yaml");
        let srv: Service = fixture("services/api-srv.yaml");
        let preview = isolate(&rc, std::slice::from_ref(&srv), "api-rc", 7, "version", 1).unwrap();
        let labels = preview
            .spec
            .as_ref()
            .unwrap()
            .template
            .as_ref()
            .unwrap()
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .clone()
            .unwrap();
        assert_eq!(labels["name"], "api-pods-pr-7");
        assert_eq!(labels[ann::PREVIEW_PR_LABEL], "7");
        assert!(!selector_matches(&selector_of(&srv), &labels));
        assert_eq!(preview.metadata.name.as_deref(), Some("api-rc-pr-7"));
        let sel = preview.spec.unwrap().selector.unwrap();
        assert!(
            selector_matches(&sel, &labels),
            "the RC selects its own pods"
        );

        let prod_labels = rc
            .spec
            .unwrap()
            .template
            .unwrap()
            .metadata
            .unwrap()
            .labels
            .unwrap();
        let svc = pr7_service(&prod_labels, &labels, &srv, "api-rc")
            .expect("production has a Service for these pods");
        assert_eq!(svc.metadata.name.as_deref(), Some("api-srv-pr-7"));
        assert!(selector_matches(&selector_of(&svc), &labels));
        assert!(!selector_matches(&selector_of(&svc), &prod_labels));
        assert_eq!(
            environment_url(&svc, "apps"),
            "http://api-srv-pr-7.apps.svc.cluster.local"
        );
    }

    #[test]
    fn a_worker_preview_is_never_selected_by_the_production_rc_and_gets_no_service() {
        let worker: ReplicationController = serde_saphyr::from_str(
            "metadata: {name: worker-rc}\nspec:\n  replicas: 2\n  selector: {app: worker}\n  template:\n    metadata: {labels: {app: worker, tier: jobs}}\n    spec: {containers: [{name: worker, image: w:1}]}\n",
        )
        .unwrap();
        let srv: Service = fixture("services/api-srv.yaml");
        let preview = isolate(
            &worker,
            std::slice::from_ref(&srv),
            "worker-rc",
            7,
            "version",
            1,
        )
        .unwrap();
        let spec = preview.spec.unwrap();
        let labels = spec.template.unwrap().metadata.unwrap().labels.unwrap();
        let production_selector = worker.spec.unwrap().selector.unwrap();
        assert!(
            !selector_matches(&production_selector, &labels),
            "the production RC would count the preview's pods: {labels:?}"
        );
        assert_eq!(labels["app"], "worker-pr-7");
        assert_eq!(labels["tier"], "jobs", "labels nothing selects on are kept");
        assert!(selector_matches(&spec.selector.unwrap(), &labels));
        let production_labels: Labels = [("app".to_string(), "worker".to_string())].into();
        let svc = pr7_service(&production_labels, &labels, &srv, "worker-rc");
        assert!(
            svc.is_none(),
            "no production Service, no preview Service: {svc:?}"
        );
    }

    #[test]
    fn long_label_values_stay_valid() {
        let v = suffixed(&"a".repeat(63), 12345);
        assert!(v.len() <= 63 && v.ends_with("-pr-12345"), "{v}");
    }
}
