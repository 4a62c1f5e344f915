//! Which pods count, and which count as available: a pod belongs to an RC by its controller ownerReference (the
//! RC controller's own rule; labels alone would count a canary RC's pods or pods the RC has released), it is
//! active unless terminating or finished (Succeeded/Failed), and available once Ready for `min_ready_seconds`, as
//! the RC controller counts `availableReplicas`. Pure, so the rules are unit tests and the engine only asks.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

// The readings of a pod this module's rules build on live in the bottom layer; re-exported for the engine.
pub use crate::k8s::{controller_uid, is_terminating, selector_matches};

/// Active as the RC controller counts it (`controller.IsPodActive`): not terminating, not Succeeded or Failed.
pub fn is_active(pod: &Pod) -> bool {
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed");
    !is_terminating(pod) && !finished
}

/// When the pod became Ready, if it is Ready now.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
    if ready.status != "True" {
        return None;
    }
    Some(
        ready
            .last_transition_time
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(Timestamp::UNIX_EPOCH),
    )
}

/// Available: active, Ready, and Ready for at least `min_ready`.
pub fn is_available(pod: &Pod, min_ready: Duration, now: Timestamp) -> bool {
    if !is_active(pod) {
        return false;
    }
    match ready_since(pod) {
        Some(since) => {
            min_ready.is_zero() || since.as_second() + min_ready.as_secs() as i64 <= now.as_second()
        }
        None => false,
    }
}

/// How long until the next Ready-but-not-yet-available pod becomes available (for min_ready_seconds > 0).
pub fn next_availability_in(
    pods: &[&Pod],
    min_ready: Duration,
    now: Timestamp,
) -> Option<Duration> {
    if min_ready.is_zero() {
        return None;
    }
    pods.iter()
        .filter(|p| is_active(p))
        .filter_map(|p| ready_since(p))
        .map(|since| since.as_second() + min_ready.as_secs() as i64 - now.as_second())
        .filter(|left| *left > 0)
        .min()
        .map(|s| Duration::from_secs(s as u64))
}

/// A sign, visible in the pod itself, that it may not become available on its own: the scheduler refused it,
/// a container waits for a reason other than starting up, or a container has restarted.
pub fn shows_trouble(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else {
        return false;
    };
    let unschedulable = status.conditions.as_ref().is_some_and(|c| {
        c.iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "False")
    });
    let containers = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten());
    unschedulable
        || containers.into_iter().any(|c| {
            c.restart_count > 0
                || c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    .is_some_and(|r| !matches!(r, "ContainerCreating" | "PodInitializing"))
        })
}

/// How long the pod took from creation to Ready, if it is Ready.
pub fn startup_time(pod: &Pod) -> Option<Duration> {
    let created = pod.metadata.creation_timestamp.as_ref()?.0;
    let ready = ready_since(pod)?;
    let secs = ready.as_second() - created.as_second();
    Some(Duration::from_secs(secs.max(0) as u64))
}

/// Counts of one RC's pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodCounts {
    /// Active pods: not terminating, not finished.
    pub live: i32,
    pub ready: i32,
    pub available: i32,
}

pub fn count(pods: &[&Pod], min_ready: Duration, now: Timestamp) -> PodCounts {
    let mut c = PodCounts::default();
    for p in pods.iter().filter(|p| is_active(p)) {
        c.live += 1;
        if ready_since(p).is_some() {
            c.ready += 1;
        }
        if is_available(p, min_ready, now) {
            c.available += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::yaml::parsed;

    const READY: &str = r#"
metadata: {name: a, labels: {name: api-pods, version: v2}}
status:
  conditions:
  - {type: Ready, status: "True", lastTransitionTime: "2026-01-01T00:00:00Z"}
"#;

    #[test]
    fn ready_pod_is_available_after_min_ready() {
        let p: Pod = parsed(READY);
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t5: Timestamp = "2026-01-01T00:00:05Z".parse().unwrap();
        assert!(is_available(&p, Duration::ZERO, t0));
        assert!(!is_available(&p, Duration::from_secs(10), t5));
        assert!(is_available(&p, Duration::from_secs(5), t5));
        assert_eq!(
            next_availability_in(&[&p], Duration::from_secs(10), t5),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn terminating_and_unready_pods_are_not_available() {
        let mut p: Pod = parsed(READY);
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            Timestamp::UNIX_EPOCH,
        ));
        let now = Timestamp::now();
        assert!(!is_available(&p, Duration::ZERO, now));
        let unready =
            parsed("metadata: {name: b}\nstatus: {conditions: [{type: Ready, status: \"False\"}]}");
        assert_eq!(
            count(&[&p, &unready], Duration::ZERO, now),
            PodCounts {
                live: 1,
                ready: 0,
                available: 0
            }
        );
    }

    #[test]
    fn finished_pods_are_not_active_and_do_not_count() {
        let failed = parsed("metadata: {name: f}\nstatus: {phase: Failed, conditions: [{type: Ready, status: \"True\"}]}");
        let done = parsed("metadata: {name: d}\nstatus: {phase: Succeeded}");
        assert!(!is_active(&failed) && !is_active(&done));
        assert!(is_active(&parsed(READY)));
        let now = Timestamp::now();
        assert_eq!(
            count(&[&failed, &done, &parsed(READY)], Duration::ZERO, now).live,
            1
        );
        assert_eq!(count(&[&failed], Duration::ZERO, now).available, 0);
    }

    #[test]
    fn the_controller_is_the_owner_reference_marked_controller() {
        let owned = parsed(
            "metadata: {name: o, ownerReferences: [{apiVersion: v1, kind: Foo, name: x, uid: u0}, {apiVersion: v1, kind: ReplicationController, name: api-rc, uid: u1, controller: true}]}",
        );
        assert_eq!(controller_uid(&owned), Some("u1"));
        assert_eq!(
            controller_uid(&parsed(READY)),
            None,
            "an orphan has no controller"
        );
    }

    #[test]
    fn trouble_is_a_refusal_a_bad_wait_or_a_restart_not_a_start() {
        let starting = parsed("metadata: {name: s}\nstatus: {containerStatuses: [{name: a, image: x, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: ContainerCreating}}}]}");
        assert!(!shows_trouble(&starting));
        let pulling = parsed("metadata: {name: p}\nstatus: {containerStatuses: [{name: a, image: x, imageID: '', ready: false, restartCount: 0, state: {waiting: {reason: ImagePullBackOff}}}]}");
        assert!(shows_trouble(&pulling));
        let crashed = parsed("metadata: {name: c}\nstatus: {containerStatuses: [{name: a, image: x, imageID: '', ready: false, restartCount: 1, state: {running: {}}}]}");
        assert!(shows_trouble(&crashed));
        let refused = parsed("metadata: {name: r}\nstatus: {conditions: [{type: PodScheduled, status: \"False\", reason: Unschedulable}]}");
        assert!(shows_trouble(&refused));
        assert!(!shows_trouble(&parsed(READY)));
    }

    #[test]
    fn startup_time_is_creation_to_ready() {
        let mut p: Pod = parsed(READY);
        p.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2025-12-31T23:59:57Z".parse().unwrap(),
        ));
        assert_eq!(startup_time(&p), Some(Duration::from_secs(3)));
    }

    #[test]
    fn selector_needs_every_label() {
        let p: Pod = parsed(READY);
        let mut sel = BTreeMap::new();
        sel.insert("name".to_string(), "api-pods".to_string());
        assert!(selector_matches(&sel, p.metadata.labels.as_ref()));
        sel.insert("version".to_string(), "v1".to_string());
        assert!(!selector_matches(&sel, p.metadata.labels.as_ref()));
    }
}
