//! Helpers for the GitHub-side integration tests: Prism, a stateful fake, settings from real event payloads.

#![allow(dead_code)]

pub mod fake_github;
pub mod prism;

use std::time::Duration;

use rolling_update_action::inputs::Settings;
use rolling_update_action::outcome::{ImageChange, Outcome, ResultKind, TimelineEntry};

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
        result: ResultKind::Success,
        namespace: "prod".into(),
        rc_name: "api-rc-1a2b3c4".into(),
        previous_rc_name: Some("api-rc-0f0f0f0".into()),
        version: "1a2b3c4".into(),
        images: vec![ImageChange {
            container: "api".into(),
            old: Some("registry.example.com/api:1".into()),
            new: "registry.example.com/api:2".into(),
        }],
        desired_replicas: 3,
        ready_replicas: 3,
        duration: Duration::from_secs(41),
        timeline: vec![TimelineEntry {
            at: Duration::from_millis(12_300),
            message: "Scaling api-rc-1a2b3c4 up to 1".into(),
        }],
        summary: "3/3 ready in 41s".into(),
        diagnosis: None,
        after_failure: None,
        environment_url: None,
    }
}
