//! Issue 14 on the real control plane, reported to the stateful fake GitHub: a release is a Deployment that goes
//! in_progress -> success, and while a slow rollout runs the pending commit status says how many new pods are
//! ready and for how long it has run (the progress watch reads the new RC every 10 s, so the new pods here take 17 s
//! each to become ready).

use std::time::Duration;

use crate::secrets::fake_github::FakeGithub;
use crate::seeds::{action_env, api_rc_yaml, seed_api_rc};
use crate::support::{self, run_action};

#[tokio::test]
async fn a_slow_release_shows_live_progress_and_is_a_deployment() {
    let ns = support::namespace("reporting").await;
    let yaml = api_rc_yaml(2, 17_000, "10m", "");
    seed_api_rc(&ns, &yaml, 2, Duration::from_secs(90)).await;
    let github = FakeGithub::start();
    let env = action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:2.0",
            ),
            ("INPUT_VERSION", "v2"),
            ("INPUT_GITHUB_TOKEN", "ghs_progress_test_token_0123456789"),
            ("GITHUB_API_URL", &github.url),
            ("GITHUB_REPOSITORY", "octo/api"),
            ("INPUT_PROGRESS_DEADLINE", "2m"),
        ],
    );
    let run = run_action(&env).await;
    assert_eq!(run.code, 0, "the rollout succeeds");

    let statuses: Vec<serde_json::Value> = github
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains("/statuses/0123456789abcdef"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    let descriptions: Vec<&str> = statuses
        .iter()
        .map(|s| s["description"].as_str().unwrap_or_default())
        .collect();
    assert!(
        statuses.iter().any(|s| s["state"] == "pending"
            && s["description"].as_str().is_some_and(|d| d
                .starts_with("rolling api-rc-v2: 1/2 new pods ready · ")
                && d.ends_with(" s"))),
        "no progress status among {descriptions:?}"
    );
    assert_eq!(
        statuses.last().unwrap()["state"],
        "success",
        "{descriptions:?}"
    );

    let deployments = github.deployments();
    assert_eq!(deployments.len(), 1);
    let states = &deployments[0].states;
    assert_eq!(deployments[0].environment, "production");
    assert_eq!(states.first().map(String::as_str), Some("in_progress"));
    assert_eq!(states.last().map(String::as_str), Some("success"));
    assert!(
        states.len() >= 3,
        "progress reached the Deployment too: {states:?}"
    );
}
