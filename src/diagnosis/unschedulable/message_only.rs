//! The fallback when nodes cannot be read (the README's namespaced Role): findings from the scheduler's message
//! alone, ordered as a reader should act on them, never the scheduler's alphabetical order, and careful never to
//! offer a toleration that would tolerate every taint.

use super::capacity_wording::{plural, Context};
use super::finding;
use crate::diagnosis::capacity::{self};
use crate::diagnosis::placement;
use crate::diagnosis::quantity::format;
use crate::diagnosis::scheduler_message::{self, ReasonKind, SchedulerMessage};
use crate::diagnosis::{Finding, FindingKind};

/// Scheduler reasons nothing else explains, passed on as they are.
pub(super) fn other_reasons(
    parsed: &SchedulerMessage,
    base: &Finding,
    out: &mut Vec<Finding>,
    always: bool,
) {
    let texts: Vec<String> = parsed
        .reasons
        .iter()
        .filter(|r| always || r.kind == ReasonKind::Other)
        .map(|r| {
            if r.nodes > 0 {
                format!("{} {}", r.nodes, r.text)
            } else {
                r.text.clone()
            }
        })
        .collect();
    if !texts.is_empty() {
        out.push(finding(
            FindingKind::Unschedulable,
            format!(
                "The scheduler cannot place the new pods: {}",
                texts.join(", ")
            ),
            base,
        ));
    }
}

/// "1 of 5 nodes", "3 nodes", "the nodes".
pub(super) fn of_total(parsed: &SchedulerMessage, n: u32) -> String {
    match parsed.total {
        Some(t) => format!("{n} of {t} nodes"),
        None if n > 0 => plural(n as usize, "node", "nodes"),
        None => "the nodes".into(),
    }
}

pub(super) fn has_have(n: u32) -> &'static str {
    if n == 1 {
        "has"
    } else {
        "have"
    }
}

/// A taint known only from the scheduler's words. A toleration is offered only for a taint the scheduler named
/// and that is meant to be tolerated: an unnamed one (1.34.2+) would need `operator: Exists` without a key,
/// which tolerates every taint, control plane and broken nodes included.
pub(super) fn message_taint(
    parsed: &SchedulerMessage,
    reason: &scheduler_message::Reason,
    base: &Finding,
) -> Finding {
    let nodes = of_total(parsed, reason.nodes);
    let has = has_have(reason.nodes);
    let ReasonKind::Taint(named) = &reason.kind else {
        unreachable!("called for taints")
    };
    let mut f = finding(FindingKind::Taint, String::new(), base);
    match named {
        None => {
            f.summary = format!(
                "{nodes} {has} a taint the new pods don't tolerate (the scheduler doesn't say which)"
            );
            f.fixes.push("find the taint (kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints, with node read access) and tolerate it only if it is meant for these pods, by its key; never tolerate control-plane or node-condition taints".into());
        }
        Some(t) => {
            let shown = if t.value.is_empty() {
                t.key.clone()
            } else {
                format!("{}={}", t.key, t.value)
            };
            f.summary = format!("{nodes} {has} a taint the new pods don't tolerate: {shown}");
            match capacity::system_taint(&t.key) {
                Some(why) => f.evidence.push(format!("{shown}: {why}")),
                None => {
                    if let Some(y) = capacity::toleration_yaml(&t.key, Some(&t.value), None) {
                        f.fixes.push(format!(
                            "if the pods may run there, add this toleration to the pod template:\n{y}"
                        ));
                    }
                }
            }
        }
    }
    f
}

/// How soon a reader should act on a message-only reason: resources first, then the pod's own rules, then
/// labels and cordons, taints last (a control-plane taint is the scheduler's alphabetical first, never the cause).
pub(super) fn rank(kind: &ReasonKind) -> u8 {
    match kind {
        ReasonKind::Insufficient(_) | ReasonKind::TooManyPods => 0,
        ReasonKind::NodeSelector | ReasonKind::PreFiltered | ReasonKind::Cordoned => 2,
        ReasonKind::Taint(Some(t)) if capacity::system_taint(&t.key).is_none() => 3,
        ReasonKind::Taint(_) => 4,
        _ => 1,
    }
}

pub(super) fn message_only_findings(
    ctx: &Context,
    parsed: &SchedulerMessage,
    base: &Finding,
    out: &mut Vec<Finding>,
) {
    let need_of = |r: &str| ctx.cap.need.get(r).copied().unwrap_or(0);
    let mut reasons: Vec<&scheduler_message::Reason> = parsed.reasons.iter().collect();
    reasons.sort_by_key(|r| rank(&r.kind));
    let mut placed = false;
    let mut aside: Vec<String> = vec![];
    for reason in reasons {
        let f = match &reason.kind {
            ReasonKind::Insufficient(r) => finding(
                FindingKind::InsufficientResources,
                format!(
                    "Insufficient {r} on {} (the scheduler's count): a new pod needs {}; free capacity per node is unknown",
                    of_total(parsed, reason.nodes),
                    format(r, need_of(r))
                ),
                base,
            ),
            ReasonKind::TooManyPods => finding(
                FindingKind::TooManyPods,
                format!("Too many pods on {} (the scheduler's count): they are at their pod limit", of_total(parsed, reason.nodes)),
                base,
            ),
            ReasonKind::Taint(_) => message_taint(parsed, reason, base),
            ReasonKind::NodeSelector | ReasonKind::PreFiltered
                if parsed.total.is_some_and(|t| reason.nodes < t) =>
            {
                // Nodes outside the selector were never candidates: context, not a cause.
                aside.push(format!(
                    "{} {} outside the pod's node selector or affinity ({}): never candidates",
                    of_total(parsed, reason.nodes),
                    if reason.nodes == 1 { "is" } else { "are" },
                    reason.text
                ));
                continue;
            }
            ReasonKind::NodeSelector | ReasonKind::PreFiltered => {
                let wanted: Vec<String> = ctx.spec.node_selector.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
                let mut f = finding(
                    FindingKind::NodeSelector,
                    format!("{} didn't match the pod's node selector or affinity {}", of_total(parsed, reason.nodes), wanted.join(",")).trim_end().to_string(),
                    base,
                );
                f.fixes.push("label a node with room to match, or change the nodeSelector or node affinity in the pod template".into());
                f
            }
            ReasonKind::Cordoned => {
                let mut f = finding(
                    FindingKind::Unschedulable,
                    format!("{} {} cordoned (unschedulable)", of_total(parsed, reason.nodes), if reason.nodes == 1 { "is" } else { "are" }),
                    base,
                );
                f.fixes.push("kubectl uncordon the nodes once their maintenance is done, or add nodes".into());
                f
            }
            _ => {
                if !placed {
                    placed = true;
                    out.extend(placement::findings(ctx.snapshot, ctx.spec, parsed, base, None));
                }
                continue;
            }
        };
        out.push(f);
    }
    other_reasons(parsed, base, out, false);
    if out.is_empty() {
        out.push(finding(
            FindingKind::Unschedulable,
            "The scheduler cannot place the new pods".into(),
            base,
        ));
    }
    if let Some(first) = out.first_mut() {
        first.evidence.extend(aside);
    }
}
