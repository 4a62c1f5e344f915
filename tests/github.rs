//! The GitHub side of reporting, without Kubernetes.
//!
//! Two servers: Prism, serving GitHub's official OpenAPI description, validates every request the reporter
//! makes (a test asserts no warnings, so any 4xx from Prism fails it); a small stateful fake shows what Prism
//! cannot: that a second run updates the first comment, where the status goes for each event (settings built
//! from real webhook payloads), and that a 403 or 500 becomes a warning naming the permission, not a failure.

mod support_github;

use rolling_update_action::inputs::Settings;
use rolling_update_action::outcome::{Outcome, ResultKind};
use std::time::{Duration, Instant};

use rolling_update_action::report::github::{
    status_state, CommentId, DeploymentId, DeploymentState, ReportConfig, Reporter, RetryPolicy,
};
use rolling_update_action::report::markdown::{self, RenderContext};
use serde_json::json;
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

/// Retries as in production, with millisecond backoffs (a wait GitHub asks for is still honoured, up to 5 s).
const FAST_RETRIES: RetryPolicy = RetryPolicy {
    retries: 3,
    base_delay: Duration::from_millis(10),
    max_wait: Duration::from_secs(5),
};

fn reporter(settings: &Settings) -> Reporter {
    Reporter::try_new(&settings.github, ReportConfig::new(settings, "prod"))
        .expect("a reporter")
        .with_retry_policy(FAST_RETRIES)
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
        .update_comment(
            CommentId(1),
            "<!-- rolling-update: prod/api-rc -->\nupdated",
        )
        .await
        .expect("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id} is valid");
    assert!(url.is_some());
}

#[tokio::test]
async fn prism_accepts_deployments_and_their_statuses() {
    let settings = pull_request_run(&prism::url()).settings();
    let reporter = reporter(&settings);
    let id = reporter
        .create_deployment("pr-2", PR_HEAD_SHA, "preview of pull request #2", true)
        .await
        .expect("create deployment");
    reporter
        .create_deployment("production", PR_HEAD_SHA, "rolling api-rc", false)
        .await
        .expect("create a production deployment");
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
async fn prism_accepts_a_release_deployment_from_start_to_finish() {
    let settings = tag_push_run(&prism::url(), "auto").settings();
    let reporter = reporter(&settings);
    let warnings = reporter.start("rolling api-rc to api-rc-1a2b3c4").await;
    assert_eq!(warnings, Vec::<String>::new());
    assert!(reporter.deployment_id().is_some());
    reporter
        .progress("rolling api-rc-1a2b3c4: 1/3 new pods ready")
        .await
        .expect("progress: a pending status and an in_progress deployment status");
    let result = reporter
        .finish(&success_outcome(), &render(&settings, &success_outcome()))
        .await;
    assert_eq!(result.warnings, Vec::<String>::new());
    // The spec's example lists a deployment whose example statuses are not inactive.
    let deactivated = reporter
        .deactivate_previous("production", DeploymentId(u64::MAX))
        .await
        .expect("list, read the state, mark inactive");
    assert!(deactivated >= 1);
}

/// Deployments for every kind of release, each request checked by Prism: a workflow_dispatch release, a
/// `mode: rollback` and a pull request's progress (which also updates the sticky comment).
#[tokio::test]
async fn prism_accepts_deployments_for_dispatch_rollback_and_pull_request_progress() {
    let mut rollback = dispatch_run(&prism::url()).settings();
    rollback.mode = rolling_update_action::inputs::Mode::Rollback;
    let runs = [
        dispatch_run(&prism::url()).settings(),
        rollback,
        pull_request_run(&prism::url()).settings(),
    ];
    for settings in runs {
        let reporter = reporter(&settings);
        let warnings = reporter.start("rolling api-rc").await;
        assert_eq!(warnings, Vec::<String>::new(), "{:?}", settings.mode);
        assert!(reporter.deployment_id().is_some());
        reporter
            .progress("rolling api-rc-1a2b3c4: 2/3 new pods ready · 14 s")
            .await
            .expect("progress");
        let result = reporter
            .finish(&success_outcome(), &render(&settings, &success_outcome()))
            .await;
        assert_eq!(result.warnings, Vec::<String>::new(), "{:?}", settings.mode);
    }
}

#[tokio::test]
async fn prism_accepts_the_user_lookup_and_a_comment_delete() {
    let settings = pull_request_run(&prism::url()).settings();
    let reporter = reporter(&settings);
    let login = reporter.own_login().await.expect("GET /user");
    assert!(!login.is_empty());
    reporter
        .delete_comment(CommentId(1))
        .await
        .expect("DELETE /repos/{owner}/{repo}/issues/comments/{comment_id} is valid");
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
    assert_eq!(settings.github.event.pull_request.number, Some(2));
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
async fn server_errors_are_warnings_after_retries_and_creating_posts_are_not_retried() {
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
    assert!(
        result.warnings[0].contains("answered 500 (4 attempts)"),
        "{}",
        result.warnings[0]
    );
    assert_eq!(result.status_error.as_ref(), Some(&result.warnings[0]));
    let requests = fake.requests();
    let count = |method: &str, part: &str| {
        requests
            .iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    };
    assert_eq!(
        count("POST", "/statuses/"),
        4,
        "a status is retried 3 times"
    );
    assert_eq!(count("GET", "/user"), 4, "a lookup is retried 3 times");
    assert_eq!(count("POST", "/comments"), 0);
}

#[tokio::test]
async fn a_502_then_success_is_retried_without_a_warning() {
    let fake = FakeGithub::start();
    fake.script(
        "POST",
        "/statuses/",
        1,
        502,
        &[],
        json!({"message": "Server Error"}),
    );
    let settings = pull_request_run(&fake.url).settings();
    let (warnings, _) = report_run(&settings, &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());
    let statuses = status_posts(&fake);
    assert_eq!(statuses.len(), 3, "pending (502, then again) and success");
    assert_eq!(statuses[1].1["state"], "pending");
    assert_eq!(statuses[2].1["state"], "success");
}

#[tokio::test]
async fn a_503_every_time_gives_up_after_three_retries() {
    let fake = FakeGithub::start();
    fake.script(
        "GET",
        "/issues/2/comments",
        10,
        503,
        &[],
        json!({"message": "Service Unavailable"}),
    );
    let settings = pull_request_run(&fake.url).settings();
    let (warnings, comment_url) = report_run(&settings, &success_outcome()).await;
    assert_eq!(comment_url, None);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0]
            .contains("list the comments of pull request #2: GitHub answered 503 (4 attempts)"),
        "{}",
        warnings[0]
    );
    let lists = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/issues/2/comments"))
        .count();
    assert_eq!(lists, 4);
    assert!(fake.comments_on(2).is_empty(), "no comment posted blind");
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let fake = FakeGithub::start();
    let ours = fake.add_comment_by(
        2,
        "<!-- rolling-update: prod/api-rc -->\nearlier run",
        "github-actions[bot]",
    );
    fake.script(
        "PATCH",
        "/issues/comments/",
        1,
        429,
        &[("retry-after", "1")],
        json!({"message": "Too Many Requests"}),
    );
    let settings = pull_request_run(&fake.url).settings();
    let started = Instant::now();
    let result = reporter(&settings)
        .finish(&success_outcome(), &render(&settings, &success_outcome()))
        .await;
    let took = started.elapsed();
    assert_eq!(result.warnings, Vec::<String>::new());
    assert!(took >= Duration::from_secs(1), "waited only {took:?}");
    assert!(took < Duration::from_secs(4), "waited {took:?}");
    let comments = fake.comments_on(2);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].id, ours);
    assert!(comments[0].body.contains("Success"));
}

#[tokio::test]
async fn a_primary_rate_limit_waits_for_the_reset_unless_it_is_too_far() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let limited = json!({"message": "API rate limit exceeded for installation ID 1."});
    let soon = (now + 2).to_string();
    let fake = FakeGithub::start();
    fake.script(
        "POST",
        "/statuses/",
        1,
        403,
        &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &soon)],
        limited.clone(),
    );
    let settings = dispatch_run(&fake.url).settings();
    let started = Instant::now();
    reporter(&settings)
        .post_status("success", "done")
        .await
        .expect("posted after the reset");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // A reset an hour away is not waited for: the job would hang for it.
    let later = (now + 3600).to_string();
    fake.script(
        "POST",
        "/statuses/",
        1,
        403,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &later),
        ],
        limited,
    );
    let started = Instant::now();
    let err = reporter(&settings)
        .post_status("success", "done")
        .await
        .expect_err("gives up");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        err.warning().contains("primary rate limit"),
        "{}",
        err.warning()
    );
    assert!(
        !err.warning().contains("statuses: write"),
        "{}",
        err.warning()
    );
}

#[tokio::test]
async fn a_secondary_rate_limit_is_named_and_the_unposted_status_is_said() {
    let fake = FakeGithub::start();
    fake.script(
        "POST",
        "/statuses/",
        10,
        403,
        &[],
        json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}),
    );
    let settings = pull_request_run(&fake.url).settings();
    // Without `Retry-After`, GitHub asks for a minute between tries; the cap keeps this test short.
    let capped = RetryPolicy {
        max_wait: Duration::from_millis(100),
        ..FAST_RETRIES
    };
    let started = Instant::now();
    let result = reporter(&settings)
        .with_retry_policy(capped)
        .finish(&success_outcome(), &render(&settings, &success_outcome()))
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "three capped waits"
    );
    let error = result
        .status_error
        .expect("the final status was not posted");
    assert!(
        error.contains("GitHub's secondary rate limit (4 attempts)"),
        "{error}"
    );
    assert!(
        !error.contains("permissions"),
        "not a missing permission: {error}"
    );
    assert_eq!(status_posts(&fake).len(), 4);
    // The comment still went out, and the job summary says the status is stale.
    assert_eq!(fake.comments_on(2).len(), 1);
    let note = markdown::status_not_posted(
        "rolling-update/prod/api-rc",
        status_state(ResultKind::Success),
        &error,
    );
    assert!(
        note.contains("`rolling-update/prod/api-rc` could not be set to `success`"),
        "{note}"
    );
    assert!(note.contains("secondary rate limit"), "{note}");
}

#[tokio::test]
async fn creating_a_comment_is_never_retried() {
    let fake = FakeGithub::start();
    fake.script(
        "POST",
        "/issues/2/comments",
        1,
        502,
        &[],
        json!({"message": "Bad Gateway"}),
    );
    let settings = pull_request_run(&fake.url).settings();
    let (warnings, comment_url) = report_run(&settings, &success_outcome()).await;
    assert_eq!(comment_url, None);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("answered 502: Bad Gateway"),
        "{}",
        warnings[0]
    );
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/issues/2/comments"))
        .count();
    assert_eq!(posts, 1, "a retried POST could comment twice");
}

// ---- A Deployment per release ----

/// start + finish, as a run that rolls out does.
async fn release(settings: &Settings, outcome: &Outcome) -> Vec<String> {
    let reporter = reporter(settings);
    let mut warnings = reporter.start("rolling api-rc to api-rc-1a2b3c4").await;
    let result = reporter.finish(outcome, &render(settings, outcome)).await;
    warnings.extend(result.warnings);
    warnings
}

#[tokio::test]
async fn each_release_is_a_deployment_and_a_success_retires_the_previous_one() {
    let fake = FakeGithub::start();
    let settings = tag_push_run(&fake.url, "auto").settings();
    let mut failed = success_outcome();
    failed.result = ResultKind::Failure;
    for outcome in [
        &success_outcome(),
        &success_outcome(),
        &failed,
        &success_outcome(),
    ] {
        assert_eq!(release(&settings, outcome).await, Vec::<String>::new());
    }
    let deployments = fake.deployments();
    let states: Vec<Vec<&str>> = deployments
        .iter()
        .map(|d| d.states.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        states,
        [
            vec!["in_progress", "success", "inactive"],
            // A failure retires nothing: the second release stays live until the fourth succeeds.
            vec!["in_progress", "success", "inactive"],
            vec!["in_progress", "failure"],
            vec!["in_progress", "success"],
        ]
    );
    for d in &deployments {
        assert_eq!(d.environment, "production");
        assert_eq!(d.git_ref, TAG_SHA);
        assert!(
            d.request.get("transient_environment").is_none(),
            "{}",
            d.request
        );
    }
    // Second run: one state read (the first, success). Fourth run: the failure (kept), the second (retired),
    // then the first, already inactive, where it stops.
    let reads = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/statuses?"))
        .count();
    assert_eq!(reads, 1 + 3);
}

#[tokio::test]
async fn progress_updates_the_pending_status_and_the_deployment() {
    let fake = FakeGithub::start();
    let settings = pull_request_run(&fake.url).settings();
    let reporter = reporter(&settings);
    assert_eq!(reporter.start("rolling api-rc").await, Vec::<String>::new());
    reporter
        .progress("rolling api-rc-1a2b3c4: 2/3 new pods ready")
        .await
        .expect("progress posted");
    // On the pull request, the sticky comment shows the progress while the rollout runs...
    let during = fake.comments_on(2);
    assert_eq!(during.len(), 1, "one sticky comment");
    assert!(
        during[0].body.contains("2/3 new pods ready") && during[0].body.contains("Rolling out"),
        "{}",
        during[0].body
    );
    let result = reporter
        .finish(&success_outcome(), &render(&settings, &success_outcome()))
        .await;
    assert_eq!(result.warnings, Vec::<String>::new());
    let statuses: Vec<(String, String)> = status_posts(&fake)
        .into_iter()
        .map(|(_, b)| {
            (
                b["state"].as_str().unwrap().to_string(),
                b["description"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(statuses[0], ("pending".into(), "rolling api-rc".into()));
    assert_eq!(
        statuses[1],
        (
            "pending".into(),
            "rolling api-rc-1a2b3c4: 2/3 new pods ready".into()
        )
    );
    assert_eq!(statuses[2].0, "success");
    assert_eq!(
        fake.deployments()[0].states,
        ["in_progress", "in_progress", "success"]
    );
    // The cost of a pull request's release with one progress update, all of it: pending status, Deployment and
    // its in_progress status (3); the update (status, Deployment status, the token's user, the comment lookup and
    // its creation: 5, plus one re-list after a creation); the end (status, comment lookup and update, Deployment
    // status, the environment's earlier Deployments: 5). Each further update costs 4 (no user lookup, no
    // creation), at most one per 10 s and per change in the ready count.
    let total = fake.requests().len();
    assert!(
        total <= 15,
        "{total} GitHub requests: {:#?}",
        fake.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    // ...and the final report replaces it: still one comment, now the report.
    let after = fake.comments_on(2);
    assert_eq!(after.len(), 1, "the same comment, updated");
    assert_eq!(after[0].id, during[0].id);
    assert!(!after[0].body.contains("Rolling out"), "{}", after[0].body);
}

#[tokio::test]
async fn the_environment_input_and_previews_name_the_environment() {
    let fake = FakeGithub::start();
    let mut settings = dispatch_run(&fake.url).settings();
    settings.reporting.environment = Some("staging".into());
    assert_eq!(
        release(&settings, &success_outcome()).await,
        Vec::<String>::new()
    );

    let mut preview = pull_request_run(&fake.url).settings();
    preview.mode = rolling_update_action::inputs::Mode::Preview;
    let mut outcome = success_outcome();
    outcome.environment_url = Some("http://api-rc-pr-2.prod.svc.cluster.local".into());
    assert_eq!(release(&preview, &outcome).await, Vec::<String>::new());

    let deployments = fake.deployments();
    assert_eq!(deployments.len(), 2);
    assert_eq!(deployments[0].environment, "staging");
    assert_eq!(deployments[0].git_ref, DISPATCH_SHA);
    assert_eq!(deployments[1].environment, "pr-2");
    assert_eq!(deployments[1].git_ref, PR_HEAD_SHA);
    assert_eq!(deployments[1].request["transient_environment"], true);
    assert_eq!(deployments[1].request["production_environment"], false);
    let final_status = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| {
            r.method == "POST"
                && r.path
                    .ends_with(&format!("/deployments/{}/statuses", deployments[1].id))
        })
        .expect("a final status");
    let body: serde_json::Value = serde_json::from_str(&final_status.body).unwrap();
    assert_eq!(body["state"], "success");
    assert_eq!(
        body["environment_url"],
        "http://api-rc-pr-2.prod.svc.cluster.local"
    );
}

#[tokio::test]
async fn a_deployment_that_cannot_be_created_is_a_warning_naming_the_permission() {
    let fake = FakeGithub::start();
    fake.script(
        "POST",
        "/deployments",
        1,
        403,
        &[],
        json!({"message": "Resource not accessible by integration"}),
    );
    let settings = dispatch_run(&fake.url).settings();
    let warnings = release(&settings, &success_outcome()).await;
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("`deployments: write`"),
        "{}",
        warnings[0]
    );
    assert!(fake.deployments().is_empty());
    assert_eq!(status_posts(&fake).len(), 2, "the statuses still went out");
}

// ---- Whose comment is ours ----

const MARKER: &str = "<!-- rolling-update: prod/api-rc -->";

#[tokio::test]
async fn a_foreign_comment_with_our_marker_is_left_alone() {
    let fake = FakeGithub::start();
    let forged = format!("{MARKER}\n## ✅ Success (trust me)");
    let foreign = fake.add_comment_by(2, &forged, "mallory");
    let settings = pull_request_run(&fake.url).settings();
    let (warnings, comment_url) = report_run(&settings, &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());
    let comments = fake.comments_on(2);
    assert_eq!(comments.len(), 2, "ours was added beside it");
    assert_eq!(comments[0].id, foreign);
    assert_eq!(comments[0].body, forged, "never edited");
    assert_eq!(comments[1].author, "github-actions[bot]");
    assert!(comment_url
        .unwrap()
        .ends_with(&format!("-{}", comments[1].id)));
    assert!(fake
        .requests()
        .iter()
        .all(|r| !r.path.ends_with(&format!("/comments/{foreign}"))));
}

#[tokio::test]
async fn with_a_personal_token_the_tokens_user_is_the_author() {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().token_login = Some("deploy-bot".into());
    let bot = fake.add_comment_by(2, &format!("{MARKER}\nold"), "github-actions[bot]");
    let mine = fake.add_comment_by(2, &format!("{MARKER}\nprevious"), "deploy-bot");
    let settings = pull_request_run(&fake.url).settings();
    let (warnings, _) = report_run(&settings, &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());
    let comments = fake.comments_on(2);
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].id, bot);
    assert!(
        comments[0].body.ends_with("old"),
        "another identity's comment"
    );
    assert_eq!(comments[1].id, mine);
    assert!(comments[1].body.contains("Success"), "{}", comments[1].body);
    let lookups = fake.requests().iter().filter(|r| r.path == "/user").count();
    assert_eq!(lookups, 1, "looked up once per run");
}

#[tokio::test]
async fn two_runs_racing_keep_the_oldest_comment() {
    let fake = FakeGithub::start();
    fake.state.lock().unwrap().racing_comment = Some(format!("{MARKER}\nthe other run"));
    let settings = pull_request_run(&fake.url).settings();
    let (warnings, comment_url) = report_run(&settings, &success_outcome()).await;
    assert_eq!(warnings, Vec::<String>::new());
    let comments = fake.comments_on(2);
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let kept = &comments[0];
    assert!(
        kept.body.contains("Success"),
        "our report, in the older comment"
    );
    let requests = fake.requests();
    let deleted: Vec<_> = requests.iter().filter(|r| r.method == "DELETE").collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        deleted[0].path,
        format!(
            "/repos/Codertocat/Hello-World/issues/comments/{}",
            kept.id + 1
        )
    );
    assert!(comment_url.unwrap().ends_with(&format!("-{}", kept.id)));
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
        assert!(r.path.starts_with("/api/v3/"), "{}", r.path);
    }
}

#[test]
fn no_token_means_no_reporter() {
    let fake_url = "http://127.0.0.1:9";
    let mut settings = pull_request_run(fake_url).settings();
    settings.github.token = None;
    assert!(Reporter::new(&settings.github, ReportConfig::new(&settings, "prod")).is_none());
}

/// The capacity-failure comment a user gets.
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
}

// ---- Untrusted text in the job log (issue 14) ----

/// Lines a crashing container can print; each one is a command if the runner reads it as it is.
const HOSTILE_LINES: [&str; 7] = [
    "::add-mask::EVIL-MASK",
    "  ::error title=EVIL-TITLE::EVIL-ERROR",
    "::set-output name=evil::EVIL-OUTPUT",
    "connecting ##[error]EVIL-LEGACY",
    "::stop-commands::EVIL-STOP",
    "::warning::EVIL-AFTER-STOP",
    "retry\r::add-mask::EVIL-CR",
];

/// What the end of a crash-looping run prints: timeline lines, the diagnosis quoting a multi-line termination
/// message and the log, the annotation and the result line, then a command of ours that must still run.
#[test]
fn untrusted_text_never_becomes_a_runner_command() {
    use rolling_update_action::diagnosis::{Diagnosis, Finding, FindingKind};
    use rolling_update_action::report::{actions, log};
    use support_github::runner;

    let hostile = HOSTILE_LINES.join("\n");
    let mut outcome = success_outcome();
    outcome.result = ResultKind::Failure;
    outcome.summary = format!("stopped early: {hostile}");
    outcome.failure.diagnosis = Some(Diagnosis {
        findings: vec![Finding {
            kind: FindingKind::CrashLoop,
            summary: "Container api keeps crashing: exit code 1, 3 restarts".into(),
            evidence: vec![format!(
                "api-rc-1a2b3c4-x7k2p: last exit code 1 (Error): panic\n{hostile}"
            )],
            logs: HOSTILE_LINES.iter().map(|l| l.to_string()).collect(),
            capacity: vec![],
            fixes: vec![format!("read the log: {hostile}")],
            fatal: true,
        }],
        unreadable: vec![],
    });
    let mut stdout = String::new();
    for line in HOSTILE_LINES {
        stdout.push_str(&actions::inert(&format!("[  1.0s] Pod said: {line}")));
    }
    stdout.push_str(&log::closing(&outcome));
    stdout.push_str(&actions::format_command(
        "warning",
        &[("title", "a::b,c\n::add-mask::EVIL-PROPERTY")],
        "m\n::add-mask::EVIL-MESSAGE ##[error]EVIL-MESSAGE-LEGACY",
    ));
    stdout.push_str("\n::notice::ours, after all of it\n");

    let view = runner::read(&stdout);
    let names: Vec<&str> = view.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["error", "warning", "notice"],
        "{:#?}",
        view.commands
    );
    assert!(!view.stopped_at_end);
    assert!(view.commands[0]
        .data
        .starts_with("rollout failed: stopped early: "));
    assert_eq!(
        view.commands[1].properties,
        "title=a%3A%3Ab%2Cc%0A%3A%3Aadd-mask%3A%3AEVIL-PROPERTY"
    );
    assert!(view.commands[1].data.starts_with("m%0A"));
    assert_eq!(view.commands[2].data, "ours, after all of it");
    // The text is still in the log, as text.
    for line in [
        "::add-mask::EVIL-MASK",
        "##[error]EVIL-LEGACY",
        "::set-output name=evil::EVIL-OUTPUT",
    ] {
        let shown = view.shown.iter().filter(|l| l.contains(line)).count();
        // Timeline, evidence, log and fix (the summary's copy is inside the annotation and the result line).
        assert!(
            shown >= 4,
            "{line:?} shown {shown} times:\n{}",
            view.shown.join("\n")
        );
    }
    assert!(view.shows("Container api keeps crashing"));
}
