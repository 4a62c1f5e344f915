//! The capacity finding in words: which resource is short and where, by how much, and each fix stated only after
//! the same numbers show it would let a new pod in (surge 0, more nodes, smaller requests, a terminating pod).
//! Apart from the rules because the wording is where the numbers must agree with the scheduler's verdict.

use k8s_openapi::api::core::v1::PodSpec;

use crate::diagnosis::capacity::{self, Capacity, NodeFit};
use crate::diagnosis::quantity::{ceil_div, format};
use crate::diagnosis::resources;
use crate::diagnosis::{Finding, FindingKind, Snapshot};

pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// "970m of 1000m requested".
pub(super) fn usage(n: &NodeFit, r: &str) -> String {
    format!(
        "{}: {} of {} requested",
        n.name,
        format(r, n.requested(r)),
        format(r, n.allocatable(r))
    )
}

pub(super) struct Context<'a> {
    pub(super) snapshot: &'a Snapshot,
    pub(super) spec: &'a PodSpec,
    pub(super) cap: Capacity,
    pub(super) unschedulable: usize,
}

impl Context<'_> {
    /// One line per short resource.
    pub(super) fn short_line(&self, r: &str) -> String {
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

    pub(super) fn fragmentation_line(&self, r: &str) -> String {
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
    pub(super) fn surge_fix(&self) -> Option<String> {
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
    pub(super) fn add_nodes_fix(&self) -> Option<String> {
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
    pub(super) fn too_big_fix(&self) -> Option<String> {
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
    pub(super) fn lower_requests_fix(&self) -> Option<String> {
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
    pub(super) fn relief(&self) -> Vec<String> {
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

    pub(super) fn capacity_finding(&self, base: &Finding) -> Finding {
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

pub(super) fn container_request(c: &k8s_openapi::api::core::v1::Container, r: &str) -> i128 {
    let res = c.resources.as_ref();
    resources::parse_map(res.and_then(|x| x.requests.as_ref()))
        .get(r)
        .or(resources::parse_map(res.and_then(|x| x.limits.as_ref())).get(r))
        .copied()
        .unwrap_or(0)
}

pub(super) fn set_request(c: &mut k8s_openapi::api::core::v1::Container, r: &str, milli: i128) {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let res = c.resources.get_or_insert_with(Default::default);
    res.requests
        .get_or_insert_with(Default::default)
        .insert(r.to_string(), Quantity(format!("{milli}m")));
}
