//! The bottom layer: what a Kubernetes object says, read one way everywhere. Names, selectors, template labels,
//! annotations, owner references, termination.
//!
//! Why a module of its own: these few readings used to be written again wherever they were needed (two
//! `selector_matches` with different answers for an empty selector, two `template_labels`, a `name` and a
//! `selector` per file), and two copies of a rule drift apart. This module imports nothing of the crate, like
//! kube-core has no I/O, so every layer above (plan, rollout, run) can use it and none can pull it upward.
//! (`diagnosis` keeps its own readings on purpose: it imports nothing of the crate at all.)

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use kube::api::ObjectMeta;

/// Labels, a selector: key -> value, in key order.
pub type Labels = BTreeMap<String, String>;

/// An object with metadata. Unlike kube's `Resource`, also implemented for references, so `name` and
/// `annotation` take the `&&ReplicationController` of an iterator's closure as they are.
pub trait Object {
    fn object_meta(&self) -> &ObjectMeta;
}

impl Object for ReplicationController {
    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Object for Service {
    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Object for Pod {
    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl<T: Object + ?Sized> Object for &T {
    fn object_meta(&self) -> &ObjectMeta {
        (**self).object_meta()
    }
}

/// The object's name (`""` when it has none, e.g. before creation with `generateName`).
pub fn name(object: &impl Object) -> &str {
    object.object_meta().name.as_deref().unwrap_or_default()
}

/// The value of annotation `key` on the object.
pub fn annotation<'a>(object: &'a impl Object, key: &str) -> Option<&'a str> {
    object
        .object_meta()
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The RC's selector (empty when unset).
pub fn rc_selector(rc: &ReplicationController) -> Labels {
    rc.spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default()
}

/// The Service's selector (empty when unset: a Service without one selects no pods).
pub fn service_selector(service: &Service) -> Labels {
    service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default()
}

/// The labels of the RC's pod template: the labels its new pods get.
pub fn template_labels(rc: &ReplicationController) -> Labels {
    rc.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// Whether an equality-based `selector` selects an object with `labels` (`None`: no labels): every `key=value`
/// of the selector is among them. An empty selector selects nothing: an RC or a Service without a selector
/// manages no pods of ours (the API server never stores an RC without one; it defaults it from the template).
pub fn selector_matches<'a>(selector: &Labels, labels: impl Into<Option<&'a Labels>>) -> bool {
    let labels = labels.into();
    !selector.is_empty()
        && selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// `k=v,k=v`: a selector as `kubectl -l` and the API's `labelSelector` parameter write it.
pub fn label_selector(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the pod is being deleted (it still runs until its grace period ends).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The UID of the pod's controller (the ownerReference with `controller: true`), if any: the RC that owns it,
/// which is how the RC controller itself decides (labels alone would count pods a canary RC owns).
pub fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors() {
        let pod = m(&[("name", "api-pods"), ("version", "x")]);
        assert!(selector_matches(&m(&[("name", "api-pods")]), &pod));
        assert!(!selector_matches(&m(&[("version", "y")]), &pod));
        assert!(!selector_matches(&m(&[]), &m(&[("name", "api-pods")])));
        assert!(!selector_matches(&m(&[("name", "api-pods")]), None));
        assert!(!selector_matches(&m(&[]), None), "empty selects nothing");
        assert!(selector_matches(&m(&[("name", "api-pods")]), Some(&pod)));
        assert_eq!(label_selector(&pod), "name=api-pods,version=x");
    }
}
