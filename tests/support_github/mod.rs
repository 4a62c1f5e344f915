//! Helpers for the GitHub-side integration tests: Prism, a stateful fake, settings from real event payloads.

#![allow(dead_code)]

pub mod fake_github;
pub mod prism;
pub mod runner;

use std::time::Duration;

use rolling_update_action::inputs::Settings;
use rolling_update_action::outcome::{
    ImageChange, Outcome, Replicas, ResultKind, Timeline, TimelineEntry,
};

pub const TOKEN: &str = "ghs_TESTTOKEN0123456789abcdef";

/// A run's inputs and GitHub environment as the runner would give them, with `GITHUB_EVENT_PATH` pointing at
/// a real webhook example from @octokit/webhooks-examples (tests/fixtures/events/).
pub struct Run<'a> {
    pub event_name: &'a str,
    pub event_fixture: Option<&'a str>,
    pub sha: &'a str,
    pub git_ref: &'a str,
    pub comment: &'a str,
    pub api_url: &'a str,
}

impl Run<'_> {
    pub fn settings(&self) -> Settings {
        let mut vars: Vec<(String, String)> = [
            ("INPUT_RC", "api-rc"),
            ("INPUT_NAMESPACE", "prod"),
            ("INPUT_IMAGES", "registry.example.com/api:2"),
            ("INPUT_GITHUB_TOKEN", TOKEN),
            ("INPUT_COMMENT", self.comment),
            ("GITHUB_EVENT_NAME", self.event_name),
            ("GITHUB_SHA", self.sha),
            ("GITHUB_REF", self.git_ref),
            ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
            ("GITHUB_API_URL", self.api_url),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_RUN_ID", "42"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(fixture) = self.event_fixture {
            vars.push((
                "GITHUB_EVENT_PATH".into(),
                format!(
                    "{}/tests/fixtures/events/{fixture}",
                    env!("CARGO_MANIFEST_DIR")
                ),
            ));
        }
        match Settings::from_env(vars) {
            Ok(settings) => settings,
            Err(e) => panic!("settings from the test environment: {e}"),
        }
    }
}

pub fn success_outcome() -> Outcome {
    Outcome {
        previous_rc_name: Some("api-rc-0f0f0f0".into()),
        images: vec![ImageChange {
            container: "api".into(),
            old: Some("registry.example.com/api:1".into()),
            new: "registry.example.com/api:2".into(),
        }],
        replicas: Replicas {
            desired: 3,
            ready: 3,
        },
        timeline: Timeline {
            duration: Duration::from_secs(41),
            entries: vec![TimelineEntry {
                at: Duration::from_millis(12_300),
                message: "Scaling api-rc-1a2b3c4 up to 1".into(),
            }],
        },
        ..Outcome::bare(
            ResultKind::Success,
            "prod",
            "api-rc-1a2b3c4",
            "1a2b3c4",
            "3/3 ready in 41s".into(),
            Duration::from_secs(41),
        )
    }
}

/// A typical capacity failure: three nodes, none with room for one more pod, rolled back.
pub fn capacity_failure_outcome() -> Outcome {
    use rolling_update_action::diagnosis::{CapacityRow, Diagnosis, Finding, FindingKind};
    use rolling_update_action::outcome::{AfterFailure, Failure};

    let row = |node: &str, requested: &str, free: &str| CapacityRow {
        node: node.into(),
        resource: "cpu".into(),
        allocatable: "1900m".into(),
        requested: requested.into(),
        free: free.into(),
        needed: "500m".into(),
        fits: false,
    };
    let at = |ms: u64, message: &str| TimelineEntry {
        at: Duration::from_millis(ms),
        message: message.into(),
    };
    Outcome {
        result: ResultKind::Failure,
        namespace: "shop".into(),
        rc_name: "api-rc-1a2b3c4".into(),
        previous_rc_name: Some("api-rc-9f8e7d6".into()),
        version: "1a2b3c4".into(),
        images: vec![
            ImageChange {
                container: "api".into(),
                old: Some("ghcr.io/acme/api:9f8e7d6".into()),
                new: "ghcr.io/acme/api:1a2b3c4".into(),
            },
            ImageChange {
                container: "metrics".into(),
                old: Some("prom/statsd-exporter:v0.26.0".into()),
                new: "prom/statsd-exporter:v0.26.0".into(),
            },
        ],
        replicas: Replicas {
            desired: 3,
            ready: 0,
        },
        timeline: Timeline {
            duration: Duration::from_secs(38),
            entries: vec![
                at(0, "Created api-rc-1a2b3c4 with 0 replicas (surge 1, unavailable 0)"),
                at(1_200, "Scaling api-rc-1a2b3c4 up to 1"),
                at(
                    31_400,
                    "Pod api-rc-1a2b3c4-x7k2p unschedulable for 30s: 0/3 nodes are available: 3 Insufficient cpu.",
                ),
                at(31_500, "Stopped: the new pod cannot be scheduled"),
                at(37_900, "Scaled api-rc-9f8e7d6 back to 3 and deleted api-rc-1a2b3c4"),
            ],
        },
        summary: "stalled: no node can fit a new pod".into(),
        failure: Failure {
        diagnosis: Some(Diagnosis {
            findings: vec![Finding {
                kind: FindingKind::InsufficientResources,
                summary: "Insufficient cpu: a new pod needs 500m, the most free on any node is 300m"
                    .into(),
                evidence: vec![
                    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.".into(),
                ],
                logs: vec![],
                capacity: vec![
                    row("node-a", "1600m", "300m"),
                    row("node-b", "1700m", "200m"),
                    row("node-c", "1750m", "150m"),
                ],
                fixes: vec![
                    "Set `max_surge: 0` and `max_unavailable: 1`: each old pod frees 500m before a new one starts".into(),
                    "Lower the `api` container's cpu request to 300m or less".into(),
                    "Add a node with at least 500m cpu free".into(),
                ],
                fatal: true,
            }],
            unreadable: vec![],
        }),
        after: Some(AfterFailure::RolledBack {
            restored_replicas: 3,
        }),
        },
        environment_url: None,
        rollouts: vec![],
    }
}
