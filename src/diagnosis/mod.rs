//! Why a rollout can't finish: pure rules over a snapshot of the cluster, with numbers and the fix.
//!
//! The engine gathers a [`Snapshot`] (the new RC's pods, their events, nodes, every pod's requests, quotas, logs)
//! and calls [`diagnose`]. Nothing here does I/O, so every rule is tested from fixtures. Capacity comes first
//! because it is the cause other tools hide: "timed out waiting for any update progress" while the scheduler
//! said "0/1 nodes are available: 1 Insufficient cpu" all along.

mod autoscaler;
mod capacity;
pub mod events;
mod placement;
mod pods;
mod preflight;
pub mod quantity;
mod quota;
mod resources;
pub mod scheduler_message;
pub mod text;
mod unschedulable;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, Node, Pod, ReplicationController, ResourceQuota};
use serde::Serialize;

/// What the engine saw when it asked for a diagnosis.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The RC being rolled to.
    pub new_rc: Option<ReplicationController>,
    /// Pods selected by the new RC.
    pub new_pods: Vec<Pod>,
    /// Pods of the old RC (their requests are what surge 0 / unavailable 1 would free).
    pub old_pods: Vec<Pod>,
    /// Every pod in the cluster that is bound to a node (for requested-resource sums); empty when unreadable.
    /// Shared, not copied: on a big cluster these are the engine's cached pods (tens of MB), and a diagnosis every
    /// 2 s must not clone them (bench/results.md, "Cost of a diagnosis").
    pub all_pods: Vec<Arc<Pod>>,
    /// Nodes; empty when unreadable.
    pub nodes: Vec<Node>,
    /// Events in the namespace (the diagnosis picks those about the new pods and RC).
    pub events: Vec<Event>,
    pub quotas: Vec<ResourceQuota>,
    /// Last log lines, keyed by (pod, container), for crashing containers.
    pub logs: BTreeMap<(String, String), String>,
    /// What the engine could not read (e.g. "nodes (forbidden: list nodes at cluster scope)").
    pub unreadable: Vec<String>,
    /// The rollout's surge/unavailable settings, so fixes can be stated only when they would work.
    pub max_surge: i32,
    pub max_unavailable: i32,
    pub desired_replicas: i32,
    /// When the snapshot was taken (the autoscaler's cadence is measured against it); `None` in fixtures.
    pub now: Option<k8s_openapi::jiff::Timestamp>,
    /// The `status` of kube-system/cluster-autoscaler-status when readable: a cluster autoscaler runs.
    pub autoscaler_status: Option<String>,
}

impl Snapshot {
    /// The replica count the rollout aims for (the old pods' count when the engine did not say).
    pub fn desired(&self) -> i32 {
        if self.desired_replicas > 0 {
            self.desired_replicas
        } else {
            self.old_pods.len() as i32
        }
    }
}

/// The kind of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    InsufficientResources,
    Fragmentation,
    Taint,
    NodeSelector,
    TooManyPods,
    /// Required pod affinity or anti-affinity.
    PodAffinity,
    HostPort,
    TopologySpread,
    /// PersistentVolume binding and placement.
    Volume,
    /// Dynamic resource allocation (ResourceClaims).
    ResourceClaims,
    Unschedulable,
    ImagePull,
    CrashLoop,
    ReadinessProbe,
    ContainerConfig,
    Quota,
    ScaleUpPending,
    /// A cluster autoscaler said it won't add a node (NotTriggerScaleUp, FailedScaleUp).
    ScaleUpRefused,
    Other,
}

/// A capacity row: one node and one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapacityRow {
    pub node: String,
    /// "cpu", "memory" or "pods".
    pub resource: String,
    /// Human quantities: "1000m", "4Gi", "110".
    pub allocatable: String,
    pub requested: String,
    pub free: String,
    /// What one new pod needs of this resource.
    pub needed: String,
    pub fits: bool,
}

/// One cause with its evidence and fixes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// One line: "Insufficient cpu: a new pod needs 100m, the most free on any node is 30m".
    pub summary: String,
    /// Raw evidence lines (scheduler messages, registry errors, exit codes), untrusted text.
    pub evidence: Vec<String>,
    /// Log lines of a crashing container (untrusted text; the report trims them).
    pub logs: Vec<String>,
    pub capacity: Vec<CapacityRow>,
    /// Fixes that would actually work here.
    pub fixes: Vec<String>,
    /// True when the cause cannot resolve itself (fail fast).
    pub fatal: bool,
}

/// The diagnosis of a rollout: findings, most important first.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    /// What could not be read, so the reader knows the diagnosis is partial.
    pub unreadable: Vec<String>,
}

impl Diagnosis {
    /// True when some finding says the rollout cannot finish on its own.
    pub fn is_fatal(&self) -> bool {
        self.findings.iter().any(|f| f.fatal)
    }

    /// The headline: the first finding's summary.
    pub fn headline(&self) -> Option<&str> {
        self.findings.first().map(|f| f.summary.as_str())
    }
}

pub use preflight::preflight;

/// Event reasons the rules above already explain; other warnings are passed on as they are.
const EXPLAINED: [&str; 10] = [
    "FailedScheduling",
    "TriggeredScaleUp",
    "NotTriggerScaleUp",
    "FailedScaleUp",
    "Nominated",
    "Failed",
    "BackOff",
    "Unhealthy",
    "FailedCreate",
    "FailedMount",
];

/// Diagnoses a snapshot. Pure. Scheduling and capacity come first, then quota, then pod-level causes, then
/// warning events no rule explains.
pub fn diagnose(snapshot: &Snapshot) -> Diagnosis {
    let mut findings = unschedulable::findings(snapshot);
    findings.extend(quota::findings(snapshot));
    findings.extend(pods::findings(snapshot));
    let unexplained = events::collapse(events::relevant(snapshot).into_iter().filter(|e| {
        e.type_.as_deref() == Some("Warning") && !EXPLAINED.contains(&events::reason(e))
    }));
    let mounts = events::collapse(
        events::relevant(snapshot)
            .into_iter()
            .filter(|e| events::reason(e) == "FailedMount"),
    );
    if !mounts.is_empty() {
        findings.push(Finding {
            kind: FindingKind::ContainerConfig,
            summary: "Volumes of the new pods cannot be mounted".into(),
            evidence: mounts,
            logs: vec![],
            capacity: vec![],
            fixes: vec!["create the ConfigMap, Secret or volume the pod template mounts, or fix the reference".into()],
            fatal: false,
        });
    }
    if !unexplained.is_empty() {
        findings.push(Finding {
            kind: FindingKind::Other,
            summary: "Warning events on the new pods and RC".into(),
            evidence: unexplained,
            logs: vec![],
            capacity: vec![],
            fixes: vec![],
            fatal: false,
        });
    }
    Diagnosis {
        findings,
        unreadable: snapshot.unreadable.clone(),
    }
}
