//! New pods the scheduler cannot place: which resource is short, where, by how much, and what would fix it.
//!
//! This is the failure other tools hide behind "timed out waiting for any update progress". We read the
//! scheduler's own verdict (PodScheduled=False / FailedScheduling), recompute the per-node numbers behind it,
//! and state a fix only after checking, with the same numbers, that it would let a new pod in. The same view
//! decides whether waiting can help: a terminating pod, a node that now has room or a cluster autoscaler that
//! is adding nodes (or has not answered yet) all mean the state can change on its own; otherwise the rollout is
//! stuck. "A node has room" counts only when our model checks every reason the scheduler gave; the pod's own
//! rules (anti-affinity, ports, spread, volumes) are placement.rs's findings. Findings come in the order a reader
//! should act on them (capacity, the pod's rules, labels, cordons, taints), never the scheduler's alphabetical
//! order, and a toleration is offered only for a taint that is named and meant to be tolerated.
//!
//! The work is split by job, each in a file named for it: [`waiting_pods`] finds the new pods waiting for a node
//! and the scheduler's words about them; [`capacity_wording`] turns the per-node numbers into the capacity
//! finding and the fixes that would work; [`node_rules`] explains the other reasons from the nodes we read
//! (selectors, cordons, taints); [`message_only`] is the fallback when nodes cannot be read and the scheduler's
//! message is all there is. This file decides which of them speak, and whether waiting can help.

mod capacity_wording;
mod message_only;
mod node_rules;
mod waiting_pods;

use k8s_openapi::api::core::v1::Pod;

use super::autoscaler;
use super::capacity::{self, Capacity};
use super::events;
use super::placement;
use super::resources;
use super::scheduler_message::{self};
use super::{Finding, FindingKind, Snapshot};
use capacity_wording::{plural, Context};
use message_only::message_only_findings;
use node_rules::known_node_findings;
use waiting_pods::{pending, unschedulable_message};

pub(super) fn finding(kind: FindingKind, summary: String, base: &Finding) -> Finding {
    Finding {
        kind,
        summary,
        ..base.clone()
    }
}

/// Findings about new pods the scheduler could not place, capacity first.
pub fn findings(snapshot: &Snapshot) -> Vec<Finding> {
    let pending = pending(snapshot);
    let unschedulable: Vec<(&Pod, String)> = pending
        .iter()
        .filter_map(|p| unschedulable_message(snapshot, p).map(|m| (*p, m)))
        .collect();
    let Some((first, first_message)) = unschedulable.first() else {
        return vec![];
    };
    let Some(spec) = first.spec.as_ref() else {
        return vec![];
    };
    let parsed = scheduler_message::parse(first_message);
    let nodes_known = !snapshot.nodes.is_empty();
    let ctx = Context {
        snapshot,
        spec,
        cap: Capacity::build(snapshot, spec),
        unschedulable: unschedulable.len(),
    };

    // Autoscaler: the latest verdict wins; none yet, within its cadence, means wait.
    let unsched_pods: Vec<&Pod> = unschedulable.iter().map(|(p, _)| *p).collect();
    let verdict = autoscaler::verdict(snapshot, spec, &unsched_pods);
    let scale_up_pending = verdict.scale_up_pending();

    // "It will retry" only when the capacity model checks every reason the scheduler gave: a node with room
    // means nothing to a pod whose anti-affinity, host port or volume rules that node out.
    let all_modeled = parsed.reasons.iter().all(|r| placement::modeled(&r.kind));
    let mut relief = ctx.relief();
    if !all_modeled {
        relief.extend(
            capacity::known_pods(snapshot)
                .into_iter()
                .filter(|p| resources::is_terminating(p) && !resources::is_terminated(p))
                .filter_map(|p| {
                    let node = resources::node_of(p)?;
                    let line = format!(
                        "pod {} on {node} is terminating and may free its place",
                        resources::name(p)
                    );
                    (!relief.contains(&line)).then_some(line)
                })
                .collect::<Vec<_>>(),
        );
    }
    // A reason that may go away by itself (a claim being bound, one we don't know) leaves it to the deadline.
    let may_resolve = parsed.reasons.iter().any(placement::may_resolve);
    // Without every namespace's pods, node usage is a lower bound: when it claims room the scheduler denied,
    // believe the scheduler.
    let pods_partial = snapshot.unreadable.iter().any(|u| u.starts_with("pods"));
    let use_numbers = nodes_known && !(pods_partial && ctx.cap.any_fits());
    let fits_now = use_numbers && ctx.cap.any_fits() && all_modeled;
    let fatal = unschedulable.len() == pending.len()
        && relief.is_empty()
        && !scale_up_pending
        && verdict.awaiting.is_none()
        && !fits_now
        && !may_resolve;

    let mut evidence: Vec<String> = vec![];
    for (_, m) in &unschedulable {
        if !evidence.contains(m) {
            evidence.push(m.clone());
        }
    }
    let names: Vec<&str> = unsched_pods.iter().map(|p| resources::name(p)).collect();
    evidence.push(format!(
        "{} unschedulable of {} pending: {}",
        plural(unschedulable.len(), "new pod", "new pods"),
        pending.len(),
        names.join(", ")
    ));
    evidence.extend(relief);
    evidence.extend(
        events::collapse(verdict.refused.iter().copied())
            .into_iter()
            .map(|l| format!("cluster autoscaler: {l}")),
    );
    evidence.extend(verdict.silent.clone());
    if !nodes_known {
        let why = snapshot
            .unreadable
            .iter()
            .find(|u| u.starts_with("nodes"))
            .cloned()
            .unwrap_or_else(|| "no nodes listed".into());
        evidence.push(format!(
            "could not read nodes ({why}): the numbers come from the scheduler's message only"
        ));
    } else if !use_numbers {
        let why = snapshot
            .unreadable
            .iter()
            .find(|u| u.starts_with("pods"))
            .cloned()
            .unwrap_or_default();
        evidence.push(format!(
            "could not read every pod ({why}): per-node usage is a lower bound, so the scheduler's count is used"
        ));
    }
    let base = Finding {
        kind: FindingKind::Unschedulable,
        summary: String::new(),
        evidence,
        logs: vec![],
        capacity: vec![],
        fixes: vec![],
        fatal,
    };

    let mut out = vec![];
    if use_numbers {
        known_node_findings(&ctx, &parsed, &base, fits_now, &mut out);
    } else {
        message_only_findings(&ctx, &parsed, &base, &mut out);
    }
    if scale_up_pending {
        let last = verdict.pending.last().copied();
        let who = match last.map(events::reason) {
            Some("Nominated") => "Karpenter is adding a node",
            _ => "The cluster autoscaler is adding nodes",
        };
        let mut f = finding(
            FindingKind::ScaleUpPending,
            format!("{who}: {}", last.map(events::message).unwrap_or("")),
            &base,
        );
        f.evidence = events::collapse(verdict.pending.iter().copied());
        f.fatal = false;
        out.push(f);
    }
    if let Some(waiting) = &verdict.awaiting {
        let mut f = finding(
            FindingKind::ScaleUpPending,
            format!("Waiting for the autoscaler: {waiting}"),
            &base,
        );
        f.fatal = false;
        out.push(f);
    }
    if let Some(refusal) = verdict.refusal() {
        let mut f = finding(
            FindingKind::ScaleUpRefused,
            format!(
                "The cluster autoscaler won't add a node for the new pods: {}",
                events::message(refusal)
            ),
            &base,
        );
        f.fixes.push("raise the node group's maximum, or make a node group able to run these pods (its machine size, labels, taints, zone)".into());
        out.push(f);
    }
    out
}
