//! The pod's own placement rules as causes: required pod (anti-)affinity, host ports, topology spread, volumes and
//! resource claims.
//!
//! The capacity model (capacity.rs) checks resources, taints, node selectors and cordons; these rules it does not
//! check. When the scheduler names one of them, "a node has room, it will retry" would be wrong: with one pod per
//! node allowed and every node taken, the surge pod waits for the whole deadline while the old pods that hold the
//! nodes wait for it. So each such reason becomes a finding of its own. Most cannot resolve during the rollout
//! (nothing removes the pods or volumes in the way), and when the old pods of this very rollout are what is in the
//! way, rolling without surge is the fix: the old pod goes first and its node, port or spread slot is free.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::resources;
use super::scheduler_message::{Reason, ReasonKind, SchedulerMessage, VolumeReason};
use super::{Finding, FindingKind, Snapshot};

/// Does `selector` select an object with `labels`? (matchLabels and matchExpressions, ANDed; an empty selector
/// selects everything, as in the API.)
pub fn selects(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| get(k) == Some(v.as_str()));
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        match e.operator.as_str() {
            "In" => get(&e.key).is_some_and(|v| values.iter().any(|x| x == v)),
            "NotIn" => get(&e.key).is_none_or(|v| !values.iter().any(|x| x == v)),
            "Exists" => get(&e.key).is_some(),
            "DoesNotExist" => get(&e.key).is_none(),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// "app=web" / "app in (web, api)", as the reader wrote the selector.
fn selector_text(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    parts.extend(
        selector
            .match_expressions
            .iter()
            .flatten()
            .map(|e| match e.values.as_deref() {
                Some(v) if !v.is_empty() => {
                    format!("{} {} ({})", e.key, e.operator.to_lowercase(), v.join(", "))
                }
                _ => format!("{} {}", e.key, e.operator),
            }),
    );
    if parts.is_empty() {
        "every pod".into()
    } else {
        parts.join(",")
    }
}

/// Old pods of this rollout that still hold a place (not finished, not leaving).
fn live_old_pods(snapshot: &Snapshot) -> impl Iterator<Item = &Pod> {
    snapshot
        .old_pods
        .iter()
        .filter(|p| !resources::is_terminated(p) && !resources::is_terminating(p))
}

/// "roll with max_surge: 0 and max_unavailable: 1: ..." when the rollout surges and `old` is in the way.
fn surge_free_fix(snapshot: &Snapshot, old: Option<&Pod>, frees: &str) -> Option<String> {
    if snapshot.max_surge <= 0 {
        return None;
    }
    let old = old?;
    let desired = snapshot.desired();
    let place = resources::node_of(old)
        .map(|n| format!(" on {n}"))
        .unwrap_or_default();
    Some(format!(
        "roll with max_surge: 0 and max_unavailable: 1: removing an old pod first ({}{place}) frees {frees} for a new pod; the cost is one pod of headroom (at least {} of {desired} pods available during the rollout)",
        resources::name(old),
        (desired - 1).max(0)
    ))
}

/// How a finding counts nodes: "3 of 5 nodes", or "2 of the 2 nodes its node selector allows" when the node list
/// says how many the selector allows (the scheduler's count can't: it names one reason per node, and a node of
/// another pool may be counted under its taint).
fn of_total(parsed: &SchedulerMessage, allowed: Option<u32>, n: u32) -> String {
    match (parsed.total, allowed, n) {
        (Some(t), Some(a), n) if n > 0 && a < t => {
            format!("{n} of the {a} nodes its node selector allows")
        }
        (Some(t), _, n) if n > 0 => format!("{n} of {t} nodes"),
        (Some(t), _, _) => format!("all {t} {}", if t == 1 { "node" } else { "nodes" }),
        (None, _, 1) => "1 node".into(),
        (None, _, n) if n > 0 => format!("{n} nodes"),
        _ => "every node".into(),
    }
}

/// What every placement finding is made from: the rollout, the new pods' template, the scheduler's message, how
/// many nodes the pod's node selector allows (when the nodes could be read), and the finding so far.
struct Scene<'a> {
    snapshot: &'a Snapshot,
    spec: &'a PodSpec,
    parsed: &'a SchedulerMessage,
    allowed: Option<u32>,
    base: &'a Finding,
}

impl Scene<'_> {
    /// A finding of `kind` for the scheduler's `reasons`, which lead its evidence. `summary` is given the nodes
    /// they rule out, counted as [`of_total`] counts them.
    fn finding(
        &self,
        kind: FindingKind,
        reasons: &[&Reason],
        summary: impl FnOnce(&str) -> String,
    ) -> Finding {
        let nodes = of_total(self.parsed, self.allowed, largest(reasons));
        let mut f = Finding {
            kind,
            summary: summary(&nodes),
            ..self.base.clone()
        };
        f.fixes.clear();
        let lines: Vec<String> = reasons
            .iter()
            .map(|r| {
                if r.nodes > 0 {
                    format!("scheduler: {} {}", r.nodes, r.text)
                } else {
                    format!("scheduler: {}", r.text)
                }
            })
            .filter(|l| !f.evidence.contains(l))
            .collect();
        f.evidence.splice(0..0, lines);
        f
    }
}

/// Is this a reason the capacity model checks (resources, taints, labels, cordons)?
pub fn modeled(kind: &ReasonKind) -> bool {
    matches!(
        kind,
        ReasonKind::Insufficient(_)
            | ReasonKind::TooManyPods
            | ReasonKind::Taint(_)
            | ReasonKind::NodeSelector
            | ReasonKind::PreFiltered
            | ReasonKind::Cordoned
    )
}

/// Could this reason go away on its own while we wait (a provisioner binding a claim, something we don't know)?
pub fn may_resolve(r: &Reason) -> bool {
    match &r.kind {
        ReasonKind::Volume(VolumeReason::UnboundImmediate) => true,
        ReasonKind::Volume(VolumeReason::Other) => !r.text.contains("not found"),
        ReasonKind::Other => true,
        _ => false,
    }
}

/// The parts joined, or `none` when there are none.
fn joined_or(parts: &[String], none: &str) -> String {
    if parts.is_empty() {
        none.to_string()
    } else {
        parts.join("; ")
    }
}

fn with_fix(mut f: Finding, fix: impl Into<String>) -> Finding {
    f.fixes.push(fix.into());
    f
}

fn largest(reasons: &[&Reason]) -> u32 {
    reasons.iter().map(|r| r.nodes).max().unwrap_or(0)
}

/// One finding per placement rule the scheduler named, in the order a reader should act on them.
/// `allowed`: how many nodes the pod's node selector and affinity allow, when the nodes could be read.
pub fn findings(
    snapshot: &Snapshot,
    spec: &PodSpec,
    parsed: &SchedulerMessage,
    base: &Finding,
    allowed: Option<u32>,
) -> Vec<Finding> {
    let pick = |pred: &dyn Fn(&ReasonKind) -> bool| -> Vec<&Reason> {
        parsed.reasons.iter().filter(|r| pred(&r.kind)).collect()
    };
    let scene = Scene {
        snapshot,
        spec,
        parsed,
        allowed,
        base,
    };
    let mut out = vec![];

    // 1.20 says "didn't match pod affinity/anti-affinity" beside the specific clause; alone, the pod's own rules
    // tell which one it is.
    let companion_is_anti =
        has_anti_affinity(spec) || parsed.has(|k| *k == ReasonKind::PodAntiAffinity);
    let anti = pick(&|k| {
        *k == ReasonKind::PodAntiAffinity
            || (*k == ReasonKind::InterPodAffinity && companion_is_anti)
    });
    if !anti.is_empty() {
        out.push(anti_affinity(&scene, &anti));
    }
    let existing = pick(&|k| matches!(k, ReasonKind::ExistingPodsAntiAffinity));
    if !existing.is_empty() {
        let f = scene.finding(FindingKind::PodAffinity, &existing, |nodes| {
            format!("Pods already running on {nodes} have a required anti-affinity that excludes the new pods")
        });
        out.push(with_fix(
            f,
            "find the pods whose podAntiAffinity selects the new pods' labels and relax their rule, or add nodes",
        ));
    }
    let affinity = pick(&|k| {
        *k == ReasonKind::PodAffinity || (*k == ReasonKind::InterPodAffinity && !companion_is_anti)
    });
    if !affinity.is_empty() {
        let wanted: Vec<String> = required_affinity_terms(spec, false)
            .map(|(s, k)| format!("{} in the same {}", selector_text(s), topology_name(k)))
            .collect();
        let wanted = joined_or(&wanted, "see the pod template");
        let f = scene.finding(FindingKind::PodAffinity, &affinity, |nodes| {
            format!(
                "Required pod affinity rules out {nodes}: no pod it requires ({wanted}) runs there"
            )
        });
        out.push(with_fix(
            f,
            "start the pods the affinity requires first, or make it preferredDuringSchedulingIgnoredDuringExecution",
        ));
    }

    let ports = pick(&|k| matches!(k, ReasonKind::HostPorts));
    if !ports.is_empty() {
        out.push(host_ports(&scene, &ports));
    }
    let spread = pick(&|k| matches!(k, ReasonKind::TopologySpread));
    if !spread.is_empty() {
        out.push(topology_spread(&scene, &spread));
    }
    // The rules with one fix each: the summary names the nodes they rule out and, where the scheduler's clauses
    // are the only detail we have, those clauses. A volume reason may resolve while we wait (a provisioner binds
    // the claim): such a finding is not fatal.
    use ReasonKind::{NodeName, ResourceClaims, Volume};
    use VolumeReason::{NoVolumeToBind, NodeConflict, Other, UnboundImmediate};
    for (which, kind, summary, fix) in [
        (
            Volume(NodeConflict),
            FindingKind::Volume,
            "The new pods' PersistentVolume can't be used on {nodes}: its node affinity (usually a zone) places it elsewhere",
            "run the pods where the volume is (kubectl get pv <volume> -o jsonpath='{.spec.nodeAffinity}'), or give them a volume in the nodes' zone",
        ),
        (
            Volume(NoVolumeToBind),
            FindingKind::Volume,
            "No PersistentVolume is available to bind the new pods' claim on {nodes}",
            "create a PersistentVolume that matches the claim (size, access mode, StorageClass), or use a StorageClass that provisions one",
        ),
        (
            Volume(UnboundImmediate),
            FindingKind::Volume,
            "The new pods' PersistentVolumeClaims are not bound yet",
            "check the claims (kubectl describe pvc): their StorageClass's provisioner must create a volume, or a matching PersistentVolume must exist",
        ),
        (
            Volume(Other),
            FindingKind::Volume,
            "The new pods' volumes rule out {nodes}: {clauses}",
            "check the pod template's volumes and their claims (kubectl describe pvc)",
        ),
        (
            ResourceClaims,
            FindingKind::ResourceClaims,
            "The new pods' resource claims can't be allocated on {nodes}: {clauses}",
            "check the ResourceClaims and their DeviceClass (kubectl describe resourceclaim): free devices are needed on a node the pod may use",
        ),
        (
            NodeName,
            FindingKind::NodeSelector,
            "The pod template names a node (spec.nodeName or a metadata.name affinity) that {nodes} can't match",
            "remove spec.nodeName from the pod template, or name a node that exists and has room",
        ),
    ] {
        let hits = pick(&|k| *k == which);
        if hits.is_empty() {
            continue;
        }
        let clauses: Vec<&str> = hits.iter().map(|r| r.text.as_str()).collect();
        let mut f = scene.finding(kind, &hits, |nodes| {
            summary
                .replace("{nodes}", nodes)
                .replace("{clauses}", &clauses.join(", "))
        });
        f.fixes.push(fix.to_string());
        if hits.iter().any(|r| may_resolve(r)) {
            f.fatal = false;
        }
        out.push(f);
    }
    out
}

fn has_anti_affinity(spec: &PodSpec) -> bool {
    required_affinity_terms(spec, true).next().is_some()
}

/// The required (anti-)affinity terms: (label selector, topology key).
fn required_affinity_terms(
    spec: &PodSpec,
    anti: bool,
) -> impl Iterator<Item = (&LabelSelector, &str)> {
    let affinity = spec.affinity.as_ref();
    let terms = if anti {
        affinity
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
    } else {
        affinity
            .and_then(|a| a.pod_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
    };
    terms
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t.label_selector.as_ref()?, t.topology_key.as_str())))
}

fn topology_name(key: &str) -> String {
    match key {
        "kubernetes.io/hostname" => "node".into(),
        "topology.kubernetes.io/zone" | "failure-domain.beta.kubernetes.io/zone" => "zone".into(),
        other => format!("{other} value"),
    }
}

fn anti_affinity(scene: &Scene, reasons: &[&Reason]) -> Finding {
    let Scene { snapshot, spec, .. } = *scene;
    let terms: Vec<(&LabelSelector, &str)> = required_affinity_terms(spec, true).collect();
    let rule = terms
        .iter()
        .map(|(s, k)| format!("one pod with {} per {}", selector_text(s), topology_name(k)))
        .collect::<Vec<_>>()
        .join("; ");
    let blocking_old: Vec<&Pod> = live_old_pods(snapshot)
        .filter(|p| {
            terms
                .iter()
                .any(|(s, _)| selects(s, p.metadata.labels.as_ref()))
        })
        .collect();
    let rule = if rule.is_empty() {
        "the pod's required anti-affinity".to_string()
    } else {
        format!("required pod anti-affinity ({rule})")
    };
    let mut f = scene.finding(FindingKind::PodAffinity, reasons, |nodes| {
        format!(
            "No node is left for a new pod under its {rule}: {nodes} already run a pod it excludes"
        )
    });
    if !blocking_old.is_empty() && snapshot.max_surge > 0 {
        f.summary.push_str(&format!(
            ", {} of them this rollout's old pods, which leave only after new pods are available",
            blocking_old.len()
        ));
    }
    for p in &blocking_old {
        if let Some(n) = resources::node_of(p) {
            f.evidence
                .push(format!("old pod {} holds {n}", resources::name(p)));
        }
    }
    let per = terms
        .first()
        .map(|(_, k)| topology_name(k))
        .unwrap_or_else(|| "node".into());
    f.fixes.extend(surge_free_fix(
        snapshot,
        blocking_old.first().copied(),
        &format!("its {per}"),
    ));
    f.fixes.push(format!(
        "or add a {per} with room (each new pod needs a {per} of its own)"
    ));
    f.fixes.push(format!("or make the rule preferredDuringSchedulingIgnoredDuringExecution if pods may share a {per}"));
    f
}

fn host_ports(scene: &Scene, reasons: &[&Reason]) -> Finding {
    let Scene { snapshot, spec, .. } = *scene;
    let wanted: Vec<(i32, String)> = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|h| *h > 0)?;
            Some((port, p.protocol.clone().unwrap_or_else(|| "TCP".into())))
        })
        .collect();
    let uses = |p: &Pod| {
        p.spec.as_ref().is_some_and(|s| {
            s.containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .any(|port| {
                    wanted.iter().any(|(h, proto)| {
                        port.host_port == Some(*h)
                            && port.protocol.as_deref().unwrap_or("TCP") == proto
                    })
                })
        })
    };
    let text: Vec<String> = wanted.iter().map(|(h, p)| format!("{h}/{p}")).collect();
    let ports = joined_or(&text, "of the new pods");
    let mut f = scene.finding(FindingKind::HostPort, reasons, |nodes| {
        format!("Host port {ports} is already taken on {nodes}")
    });
    let old = live_old_pods(snapshot).find(|p| uses(p));
    if old.is_some() {
        f.summary
            .push_str(" (this rollout's old pods hold it until new pods are available)");
    }
    f.fixes
        .extend(surge_free_fix(snapshot, old, "its host port"));
    f.fixes.push("or drop hostPort from the pod template (a Service reaches the pods without it), or add nodes".into());
    f
}

fn topology_spread(scene: &Scene, reasons: &[&Reason]) -> Finding {
    let Scene { snapshot, spec, .. } = *scene;
    let hard: Vec<_> = spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
        .collect();
    let rule: Vec<String> = hard
        .iter()
        .map(|c| {
            format!(
                "maxSkew {} per {}",
                c.max_skew,
                topology_name(&c.topology_key)
            )
        })
        .collect();
    let rule = joined_or(&rule, "see the pod template");
    let mut f = scene.finding(FindingKind::TopologySpread, reasons, |nodes| {
        format!("The topology spread constraint ({rule}, whenUnsatisfiable: DoNotSchedule) rules out {nodes}")
    });
    if reasons
        .iter()
        .any(|r| r.text.contains("missing required label"))
    {
        let keys: Vec<&str> = hard.iter().map(|c| c.topology_key.as_str()).collect();
        f.evidence.push(format!(
            "some nodes lack the topology label {}: they never count as a place for these pods",
            keys.join(", ")
        ));
    }
    let old = live_old_pods(snapshot).find(|p| {
        hard.iter().any(|c| {
            c.label_selector
                .as_ref()
                .is_some_and(|s| selects(s, p.metadata.labels.as_ref()))
        })
    });
    f.fixes
        .extend(surge_free_fix(snapshot, old, "a place in the spread"));
    f.fixes.push(
        "or raise maxSkew, or set whenUnsatisfiable: ScheduleAnyway, or add nodes in the emptier domains"
            .into(),
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_match_like_the_api() {
        let s: LabelSelector = serde_saphyr::from_str(
            "{matchLabels: {app: web}, matchExpressions: [{key: tier, operator: NotIn, values: [db]}]}",
        )
        .unwrap();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(selects(&s, Some(&labels(&[("app", "web")]))));
        assert!(!selects(
            &s,
            Some(&labels(&[("app", "web"), ("tier", "db")]))
        ));
        assert!(!selects(&s, None));
        assert!(selects(&LabelSelector::default(), None));
        assert_eq!(selector_text(&s), "app=web,tier notin (db)");
    }
}
