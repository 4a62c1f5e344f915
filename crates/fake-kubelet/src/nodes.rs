//! The fake nodes: registration, heartbeats, and keeping the scheduler willing to use them.
//!
//! There is no node lifecycle controller in this control plane, so nothing would ever remove the
//! `node.kubernetes.io/not-ready` taint that admission puts on a new Node; the fake kubelet removes it (and
//! `unreachable`) whenever it sees it, and refreshes the Ready condition like a kubelet's status loop.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use serde_json::json;

use crate::config::Config;
use crate::pod_status::time;

/// Every node this fake kubelet serves carries this label with value "true".
pub const FAKE_LABEL: &str = "rolling-update.test/fake";

const KUBELET_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Names of the fake nodes currently known.
pub type NodeSet = Arc<RwLock<HashSet<String>>>;

/// Whether a pod's node is ours, gone, or someone else's.
#[derive(Debug, PartialEq, Eq)]
pub enum NodeKind {
    Fake,
    Missing,
    Other,
}

/// Looks the node up in the set, asking the API server when the watch has not told us about it yet.
pub async fn kind_of(client: &kube::Client, nodes: &NodeSet, name: &str) -> NodeKind {
    if nodes.read().expect("node set lock").contains(name) {
        return NodeKind::Fake;
    }
    match Api::<Node>::all(client.clone()).get_opt(name).await {
        Ok(Some(node)) if is_fake(&node) => {
            nodes
                .write()
                .expect("node set lock")
                .insert(name.to_string());
            NodeKind::Fake
        }
        Ok(Some(_)) => NodeKind::Other,
        Ok(None) => NodeKind::Missing,
        Err(e) => {
            eprintln!("fake-kubelet: failed to read node {name}: {e}");
            NodeKind::Other
        }
    }
}

fn is_fake(node: &Node) -> bool {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(FAKE_LABEL))
        .is_some_and(|v| v == "true")
}

/// Creates the configured nodes if they don't exist and gives them capacity and a Ready condition.
pub async fn register(client: &kube::Client, cfg: &Config) -> kube::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    for name in &cfg.nodes {
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                FAKE_LABEL: "true",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            }},
        }))
        .expect("a valid node");
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(e) if crate::code(&e) == Some(409) => {}
            Err(e) => return Err(e),
        }
        let resources = json!({"cpu": cfg.node_cpu, "memory": cfg.node_memory, "pods": cfg.node_pods,
            "ephemeral-storage": "100Gi"});
        let mut status = json!({"status": {
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "fake", "osImage": "fake-kubelet",
                "containerRuntimeVersion": "containerd://1.4.3", "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2", "operatingSystem": "linux", "architecture": "amd64",
            },
            "conditions": conditions(),
        }});
        status["status"]
            .as_object_mut()
            .expect("an object")
            .extend(endpoint(name, cfg.port));
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
    }
    Ok(())
}

/// Where the API server reaches this node's kubelet: address 127.0.0.1 and our log endpoint's port.
fn endpoint(name: &str, port: u16) -> serde_json::Map<String, serde_json::Value> {
    let value = json!({
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
    });
    match value {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    }
}

fn kubelet_port(node: &Node) -> Option<i32> {
    node.status
        .as_ref()
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map(|e| e.port)
}

/// Makes a node someone else created (a test's dedicated node) reachable at our log endpoint, as a kubelet
/// taking over the node would register itself.
async fn claim(api: &Api<Node>, name: &str, port: u16) {
    let patch = json!({ "status": endpoint(name, port) });
    patch_status(api, name, &patch, "set the kubelet endpoint").await;
}

/// Merge-patches a node's status; a node deleted meanwhile is no error, others are logged.
async fn patch_status(api: &Api<Node>, name: &str, patch: &serde_json::Value, what: &str) {
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => {}
        Err(e) if crate::code(&e) == Some(404) => {}
        Err(e) => eprintln!("fake-kubelet: failed to {what} of node {name}: {e}"),
    }
}

/// Healthy node conditions with a fresh heartbeat. They never change state, so their transition time is the moment
/// this fake kubelet started.
fn conditions() -> serde_json::Value {
    static STARTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let since = STARTED.get_or_init(|| time(Timestamp::now()));
    let now = time(Timestamp::now());
    let cond = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": since})
    };
    json!([
        cond(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        cond(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        cond(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        cond(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}

/// Posts a heartbeat: all conditions healthy with a fresh lastHeartbeatTime.
async fn heartbeat(api: &Api<Node>, name: &str) {
    let patch = json!({"status": {"conditions": conditions()}});
    patch_status(api, name, &patch, "post the heartbeat").await;
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Removes the taints a node lifecycle controller would remove once the kubelet reports Ready.
async fn untaint(api: &Api<Node>, node: &Node) {
    let Some(taints) = node.spec.as_ref().and_then(|s| s.taints.as_ref()) else {
        return;
    };
    if !taints
        .iter()
        .any(|t| KUBELET_TAINTS.contains(&t.key.as_str()))
    {
        return;
    }
    let kept: Vec<_> = taints
        .iter()
        .filter(|t| !KUBELET_TAINTS.contains(&t.key.as_str()))
        .collect();
    let name = node.metadata.name.clone().unwrap_or_default();
    // The resourceVersion makes this a compare-and-swap: a concurrent taint change wins and we retry on its event.
    let patch = json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": kept}});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        Err(e) if matches!(crate::code(&e), Some(404 | 409)) => {}
        Err(e) => {
            eprintln!("fake-kubelet: failed to remove the not-ready taint of node {name}: {e}");
        }
    }
}

/// Follows the fake nodes: keeps the set current, readies and untaints new ones.
pub async fn watch(client: kube::Client, nodes: NodeSet, port: u16) {
    let api: Api<Node> = Api::all(client);
    let config = watcher::Config::default().labels(&format!("{FAKE_LABEL}=true"));
    let mut stream = watcher(api.clone(), config).default_backoff().boxed();
    let mut listed: HashSet<String> = HashSet::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => listed.clear(),
            Ok(Event::InitDone) => {
                *nodes.write().expect("node set lock") = std::mem::take(&mut listed);
            }
            Ok(Event::Apply(node) | Event::InitApply(node)) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                listed.insert(name.clone());
                nodes.write().expect("node set lock").insert(name.clone());
                if !is_ready(&node) {
                    heartbeat(&api, &name).await;
                }
                if kubelet_port(&node) != Some(i32::from(port)) {
                    claim(&api, &name, port).await;
                }
                untaint(&api, &node).await;
            }
            Ok(Event::Delete(node)) => {
                let name = node.metadata.name.unwrap_or_default();
                nodes.write().expect("node set lock").remove(&name);
            }
            Err(e) => eprintln!("fake-kubelet: node watch failed: {e}"),
        }
    }
}

/// Refreshes every fake node's conditions each period, like the kubelet's node status loop.
pub async fn heartbeats(client: kube::Client, nodes: NodeSet, period: std::time::Duration) {
    let api: Api<Node> = Api::all(client);
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let names: Vec<String> = nodes
            .read()
            .expect("node set lock")
            .iter()
            .cloned()
            .collect();
        for name in names {
            heartbeat(&api, &name).await;
        }
    }
}
