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

use k8s_openapi::api::core::v1::{Pod, PodSpec};

use super::autoscaler;
use super::capacity::{self, Capacity, Exclusion, NodeFit};
use super::events;
use super::placement;
use super::quantity::{ceil_div, format};
use super::resources;
use super::scheduler_message::{self, ReasonKind, SchedulerMessage};
use super::{Finding, FindingKind, Snapshot};

/// The scheduler's message for a pod it could not place, if it said so.
fn unschedulable_message(snapshot: &Snapshot, pod: &Pod) -> Option<String> {
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
fn pending(snapshot: &Snapshot) -> Vec<&Pod> {
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

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// "970m of 1000m requested".
fn usage(n: &NodeFit, r: &str) -> String {
    format!(
        "{}: {} of {} requested",
        n.name,
        format(r, n.requested(r)),
        format(r, n.allocatable(r))
    )
}

struct Context<'a> {
    snapshot: &'a Snapshot,
    spec: &'a PodSpec,
    cap: Capacity,
    unschedulable: usize,
}

impl Context<'_> {
    /// One line per short resource.
    fn short_line(&self, r: &str) -> String {
        let need = self.cap.need(r);
        let Some(best) = self.cap.most_free(r) else {
            return String::new();
        };
        let free = format(r, best.free(r).max(0));
        if r == "pods" {
            return format!(
                "Too many pods: every node is at its pod limit, the most free on any node is {free} ({}: {} of {} pods)",
                best.name,
                format(r, best.requested(r)),
                format(r, best.allocatable(r))
            );
        }
        format!(
            "Insufficient {r}: a new pod needs {}; the most free on any node is {free} ({})",
            format(r, need),
            usage(best, r)
        )
    }

    fn fragmentation_line(&self, r: &str) -> String {
        let best = self.cap.most_free(r).expect("candidates exist");
        format!(
            "No single node fits a new pod: it needs {} {r}; {} is free across {} but the most on any one is {} ({})",
            format(r, self.cap.need(r)),
            format(r, self.cap.total_free(r)),
            plural(self.cap.candidates().count(), "node", "nodes"),
            format(r, best.free(r).max(0)),
            usage(best, r)
        )
    }

    /// "roll with max_surge: 0 and max_unavailable: 1" — only when removing one old pod frees enough.
    fn surge_fix(&self) -> Option<String> {
        if self.snapshot.max_surge <= 0 {
            return None;
        }
        for old in &self.snapshot.old_pods {
            if resources::is_terminated(old) || resources::is_terminating(old) {
                continue;
            }
            let Some(node) =
                resources::node_of(old).and_then(|n| self.cap.candidates().find(|c| c.name == n))
            else {
                continue;
            };
            let freed = resources::requests_of(old);
            if node.fits(&self.cap.need) || !node.fits_with(&self.cap.need, &freed) {
                continue;
            }
            let what: Vec<String> = self
                .cap
                .resources()
                .iter()
                .filter(|r| self.cap.need(r) > node.free(r) && r.as_str() != "pods")
                .map(|r| {
                    format!(
                        "{} {r}",
                        format(r, freed.get(r.as_str()).copied().unwrap_or(0))
                    )
                })
                .collect();
            let desired = self.snapshot.desired();
            return Some(format!(
                "roll with max_surge: 0 and max_unavailable: 1: removing an old pod first ({} on {}, {}) frees enough for a new pod there; the cost is one pod of headroom (at least {} of {desired} pods available during the rollout)",
                resources::name(old),
                node.name,
                what.join(", "),
                (desired - 1).max(0)
            ));
        }
        None
    }

    /// "add N node(s) like <node>" when a node of an existing shape would hold at least one new pod.
    fn add_nodes_fix(&self) -> Option<String> {
        let (best, per_node) = self
            .cap
            .candidates()
            .map(|n| (n, NodeFit::how_many(&self.cap.need, |r| n.allocatable(r))))
            .fold(None, |acc: Option<(&NodeFit, i128)>, (n, k)| match acc {
                Some((_, bk)) if bk >= k => acc,
                _ => Some((n, k)),
            })?;
        if per_node < 1 {
            return None;
        }
        let nodes = ceil_div(self.unschedulable.max(1) as i128, per_node) as usize;
        Some(format!(
            "add {} like {} (or raise the node group's max)",
            plural(nodes, "node", "nodes"),
            best.name
        ))
    }

    /// When no node shape can hold one pod at all.
    fn too_big_fix(&self) -> Option<String> {
        let too_big: Vec<String> = self
            .cap
            .resources()
            .iter()
            .filter(|r| {
                let need = self.cap.need(r);
                need > 0 && self.cap.candidates().all(|n| n.allocatable(r) < need)
            })
            .map(|r| {
                let biggest = self
                    .cap
                    .candidates()
                    .map(|n| n.allocatable(r))
                    .max()
                    .unwrap_or(0);
                format!(
                    "{} {r} (the largest node has {} allocatable)",
                    format(r, self.cap.need(r)),
                    format(r, biggest)
                )
            })
            .collect();
        (!too_big.is_empty()).then(|| {
            format!("a new pod needs more than any node can hold: {}; use larger nodes or lower the requests", too_big.join(", "))
        })
    }

    /// "lower the cpu request of container app to <= 30m" — only when the lowered pod fits on some node.
    fn lower_requests_fix(&self) -> Option<String> {
        let mut nodes: Vec<&NodeFit> = self.cap.candidates().collect();
        let primary = self
            .cap
            .short_everywhere()
            .into_iter()
            .next()
            .unwrap_or_else(|| "cpu".into());
        nodes.sort_by_key(|n| std::cmp::Reverse(n.free(&primary)));
        for node in nodes {
            let mut spec = self.spec.clone();
            let mut changes = vec![];
            let mut ok = true;
            for r in self.cap.resources() {
                let need = self.cap.need(&r);
                let free = node.free(&r);
                if need <= free {
                    continue;
                }
                if r == "pods" || free <= 0 {
                    ok = false;
                    break;
                }
                let deficit = need - free;
                let Some((idx, current)) = spec
                    .containers
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (i, container_request(c, &r)))
                    .max_by_key(|(_, v)| *v)
                else {
                    ok = false;
                    break;
                };
                let lowered = current - deficit;
                if lowered <= 0 {
                    ok = false;
                    break;
                }
                set_request(&mut spec.containers[idx], &r, lowered);
                changes.push(format!(
                    "the {r} request of container {} from {} to <= {}",
                    spec.containers[idx].name,
                    format(&r, current),
                    format(&r, lowered)
                ));
            }
            if ok && !changes.is_empty() && node.fits(&resources::pod_requests(&spec)) {
                return Some(format!(
                    "lower {} (then a new pod fits on {})",
                    changes.join(" and "),
                    node.name
                ));
            }
        }
        None
    }

    /// Terminating pods whose departure would let a new pod in.
    fn relief(&self) -> Vec<String> {
        let known = capacity::known_pods(self.snapshot);
        known
            .iter()
            .filter(|p| resources::is_terminating(p) && !resources::is_terminated(p))
            .filter_map(|p| {
                if self.snapshot.nodes.is_empty() {
                    return Some(format!(
                        "pod {} is terminating and may free room",
                        resources::name(p)
                    ));
                }
                let node = self
                    .cap
                    .candidates()
                    .find(|n| Some(n.name.as_str()) == resources::node_of(p))?;
                node.fits_with(&self.cap.need, &resources::requests_of(p))
                    .then(|| {
                        format!(
                            "pod {} on {} is terminating; when it is gone a new pod fits there",
                            resources::name(p),
                            node.name
                        )
                    })
            })
            .collect()
    }

    fn capacity_finding(&self, base: &Finding) -> Finding {
        let short = self.cap.short_everywhere();
        let mut f = base.clone();
        if short.is_empty() {
            let needs: Vec<String> = self
                .cap
                .resources()
                .iter()
                .filter(|r| self.cap.need(r) > 0 && r.as_str() != "pods")
                .map(|r| format!("{} {r}", format(r, self.cap.need(r))))
                .collect();
            f.kind = FindingKind::InsufficientResources;
            f.summary = format!(
                "No node has room for a new pod: it needs {}, and no node has all of it free at once",
                needs.join(" and ")
            );
            for n in self.cap.candidates() {
                let lacking: Vec<String> = self
                    .cap
                    .resources()
                    .iter()
                    .filter(|r| self.cap.need(r) > n.free(r))
                    .map(|r| format!("{r} ({} free)", format(r, n.free(r).max(0))))
                    .collect();
                f.evidence
                    .push(format!("{} is short of {}", n.name, lacking.join(", ")));
            }
        } else {
            let fragmented = self.cap.candidates().count() > 1
                && short
                    .iter()
                    .all(|r| r != "pods" && self.cap.total_free(r) >= self.cap.need(r));
            f.kind = if fragmented {
                FindingKind::Fragmentation
            } else if short == ["pods"] {
                FindingKind::TooManyPods
            } else {
                FindingKind::InsufficientResources
            };
            let lines: Vec<String> = short
                .iter()
                .map(|r| {
                    if fragmented {
                        self.fragmentation_line(r)
                    } else {
                        self.short_line(r)
                    }
                })
                .collect();
            f.summary = lines.join("; ");
        }
        f.capacity = self.cap.rows();
        f.fixes = [
            self.surge_fix(),
            self.add_nodes_fix(),
            self.too_big_fix(),
            self.lower_requests_fix(),
        ]
        .into_iter()
        .flatten()
        .collect();
        f
    }
}

fn container_request(c: &k8s_openapi::api::core::v1::Container, r: &str) -> i128 {
    let res = c.resources.as_ref();
    resources::parse_map(res.and_then(|x| x.requests.as_ref()))
        .get(r)
        .or(resources::parse_map(res.and_then(|x| x.limits.as_ref())).get(r))
        .copied()
        .unwrap_or(0)
}

fn set_request(c: &mut k8s_openapi::api::core::v1::Container, r: &str, milli: i128) {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let res = c.resources.get_or_insert_with(Default::default);
    res.requests
        .get_or_insert_with(Default::default)
        .insert(r.to_string(), Quantity(format!("{milli}m")));
}

fn finding(kind: FindingKind, summary: String, base: &Finding) -> Finding {
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

fn known_node_findings(
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
fn taint_findings(ctx: &Context, base: &Finding, out: &mut Vec<Finding>) {
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

/// Scheduler reasons nothing else explains, passed on as they are.
fn other_reasons(parsed: &SchedulerMessage, base: &Finding, out: &mut Vec<Finding>, always: bool) {
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
fn of_total(parsed: &SchedulerMessage, n: u32) -> String {
    match parsed.total {
        Some(t) => format!("{n} of {t} nodes"),
        None if n > 0 => plural(n as usize, "node", "nodes"),
        None => "the nodes".into(),
    }
}

fn has_have(n: u32) -> &'static str {
    if n == 1 {
        "has"
    } else {
        "have"
    }
}

/// A taint known only from the scheduler's words. A toleration is offered only for a taint the scheduler named
/// and that is meant to be tolerated: an unnamed one (1.34.2+) would need `operator: Exists` without a key,
/// which tolerates every taint, control plane and broken nodes included.
fn message_taint(
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
fn rank(kind: &ReasonKind) -> u8 {
    match kind {
        ReasonKind::Insufficient(_) | ReasonKind::TooManyPods => 0,
        ReasonKind::NodeSelector | ReasonKind::PreFiltered | ReasonKind::Cordoned => 2,
        ReasonKind::Taint(Some(t)) if capacity::system_taint(&t.key).is_none() => 3,
        ReasonKind::Taint(_) => 4,
        _ => 1,
    }
}

fn message_only_findings(
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
