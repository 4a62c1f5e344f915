//! Cluster autoscalers: whether one is adding a node for the new pods, refused to, or has not answered yet.
//!
//! A full cluster is not stuck when an autoscaler will add a node, and failing fast ~9 s after the first
//! FailedScheduling is too early to know: cluster-autoscaler ignores pods younger than 2 s (30 s for GPU pods) and
//! scans every 10 s, then writes TriggeredScaleUp, NotTriggerScaleUp or FailedScaleUp on the pod; Karpenter
//! batches pending pods for 1 to 10 s and writes Nominated ("Pod should schedule on: nodeclaim/..."). So when an
//! autoscaler runs here (its status ConfigMap, its nodes, its events), an unschedulable pod waits for its verdict
//! for that cadence; a refusal ends the wait at once and is named; silence past the cadence is fatal again.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Pod, PodSpec};
use k8s_openapi::jiff::Timestamp;

use super::events;
use super::resources;
use super::Snapshot;

/// Reasons that say a node is coming.
const PENDING: [&str; 2] = ["TriggeredScaleUp", "Nominated"];
/// Reasons that say none is.
const REFUSED: [&str; 2] = ["NotTriggerScaleUp", "FailedScaleUp"];

/// cluster-autoscaler: 2 s new-pod delay + a 10 s scan, with room for a slow loop.
const CA_WINDOW: Duration = Duration::from_secs(30);
/// cluster-autoscaler waits 30 s before it considers a GPU pod.
const CA_GPU_WINDOW: Duration = Duration::from_secs(60);
/// Karpenter: a batch closes after 1 s idle or 10 s, then it nominates.
const KARPENTER_WINDOW: Duration = Duration::from_secs(30);

/// Labels Karpenter puts on the nodes it creates (v1, then v1alpha5).
const KARPENTER_LABELS: [&str; 2] = ["karpenter.sh/nodepool", "karpenter.sh/provisioner-name"];

/// What the autoscalers said about the unschedulable new pods.
#[derive(Debug, Default)]
pub struct Verdict<'a> {
    /// TriggeredScaleUp / Nominated events, oldest first.
    pub pending: Vec<&'a Event>,
    /// NotTriggerScaleUp / FailedScaleUp events, oldest first.
    pub refused: Vec<&'a Event>,
    /// "cluster-autoscaler has not answered yet (12 s of its 30 s)": the state may still change.
    pub awaiting: Option<String>,
    /// An autoscaler runs but said nothing within its cadence.
    pub silent: Option<String>,
}

impl Verdict<'_> {
    /// The latest verdict is that a node is coming.
    pub fn scale_up_pending(&self) -> bool {
        match (self.pending.last(), self.refused.last()) {
            (Some(p), Some(r)) => events::last_seen(p) >= events::last_seen(r),
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The latest verdict is a refusal.
    pub fn refusal(&self) -> Option<&Event> {
        let r = *self.refused.last()?;
        (!self.scale_up_pending()).then_some(r)
    }
}

fn component(e: &Event) -> &str {
    e.source
        .as_ref()
        .and_then(|s| s.component.as_deref())
        .or(e.reporting_component.as_deref())
        .unwrap_or("")
}

/// Which autoscaler runs for pods with `spec`, and how long it takes to answer for them.
fn present(snapshot: &Snapshot, spec: &PodSpec) -> Option<(&'static str, Duration)> {
    let gpu = resources::pod_requests(spec)
        .iter()
        .any(|(r, n)| *n > 0 && r.ends_with("/gpu"));
    let ca_window = if gpu { CA_GPU_WINDOW } else { CA_WINDOW };
    if snapshot.autoscaler_status.is_some()
        || snapshot
            .events
            .iter()
            .any(|e| component(e) == "cluster-autoscaler")
    {
        return Some(("cluster-autoscaler", ca_window));
    }
    // Karpenter nodes the pods could use (another team's NodePool says nothing about ours).
    let selector = spec.node_selector.clone().unwrap_or_default();
    let karpenter_node = snapshot.nodes.iter().any(|n| {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        KARPENTER_LABELS.iter().any(|k| labels.contains_key(*k))
            && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    });
    if karpenter_node || snapshot.events.iter().any(|e| component(e) == "karpenter") {
        return Some(("Karpenter", KARPENTER_WINDOW));
    }
    None
}

/// When the pod was first found unschedulable: its condition's transition, else its first FailedScheduling.
fn unschedulable_since(snapshot: &Snapshot, pod: &Pod) -> Option<Timestamp> {
    let condition = resources::unschedulable_condition(pod)
        .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0));
    let event = events::for_pod(snapshot, pod, "FailedScheduling")
        .into_iter()
        .filter_map(|e| {
            e.first_timestamp
                .as_ref()
                .map(|t| t.0)
                .or(e.event_time.as_ref().map(|t| t.0))
                .or(events::last_seen(e))
        })
        .min();
    match (condition, event) {
        (Some(c), Some(e)) => Some(c.min(e)),
        (c, e) => c.or(e),
    }
}

/// The autoscalers' verdict on `pods` (the unschedulable new pods, with `spec`).
pub fn verdict<'a>(snapshot: &'a Snapshot, spec: &PodSpec, pods: &[&Pod]) -> Verdict<'a> {
    let about = |reasons: &[&str]| {
        let mut v: Vec<&Event> = pods
            .iter()
            .flat_map(|p| reasons.iter().flat_map(|r| events::for_pod(snapshot, p, r)))
            .collect();
        v.sort_by_key(|e| events::last_seen(e));
        v
    };
    let mut out = Verdict {
        pending: about(&PENDING),
        refused: about(&REFUSED),
        ..Default::default()
    };
    if !out.pending.is_empty() || !out.refused.is_empty() {
        return out;
    }
    let (Some((who, window)), Some(now)) = (present(snapshot, spec), snapshot.now) else {
        return out;
    };
    let Some(since) = pods
        .iter()
        .filter_map(|p| unschedulable_since(snapshot, p))
        .min()
    else {
        return out;
    };
    let waited = now.duration_since(since).unsigned_abs();
    if waited < window {
        out.awaiting = Some(format!(
            "{who} runs in this cluster and has not answered for the new pods yet (unschedulable for {} s; it answers within {} s)",
            waited.as_secs(),
            window.as_secs()
        ));
    } else {
        out.silent = Some(format!(
            "{who} runs in this cluster but gave no verdict for the new pods in {} s (unschedulable for {} s): it is not adding a node for them",
            window.as_secs(),
            waited.as_secs()
        ));
    }
    out
}
