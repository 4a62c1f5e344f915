//! The GitHub side of reporting, without Kubernetes.
//!
//! Two servers: Prism, serving GitHub's official OpenAPI description, validates every request the reporter
//! makes (a test asserts no warnings, so any 4xx from Prism fails it); a small stateful fake shows what Prism
//! cannot: that a second run updates the first comment, where the status goes for each event (settings built
//! from real webhook payloads), and that a 403 or 500 becomes a warning naming the permission, not a failure.

mod support_github;

use rolling_update_action::inputs::Settings;
use rolling_update_action::outcome::{Outcome, ResultKind};
use rolling_update_action::report::github::{DeploymentState, ReportConfig, Reporter};
use rolling_update_action::report::markdown::{self, RenderContext};
use support_github::fake_github::FakeGithub;
use support_github::{prism, success_outcome, Run, TOKEN};

const PR_HEAD_SHA: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
/// GITHUB_SHA on a pull_request run: the merge commit, which must NOT get the status.
const MERGE_SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const TAG_SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const DISPATCH_SHA: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn pull_request_run(api_url: &str) -> Run<'_> {
    Run {
        event_name: "pull_request",
        event_fixture: Some("pull_request.opened.json"),
        sha: MERGE_SHA,
        git_ref: "refs/pull/2/merge",
        comment: "auto",
        api_url,
    }
}

fn tag_push_run<'a>(api_url: &'a str, comment: &'a str) -> Run<'a> {
    Run {
        event_name: "push",
        event_fixture: Some("push.tag.json"),
        sha: TAG_SHA,
        git_ref: "refs/tags/simple-tag",
        comment,
        api_url,
    }
}

fn dispatch_run(api_url: &str) -> Run<'_> {
    Run {
        event_name: "workflow_dispatch",
        event_fixture: Some("workflow_dispatch.json"),
        sha: DISPATCH_SHA,
        git_ref: "refs/heads/main",
        comment: "auto",
        api_url,
    }
}

fn reporter(settings: &Settings) -> Reporter {
    Reporter::try_new(&settings.github, ReportConfig::new(settings, "prod")).expect("a reporter")
}

fn render(settings: &Settings, outcome: &Outcome) -> String {
    let ctx = RenderContext::new("prod", &settings.rc, markdown::run_url(&settings.github));
    markdown::render(outcome, &ctx)
}

/// pending + finish, as a run does.
async fn report_run(settings: &Settings, outcome: &Outcome) -> (Vec<String>, Option<String>) {
    let reporter = reporter(settings);
    let mut warnings = vec![];
    if let Err(e) = reporter.pending("rolling out api-rc-1a2b3c4").await {
        warnings.push(e.warning());
    }
    let result = reporter.finish(outcome, &render(settings, outcome)).await;
    warnings.extend(result.warnings);
    (warnings, result.comment_url)
}

fn status_posts(fake: &FakeGithub) -> Vec<(String, serde_json::Value)> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains("/statuses/"))
        .map(|r| (r.path, serde_json::from_str(&r.body).unwrap()))
        .collect()
}

// ---- Prism: every request valid against GitHub's OpenAPI description ----

#[tokio::test]
async fn prism_accepts_status_and_sticky_comment_on_pull_request() {
    let url = prism::url();
    let settings = pull_request_run(&url).settings();
    let (warnings, comment_url) = report_run(&settings, &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());
    // Prism answers with the spec's example comment.
    assert!(comment_url.unwrap().starts_with("https://github.com/"));
}

#[tokio::test]
async fn prism_accepts_failure_status_and_associated_pr_comments_on_tag_push() {
    let url = prism::url();
    let settings = tag_push_run(&url, "always").settings();
    let mut outcome = success_outcome();
    outcome.result = ResultKind::Failure;
    let (warnings, comment_url) = report_run(&settings, &outcome).await;
    assert_eq!(warnings, Vec::<String>::new());
    assert!(
        comment_url.is_some(),
        "the spec's example PR should have been commented"
    );
}

#[tokio::test]
async fn prism_accepts_comment_update_by_patch() {
    let settings = pull_request_run(&prism::url()).settings();
    let url = reporter(&settings)
        .update_comment(1, "<!-- rolling-update: prod/api-rc -->\nupdated")
        .await
        .expect("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id} is valid");
    assert!(url.is_some());
}

#[tokio::test]
async fn prism_accepts_deployments_and_their_statuses() {
    let settings = pull_request_run(&prism::url()).settings();
    let reporter = reporter(&settings);
    let id = reporter
        .create_deployment("pr-2", PR_HEAD_SHA, "preview of pull request #2")
        .await
        .expect("create deployment");
    for state in [DeploymentState::InProgress, DeploymentState::Success] {
        reporter
            .deployment_status(
                id,
                state,
                Some("https://pr-2.preview.example.com"),
                "api-rc-1a2b3c4: 3/3 ready",
            )
            .await
            .expect("deployment status");
    }
    let deactivated = reporter
        .deactivate_environment("pr-2")
        .await
        .expect("deactivate");
    assert!(deactivated >= 1, "the spec's example lists a deployment");
}

#[tokio::test]
async fn prism_rejects_an_invalid_request_so_these_tests_can_fail() {
    let settings = pull_request_run(&prism::url()).settings();
    let err = reporter(&settings)
        .post_status("bogus", "x")
        .await
        .expect_err("state must be one of error, failure, pending, success");
    assert_eq!(err.status(), Some(422), "{}", err.warning());
    assert!(err.warning().contains("state"), "{}", err.warning());
}

// ---- Where the status goes, from real webhook payloads ----

#[tokio::test]
async fn pull_request_status_targets_head_sha_and_comments_on_the_event_pr() {
    let fake = FakeGithub::start();
    let settings = pull_request_run(&fake.url).settings();
    assert_eq!(settings.github.pr_number, Some(2));
    let (warnings, comment_url) = report_run(&settings, &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());

    let statuses = status_posts(&fake);
    assert_eq!(statuses.len(), 2, "pending then success");
    for (path, _) in &statuses {
        assert_eq!(
            path,
            &format!("/repos/Codertocat/Hello-World/statuses/{PR_HEAD_SHA}")
        );
    }
    let (_, pending) = &statuses[0];
    let (_, done) = &statuses[1];
    assert_eq!(pending["state"], "pending");
    assert_eq!(done["state"], "success");
    assert_eq!(done["context"], "rolling-update/prod/api-rc");
    assert_eq!(done["description"], "api-rc-1a2b3c4: 3/3 ready in 41s");
    assert_eq!(
        done["target_url"],
        "https://github.com/Codertocat/Hello-World/actions/runs/42"
    );

    let comments = fake.comments_on(2);
    assert_eq!(comments.len(), 1);
    assert!(comments[0]
        .body
        .starts_with("<!-- rolling-update: prod/api-rc -->\n"));
    assert_eq!(
        comment_url.as_deref(),
        Some(
            format!(
                "https://github.com/Codertocat/Hello-World/pull/2#issuecomment-{}",
                comments[0].id
            )
            .as_str()
        )
    );
    // Every request carried the token, as a bearer token.
    for r in fake.requests() {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}

#[tokio::test]
async fn tag_push_status_targets_github_sha_and_comments_only_when_always() {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().associated_prs = vec![5];

    let (warnings, comment_url) = report_run(
        &tag_push_run(&fake.url, "auto").settings(),
        &success_outcome(),
    )
    .await;
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(comment_url, None);
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.path.contains("/statuses/")),
        "no comment lookups with comment: auto on push"
    );
    for (path, _) in status_posts(&fake) {
        assert!(path.ends_with(&format!("/statuses/{TAG_SHA}")), "{path}");
    }

    let (warnings, comment_url) = report_run(
        &tag_push_run(&fake.url, "always").settings(),
        &success_outcome(),
    )
    .await;
    assert_eq!(warnings, Vec::<String>::new());
    assert!(fake.requests().iter().any(|r| r.method == "GET"
        && r.path.starts_with(&format!(
            "/repos/Codertocat/Hello-World/commits/{TAG_SHA}/pulls"
        ))));
    assert_eq!(fake.comments_on(5).len(), 1);
    assert!(comment_url.unwrap().contains("/pull/5#"));
}

#[tokio::test]
async fn workflow_dispatch_status_targets_github_sha() {
    let fake = FakeGithub::start();
    let (warnings, comment_url) =
        report_run(&dispatch_run(&fake.url).settings(), &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(comment_url, None);
    let statuses = status_posts(&fake);
    assert_eq!(statuses.len(), 2);
    for (path, _) in statuses {
        assert!(
            path.ends_with(&format!("/statuses/{DISPATCH_SHA}")),
            "{path}"
        );
    }
}

// ---- Sticky comment, failures that must not fail the run ----

#[tokio::test]
async fn a_second_run_updates_the_first_comment() {
    let fake = FakeGithub::start();
    // Enough comments from others that ours lands on the second page.
    for i in 0..120 {
        fake.add_comment(2, &format!("LGTM {i}"));
    }
    fake.add_comment(
        2,
        "<!-- rolling-update: staging/api-rc -->\nanother namespace's report",
    );
    let settings = pull_request_run(&fake.url).settings();

    let (warnings, first_url) = report_run(&settings, &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());
    let mut failed = success_outcome();
    failed.result = ResultKind::Failure;
    failed.summary = "stalled".into();
    let (warnings, second_url) = report_run(&settings, &failed).await;
    assert_eq!(warnings, Vec::<String>::new());

    let ours: Vec<_> = fake
        .comments_on(2)
        .into_iter()
        .filter(|c| c.body.starts_with("<!-- rolling-update: prod/api-rc -->"))
        .collect();
    assert_eq!(ours.len(), 1, "one sticky comment, never duplicated");
    assert!(ours[0].body.contains("Failed"), "updated to the second run");
    assert_eq!(first_url, second_url);
    assert_eq!(fake.comments_on(2).len(), 122);

    let requests = fake.requests();
    let posts = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/issues/2/comments"))
        .count();
    let patches: Vec<_> = requests.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(posts, 1);
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].path,
        format!(
            "/repos/Codertocat/Hello-World/issues/comments/{}",
            ours[0].id
        )
    );
}

#[tokio::test]
async fn forbidden_status_and_comment_become_warnings_naming_the_permission() {
    let fake = FakeGithub::start();
    {
        let mut s = fake.state.lock().unwrap();
        s.forbid_statuses = true;
        s.forbid_comments = true;
    }
    let settings = pull_request_run(&fake.url).settings();
    let outcome = success_outcome();
    let (warnings, comment_url) = report_run(&settings, &outcome).await;

    assert_eq!(comment_url, None);
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    assert!(warnings[0].contains("`statuses: write`"), "{}", warnings[0]);
    assert!(warnings[1].contains("`statuses: write`"), "{}", warnings[1]);
    assert!(
        warnings[2].contains("`pull-requests: write`"),
        "{}",
        warnings[2]
    );
    assert!(warnings[2].contains("forks"));
    for w in &warnings {
        assert!(!w.contains(TOKEN), "the token leaked into {w}");
    }
    // Reporting does not decide the deploy: the exit code comes from the outcome alone.
    assert_eq!(outcome.result.exit_code(), 0);
}

#[tokio::test]
async fn server_errors_are_warnings_and_posts_are_not_retried() {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().fail_all = true;
    let settings = pull_request_run(&fake.url).settings();
    let result = reporter(&settings)
        .finish(
            &success_outcome(),
            "<!-- rolling-update: prod/api-rc -->\nx",
        )
        .await;
    assert_eq!(result.warnings.len(), 2, "{:#?}", result.warnings);
    assert!(result.warnings[0].contains("answered 500"));
    let status_posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(status_posts, 1, "a POST must not be retried");
}

#[tokio::test]
async fn unreachable_github_is_a_warning() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let settings = pull_request_run(&url).settings();
    let result = reporter(&settings).finish(&success_outcome(), "x").await;
    assert_eq!(result.warnings.len(), 2);
    assert!(
        result.warnings[0].contains("could not reach GitHub"),
        "{}",
        result.warnings[0]
    );
}

#[tokio::test]
async fn enterprise_api_path_prefix_is_kept() {
    let fake = FakeGithub::start();
    let api = format!("{}/api/v3", fake.url);
    let (warnings, _) = report_run(&pull_request_run(&api).settings(), &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());
    let requests = fake.requests();
    assert!(!requests.is_empty());
    for r in requests {
        assert!(r.path.starts_with("/api/v3/repos/"), "{}", r.path);
    }
}

#[test]
fn no_token_means_no_reporter() {
    let fake_url = "http://127.0.0.1:9";
    let mut settings = pull_request_run(fake_url).settings();
    settings.github.token = None;
    assert!(Reporter::new(&settings.github, ReportConfig::new(&settings, "prod")).is_none());
}

/// The capacity-failure comment a user gets (docs/report-example.png is this markdown rendered; set
/// REPORT_EXAMPLE_OUT to write it, as scripts/screenshot-report.sh does).
#[test]
fn capacity_failure_comment() {
    let outcome = support_github::capacity_failure_outcome();
    let ctx = RenderContext::new(
        "shop",
        "api-rc",
        Some("https://github.com/acme/shop/actions/runs/9876543210".into()),
    );
    let md = markdown::render(&outcome, &ctx);
    assert!(md.starts_with("<!-- rolling-update: shop/api-rc -->\n"));
    assert!(md.contains("## ❌ Failed: `api-rc-9f8e7d6` → `api-rc-1a2b3c4`"));
    assert!(md.contains("| node-c | cpu | 1900m | 1750m | 150m | 500m | **no** |"));
    assert!(md.contains("- Set `max_surge: 0` and `max_unavailable: 1`"));
    assert!(md.contains("| metrics | `prom/statsd-exporter:v0.26.0` | unchanged |"));
    assert!(md.contains("Rolled back: `api-rc-9f8e7d6` restored to 3 replicas"));
    assert_eq!(
        markdown::status_description(&outcome),
        "Insufficient cpu: a new pod needs 500m, the most free on any node is 300m"
    );
    if let Ok(path) = std::env::var("REPORT_EXAMPLE_OUT") {
        std::fs::write(path, &md).expect("write the example report");
    }
}
