//! Which new pods wait for a node, and what the scheduler said about each: the input every other part of this
//! module reads, kept apart so the rules below never re-derive "pending" their own way.

use k8s_openapi::api::core::v1::Pod;

use crate::diagnosis::events;
use crate::diagnosis::resources;
use crate::diagnosis::Snapshot;

/// The scheduler's message for a pod it could not place, if it said so.
pub(super) fn unschedulable_message(snapshot: &Snapshot, pod: &Pod) -> Option<String> {
    let condition = resources::unschedulable_condition(pod);
    let event = events::for_pod(snapshot, pod, "FailedScheduling")
        .last()
        .map(|e| events::message(e).to_string());
    match condition {
        Some(c) => Some(
            c.message
                .clone()
                .filter(|m| !m.is_empty())
                .or(event)
                .unwrap_or_default(),
        ),
        None => event,
    }
}

/// New pods waiting for a node: not bound, not finished, not being deleted.
pub(super) fn pending(snapshot: &Snapshot) -> Vec<&Pod> {
    snapshot
        .new_pods
        .iter()
        .filter(|p| {
            resources::node_of(p).is_none()
                && !resources::is_terminated(p)
                && !resources::is_terminating(p)
        })
        .collect()
}
