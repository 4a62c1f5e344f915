//! What a pod asks of a node, counted the way the scheduler and the quota admission count it.
//!
//! The scheduler reserves max(sum of the app containers, largest init container) per resource, plus the pod
//! overhead; a container that sets only limits gets requests equal to its limits (API defaulting). Using the
//! same rule here is what makes "needs 100m, 30m free" agree with what the scheduler decided.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity::{parse_milli, ONE};

/// Amounts per resource name, in milli-units.
pub type Amounts = BTreeMap<String, i128>;

/// The resources every pod is checked against, in table order.
pub const BASE_RESOURCES: [&str; 3] = ["cpu", "memory", "pods"];

pub fn parse_map(map: Option<&BTreeMap<String, Quantity>>) -> Amounts {
    map.into_iter()
        .flatten()
        .filter_map(|(k, v)| parse_milli(&v.0).map(|m| (k.clone(), m)))
        .collect()
}

#[derive(Clone, Copy)]
enum Side {
    Requests,
    Limits,
}

fn container_amounts(c: &Container, side: Side) -> Amounts {
    let res = c.resources.as_ref();
    let limits = parse_map(res.and_then(|r| r.limits.as_ref()));
    match side {
        Side::Limits => limits,
        Side::Requests => {
            let mut requests = parse_map(res.and_then(|r| r.requests.as_ref()));
            for (k, v) in limits {
                requests.entry(k).or_insert(v);
            }
            requests
        }
    }
}

fn effective(spec: &PodSpec, side: Side) -> Amounts {
    let mut sum = Amounts::new();
    for c in &spec.containers {
        for (k, v) in container_amounts(c, side) {
            *sum.entry(k).or_default() += v;
        }
    }
    for c in spec.init_containers.iter().flatten() {
        for (k, v) in container_amounts(c, side) {
            let e = sum.entry(k).or_default();
            *e = (*e).max(v);
        }
    }
    for (k, v) in parse_map(spec.overhead.as_ref()) {
        *sum.entry(k).or_default() += v;
    }
    sum
}

/// What one pod with this spec requests of a node, including one pod slot ("pods").
pub fn pod_requests(spec: &PodSpec) -> Amounts {
    let mut r = effective(spec, Side::Requests);
    r.insert("pods".into(), ONE);
    r
}

/// What a pod counts against a ResourceQuota key ("requests.cpu", "cpu", "limits.memory", "pods"), if known.
pub fn quota_usage(spec: &PodSpec, key: &str) -> Option<i128> {
    if key == "pods" || key == "count/pods" {
        return Some(ONE);
    }
    let (side, resource) = match key.split_once('.') {
        Some(("requests", r)) => (Side::Requests, r),
        Some(("limits", r)) => (Side::Limits, r),
        _ if !key.contains('/') && !key.contains('.') => (Side::Requests, key),
        _ => return None,
    };
    if !matches!(resource, "cpu" | "memory" | "ephemeral-storage") && !resource.contains('/') {
        return None;
    }
    Some(effective(spec, side).get(resource).copied().unwrap_or(0))
}

/// Requests of a live pod (empty spec counts as one pod slot).
pub fn requests_of(pod: &Pod) -> Amounts {
    pod.spec
        .as_ref()
        .map(pod_requests)
        .unwrap_or_else(|| Amounts::from([("pods".to_string(), ONE)]))
}

pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

pub fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Succeeded/Failed pods hold no resources on their node.
pub fn is_terminated(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    )
}

/// Deleted but still holding its resources until the kubelet confirms.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The pod's PodScheduled=False condition with reason Unschedulable: the scheduler's verdict, if it gave one.
pub fn unschedulable_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PodSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn init_containers_count_as_the_scheduler_counts_them() {
        let s = spec(
            r#"
containers:
- name: app
  resources: {requests: {cpu: 100m, memory: 64Mi}}
- name: sidecar
  resources: {limits: {cpu: 50m, memory: 32Mi}}
initContainers:
- name: migrate
  resources: {requests: {cpu: 500m, memory: 16Mi}}
overhead: {cpu: 10m}
"#,
        );
        let r = pod_requests(&s);
        assert_eq!(r["cpu"], 510, "max(150, 500) + 10 overhead");
        assert_eq!(r["memory"], 96 * (1 << 20) * 1000, "max(64+32, 16)");
        assert_eq!(r["pods"], 1000);
        assert_eq!(quota_usage(&s, "requests.cpu"), Some(510));
        assert_eq!(
            quota_usage(&s, "limits.cpu"),
            Some(60),
            "only the sidecar sets limits, plus overhead"
        );
        assert_eq!(quota_usage(&s, "count/pods"), Some(1000));
        assert_eq!(quota_usage(&s, "services"), None);
    }
}
