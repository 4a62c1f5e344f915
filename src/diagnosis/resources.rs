//! What a pod asks of a node, counted the way the scheduler and the quota admission count it.
//!
//! The rule is the scheduler's own (k8s.io/component-helpers resource/helpers.go `PodRequests`, which the quota
//! evaluator calls too): the app containers are summed; a native sidecar (an init container with
//! `restartPolicy: Always`, 1.28+) keeps running beside them, so it is summed as well; a plain init container
//! runs alone except for the sidecars started before it, and only the largest of those moments counts, as a
//! floor. Pod-level `spec.resources` (1.32+), when set, replaces that sum for cpu, memory and hugepages; the pod
//! overhead is added last. A container that sets only limits gets requests equal to its limits (API
//! defaulting). Using the same rule here is what makes "needs 100m, 30m free" agree with what the scheduler
//! decided: counting a sidecar as a plain init container (the max) would claim room that is not there.

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

fn add(into: &mut Amounts, from: &Amounts) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn max_into(into: &mut Amounts, from: Amounts) {
    for (k, v) in from {
        let e = into.entry(k).or_default();
        *e = (*e).max(v);
    }
}

/// A native sidecar: an init container that keeps running beside the app containers.
fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The resources pod-level `spec.resources` may set (upstream `supportedPodLevelResources`, hugepages from 1.34).
fn pod_level_supported(resource: &str) -> bool {
    matches!(resource, "cpu" | "memory") || resource.starts_with("hugepages-")
}

/// Pod-level `spec.resources` for the supported resources. A pod-level limit without a request defaults the
/// request to the limit only when no container requests that resource (upstream `defaultPodRequests`); else
/// the containers' sum stands, which `containers` already holds.
fn pod_level(spec: &PodSpec, side: Side, containers: &Amounts) -> Amounts {
    let res = spec.resources.as_ref();
    let limits = parse_map(res.and_then(|r| r.limits.as_ref()));
    let mut out = match side {
        Side::Limits => limits,
        Side::Requests => {
            let mut requests = parse_map(res.and_then(|r| r.requests.as_ref()));
            for (k, v) in limits {
                if containers.get(&k).copied().unwrap_or(0) == 0 {
                    requests.entry(k).or_insert(v);
                }
            }
            requests
        }
    };
    out.retain(|k, _| pod_level_supported(k));
    out
}

fn effective(spec: &PodSpec, side: Side) -> Amounts {
    let mut sum = Amounts::new();
    for c in &spec.containers {
        add(&mut sum, &container_amounts(c, side));
    }
    // Sidecars started so far, and the largest moment of the init phase.
    let mut sidecars = Amounts::new();
    let mut init_peak = Amounts::new();
    for c in spec.init_containers.iter().flatten() {
        let own = container_amounts(c, side);
        let moment = if is_sidecar(c) {
            add(&mut sum, &own);
            add(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            add(&mut with_sidecars, &sidecars);
            with_sidecars
        };
        max_into(&mut init_peak, moment);
    }
    max_into(&mut sum, init_peak);
    let pod = pod_level(spec, side, &sum);
    sum.extend(pod);
    add(&mut sum, &parse_map(spec.overhead.as_ref()));
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
    use crate::yaml::parsed;

    /// The pod of the init container cases: an app container requesting 100m CPU and 64Mi, then `rest` (more
    /// containers, init containers, overhead), so each case shows only what it adds.
    fn app_and(rest: &str) -> PodSpec {
        parsed(&format!(
            "containers:\n- name: app\n  resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}\n{rest}"
        ))
    }

    #[test]
    fn init_containers_count_as_the_scheduler_counts_them() {
        let s = app_and(
            r#"- name: sidecar
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

    #[test]
    fn native_sidecars_are_summed_with_the_app_not_maxed() {
        // The old rule (every init container maxed) said max(100, 300, 200) = 300m: room the scheduler does not
        // see. PodRequests sums the sidecars with the app: 100 + 300 = 400m, and the plain init container runs
        // beside the sidecar started before it: 200 + 300 = 500m, the larger, so 500m.
        let s = app_and(
            r#"initContainers:
- name: proxy
  restartPolicy: Always
  resources: {requests: {cpu: 300m, memory: 32Mi}}
- name: migrate
  resources: {requests: {cpu: 200m, memory: 16Mi}}
"#,
        );
        let r = pod_requests(&s);
        assert_eq!(r["cpu"], 500, "max(100 + 300, 200 + 300)");
        assert_eq!(r["memory"], 96 * (1 << 20) * 1000, "max(64 + 32, 16 + 32)");
        assert_eq!(quota_usage(&s, "requests.cpu"), Some(500));

        // A plain init container before the sidecar runs alone: max(100 + 300, 350) = 400m.
        let s = parsed(
            r#"
containers:
- name: app
  resources: {requests: {cpu: 100m}}
initContainers:
- name: migrate
  resources: {requests: {cpu: 350m}}
- name: proxy
  restartPolicy: Always
  resources: {limits: {cpu: 300m}}
"#,
        );
        assert_eq!(pod_requests(&s)["cpu"], 400);
        assert_eq!(
            quota_usage(&s, "limits.cpu"),
            Some(300),
            "only the sidecar sets limits"
        );
    }

    #[test]
    fn pod_level_resources_replace_the_containers_sum_for_cpu_and_memory() {
        let s = parsed(
            r#"
resources: {requests: {cpu: "1", ephemeral-storage: 1Gi}, limits: {cpu: "2", memory: 1Gi}}
containers:
- name: app
  resources: {requests: {cpu: 100m, memory: 64Mi, ephemeral-storage: 2Gi}}
- name: worker
overhead: {cpu: 10m}
"#,
        );
        let r = pod_requests(&s);
        assert_eq!(
            r["cpu"], 1010,
            "the pod-level 1, not the containers' 100m, plus overhead"
        );
        assert_eq!(
            r["memory"],
            64 * (1 << 20) * 1000,
            "a pod-level limit does not default the request when a container requests memory"
        );
        assert_eq!(
            r["ephemeral-storage"],
            2 * (1 << 30) * 1000,
            "ephemeral-storage is not a pod-level resource"
        );
        assert_eq!(quota_usage(&s, "limits.cpu"), Some(2010));
        assert_eq!(quota_usage(&s, "limits.memory"), Some((1 << 30) * 1000));

        // No container requests memory: the pod-level limit is the request.
        let s = parsed(
            r#"
resources: {limits: {memory: 1Gi}}
containers:
- name: app
"#,
        );
        assert_eq!(pod_requests(&s)["memory"], (1 << 30) * 1000);
    }
}
