//! Reasons explained from the nodes we could read: node selectors and affinity, cordons, pod limits and taints,
//! with the toleration offered only for a taint meant to be tolerated. Needs node access; without it,
//! message_only.rs speaks instead.

use super::capacity_wording::{plural, Context};
use super::finding;
use super::message_only::other_reasons;
use crate::diagnosis::capacity::{self, Exclusion, NodeFit};
use crate::diagnosis::placement;
use crate::diagnosis::scheduler_message::SchedulerMessage;
use crate::diagnosis::{Finding, FindingKind};

pub(super) fn known_node_findings(
    ctx: &Context,
    parsed: &SchedulerMessage,
    base: &Finding,
    fits_now: bool,
    out: &mut Vec<Finding>,
) {
    let total = ctx.cap.nodes.len();
    if fits_now {
        let node = ctx
            .cap
            .candidates()
            .find(|n| n.fits(&ctx.cap.need))
            .map(|n| n.name.as_str())
            .unwrap_or("");
        let mut f = finding(
            FindingKind::Unschedulable,
            format!(
                "The scheduler found no node for {}, but {node} has room now; it will retry",
                plural(ctx.unschedulable, "new pod", "new pods")
            ),
            base,
        );
        f.capacity = ctx.cap.rows();
        f.fatal = false;
        out.push(f);
        return;
    }
    // Capacity first, then the pod's own placement rules, then labels, cordons and taints: the order a reader
    // should act in, not the scheduler's alphabetical one.
    if ctx.cap.candidates().next().is_some() && !ctx.cap.any_fits() {
        out.push(ctx.capacity_finding(base));
    }
    out.extend(placement::findings(
        ctx.snapshot,
        ctx.spec,
        parsed,
        base,
        Some(ctx.cap.allowed() as u32),
    ));

    let selector: Vec<&NodeFit> = ctx
        .cap
        .nodes
        .iter()
        .filter(|n| matches!(n.excluded, Some(Exclusion::Selector(_))))
        .collect();
    // Nodes outside the selector are the user's choice, not a cause: say so only when no node matches at all.
    if !selector.is_empty() && selector.len() == total {
        let wanted: Vec<String> = ctx
            .spec
            .node_selector
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let what = if wanted.is_empty() {
            "required node affinity".to_string()
        } else {
            format!("nodeSelector {}", wanted.join(","))
        };
        let mut f = finding(
            FindingKind::NodeSelector,
            format!(
                "The pod's {what} matches no node ({})",
                plural(total, "node", "nodes")
            ),
            base,
        );
        for n in &selector {
            if let Some(Exclusion::Selector(missing)) = &n.excluded {
                f.evidence
                    .push(format!("{} lacks {}", n.name, missing.join(", ")));
            }
        }
        f.fixes.push(if wanted.is_empty() {
            "label a node with room to match the required node affinity, or change the affinity in the pod template".to_string()
        } else {
            format!(
                "label a node with room (kubectl label nodes <node> {}) or change the nodeSelector in the pod template",
                wanted.join(" ")
            )
        });
        out.push(f);
    }

    let cordoned: Vec<&NodeFit> = ctx
        .cap
        .nodes
        .iter()
        .filter(|n| n.excluded == Some(Exclusion::Cordoned))
        .collect();
    if !cordoned.is_empty() {
        let names: Vec<&str> = cordoned.iter().map(|n| n.name.as_str()).collect();
        let mut f = finding(
            FindingKind::Unschedulable,
            format!(
                "{} cordoned (unschedulable): {}",
                plural(cordoned.len(), "node is", "nodes are"),
                names.join(", ")
            ),
            base,
        );
        if let Some(n) = cordoned.iter().find(|n| n.fits(&ctx.cap.need)) {
            f.fixes.push(format!(
                "kubectl uncordon {} (it has room for a new pod)",
                n.name
            ));
        }
        out.push(f);
    }

    taint_findings(ctx, base, out);
    other_reasons(parsed, base, out, out.is_empty());
}

/// Untolerated taints, grouped by taint, with a toleration only for a taint that is meant to be tolerated.
pub(super) fn taint_findings(ctx: &Context, base: &Finding, out: &mut Vec<Finding>) {
    let total = ctx.cap.nodes.len();
    let mut taints: Vec<(k8s_openapi::api::core::v1::Taint, Vec<&NodeFit>)> = vec![];
    for n in &ctx.cap.nodes {
        if let Some(Exclusion::Taint(t)) = &n.excluded {
            match taints.iter_mut().find(|(tt, _)| {
                tt == t || (tt.key == t.key && tt.value == t.value && tt.effect == t.effect)
            }) {
                Some((_, v)) => v.push(n),
                None => taints.push((t.clone(), vec![n])),
            }
        }
    }
    if !taints.is_empty() {
        let tainted: usize = taints.iter().map(|(_, v)| v.len()).sum();
        let parts: Vec<String> = taints
            .iter()
            .map(|(t, ns)| {
                format!(
                    "{} ({})",
                    capacity::taint_text(t),
                    ns.iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        // Count among the nodes the pod's selector allows: the others were never an option.
        let eligible = ctx.cap.allowed();
        let of = if eligible < total {
            format!(
                "{} matching the pod's node selector",
                if eligible == 1 { "node" } else { "nodes" }
            )
        } else if total == 1 {
            "node".to_string()
        } else {
            "nodes".to_string()
        };
        let mut f = finding(
            FindingKind::Taint,
            format!(
                "{tainted} of {eligible} {of} {} a taint the new pods don't tolerate: {}",
                if tainted == 1 { "has" } else { "have" },
                parts.join("; ")
            ),
            base,
        );
        for (t, ns) in &taints {
            let text = capacity::taint_text(t);
            if let Some(why) = capacity::system_taint(&t.key) {
                f.evidence.push(format!("{text} on {}: {why}", ns[0].name));
                continue;
            }
            let Some(toleration) =
                capacity::toleration_yaml(&t.key, t.value.as_deref(), Some(&t.effect))
            else {
                continue;
            };
            f.fixes.push(format!(
                "if the pods may run on {}, add this toleration to the pod template:\n{toleration}",
                ns[0].name,
            ));
            f.fixes.push(format!(
                "or remove the taint: kubectl taint nodes {} {text}-",
                ns[0].name
            ));
            let roomy = ns.iter().any(|n| n.fits(&ctx.cap.need));
            if !roomy {
                f.evidence.push(format!(
                    "even tolerated, {} has too little free room for a new pod",
                    ns[0].name
                ));
            }
        }
        out.push(f);
    }
}
