//! One container's simulated life, as a pure state machine.
//!
//! A kubelet's observable output for a container is a sequence of status snapshots and events at points in time.
//! Modelling that as `advance(now) -> events` with the next wake-up time stored in the machine keeps the timing logic
//! testable without a cluster or a clock, and lets one task per pod drive all of its containers with one timer.

use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use crate::scenario::Behaviour;

/// How long simulated things take. Back-offs are the kubelet's real ones (10 s doubling to 5 min) scaled down.
#[derive(Debug, Clone)]
pub struct Timing {
    /// From the pod being seen to its images being pulled.
    pub pull: Duration,
    /// From the pod being seen to a healthy container being Ready.
    pub ready: Duration,
    /// How long a crashing container runs before it exits.
    pub run_before_crash: Duration,
    /// The fake wait that stands for the kubelet's first 10 s back-off.
    pub backoff_base: Duration,
    /// Period of the failing readiness probe.
    pub probe_period: Duration,
}

/// What the pod status shows for the container right now.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: Timestamp,
    },
    Terminated(Termination),
}

/// A finished run of the container.
#[derive(Debug, Clone, PartialEq)]
pub struct Termination {
    pub exit_code: i32,
    pub reason: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// What the container wrote to its termination log (`terminationMessagePath`).
    pub message: Option<String>,
}

/// What an earlier status said about a container (see [`ContainerSim::adopt`]).
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub running_since: Option<Timestamp>,
    pub ready: bool,
    pub restart_count: i32,
    pub last_state: Option<Termination>,
}

/// An event the kubelet would record about this container.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    BeginPull,
    PullDone,
    EnterPullBackOff,
    BecomeReady,
    Crash,
    EnterCrashBackOff,
    Restart,
    Probe,
    RetryConfig,
    /// An init container's run ends with exit code 0.
    Complete,
}

/// The message a registry gives for a tag that does not exist, as containerd reports it.
pub fn pull_error_message(image: &str) -> String {
    format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \
         \"{image}\": {image}: not found: manifest unknown: manifest unknown"
    )
}

/// The ConfigMap every `configerror` container claims is missing.
pub const MISSING_CONFIG_MESSAGE: &str = "configmap \"app-config\" not found";

/// What the runtime says when a `createerror` container cannot be created (containerd's words for a bad subPath).
pub fn create_error_message(container: &str) -> String {
    format!("failed to prepare subPath for volumeMount \"data\" of container \"{container}\"")
}

/// One container of a pod.
#[derive(Debug, Clone)]
pub struct ContainerSim {
    pub name: String,
    pub image: String,
    pub behaviour: Behaviour,
    pub state: State,
    pub last_state: Option<Termination>,
    pub ready: bool,
    pub restart_count: i32,
    /// Set once the container has been created at least once (status then carries a containerID).
    pub created: bool,
    backoffs: u32,
    pulls: u32,
    next: Option<(Instant, Step)>,
    ready_at: Instant,
    /// What the failing readiness probe reports, e.g. "HTTP probe failed with statuscode: 503".
    probe_message: String,
    /// `pod_ns(uid)` as the kubelet writes it in back-off messages.
    pod_ref: String,
    /// What a crash leaves as the termination message (the pod's termination-message annotation).
    pub termination_message: Option<String>,
    /// An init container: a healthy one runs to completion (exit 0) instead of staying Ready; a failing one fails
    /// as an app container would, and keeps the pod initializing.
    pub init: bool,
}

impl ContainerSim {
    /// A container first seen at `start`; its first step (pulling) is due at once.
    pub fn new(
        name: &str,
        image: &str,
        start: Instant,
        timing: &Timing,
        probe_message: String,
        pod_ref: String,
    ) -> Self {
        ContainerSim {
            name: name.to_string(),
            image: image.to_string(),
            behaviour: Behaviour::from_image(image),
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            last_state: None,
            ready: false,
            restart_count: 0,
            created: false,
            backoffs: 0,
            pulls: 0,
            next: Some((start, Step::BeginPull)),
            ready_at: start + timing.ready.max(timing.pull),
            probe_message,
            pod_ref,
            termination_message: None,
            init: false,
        }
    }

    /// An init container of the pod (see [`ContainerSim::init`]).
    pub fn new_init(
        name: &str,
        image: &str,
        start: Instant,
        timing: &Timing,
        pod_ref: String,
    ) -> Self {
        let mut sim = ContainerSim::new(name, image, start, timing, String::new(), pod_ref);
        sim.init = true;
        sim
    }

    /// Continues an init container that an earlier run of the fake kubelet saw complete, so that restarting the
    /// fake kubelet does not send initialized pods back through their init containers.
    pub fn adopt_completed(&mut self, started_at: Timestamp, finished_at: Timestamp) {
        self.created = true;
        self.ready = true;
        self.state = State::Terminated(Termination {
            exit_code: 0,
            reason: "Completed".into(),
            started_at,
            finished_at,
            message: None,
        });
        self.next = None;
    }

    /// An init container that has run to completion.
    pub fn completed(&self) -> bool {
        matches!(&self.state, State::Terminated(t) if t.exit_code == 0)
    }

    /// Continues from a status an earlier run of the fake kubelet left on the pod, so that restarting the fake
    /// kubelet does not send running (and ready) containers back through ContainerCreating.
    pub fn adopt(&mut self, seen: Seen, now: Instant, timing: &Timing) {
        self.restart_count = seen.restart_count;
        self.last_state = seen.last_state;
        if let Some(started_at) = seen.running_since {
            self.start(now, started_at, timing);
            if seen.ready && self.behaviour == Behaviour::Healthy {
                self.ready = true;
                self.next = None;
            }
        }
    }

    /// When this container next changes, if ever.
    pub fn due(&self) -> Option<Instant> {
        self.next.map(|(at, _)| at)
    }

    /// Whether the container has ever run (the kubelet reports such pods as Running even while backing off).
    pub fn has_run(&self) -> bool {
        self.created && (self.last_state.is_some() || !matches!(self.state, State::Waiting { .. }))
    }

    /// The back-off the real kubelet would print for the current attempt, and the scaled wait we actually use.
    /// Ends the run at `wall`: it started when the container began running (at once, if it never did).
    fn terminate(
        &mut self,
        wall: Timestamp,
        exit_code: i32,
        reason: &str,
        message: Option<String>,
    ) {
        let started_at = match &self.state {
            State::Running { started_at } => *started_at,
            _ => wall,
        };
        self.state = State::Terminated(Termination {
            exit_code,
            reason: reason.into(),
            started_at,
            finished_at: wall,
            message,
        });
    }

    fn backoff(&mut self, timing: &Timing) -> (String, Duration) {
        let real_secs = (10u64 << self.backoffs.min(5)).min(300);
        self.backoffs += 1;
        let scale = timing.backoff_base.as_millis() as u64;
        let fake = Duration::from_millis((scale * real_secs / 10).min(scale * 8));
        (go_duration(real_secs), fake)
    }

    /// Performs the step that is due at or before `now`; returns the events it produced (empty when nothing was due).
    pub fn advance(&mut self, now: Instant, wall: Timestamp, timing: &Timing) -> Vec<SimEvent> {
        let Some((at, step)) = self.next else {
            return Vec::new();
        };
        if at > now {
            return Vec::new();
        }
        let image = self.image.clone();
        let mut events = Vec::new();
        match step {
            Step::BeginPull => {
                self.pulls += 1;
                events.push(normal("Pulling", format!("Pulling image \"{image}\"")));
                self.next = Some((now + timing.pull, Step::PullDone));
            }
            Step::PullDone => match self.behaviour {
                Behaviour::Unpullable => {
                    let detail = pull_error_message(&image);
                    events.push(warning(
                        "Failed",
                        format!("Failed to pull image \"{image}\": {detail}"),
                    ));
                    events.push(warning("Failed", "Error: ErrImagePull".into()));
                    self.state = State::Waiting {
                        reason: "ErrImagePull".into(),
                        message: Some(detail),
                    };
                    self.next = Some((now + timing.backoff_base / 2, Step::EnterPullBackOff));
                }
                Behaviour::ConfigError | Behaviour::CreateError => {
                    let (reason, message) = self.create_failure();
                    events.push(self.pulled_event(timing));
                    events.push(warning("Failed", format!("Error: {message}")));
                    self.state = State::Waiting {
                        reason: reason.into(),
                        message: Some(message),
                    };
                    let (_, wait) = self.backoff(timing);
                    self.next = Some((now + wait, Step::RetryConfig));
                }
                Behaviour::Healthy | Behaviour::CrashLoop | Behaviour::NeverReady => {
                    events.push(self.pulled_event(timing));
                    events.extend(self.start(now, wall, timing));
                }
            },
            Step::EnterPullBackOff => {
                let message = format!("Back-off pulling image \"{image}\"");
                events.push(normal("BackOff", message.clone()));
                events.push(warning("Failed", "Error: ImagePullBackOff".into()));
                self.state = State::Waiting {
                    reason: "ImagePullBackOff".into(),
                    message: Some(message),
                };
                let (_, wait) = self.backoff(timing);
                self.next = Some((now + wait, Step::BeginPull));
            }
            Step::BecomeReady => {
                self.ready = true;
                self.next = None;
            }
            Step::Crash => {
                self.ready = false;
                let message = self.termination_message.clone();
                self.terminate(wall, 1, "Error", message);
                self.next = Some((now + timing.backoff_base / 5, Step::EnterCrashBackOff));
            }
            Step::EnterCrashBackOff => {
                if let State::Terminated(t) = &self.state {
                    self.last_state = Some(t.clone());
                }
                let (real, wait) = self.backoff(timing);
                let message = format!(
                    "back-off {real} restarting failed container={} pod={}",
                    self.name, self.pod_ref
                );
                self.state = State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(message),
                };
                events.push(warning(
                    "BackOff",
                    "Back-off restarting failed container".into(),
                ));
                self.next = Some((now + wait, Step::Restart));
            }
            Step::Restart => {
                self.restart_count += 1;
                events.push(normal(
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                ));
                events.extend(self.start(now, wall, timing));
            }
            Step::Probe => {
                events.push(warning(
                    "Unhealthy",
                    format!("Readiness probe failed: {}", self.probe_message),
                ));
                self.next = Some((now + timing.probe_period, Step::Probe));
            }
            Step::Complete => {
                self.ready = true;
                self.terminate(wall, 0, "Completed", None);
                self.next = None;
            }
            Step::RetryConfig => {
                events.push(normal(
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                ));
                let (_, message) = self.create_failure();
                events.push(warning("Failed", format!("Error: {message}")));
                let (_, wait) = self.backoff(timing);
                self.next = Some((now + wait, Step::RetryConfig));
            }
        }
        events
    }

    /// The waiting reason and message of a container that cannot be created, by its behaviour.
    fn create_failure(&self) -> (&'static str, String) {
        match self.behaviour {
            Behaviour::CreateError => ("CreateContainerError", create_error_message(&self.name)),
            _ => (
                "CreateContainerConfigError",
                MISSING_CONFIG_MESSAGE.to_string(),
            ),
        }
    }

    fn pulled_event(&self, timing: &Timing) -> SimEvent {
        let secs = timing.pull.as_secs_f64();
        normal(
            "Pulled",
            format!("Successfully pulled image \"{}\" in {secs:.3}s", self.image),
        )
    }

    fn start(&mut self, now: Instant, wall: Timestamp, timing: &Timing) -> Vec<SimEvent> {
        self.created = true;
        self.state = State::Running { started_at: wall };
        self.next = match self.behaviour {
            Behaviour::CrashLoop => Some((now + timing.run_before_crash, Step::Crash)),
            // Probes don't apply to init containers: anything that starts and does not crash completes.
            _ if self.init => Some((now + timing.run_before_crash, Step::Complete)),
            Behaviour::NeverReady => Some((self.ready_at.max(now), Step::Probe)),
            _ => Some((self.ready_at.max(now), Step::BecomeReady)),
        };
        vec![
            normal("Created", format!("Created container {}", self.name)),
            normal("Started", format!("Started container {}", self.name)),
        ]
    }
}

fn normal(reason: &'static str, message: String) -> SimEvent {
    SimEvent {
        warning: false,
        reason,
        message,
    }
}

fn warning(reason: &'static str, message: String) -> SimEvent {
    SimEvent {
        warning: true,
        reason,
        message,
    }
}

/// Seconds as Go's `time.Duration` prints them: 10s, 1m20s, 5m0s.
fn go_duration(secs: u64) -> String {
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            pull: Duration::from_millis(100),
            ready: Duration::from_millis(1000),
            run_before_crash: Duration::from_millis(300),
            backoff_base: Duration::from_millis(1000),
            probe_period: Duration::from_millis(1000),
        }
    }

    /// Runs the machine until `until` (offset from start), collecting all events in order.
    fn run(image: &str, until: Duration) -> (ContainerSim, Vec<SimEvent>) {
        let t = timing();
        let start = Instant::now();
        let mut sim = ContainerSim::new(
            "app",
            image,
            start,
            &t,
            "HTTP probe failed with statuscode: 503".into(),
            "p_ns(u)".into(),
        );
        let mut events = Vec::new();
        while let Some(due) = sim.due() {
            if due > start + until {
                break;
            }
            events.extend(sim.advance(due, Timestamp::now(), &t));
        }
        (sim, events)
    }

    fn reasons(events: &[SimEvent]) -> Vec<&str> {
        events.iter().map(|e| e.reason).collect()
    }

    /// Runs an init container until `until`.
    fn run_init(image: &str, until: Duration) -> ContainerSim {
        let t = timing();
        let start = Instant::now();
        let mut sim = ContainerSim::new_init("migrate", image, start, &t, "p_ns(u)".into());
        while let Some(due) = sim.due() {
            if due > start + until {
                break;
            }
            sim.advance(due, Timestamp::now(), &t);
        }
        sim
    }

    #[test]
    fn a_healthy_init_container_completes_and_a_crashing_one_backs_off() {
        let sim = run_init("migrate:v1", Duration::from_millis(1000));
        assert!(sim.completed(), "{:?}", sim.state);
        assert_eq!(sim.due(), None);
        let sim = run_init("migrate:crashloop", Duration::from_millis(700));
        assert!(!sim.completed());
        assert!(
            matches!(&sim.state, State::Waiting { reason, .. } if reason == "CrashLoopBackOff")
        );
        assert_eq!(sim.last_state.as_ref().unwrap().exit_code, 1);
    }

    #[test]
    fn an_init_container_seen_complete_stays_complete() {
        let t = timing();
        let mut sim =
            ContainerSim::new_init("migrate", "migrate:v1", Instant::now(), &t, "p".into());
        sim.adopt_completed(Timestamp::now(), Timestamp::now());
        assert!(sim.completed());
        assert_eq!(sim.due(), None, "nothing left to run");
    }

    #[test]
    fn a_createerror_container_waits_with_the_runtimes_message_and_retries() {
        let (sim, events) = run("api:createerror", Duration::from_millis(3000));
        assert!(
            matches!(&sim.state, State::Waiting { reason, message: Some(m) }
            if reason == "CreateContainerError" && m == &create_error_message("app"))
        );
        let failed: Vec<_> = events.iter().filter(|e| e.reason == "Failed").collect();
        assert!(failed.len() >= 2, "{events:?}");
        assert!(failed
            .iter()
            .all(|e| e.message == format!("Error: {}", create_error_message("app"))));
        assert!(!sim.has_run());
    }

    #[test]
    fn healthy_container_is_pulled_started_and_ready_after_the_delay() {
        let (sim, events) = run("api:v1", Duration::from_millis(999));
        assert_eq!(
            reasons(&events),
            ["Pulling", "Pulled", "Created", "Started"]
        );
        assert!(!sim.ready);
        assert!(matches!(sim.state, State::Running { .. }));
        let (sim, _) = run("api:v1", Duration::from_millis(1000));
        assert!(sim.ready);
        assert_eq!(sim.due(), None);
    }

    #[test]
    fn unpullable_image_alternates_errimagepull_and_backoff() {
        let (sim, events) = run("registry.local/api:unpullable", Duration::from_millis(120));
        assert_eq!(reasons(&events), ["Pulling", "Failed", "Failed"]);
        assert!(
            events[1].message.contains("manifest unknown"),
            "{}",
            events[1].message
        );
        assert_eq!(events[2].message, "Error: ErrImagePull");
        assert!(matches!(&sim.state, State::Waiting { reason, .. } if reason == "ErrImagePull"));
        let (sim, events) = run("registry.local/api:unpullable", Duration::from_millis(700));
        assert!(
            matches!(&sim.state, State::Waiting { reason, message: Some(m) }
            if reason == "ImagePullBackOff" && m == "Back-off pulling image \"registry.local/api:unpullable\"")
        );
        assert_eq!(events.last().unwrap().message, "Error: ImagePullBackOff");
        assert!(!sim.has_run());
        let (_, events) = run("registry.local/api:unpullable", Duration::from_millis(5000));
        assert!(events.iter().filter(|e| e.reason == "Pulling").count() >= 3);
    }

    #[test]
    fn crashing_container_backs_off_with_growing_restart_count() {
        let (sim, events) = run("api:crashloop", Duration::from_millis(700));
        assert_eq!(sim.restart_count, 0);
        assert!(
            matches!(&sim.state, State::Waiting { reason, message: Some(m) }
            if reason == "CrashLoopBackOff" && m == "back-off 10s restarting failed container=app pod=p_ns(u)")
        );
        assert_eq!(sim.last_state.as_ref().unwrap().exit_code, 1);
        assert_eq!(events.last().unwrap().reason, "BackOff");
        assert!(sim.has_run());
        let (sim, _) = run("api:crashloop", Duration::from_millis(6000));
        assert!(sim.restart_count >= 2, "restarts {}", sim.restart_count);
        assert!(
            matches!(&sim.state, State::Waiting { message: Some(m), .. } if m.starts_with("back-off 40s"))
                || matches!(sim.state, State::Running { .. } | State::Terminated(_))
        );
    }

    #[test]
    fn never_ready_container_runs_and_reports_failed_probes() {
        let (sim, events) = run("api:never-ready", Duration::from_millis(3500));
        assert!(matches!(sim.state, State::Running { .. }));
        assert!(!sim.ready);
        let unhealthy: Vec<_> = events.iter().filter(|e| e.reason == "Unhealthy").collect();
        assert_eq!(unhealthy.len(), 3);
        assert_eq!(
            unhealthy[0].message,
            "Readiness probe failed: HTTP probe failed with statuscode: 503"
        );
        assert!(unhealthy[0].warning);
    }

    #[test]
    fn config_error_waits_with_the_missing_configmap() {
        let (sim, events) = run("api:configerror", Duration::from_millis(200));
        assert_eq!(reasons(&events), ["Pulling", "Pulled", "Failed"]);
        assert_eq!(
            events[2].message,
            "Error: configmap \"app-config\" not found"
        );
        assert!(
            matches!(&sim.state, State::Waiting { reason, message: Some(m) }
            if reason == "CreateContainerConfigError" && m == MISSING_CONFIG_MESSAGE)
        );
        assert!(!sim.has_run());
    }

    #[test]
    fn an_adopted_ready_container_stays_ready_without_events() {
        let t = timing();
        let start = Instant::now();
        let mut sim = ContainerSim::new("app", "api:v1", start, &t, String::new(), "p".into());
        let seen = Seen {
            running_since: Some(Timestamp::now()),
            ready: true,
            restart_count: 2,
            last_state: None,
        };
        sim.adopt(seen, start, &t);
        assert!(sim.ready && sim.created && sim.has_run());
        assert_eq!((sim.due(), sim.restart_count), (None, 2));
    }

    #[test]
    fn an_adopted_container_that_never_ran_starts_over() {
        let t = timing();
        let start = Instant::now();
        let mut sim = ContainerSim::new(
            "app",
            "api:unpullable",
            start,
            &t,
            String::new(),
            "p".into(),
        );
        sim.adopt(Seen::default(), start, &t);
        assert_eq!(
            sim.advance(start, Timestamp::now(), &t)[0].reason,
            "Pulling"
        );
    }

    #[test]
    fn go_durations_match_the_kubelet() {
        assert_eq!(go_duration(10), "10s");
        assert_eq!(go_duration(80), "1m20s");
        assert_eq!(go_duration(300), "5m0s");
    }
}
