//! Per-node capacity, computed the scheduler's way: allocatable minus what bound pods request.
//!
//! The scheduler only says "3 Insufficient cpu"; the reader needs the numbers behind it (how much one pod needs,
//! how much each node has free) to choose between adding nodes, lowering requests and rolling without surge.
//! Nodes the pod could never use (cordoned, wrong labels, untolerated taints) are kept with the reason they are
//! excluded, so their own findings can name it.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, Taint, Toleration};

use super::quantity::format;
use super::resources::{self, Amounts, BASE_RESOURCES};
use super::{CapacityRow, Snapshot};

/// Why a node cannot take the pod whatever its free capacity.
#[derive(Debug, Clone, PartialEq)]
pub enum Exclusion {
    Cordoned,
    /// The nodeSelector entries ("key=value") the node's labels do not satisfy.
    Selector(Vec<String>),
    /// The first NoSchedule/NoExecute taint the pod does not tolerate.
    Taint(Taint),
}

/// One node as the scheduler sees it for this pod.
#[derive(Debug, Clone)]
pub struct NodeFit {
    pub name: String,
    pub allocatable: Amounts,
    pub requested: Amounts,
    pub excluded: Option<Exclusion>,
}

impl NodeFit {
    pub fn allocatable(&self, r: &str) -> i128 {
        self.allocatable.get(r).copied().unwrap_or(0)
    }

    pub fn requested(&self, r: &str) -> i128 {
        self.requested.get(r).copied().unwrap_or(0)
    }

    /// May be negative when the node is overcommitted (e.g. allocatable shrank).
    pub fn free(&self, r: &str) -> i128 {
        self.allocatable(r) - self.requested(r)
    }

    pub fn fits_with(&self, need: &Amounts, extra_free: &Amounts) -> bool {
        need.iter()
            .all(|(r, n)| *n <= 0 || self.free(r) + extra_free.get(r).copied().unwrap_or(0) >= *n)
    }

    pub fn fits(&self, need: &Amounts) -> bool {
        self.fits_with(need, &Amounts::new())
    }

    /// How many pods needing `need` fit into `free` amounts.
    pub fn how_many(need: &Amounts, free: impl Fn(&str) -> i128) -> i128 {
        need.iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (free(r).max(0)) / n)
            .min()
            .unwrap_or(0)
    }
}

/// Capacity of the cluster for one pod shape.
#[derive(Debug, Clone)]
pub struct Capacity {
    /// What one new pod needs.
    pub need: Amounts,
    pub nodes: Vec<NodeFit>,
}

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let effect_ok = t
            .effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect);
        let key = t.key.as_deref().unwrap_or("");
        match t.operator.as_deref().unwrap_or("Equal") {
            "Exists" => effect_ok && (key.is_empty() || key == taint.key),
            _ => {
                effect_ok
                    && key == taint.key
                    && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
            }
        }
    })
}

/// Why `node` cannot take a pod with `spec`, if it cannot.
pub fn exclusion(node: &Node, spec: &PodSpec) -> Option<Exclusion> {
    let node_spec = node.spec.as_ref();
    if node_spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        return Some(Exclusion::Cordoned);
    }
    let labels = node.metadata.labels.as_ref();
    let missing: Vec<String> = spec
        .node_selector
        .iter()
        .flatten()
        .filter(|(k, v)| labels.and_then(|l| l.get(*k)) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !missing.is_empty() {
        return Some(Exclusion::Selector(missing));
    }
    if let Some(unmet) = unmet_node_affinity(node, spec) {
        return Some(Exclusion::Selector(vec![unmet]));
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    node_spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .find(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute") && !tolerates(tolerations, t)
        })
        .map(|t| Exclusion::Taint(t.clone()))
}

/// Does `node` satisfy one requirement of a node selector term (labels for expressions, name for fields)?
fn requirement_holds(value: Option<&str>, operator: &str, values: &[String]) -> bool {
    let number = |v: &str| v.parse::<i64>().ok();
    match operator {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|b| number(b)),
            ) else {
                return false;
            };
            if operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// The pod's required node affinity, when `node` matches none of its terms: "node affinity disktype In [ssd]"
/// (the first term, as the reader wrote it). The scheduler ORs the terms and ANDs each term's requirements.
fn unmet_node_affinity(node: &Node, spec: &PodSpec) -> Option<String> {
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let labels = node.metadata.labels.as_ref();
    let name = node.metadata.name.as_deref();
    let matches = |t: &k8s_openapi::api::core::v1::NodeSelectorTerm| {
        let exprs = t.match_expressions.as_deref().unwrap_or(&[]);
        let fields = t.match_fields.as_deref().unwrap_or(&[]);
        (!exprs.is_empty() || !fields.is_empty())
            && exprs.iter().all(|e| {
                let v = labels.and_then(|l| l.get(&e.key)).map(String::as_str);
                requirement_holds(v, &e.operator, e.values.as_deref().unwrap_or(&[]))
            })
            && fields.iter().all(|f| {
                let v = (f.key == "metadata.name").then_some(name).flatten();
                requirement_holds(v, &f.operator, f.values.as_deref().unwrap_or(&[]))
            })
    };
    if terms.is_empty() || terms.iter().any(matches) {
        return None;
    }
    let first = &terms[0];
    let parts: Vec<String> = first
        .match_expressions
        .iter()
        .flatten()
        .chain(first.match_fields.iter().flatten())
        .map(|e| match e.values.as_deref() {
            Some(v) if !v.is_empty() => format!("{} {} [{}]", e.key, e.operator, v.join(", ")),
            _ => format!("{} {}", e.key, e.operator),
        })
        .collect();
    Some(format!("node affinity {}", parts.join(", ")))
}

/// Every pod the snapshot knows of, once.
pub fn known_pods(snapshot: &Snapshot) -> Vec<&Pod> {
    let mut seen = BTreeSet::new();
    snapshot
        .all_pods
        .iter()
        .map(|p| &**p)
        .chain(&snapshot.old_pods)
        .chain(&snapshot.new_pods)
        .filter(|p| {
            seen.insert((
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default(),
            ))
        })
        .collect()
}

impl Capacity {
    /// Builds the per-node view for pods with `spec`.
    pub fn build(snapshot: &Snapshot, spec: &PodSpec) -> Capacity {
        let need = resources::pod_requests(spec);
        let pods = known_pods(snapshot);
        let nodes = snapshot
            .nodes
            .iter()
            .map(|node| {
                let name = node.metadata.name.clone().unwrap_or_default();
                let mut requested = Amounts::new();
                for p in pods.iter().filter(|p| {
                    resources::node_of(p) == Some(name.as_str()) && !resources::is_terminated(p)
                }) {
                    for (k, v) in resources::requests_of(p) {
                        *requested.entry(k).or_default() += v;
                    }
                }
                NodeFit {
                    allocatable: resources::parse_map(
                        node.status.as_ref().and_then(|s| s.allocatable.as_ref()),
                    ),
                    requested,
                    excluded: exclusion(node, spec),
                    name,
                }
            })
            .collect();
        Capacity { need, nodes }
    }

    /// Nodes the pod could use if they had room.
    pub fn candidates(&self) -> impl Iterator<Item = &NodeFit> {
        self.nodes.iter().filter(|n| n.excluded.is_none())
    }

    /// How many nodes the pod's node selector and required node affinity allow (tainted or full ones included).
    pub fn allowed(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| !matches!(n.excluded, Some(Exclusion::Selector(_))))
            .count()
    }

    pub fn any_fits(&self) -> bool {
        self.candidates().any(|n| n.fits(&self.need))
    }

    /// cpu, memory, pods, then any other resource the pod requests.
    pub fn resources(&self) -> Vec<String> {
        let mut v: Vec<String> = BASE_RESOURCES.iter().map(|s| s.to_string()).collect();
        v.extend(
            self.need
                .iter()
                .filter(|(k, n)| **n > 0 && !BASE_RESOURCES.contains(&k.as_str()))
                .map(|(k, _)| k.clone()),
        );
        v
    }

    pub fn need(&self, r: &str) -> i128 {
        self.need.get(r).copied().unwrap_or(0)
    }

    /// Resources no candidate node has enough of.
    pub fn short_everywhere(&self) -> Vec<String> {
        self.resources()
            .into_iter()
            .filter(|r| {
                let need = self.need(r);
                need > 0
                    && self.candidates().next().is_some()
                    && self.candidates().all(|n| n.free(r) < need)
            })
            .collect()
    }

    /// The candidate with the most free of `r` (first by name on ties).
    pub fn most_free(&self, r: &str) -> Option<&NodeFit> {
        self.candidates()
            .fold(None, |best: Option<&NodeFit>, n| match best {
                Some(b) if b.free(r) >= n.free(r) => Some(b),
                _ => Some(n),
            })
    }

    /// Total free of `r` across candidates (overcommitted nodes count as 0).
    pub fn total_free(&self, r: &str) -> i128 {
        self.candidates().map(|n| n.free(r).max(0)).sum()
    }

    /// Table rows for candidate nodes.
    pub fn rows(&self) -> Vec<CapacityRow> {
        let resources = self.resources();
        self.candidates()
            .flat_map(|n| {
                resources.iter().map(move |r| {
                    let need = self.need(r);
                    CapacityRow {
                        node: n.name.clone(),
                        resource: r.clone(),
                        allocatable: format(r, n.allocatable(r)),
                        requested: format(r, n.requested(r)),
                        free: format(r, n.free(r).max(0)),
                        needed: format(r, need),
                        fits: need <= 0 || n.free(r) >= need,
                    }
                })
            })
            .collect()
    }
}

/// "key=value:effect" (or "key:effect" without a value).
pub fn taint_text(t: &Taint) -> String {
    match t.value.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => format!("{}={v}:{}", t.key, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

/// Why a taint with this key is not the pods' to tolerate: Kubernetes sets `node-role.kubernetes.io/*` on
/// control-plane nodes and `node.kubernetes.io/*` on nodes with a condition (not-ready, unreachable, pressure,
/// cordoned). Tolerating either puts the app where it must not run.
pub fn system_taint(key: &str) -> Option<&'static str> {
    if key.starts_with("node-role.kubernetes.io/") {
        Some("keeps workloads off control-plane nodes; don't tolerate it, make room on the other nodes")
    } else if key.starts_with("node.kubernetes.io/") {
        Some("set by Kubernetes while a node is unhealthy or cordoned; make the node healthy rather than tolerating it")
    } else {
        None
    }
}

/// The toleration, as pod-template YAML, that would let the pod onto a node with this taint. `None` for a taint
/// without a key (its toleration would be a bare `operator: Exists`, which tolerates every taint) and for the
/// taints Kubernetes owns ([`system_taint`]).
pub fn toleration_yaml(key: &str, value: Option<&str>, effect: Option<&str>) -> Option<String> {
    if key.trim().is_empty() || system_taint(key).is_some() {
        return None;
    }
    let mut y = format!("tolerations:\n- key: \"{key}\"\n");
    match value.filter(|v| !v.is_empty()) {
        Some(v) => y.push_str(&format!("  operator: \"Equal\"\n  value: \"{v}\"\n")),
        None => y.push_str("  operator: \"Exists\"\n"),
    }
    if let Some(e) = effect.filter(|e| !e.is_empty()) {
        y.push_str(&format!("  effect: \"{e}\"\n"));
    }
    Some(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parsed;

    #[test]
    fn taints_selectors_and_cordons_exclude_nodes() {
        let pod = parsed("{containers: [{name: app}], nodeSelector: {disk: ssd}, tolerations: [{key: team, operator: Exists}]}");
        let ssd = "metadata: {name: n, labels: {disk: ssd}}";
        assert_eq!(exclusion(&parsed(ssd), &pod), None);
        assert_eq!(
            exclusion(&parsed("metadata: {name: n, labels: {disk: hdd}}"), &pod),
            Some(Exclusion::Selector(vec!["disk=ssd".into()]))
        );
        assert_eq!(
            exclusion(
                &parsed("{metadata: {name: n, labels: {disk: ssd}}, spec: {unschedulable: true}}"),
                &pod
            ),
            Some(Exclusion::Cordoned)
        );
        let tolerated = parsed("{metadata: {name: n, labels: {disk: ssd}}, spec: {taints: [{key: team, value: a, effect: NoSchedule}, {key: x, effect: PreferNoSchedule}]}}");
        assert_eq!(
            exclusion(&tolerated, &pod),
            None,
            "tolerated and PreferNoSchedule taints don't exclude"
        );
        let tainted = parsed("{metadata: {name: n, labels: {disk: ssd}}, spec: {taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}}");
        match exclusion(&tainted, &pod) {
            Some(Exclusion::Taint(t)) => assert_eq!(taint_text(&t), "dedicated=gpu:NoSchedule"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn required_node_affinity_excludes_nodes_like_the_scheduler() {
        let pod = parsed(
            "{containers: [{name: app}], affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [
              {matchExpressions: [{key: disk, operator: In, values: [ssd, nvme]}, {key: cores, operator: Gt, values: ['4']}]},
              {matchFields: [{key: metadata.name, operator: In, values: [big]}]}]}}}}",
        );
        let fast = "metadata: {name: n, labels: {disk: nvme, cores: '8'}}";
        assert_eq!(exclusion(&parsed(fast), &pod), None);
        assert_eq!(
            exclusion(&parsed("metadata: {name: big}"), &pod),
            None,
            "the second term matches by name"
        );
        assert_eq!(
            exclusion(
                &parsed("metadata: {name: n, labels: {disk: ssd, cores: '2'}}"),
                &pod
            ),
            Some(Exclusion::Selector(vec![
                "node affinity disk In [ssd, nvme], cores Gt [4]".into()
            ]))
        );
        let not_in = parsed("{containers: [{name: app}], affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: spot, operator: DoesNotExist}]}]}}}}");
        assert_eq!(exclusion(&parsed("metadata: {name: n}"), &not_in), None);
        assert!(exclusion(
            &parsed("metadata: {name: n, labels: {spot: 'yes'}}"),
            &not_in
        )
        .is_some());
    }

    #[test]
    fn toleration_yaml_parses_back_and_tolerates() {
        let y = toleration_yaml("dedicated", Some("gpu"), Some("NoSchedule")).unwrap();
        #[derive(serde::Deserialize)]
        struct T {
            tolerations: Vec<Toleration>,
        }
        let t: T = serde_saphyr::from_str(&y).unwrap();
        let taint = Taint {
            key: "dedicated".into(),
            value: Some("gpu".into()),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        assert!(tolerates(&t.tolerations, &taint));
        let other = Taint {
            value: Some("cpu".into()),
            ..taint
        };
        assert!(!tolerates(&t.tolerations, &other));
    }

    #[test]
    fn no_toleration_for_an_unnamed_or_kubernetes_owned_taint() {
        assert_eq!(toleration_yaml("", None, None), None);
        assert_eq!(toleration_yaml(" ", Some(""), Some("NoSchedule")), None);
        assert_eq!(
            toleration_yaml("node-role.kubernetes.io/control-plane", None, None),
            None
        );
        assert_eq!(
            toleration_yaml("node.kubernetes.io/not-ready", None, Some("NoExecute")),
            None
        );
        assert!(toleration_yaml("dedicated", None, None).is_some());
    }
}
