//! Dedicated fake nodes: capacity tests need a node whose free resources they control exactly, without other
//! tests' pods landing on it. The node is tainted and labelled for one namespace and removed with it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{wait_for, TestNs};

/// Label (and taint key) that ties a dedicated node to its test's namespace: `rolling-update.test/dedicated=<ns>`.
pub const DEDICATED_LABEL: &str = "rolling-update.test/dedicated";

/// Creates a Ready fake node with `cpu`/`memory` (and 110 pods) for this test only; returns its name.
/// Pods reach it with `nodeSelector: {rolling-update.test/dedicated: <ns>}` and a toleration for the taint
/// `rolling-update.test/dedicated=<ns>:NoSchedule`.
pub async fn dedicated_node(ns: &TestNs, cpu: &str, memory: &str) -> String {
    let count = ns.nodes.lock().expect("node list").len();
    let name = format!("dedicated-{}-{count}", ns.name);
    let api: Api<Node> = Api::all(ns.client.clone());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "rolling-update.test/fake": "true",
            DEDICATED_LABEL: ns.name,
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
        }},
        "spec": {"taints": [{"key": DEDICATED_LABEL, "value": ns.name, "effect": "NoSchedule"}]},
    }))
    .expect("a node");
    api.create(&PostParams::default(), &node)
        .await
        .unwrap_or_else(|e| panic!("failed to create node {name}: {e}"));
    ns.nodes.lock().expect("node list").push(name.clone());
    let resources = json!({"cpu": cpu, "memory": memory, "pods": "110"});
    let status = json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status"}],
    }});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("failed to set the status of node {name}: {e}"));
    // The fake kubelet removes the not-ready taint that admission added; until then the scheduler won't use it.
    let usable = wait_for(Duration::from_secs(30), || async {
        let Ok(node) = api.get(&name).await else {
            return false;
        };
        let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
        !taints
            .iter()
            .any(|t| t.key.starts_with("node.kubernetes.io/"))
    })
    .await;
    assert!(
        usable.is_some(),
        "the fake kubelet did not take over node {name} within 30 s"
    );
    name
}
