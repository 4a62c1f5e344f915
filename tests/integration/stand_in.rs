//! A stand-in for a newer kube-scheduler: our control plane is 1.20, but users run 1.34 and 1.35, whose
//! FailedScheduling text differs (no taint key, DRA's "no new claims to deallocate", the preemption sentence).
//! Pods with `schedulerName: stand-in-1-34` are left alone by the real scheduler; this task plays the 1.34 one for
//! them: it binds a pod that fits, and otherwise writes the PodScheduled=False condition and the FailedScheduling
//! event the way kube-scheduler 1.34.2+ would, so the product's real reading path (condition, events, RBAC) meets
//! the newer wording.
//!
//! Its verdicts follow the 1.34 Filter order (pkg/scheduler/apis/config/v1/default_plugins.go): NodeUnschedulable,
//! TaintToleration, NodeAffinity (nodeSelector only), then NodeResourcesFit (cpu, memory, pods); the first failing
//! plugin gives a node's reasons. The message is FitError.Error() (pkg/scheduler/schedule_one.go): the reasons
//! histogram sorted as strings, then the PostFilter messages: dynamicresources' "no new claims to deallocate" and
//! preemption's own histogram (resource-only nodes: "No preemption victims found for incoming pod", the pods being
//! of equal priority; the rest: "Preemption is not helpful for scheduling").

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use rolling_update_action::diagnosis::quantity::parse_milli;
use serde_json::json;
use tokio::task::JoinHandle;

pub const STAND_IN_1_34: &str = "stand-in-1-34";

fn amounts(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> BTreeMap<String, i128> {
    map.into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), parse_milli(&v.0)?)))
        .collect()
}

fn requests(pod: &Pod) -> BTreeMap<String, i128> {
    let mut sum = BTreeMap::new();
    for c in pod.spec.iter().flat_map(|s| &s.containers) {
        for (k, v) in amounts(c.resources.as_ref().and_then(|r| r.requests.as_ref())) {
            *sum.entry(k).or_insert(0) += v;
        }
    }
    *sum.entry("pods".into()).or_insert(0) += 1000;
    sum
}

/// The reasons node `node` gives for `pod`, empty when it fits.
fn reasons(node: &Node, pod: &Pod, bound: &[&Pod]) -> Vec<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return vec!["node(s) were unschedulable".into()];
    }
    let tolerations = spec.tolerations.clone().unwrap_or_default();
    let untolerated = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .any(|t| {
            !tolerations.iter().any(|tol| {
                let key_ok = match tol.operator.as_deref() {
                    Some("Exists") => tol
                        .key
                        .as_deref()
                        .is_none_or(|k| k.is_empty() || k == t.key),
                    _ => tol.key.as_deref() == Some(t.key.as_str()) && tol.value == t.value,
                };
                key_ok
                    && tol
                        .effect
                        .as_deref()
                        .is_none_or(|e| e.is_empty() || e == t.effect)
            })
        });
    if untolerated {
        // 1.34.2+ (kubernetes PR #134740): the taint is no longer named.
        return vec!["node(s) had untolerated taint(s)".into()];
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    if spec
        .node_selector
        .iter()
        .flatten()
        .any(|(k, v)| labels.get(k) != Some(v))
    {
        return vec!["node(s) didn't match Pod's node affinity/selector".into()];
    }
    let allocatable = amounts(node.status.as_ref().and_then(|s| s.allocatable.as_ref()));
    let mut used: BTreeMap<String, i128> = BTreeMap::new();
    for p in bound {
        for (k, v) in requests(p) {
            *used.entry(k).or_insert(0) += v;
        }
    }
    let mut out = vec![];
    for (k, need) in requests(pod) {
        let free = allocatable.get(&k).copied().unwrap_or(0) - used.get(&k).copied().unwrap_or(0);
        if need > 0 && need > free {
            out.push(if k == "pods" {
                "Too many pods".to_string()
            } else {
                format!("Insufficient {k}")
            });
        }
    }
    out
}

/// "1 a, 2 b" sorted as strings, as sortReasonsHistogram does.
fn histogram(counts: &BTreeMap<String, u32>) -> String {
    let mut v: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    v.sort();
    v.join(", ")
}

/// One scheduling attempt for `pod`: bind it, or record why not. Returns the message when unschedulable.
async fn schedule(client: &kube::Client, ns: &str, pod: &Pod) -> Option<String> {
    let nodes: Vec<Node> = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .ok()?
        .items;
    let all: Vec<Pod> = Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await
        .ok()?
        .items;
    let live: Vec<&Pod> = all
        .iter()
        .filter(|p| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            phase != Some("Succeeded") && phase != Some("Failed")
        })
        .collect();
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut preemption: BTreeMap<String, u32> = BTreeMap::new();
    for node in &nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let bound: Vec<&Pod> = live
            .iter()
            .copied()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str()))
            .collect();
        let why = reasons(node, pod, &bound);
        if why.is_empty() {
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pod.metadata.name, "namespace": ns},
                "target": {"apiVersion": "v1", "kind": "Node", "name": name},
            });
            let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
            let _ = pods
                .create_subresource::<serde_json::Value, serde_json::Value>(
                    "binding",
                    pod.metadata.name.as_deref()?,
                    &PostParams::default(),
                    &binding,
                )
                .await;
            return None;
        }
        let resources_only = why
            .iter()
            .all(|w| w.starts_with("Insufficient") || w == "Too many pods");
        *preemption
            .entry(if resources_only {
                "No preemption victims found for incoming pod".into()
            } else {
                "Preemption is not helpful for scheduling".into()
            })
            .or_insert(0) += 1;
        for w in why {
            *counts.entry(w).or_insert(0) += 1;
        }
    }
    let n = nodes.len();
    Some(format!(
        "0/{n} nodes are available: {}. no new claims to deallocate, preemption: 0/{n} nodes are available: {}.",
        histogram(&counts),
        histogram(&preemption)
    ))
}

/// Writes what kube-scheduler writes for an unschedulable pod: the condition and a FailedScheduling event.
async fn record(client: &kube::Client, ns: &str, pod: &Pod, message: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = json!({"status": {"conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
        "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
    }]}});
    let _ = pods
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let event: Event = serde_json::from_value(json!({
        "metadata": {"generateName": format!("{name}.")},
        "involvedObject": {"kind": "Pod", "namespace": ns, "name": name,
                           "uid": pod.metadata.uid, "apiVersion": "v1"},
        "reason": "FailedScheduling", "message": message, "type": "Warning",
        "source": {"component": STAND_IN_1_34},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }))
    .expect("an event");
    let _ = Api::<Event>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &event)
        .await;
}

/// Starts the stand-in for pods of `ns`; abort the handle when done.
pub fn start(ns: &crate::support::TestNs) -> JoinHandle<()> {
    let (client, ns) = (ns.client.clone(), ns.name.clone());
    tokio::spawn(async move {
        let ns = ns.as_str();
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let mut said: BTreeMap<String, String> = BTreeMap::new();
        loop {
            if let Ok(list) = pods.list(&ListParams::default()).await {
                for pod in list.items.iter().filter(|p| {
                    let spec = p.spec.as_ref();
                    spec.and_then(|s| s.scheduler_name.as_deref()) == Some(STAND_IN_1_34)
                        && spec.and_then(|s| s.node_name.as_ref()).is_none()
                        && p.metadata.deletion_timestamp.is_none()
                }) {
                    let Some(message) = schedule(&client, ns, pod).await else {
                        continue;
                    };
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    if said.get(&uid) != Some(&message) {
                        record(&client, ns, pod, &message).await;
                        said.insert(uid, message);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}
