//! The pod status a kubelet would report for a set of simulated containers.
//!
//! Built as a JSON merge patch for the status subresource: arrays are replaced whole, so each patch carries the
//! complete container statuses and conditions (including the scheduler's PodScheduled condition, kept as it was).

use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};

use crate::container::{ContainerSim, State, Termination};

/// Facts about the pod that don't change while it lives.
pub struct PodFacts<'a> {
    pub uid: &'a str,
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    pub start_time: Timestamp,
    /// The scheduler's PodScheduled condition as found on the pod, if any.
    pub scheduled: Option<Value>,
}

/// Seconds-precision RFC 3339, as `metav1.Time` is serialised.
pub fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether every init container has completed (the pod's Initialized condition).
pub fn initialized(inits: &[ContainerSim]) -> bool {
    inits.iter().all(ContainerSim::completed)
}

/// Pending until the init containers have completed and every container has run at least once, like the
/// kubelet's phase computation.
pub fn phase(inits: &[ContainerSim], containers: &[ContainerSim]) -> &'static str {
    if initialized(inits) && containers.iter().all(ContainerSim::has_run) {
        "Running"
    } else {
        "Pending"
    }
}

/// Whether every container is ready (the pod's Ready condition).
pub fn all_ready(containers: &[ContainerSim]) -> bool {
    containers.iter().all(|c| c.ready)
}

/// The status patch for init containers `inits` (run in order, before the others) and app containers
/// `containers`. `ready_since` is when the pod's readiness last changed.
pub fn status_patch(
    facts: &PodFacts,
    inits: &[ContainerSim],
    containers: &[ContainerSim],
    ready_since: Timestamp,
) -> Value {
    let initialized = initialized(inits);
    let ready = initialized && all_ready(containers);
    let unready: Vec<&str> = containers
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let readiness = |kind: &str| {
        if ready {
            json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": time(ready_since)})
        } else {
            json!({
                "type": kind, "status": "False", "lastProbeTime": null, "lastTransitionTime": time(ready_since),
                "reason": "ContainersNotReady",
                "message": format!("containers with unready status: [{}]", unready.join(" ")),
            })
        }
    };
    let incomplete: Vec<&str> = inits
        .iter()
        .filter(|c| !c.completed())
        .map(|c| c.name.as_str())
        .collect();
    let initialized_condition = if initialized {
        json!({"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": time(facts.start_time)})
    } else {
        json!({
            "type": "Initialized", "status": "False", "lastProbeTime": null,
            "lastTransitionTime": time(facts.start_time), "reason": "ContainersNotInitialized",
            "message": format!("containers with incomplete status: [{}]", incomplete.join(" ")),
        })
    };
    // App containers wait for the init containers to finish.
    let app_status = |c: &ContainerSim| {
        let mut status = container_status(facts.uid, c);
        if !initialized && !c.created {
            status["state"] = json!({"waiting": {"reason": "PodInitializing"}});
        }
        status
    };
    let scheduled = facts.scheduled.clone().unwrap_or_else(|| {
        json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": time(facts.start_time)})
    });
    let mut patch = json!({
        "status": {
            "phase": phase(inits, containers),
            "hostIP": facts.host_ip,
            "podIP": facts.pod_ip,
            "podIPs": [{"ip": facts.pod_ip}],
            "startTime": time(facts.start_time),
            "conditions": [
                initialized_condition,
                readiness("Ready"),
                readiness("ContainersReady"),
                scheduled,
            ],
            "containerStatuses": containers.iter().map(app_status).collect::<Vec<_>>(),
        }
    });
    if !inits.is_empty() {
        patch["status"]["initContainerStatuses"] = json!(inits
            .iter()
            .map(|c| container_status(facts.uid, c))
            .collect::<Vec<_>>());
    }
    patch
}

fn container_status(uid: &str, c: &ContainerSim) -> Value {
    let digest = format!("{:x}", md5::compute(c.image.as_bytes()));
    let repo = c.image.split([':', '@']).next().unwrap_or(&c.image);
    let mut status = json!({
        "name": c.name,
        "image": c.image,
        "imageID": "",
        "ready": c.ready,
        "started": matches!(c.state, State::Running { .. }),
        "restartCount": c.restart_count,
        "state": state(&c.state),
        "lastState": c.last_state.as_ref().map(|t| json!({"terminated": terminated(t)})).unwrap_or_else(|| json!({})),
    });
    if c.created {
        let id = format!(
            "{:x}",
            md5::compute(format!("{uid}/{}/{}", c.name, c.restart_count))
        );
        status["containerID"] = json!(format!("containerd://{id}{id}"));
        status["imageID"] = json!(format!("{repo}@sha256:{digest}{digest}"));
    }
    status
}

fn state(state: &State) -> Value {
    match state {
        State::Waiting { reason, message } => match message {
            Some(m) => json!({"waiting": {"reason": reason, "message": m}}),
            None => json!({"waiting": {"reason": reason}}),
        },
        State::Running { started_at } => json!({"running": {"startedAt": time(*started_at)}}),
        State::Terminated(t) => json!({"terminated": terminated(t)}),
    }
}

fn terminated(t: &Termination) -> Value {
    let mut terminated = json!({
        "exitCode": t.exit_code,
        "reason": t.reason,
        "startedAt": time(t.started_at),
        "finishedAt": time(t.finished_at),
    });
    if let Some(message) = &t.message {
        terminated["message"] = json!(message);
    }
    terminated
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::container::Timing;

    fn timing() -> Timing {
        Timing {
            pull: Duration::from_millis(100),
            ready: Duration::from_millis(500),
            run_before_crash: Duration::from_millis(300),
            backoff_base: Duration::from_millis(1000),
            probe_period: Duration::from_millis(1000),
        }
    }

    fn settle(sims: &mut [ContainerSim], start: Instant, until: Duration) {
        let t = timing();
        while let Some(due) = sims.iter().filter_map(|s| s.due()).min() {
            if due > start + until {
                break;
            }
            for s in sims.iter_mut() {
                s.advance(due, Timestamp::now(), &t);
            }
        }
    }

    /// Long enough for every container of these tests to settle: pulled and running, ready, or crashed once.
    const SETTLED: Duration = Duration::from_millis(2000);

    fn pod(images: &[(&str, &str)], until: Duration) -> Value {
        pod_with_message(images, None, until)
    }

    /// The pod once its containers have settled.
    fn settled(images: &[(&str, &str)]) -> Value {
        pod(images, SETTLED)
    }

    fn pod_with_message(images: &[(&str, &str)], message: Option<&str>, until: Duration) -> Value {
        let start = Instant::now();
        let mut sims: Vec<_> = images
            .iter()
            .map(|(n, i)| {
                let mut sim =
                    ContainerSim::new(n, i, start, &timing(), "x".into(), "p_ns(u)".into());
                sim.termination_message = message.map(String::from);
                sim
            })
            .collect();
        settle(&mut sims, start, until);
        status_patch(&facts(), &[], &sims, Timestamp::now())
    }

    /// The pod these tests describe, started now.
    fn facts() -> PodFacts<'static> {
        PodFacts {
            uid: "u",
            pod_ip: "10.244.0.2",
            host_ip: "127.0.0.1",
            start_time: Timestamp::now(),
            scheduled: None,
        }
    }

    fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
        status["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap()
    }

    /// Asserts that condition `kind` is False, saying `message`.
    fn assert_false(status: &Value, kind: &str, message: &str) {
        let c = condition(status, kind);
        assert_eq!(c["status"], "False", "{kind}");
        assert_eq!(c["message"], message, "{kind}");
    }

    #[test]
    fn a_crashing_init_container_keeps_the_pod_pending_and_uninitialized() {
        let start = Instant::now();
        let mut inits = vec![ContainerSim::new_init(
            "migrate",
            "migrate:crashloop",
            start,
            &timing(),
            "p".into(),
        )];
        let mut apps = vec![ContainerSim::new(
            "app",
            "api:v1",
            start,
            &timing(),
            "x".into(),
            "p".into(),
        )];
        settle(&mut inits, start, SETTLED);
        let facts = facts();
        let s = status_patch(&facts, &inits, &apps, Timestamp::now());
        assert_eq!(s["status"]["phase"], "Pending");
        assert_false(
            &s,
            "Initialized",
            "containers with incomplete status: [migrate]",
        );
        let status = &s["status"]["initContainerStatuses"][0];
        assert_eq!(status["name"], "migrate");
        assert_eq!(status["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(
            s["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
        // Once it completes, the app containers run.
        let mut ok = vec![ContainerSim::new_init(
            "migrate",
            "migrate:v1",
            start,
            &timing(),
            "p".into(),
        )];
        settle(&mut ok, start, SETTLED);
        settle(&mut apps, start, SETTLED);
        let s = status_patch(&facts, &ok, &apps, Timestamp::now());
        assert_eq!(condition(&s, "Initialized")["status"], "True");
        assert_eq!(s["status"]["phase"], "Running");
        assert_eq!(
            s["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
    }

    #[test]
    fn a_fresh_pod_is_pending_with_containers_creating() {
        let s = pod(&[("app", "api:v1")], Duration::ZERO);
        assert_eq!(s["status"]["phase"], "Pending");
        assert_eq!(
            s["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert_eq!(condition(&s, "Ready")["status"], "False");
        assert_eq!(s["status"]["podIP"], "10.244.0.2");
    }

    #[test]
    fn a_healthy_pod_becomes_running_then_ready() {
        let s = pod(&[("app", "api:v1")], Duration::from_millis(200));
        assert_eq!(s["status"]["phase"], "Running");
        assert_eq!(condition(&s, "Ready")["status"], "False");
        let s = pod(&[("app", "api:v1")], Duration::from_millis(600));
        assert_eq!(condition(&s, "Ready")["status"], "True");
        assert_eq!(condition(&s, "ContainersReady")["status"], "True");
        assert_eq!(s["status"]["containerStatuses"][0]["ready"], true);
        assert!(s["status"]["containerStatuses"][0]["containerID"]
            .as_str()
            .unwrap()
            .starts_with("containerd://"));
    }

    #[test]
    fn one_failing_container_keeps_the_pod_unready_and_named() {
        let s = settled(&[("app", "api:v1"), ("sidecar", "proxy:never-ready")]);
        assert_eq!(s["status"]["phase"], "Running");
        assert_false(&s, "Ready", "containers with unready status: [sidecar]");
        assert_eq!(s["status"]["containerStatuses"][0]["ready"], true);
    }

    #[test]
    fn an_unpullable_container_keeps_the_pod_pending() {
        let s = settled(&[("app", "api:v1"), ("sidecar", "proxy:unpullable")]);
        assert_eq!(s["status"]["phase"], "Pending");
    }

    #[test]
    fn a_crashing_container_shows_its_last_termination() {
        let s = settled(&[("app", "api:crashloop")]);
        let c = &s["status"]["containerStatuses"][0];
        assert_eq!(s["status"]["phase"], "Running");
        assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(c["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(c["restartCount"], 1);
    }

    #[test]
    fn a_crash_leaves_the_termination_message_and_a_healthy_container_none() {
        let message = "panic: config\n::add-mask::x";
        let s = pod_with_message(
            &[("app", "api:crashloop"), ("sidecar", "proxy:v1")],
            Some(message),
            SETTLED,
        );
        let statuses = &s["status"]["containerStatuses"];
        assert_eq!(statuses[0]["lastState"]["terminated"]["message"], message);
        assert_eq!(statuses[1]["lastState"], json!({}));
        let s = settled(&[("app", "api:crashloop")]);
        let terminated = &s["status"]["containerStatuses"][0]["lastState"]["terminated"];
        assert_eq!(terminated["exitCode"], 1);
        assert!(terminated.get("message").is_none(), "{terminated}");
    }
}
