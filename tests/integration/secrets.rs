//! Secrets (issue 9): the GitHub token and the kubeconfig's credential never appear in stdout, stderr, the job
//! summary, the step outputs, or anything sent to GitHub (statuses, the PR comment), on success, on a failed
//! rollout and on an infrastructure error. `::add-mask::` lines are the one place they may appear: that is how the
//! runner learns to mask them, so they must be emitted.
//!
//! The panic path is not run: the binary has no way to be made to panic from outside short of a test-only hook in
//! `main`, which we keep thin. What protects it: the tokens are `SecretString`s (Debug prints `[REDACTED]`), and
//! the masks are emitted before any cluster or GitHub call, so the runner masks them in anything printed later.

use std::collections::BTreeMap;

#[path = "../support_github/fake_github.rs"]
#[allow(dead_code)]
pub(crate) mod fake_github;

use crate::bad_input::kubeconfig_with;
use crate::faults::seed;
use crate::seeds::action_env;
use crate::support::{self, TestNs};
use fake_github::FakeGithub;

const GITHUB_TOKEN: &str = "ghs_S3cretT0kenThatMustNeverBeSeen0123";

/// Where a run may write: stdout, stderr, the summary and outputs files, and what reached GitHub.
struct Written {
    code: i32,
    stdout: String,
    everything_else: Vec<(String, String)>,
}

async fn run_reported(
    ns: &TestNs,
    github: &FakeGithub,
    extra: &[(&str, &str)],
    kubeconfig: Option<String>,
) -> Written {
    let dir = std::env::temp_dir().join(format!("secrets-{}-{}", ns.name, extra.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let (summary, outputs, event) = (
        dir.join("summary.md"),
        dir.join("outputs"),
        dir.join("event.json"),
    );
    std::fs::write(&event, r#"{"action": "synchronize", "number": 7, "pull_request": {"number": 7, "head": {"sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821"}}}"#).unwrap();
    let mut env: BTreeMap<String, String> = action_env(ns, extra);
    for (k, v) in [
        ("INPUT_GITHUB_TOKEN", GITHUB_TOKEN.to_string()),
        ("INPUT_COMMENT", "always".into()),
        ("GITHUB_API_URL", github.url.clone()),
        ("GITHUB_REPOSITORY", "octo/api".into()),
        ("GITHUB_EVENT_NAME", "pull_request".into()),
        ("GITHUB_EVENT_PATH", event.display().to_string()),
        ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
        ("GITHUB_OUTPUT", outputs.display().to_string()),
    ] {
        env.insert(k.into(), v);
    }
    if let Some(k) = kubeconfig {
        env.insert("INPUT_KUBECONFIG".into(), k);
    }
    let run = support::run_action(&env).await;
    let mut everything_else = vec![
        ("stderr".to_string(), run.stderr.clone()),
        (
            "job summary".to_string(),
            std::fs::read_to_string(&summary).unwrap_or_default(),
        ),
        (
            "outputs".to_string(),
            std::fs::read_to_string(&outputs).unwrap_or_default(),
        ),
    ];
    for r in github.requests() {
        everything_else.push((
            format!("GitHub {} {}", r.method, r.path),
            format!("{} {}", r.path, r.body),
        ));
    }
    Written {
        code: run.code,
        stdout: run.stdout,
        everything_else,
    }
}

/// The kubeconfig's credential: the bearer token of its user.
fn kube_token(kubeconfig: &str) -> String {
    let doc: serde_json::Value = serde_saphyr::from_str(kubeconfig).unwrap();
    doc["users"][0]["user"]["token"]
        .as_str()
        .expect("a token")
        .to_string()
}

fn assert_never_leaked(w: &Written, secrets: &[&str]) {
    for secret in secrets {
        assert!(secret.len() >= 16, "a secret worth looking for");
        let mask = format!("::add-mask::{secret}");
        assert!(
            w.stdout.lines().any(|l| l == mask),
            "no ::add-mask:: for a secret"
        );
        for line in w.stdout.lines().filter(|l| !l.starts_with("::add-mask::")) {
            assert!(!line.contains(secret), "a secret in stdout: {line}");
        }
        for (place, text) in &w.everything_else {
            assert!(!text.contains(secret), "a secret in {place}");
        }
    }
}

#[tokio::test]
async fn no_secret_leaks_on_success_failure_or_error() {
    let ns = support::namespace("secrets").await;
    seed(&ns, 2, 200).await;
    let kubeconfig = std::fs::read_to_string(support::kubeconfig()).unwrap();
    let admin_token = kube_token(&kubeconfig);

    // Success: statuses and the sticky comment are posted.
    let github = FakeGithub::start();
    let ok = run_reported(
        &ns,
        &github,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:2.0",
            ),
            ("INPUT_VERSION", "v2"),
        ],
        None,
    )
    .await;
    assert_eq!(ok.code, 0);
    assert!(
        !github.comments_on(7).is_empty(),
        "the comment was posted (the body is searched)"
    );
    assert!(
        github
            .requests()
            .iter()
            .any(|r| r.path.contains("/statuses/")),
        "statuses were posted"
    );
    assert!(
        github
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {GITHUB_TOKEN}"))),
        "the token is used, only in the Authorization header"
    );
    assert_never_leaked(&ok, &[GITHUB_TOKEN, &admin_token]);

    // A failed rollout: diagnosis, events and logs are reported.
    let github = FakeGithub::start();
    let failed = run_reported(
        &ns,
        &github,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:never-ready",
            ),
            ("INPUT_VERSION", "bad"),
            ("INPUT_PROGRESS_DEADLINE", "8s"),
        ],
        None,
    )
    .await;
    assert_eq!(failed.code, 1);
    assert!(!github.comments_on(7).is_empty());
    assert_never_leaked(&failed, &[GITHUB_TOKEN, &admin_token]);

    // An infrastructure error: the cluster rejects the kubeconfig's (wrong) token.
    let wrong = "wr0ngT0ken-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let github = FakeGithub::start();
    let error = run_reported(
        &ns,
        &github,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:3.0",
            ),
            ("INPUT_VERSION", "v3"),
        ],
        Some(kubeconfig_with(|u| {
            u.insert("token".into(), wrong.into());
        })),
    )
    .await;
    assert_eq!(error.code, 3);
    assert!(error.stdout.contains("unauthorized"));
    assert_never_leaked(&error, &[GITHUB_TOKEN, wrong]);
}
