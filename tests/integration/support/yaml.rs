//! Applying YAML manifests (one or many documents) into a test's namespace, like `kubectl apply -f`.

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{pinned_kind, Scope};

use super::TestNs;

/// Creates (or merge-patches) every document of `yaml` (namespaced objects go into `ns`); returns the applied objects.
/// Panics with the document's kind and name when the API server refuses one.
pub async fn apply_yaml(ns: &TestNs, yaml: &str) -> Vec<DynamicObject> {
    let mut applied = Vec::new();
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("valid YAML");
    for value in documents {
        let mut object: DynamicObject = serde_json::from_value(value).expect("a Kubernetes object");
        let types = object.types.clone().expect("apiVersion and kind");
        let gvk = GroupVersionKind::try_from(&types).expect("a valid apiVersion");
        let (resource, caps) = pinned_kind(&ns.client, &gvk)
            .await
            .unwrap_or_else(|e| panic!("unknown kind {gvk:?}: {e}"));
        let name = object.metadata.name.clone().expect("metadata.name");
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            object.metadata.namespace = Some(ns.name.clone());
            Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
        } else {
            Api::all_with(ns.client.clone(), &resource)
        };
        // Create, or merge-patch what exists. Not server-side apply: 1.20's SSA rejects Service ports without an
        // explicit `protocol` ("associative list with keys has an element that omits key field").
        let result = match api.create(&PostParams::default(), &object).await {
            Err(kube::Error::Api(status)) if status.code == 409 => {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&object))
                    .await
            }
            other => other,
        }
        .unwrap_or_else(|e| panic!("failed to apply {} {name}: {e}", types.kind));
        applied.push(result);
    }
    applied
}
