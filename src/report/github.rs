//! Posting the report to GitHub: the commit status, the sticky PR comment, and (preview mode) Deployments.
//!
//! Reporting never decides the deploy. Every call here ends in a value: a warning that says what could not be
//! posted and, on 403, which `permissions:` entry the workflow needs (a fork's `pull_request` token is
//! read-only, and that must not turn a good deploy red). Requests are made with octocrab's raw methods so each
//! status code can be told apart, and so the comment update is the `PATCH` GitHub's API defines (octocrab's
//! `update_comment` sends `POST`). octocrab's own retries are off, because they would retry any `POST` on a 5xx and
//! could post a comment twice; this module retries only what is safe to repeat (lookups, the commit status and
//! deployment statuses, where the newest wins, and the comment `PATCH`) on 5xx, 429 and rate limits, up to three
//! times, waiting as GitHub's `Retry-After` or `x-ratelimit-reset` says (capped), else with exponential backoff.
//! Creating a comment or a deployment is not retried.
//!
//! The sticky comment is found by its marker *and* its author: anyone can paste the marker into a comment, and
//! the action must never overwrite someone else's words. Two runs racing to create it both re-read the list
//! after creating: the oldest comment stays, newer ones are deleted.

use std::time::Duration;

use http::StatusCode;
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::{actions, markdown};
use crate::inputs::{CommentMode, GithubContext, Mode, Settings};
use crate::outcome::{Outcome, ResultKind};

/// GitHub's page size limit; also what the comment and deployment lists ask for.
const PER_PAGE: usize = 100;
/// At most this many pages are read (10,000 comments); past that the marker search gives up and posts anew.
const MAX_PAGES: usize = 100;
/// The author of comments made with the workflow's own token.
pub const WORKFLOW_BOT: &str = "github-actions[bot]";

/// A comment of ours: it starts with the marker and `login` wrote it (anyone can paste the marker).
fn is_ours(comment: &Value, marker: &str, login: &str) -> bool {
    comment["body"]
        .as_str()
        .is_some_and(|b| b.trim_start().starts_with(marker))
        && comment["user"]["login"]
            .as_str()
            .is_some_and(|author| author.eq_ignore_ascii_case(login))
}

/// How often and how long to retry a request that is safe to repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first backoff when GitHub does not say how long to wait; doubled for each retry.
    pub base_delay: Duration,
    /// The longest wait before a retry. When GitHub asks for longer (a primary rate limit resets within the
    /// hour), the request is given up at once rather than holding the job for it.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            base_delay: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Why a response may be worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transient {
    Server,
    TooManyRequests,
    SecondaryRateLimit,
    PrimaryRateLimit,
}

/// Classifies an error response: 5xx, 429, or a 403 that is a rate limit (GitHub answers 403 for both the
/// secondary limit, naming it in the message, and an exhausted primary limit, `x-ratelimit-remaining: 0`).
fn transient(status: StatusCode, headers: &http::HeaderMap, message: &str) -> Option<Transient> {
    let exhausted = headers
        .get("x-ratelimit-remaining")
        .is_some_and(|v| v.as_bytes() == b"0");
    if message
        .to_ascii_lowercase()
        .contains("secondary rate limit")
    {
        return Some(Transient::SecondaryRateLimit);
    }
    match status.as_u16() {
        429 => Some(Transient::TooManyRequests),
        403 if exhausted => Some(Transient::PrimaryRateLimit),
        500..=599 => Some(Transient::Server),
        _ => None,
    }
}

/// How long GitHub asks us to wait: `Retry-After` (seconds), else, with no requests left, until
/// `x-ratelimit-reset` (epoch seconds, `now` likewise). `None` when it does not say.
fn requested_wait(headers: &http::HeaderMap, now_epoch_secs: u64) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(secs) = number("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    let exhausted = number("x-ratelimit-remaining") == Some(0);
    match number("x-ratelimit-reset") {
        Some(reset) if exhausted => Some(Duration::from_secs(reset.saturating_sub(now_epoch_secs))),
        _ => None,
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), or `None` to give up: no retries left, or GitHub asks
    /// for longer than `max_wait`. Secondary rate limits without a `Retry-After` wait at least a minute, as
    /// GitHub's guidance says, capped by `max_wait`.
    fn wait(&self, retry: u32, kind: Transient, requested: Option<Duration>) -> Option<Duration> {
        if retry > self.retries {
            return None;
        }
        let backoff = self.base_delay.saturating_mul(1 << (retry - 1).min(16));
        let wait = match (requested, kind) {
            (Some(asked), _) => asked,
            (None, Transient::SecondaryRateLimit) => Duration::from_secs(60).max(backoff),
            (None, _) => backoff,
        };
        if requested.is_some_and(|asked| asked > self.max_wait) {
            return None;
        }
        Some(wait.min(self.max_wait))
    }
}

/// Which permission an operation needs, for the 403 hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Statuses,
    PullRequestsRead,
    PullRequestsWrite,
    Deployments,
}

impl Permission {
    /// The line to add under `permissions:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Statuses => "statuses: write",
            Permission::PullRequestsRead => "pull-requests: read",
            Permission::PullRequestsWrite => "pull-requests: write",
            Permission::Deployments => "deployments: write",
        }
    }
}

/// A GitHub call that did not work. Its message is the warning shown to the user; it never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "failed to {action}: the token lacks `{}` (add it under `permissions:` in the workflow; on pull requests from forks the token is read-only): {message}",
        permission.as_str()
    )]
    Forbidden {
        action: String,
        permission: Permission,
        message: String,
    },
    #[error("failed to {action}: GitHub answered {status}{}: {message}", tries(*attempts))]
    Rejected {
        action: String,
        status: u16,
        message: String,
        /// Requests made, retries included.
        attempts: u32,
    },
    /// A 429, a 403 naming the secondary rate limit, or a 403 with no requests left: not a missing permission.
    #[error("failed to {action}: GitHub's {kind}{}: {message}", tries(*attempts))]
    RateLimited {
        action: String,
        /// Which limit: "secondary rate limit", "primary rate limit (no requests left)", "rate limit (429)".
        kind: &'static str,
        status: u16,
        message: String,
        attempts: u32,
    },
    #[error("failed to {action}: could not reach GitHub")]
    Transport {
        action: String,
        #[source]
        source: octocrab::Error,
    },
    #[error("failed to {action}: unexpected response from GitHub")]
    Decode {
        action: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// ` (4 attempts)` when a request was retried.
fn tries(attempts: u32) -> String {
    if attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    }
}

impl ReportError {
    /// The message with its causes, one line, for a `::warning::`.
    pub fn warning(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// The HTTP status GitHub answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ReportError::Forbidden { .. } => Some(403),
            ReportError::Rejected { status, .. } => Some(*status),
            ReportError::RateLimited { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What to post and where, from the settings.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// The commit status context: `status_context` or `rolling-update/<namespace>/<rc>`.
    pub status_context: String,
    pub comment: CommentMode,
    /// The sticky comment's hidden first line ([`markdown::marker`]).
    pub marker: String,
    /// Where each run's GitHub Deployment goes.
    pub environment: Environment,
}

/// A GitHub Deployment environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Input `environment`, else `production`, or `pr-<N>` for a pull request's preview.
    pub name: String,
    /// A preview's environment: transient (it goes away with the PR) and never production.
    pub preview: bool,
}

impl ReportConfig {
    /// `namespace` is the resolved one (the settings may leave it to the kubeconfig).
    pub fn new(settings: &Settings, namespace: &str) -> Self {
        let preview = matches!(settings.mode, Mode::Preview | Mode::Cleanup);
        let name = match (&settings.environment, settings.github.pr_number) {
            (Some(name), _) => name.clone(),
            (None, Some(pr)) if preview => crate::plan::preview::environment(pr),
            (None, _) => "production".to_string(),
        };
        ReportConfig {
            status_context: settings
                .status_context
                .clone()
                .unwrap_or_else(|| default_status_context(namespace, &settings.rc)),
            comment: settings.comment,
            marker: markdown::marker(namespace, &settings.rc),
            environment: Environment { name, preview },
        }
    }
}

/// `rolling-update/<namespace>/<rc>`: stable across runs, so each run replaces the last status.
pub fn default_status_context(namespace: &str, rc: &str) -> String {
    format!("rolling-update/{namespace}/{rc}")
}

/// The commit status state for an outcome.
pub fn status_state(result: ResultKind) -> &'static str {
    match result {
        ResultKind::Success | ResultKind::NoOp | ResultKind::DryRun => "success",
        ResultKind::Failure => "failure",
        ResultKind::Error | ResultKind::Cancelled => "error",
    }
}

/// What `finish` posted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportResult {
    /// The sticky comment (the first one, when several PRs were commented).
    pub comment_url: Option<String>,
    /// One line per thing that could not be posted; the caller prints them as `::warning::`.
    pub warnings: Vec<String>,
    /// Why the final commit status could not be posted, retries included: the commit may still show the
    /// run's `pending` status, so the caller says so in the log and the job summary, not only as a warning.
    pub status_error: Option<String>,
}

/// A deployment status state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    Queued,
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Queued => "queued",
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Error => "error",
            DeploymentState::Inactive => "inactive",
        }
    }

    /// The final deployment state for an outcome.
    pub fn for_result(result: ResultKind) -> Self {
        match result {
            ResultKind::Success | ResultKind::NoOp | ResultKind::DryRun => DeploymentState::Success,
            ResultKind::Failure => DeploymentState::Failure,
            ResultKind::Error | ResultKind::Cancelled => DeploymentState::Error,
        }
    }
}

/// Posts to one repository's API on behalf of one run.
pub struct Reporter {
    client: Octocrab,
    /// `owner/name`.
    repository: String,
    github: GithubContext,
    config: ReportConfig,
    run_url: Option<String>,
    retry: RetryPolicy,
    /// The login whose comments are ours, looked up once (see [`Reporter::own_login`]).
    login: tokio::sync::OnceCell<String>,
    /// This run's Deployment, once [`Reporter::start`] created it.
    deployment: std::sync::Mutex<Option<u64>>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("repository", &self.repository)
            .field("status_context", &self.config.status_context)
            .finish_non_exhaustive()
    }
}

/// Why reporting is skipped, if it is: a local run has no token or no repository.
pub fn skip_reason(github: &GithubContext) -> Option<&'static str> {
    let has_token = github
        .token
        .as_ref()
        .is_some_and(|t| !t.expose_secret().trim().is_empty());
    let has_repo = github.repository.as_deref().is_some_and(|r| {
        r.split_once('/')
            .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty())
    });
    match (has_token, has_repo) {
        (true, true) => None,
        (false, _) => Some("no GitHub token (input `github_token`)"),
        (true, false) => Some("no GITHUB_REPOSITORY"),
    }
}

impl Reporter {
    /// A reporter, or `None` with a `::notice::` when this is a local run (no token or no repository) or the
    /// API URL is unusable.
    pub fn new(github: &GithubContext, config: ReportConfig) -> Option<Reporter> {
        match Self::try_new(github, config) {
            Ok(reporter) => Some(reporter),
            Err(reason) => {
                actions::notice(&format!("GitHub reporting skipped: {reason}"));
                None
            }
        }
    }

    /// Like [`Reporter::new`], with the reason instead of the notice.
    pub fn try_new(
        github: &GithubContext,
        config: ReportConfig,
    ) -> std::result::Result<Reporter, String> {
        if let Some(reason) = skip_reason(github) {
            return Err(reason.to_string());
        }
        let token = github.token.clone().expect("checked by skip_reason");
        let api_url = if github.api_url.trim().is_empty() {
            "https://api.github.com"
        } else {
            github.api_url.trim().trim_end_matches('/')
        };
        let client = Octocrab::builder()
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .set_write_timeout(Some(Duration::from_secs(30)))
            .personal_token(token)
            .base_uri(api_url)
            .map_err(|_| format!("GITHUB_API_URL {api_url:?} is not a URL"))?
            .build()
            .map_err(|e| format!("could not build the GitHub client: {e}"))?;
        let mut github = github.clone();
        github.token = None;
        Ok(Reporter {
            client,
            repository: github.repository.clone().unwrap_or_default(),
            run_url: markdown::run_url(&github),
            github,
            config,
            retry: RetryPolicy::default(),
            login: tokio::sync::OnceCell::new(),
            deployment: std::sync::Mutex::new(None),
        })
    }

    /// The same reporter with another retry policy (tests use millisecond delays).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn config(&self) -> &ReportConfig {
        &self.config
    }

    /// Posts the `pending` status when the rollout starts.
    pub async fn pending(&self, description: &str) -> Result<()> {
        self.post_status("pending", description).await
    }

    /// When the rollout starts: the `pending` status, and this run's Deployment to the environment with the
    /// status `in_progress`. Returns what could not be posted, as warnings.
    pub async fn start(&self, description: &str) -> Vec<String> {
        let mut warnings = vec![];
        if let Err(e) = self.pending(description).await {
            warnings.push(e.warning());
        }
        let environment = &self.config.environment;
        let created = self
            .create_deployment(
                &environment.name,
                &self.github.status_sha,
                description,
                environment.preview,
            )
            .await;
        match created {
            Ok(id) => {
                *self.deployment.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                if let Err(e) = self
                    .deployment_status(id, DeploymentState::InProgress, None, description)
                    .await
                {
                    warnings.push(e.warning());
                }
            }
            Err(e) => warnings.push(e.warning()),
        }
        warnings
    }

    /// While the rollout runs: the `pending` status, the Deployment's `in_progress` and, where a comment is due,
    /// the sticky comment say how far it got. The final report replaces the comment.
    pub async fn progress(&self, description: &str) -> Result<()> {
        self.pending(description).await?;
        if let Some(id) = self.deployment_id() {
            self.deployment_status(id, DeploymentState::InProgress, None, description)
                .await?;
        }
        let body = markdown::progress_comment(&self.config.marker, description);
        for pr in self.comment_targets().await? {
            self.upsert_comment(pr, &body).await?;
        }
        Ok(())
    }

    /// This run's Deployment, if [`Reporter::start`] created one.
    pub fn deployment_id(&self) -> Option<u64> {
        *self.deployment.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Posts the final status and the sticky comment. Never fails: what could not be posted is a warning.
    pub async fn finish(&self, outcome: &Outcome, markdown: &str) -> ReportResult {
        let mut result = ReportResult::default();
        let state = status_state(outcome.result);
        if let Err(e) = self
            .post_status(state, &markdown::status_description(outcome))
            .await
        {
            result.status_error = Some(e.warning());
            result.warnings.push(e.warning());
        }
        let prs = match self.comment_targets().await {
            Ok(prs) => prs,
            Err(e) => {
                result.warnings.push(e.warning());
                vec![]
            }
        };
        for pr in prs {
            match self.upsert_comment(pr, markdown).await {
                Ok(url) => {
                    if result.comment_url.is_none() {
                        result.comment_url = url;
                    }
                }
                Err(e) => result.warnings.push(e.warning()),
            }
        }
        if let Some(id) = self.deployment_id() {
            if let Err(e) = self.finish_deployment(id, outcome).await {
                result.warnings.push(e.warning());
            }
        }
        result
    }

    /// The Deployment's final state; after a success, the environment's previous Deployment goes inactive.
    async fn finish_deployment(&self, id: u64, outcome: &Outcome) -> Result<()> {
        let state = DeploymentState::for_result(outcome.result);
        let description = markdown::status_description(outcome);
        self.deployment_status(id, state, outcome.environment_url.as_deref(), &description)
            .await?;
        if state == DeploymentState::Success {
            self.deactivate_previous(&self.config.environment.name, id)
                .await?;
        }
        Ok(())
    }

    /// Marks inactive the environment's Deployments older than `current` (among the 100 newest) that are still
    /// live (success, or a run that never finished), newest first, stopping at the first one already inactive
    /// (earlier runs took care of those before it). Failed ones are left as they are. Returns how many.
    pub async fn deactivate_previous(&self, environment: &str, current: u64) -> Result<usize> {
        // GitHub lists the newest first; the first page (100) reaches back past any still active.
        let mut older = self.deployment_ids(environment, false).await?;
        older.retain(|&id| id < current);
        older.sort_unstable_by(|a, b| b.cmp(a));
        let mut deactivated = 0;
        for id in older {
            let statuses = self
                .request(
                    Verb::Get,
                    &format!(
                        "/repos/{}/deployments/{id}/statuses?per_page=1",
                        self.repository
                    ),
                    None,
                    &format!("read the state of deployment {id}"),
                    Permission::Deployments,
                )
                .await?;
            let latest = statuses
                .as_array()
                .and_then(|s| s.first())
                .and_then(|s| s["state"].as_str())
                .unwrap_or_default()
                .to_string();
            if latest == DeploymentState::Inactive.as_str() {
                break;
            }
            // A failed release was never live: it keeps its state, so the environment's history shows it.
            if latest == DeploymentState::Failure.as_str()
                || latest == DeploymentState::Error.as_str()
            {
                continue;
            }
            self.deployment_status(
                id,
                DeploymentState::Inactive,
                None,
                &format!("replaced by deployment {current}"),
            )
            .await?;
            deactivated += 1;
        }
        Ok(deactivated)
    }

    /// `POST /repos/{owner}/{repo}/statuses/{sha}` on the status SHA (the PR head on `pull_request`).
    pub async fn post_status(&self, state: &str, description: &str) -> Result<()> {
        let mut body = json!({
            "state": state,
            "context": self.config.status_context,
            // GitHub keeps 140 characters of a status description; several RCs' names can make it longer.
            "description": super::markdown::truncate_plain(description, 140),
        });
        if let Some(url) = &self.run_url {
            body["target_url"] = json!(url);
        }
        let sha = &self.github.status_sha;
        self.request(
            Verb::PostIdempotent,
            &format!("/repos/{}/statuses/{sha}", self.repository),
            Some(&body),
            &format!("post the commit status to {}", short_sha(sha)),
            Permission::Statuses,
        )
        .await
        .map(drop)
    }

    /// The PRs to comment on: the event's PR on `pull_request`, the commit's open PRs with `comment: always`.
    pub async fn comment_targets(&self) -> Result<Vec<u64>> {
        if self.config.comment == CommentMode::Never {
            return Ok(vec![]);
        }
        let is_pr_event = matches!(
            self.github.event_name.as_str(),
            "pull_request" | "pull_request_target"
        );
        if is_pr_event {
            return Ok(self.github.pr_number.into_iter().collect());
        }
        if self.config.comment == CommentMode::Always {
            return self.associated_prs(&self.github.status_sha).await;
        }
        Ok(vec![])
    }

    /// `GET /repos/{owner}/{repo}/commits/{sha}/pulls`: the open PRs that contain the commit.
    pub async fn associated_prs(&self, sha: &str) -> Result<Vec<u64>> {
        let action = format!("list the pull requests of {}", short_sha(sha));
        let path = format!("/repos/{}/commits/{sha}/pulls", self.repository);
        let mut numbers = vec![];
        self.find_in_pages(&path, &action, Permission::PullRequestsRead, |items| {
            numbers.extend(
                items
                    .iter()
                    .filter(|pr| pr["state"].as_str().unwrap_or("open") == "open")
                    .filter_map(|pr| pr["number"].as_u64()),
            );
            None::<()>
        })
        .await?;
        numbers.sort_unstable();
        numbers.dedup();
        Ok(numbers)
    }

    /// Updates our comment on the PR (found by the marker and its author) or creates it. Returns its `html_url`.
    pub async fn upsert_comment(&self, pr: u64, body: &str) -> Result<Option<String>> {
        let login = self.own_login().await?;
        if let Some(&id) = self.our_comments(pr, &login, true).await?.first() {
            return self.update_comment(id, body).await;
        }
        let (created, url) = self.create_comment(pr, body).await?;
        // Another run may have created one at the same time: the oldest stays, the newer ones go.
        let ours = self.our_comments(pr, &login, false).await?;
        let Some(&oldest) = ours.iter().min() else {
            return Ok(url);
        };
        for &id in ours.iter().filter(|&&id| id != oldest) {
            self.delete_comment(id).await?;
        }
        if oldest == created {
            Ok(url)
        } else {
            self.update_comment(oldest, body).await
        }
    }

    /// The login whose comments are ours: the token's user (`GET /user`), or `github-actions[bot]` when the
    /// token may not read it (the workflow's own token is an installation token: 403). Looked up once.
    pub async fn own_login(&self) -> Result<String> {
        self.login
            .get_or_try_init(|| async {
                let user = self
                    .request(
                        Verb::Get,
                        "/user",
                        None,
                        "look up the token's user",
                        Permission::PullRequestsRead,
                    )
                    .await;
                match user {
                    Ok(user) => Ok(user["login"]
                        .as_str()
                        .filter(|l| !l.is_empty())
                        .unwrap_or(WORKFLOW_BOT)
                        .to_string()),
                    Err(ReportError::Forbidden { .. }) => Ok(WORKFLOW_BOT.to_string()),
                    Err(e) if e.status() == Some(404) => Ok(WORKFLOW_BOT.to_string()),
                    Err(e) => Err(e),
                }
            })
            .await
            .cloned()
    }

    /// The ids of the PR's comments that start with the marker and were written by `login`, oldest first;
    /// with `first_only`, stops at the first page that has one.
    pub async fn our_comments(&self, pr: u64, login: &str, first_only: bool) -> Result<Vec<u64>> {
        let action = format!("list the comments of pull request #{pr}");
        let path = format!("/repos/{}/issues/{pr}/comments", self.repository);
        let marker = &self.config.marker;
        let mut ids = vec![];
        self.find_in_pages(&path, &action, Permission::PullRequestsRead, |items| {
            ids.extend(
                items
                    .iter()
                    .filter(|c| is_ours(c, marker, login))
                    .filter_map(|c| c["id"].as_u64()),
            );
            (first_only && !ids.is_empty()).then_some(())
        })
        .await?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// `POST /repos/{owner}/{repo}/issues/{pr}/comments`. Returns the new comment's id and `html_url`.
    pub async fn create_comment(&self, pr: u64, body: &str) -> Result<(u64, Option<String>)> {
        let action = format!("comment on pull request #{pr}");
        let created = self
            .request(
                Verb::Post,
                &format!("/repos/{}/issues/{pr}/comments", self.repository),
                Some(&json!({ "body": body })),
                &action,
                Permission::PullRequestsWrite,
            )
            .await?;
        let id = created["id"]
            .as_u64()
            .ok_or_else(|| ReportError::Rejected {
                action,
                status: 201,
                message: "no comment id in the answer".into(),
                attempts: 1,
            })?;
        Ok((id, created["html_url"].as_str().map(str::to_string)))
    }

    /// `DELETE /repos/{owner}/{repo}/issues/comments/{id}`; one already gone (the other run deleted it) is fine.
    pub async fn delete_comment(&self, id: u64) -> Result<()> {
        let deleted = self
            .request(
                Verb::Delete,
                &format!("/repos/{}/issues/comments/{id}", self.repository),
                None,
                &format!("delete duplicate comment {id}"),
                Permission::PullRequestsWrite,
            )
            .await;
        match deleted {
            Err(e) if e.status() == Some(404) => Ok(()),
            other => other.map(drop),
        }
    }

    /// `PATCH /repos/{owner}/{repo}/issues/comments/{id}`.
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<Option<String>> {
        let updated = self
            .request(
                Verb::Patch,
                &format!("/repos/{}/issues/comments/{id}", self.repository),
                Some(&json!({ "body": body })),
                &format!("update comment {id}"),
                Permission::PullRequestsWrite,
            )
            .await?;
        Ok(updated["html_url"].as_str().map(str::to_string))
    }

    /// `POST /repos/{owner}/{repo}/deployments` (transient and not production for a preview). Returns its id.
    pub async fn create_deployment(
        &self,
        environment: &str,
        git_ref: &str,
        description: &str,
        preview: bool,
    ) -> Result<u64> {
        let action = format!("create a deployment to {environment:?}");
        let mut body = json!({
            "ref": git_ref,
            "environment": environment,
            "description": super::markdown::truncate_plain(description, 140),
            "auto_merge": false,
            "required_contexts": [],
        });
        if preview {
            // Otherwise GitHub's defaults: not transient, production when the environment is `production`.
            body["transient_environment"] = json!(true);
            body["production_environment"] = json!(false);
        }
        let created = self
            .request(
                Verb::Post,
                &format!("/repos/{}/deployments", self.repository),
                Some(&body),
                &action,
                Permission::Deployments,
            )
            .await?;
        created["id"].as_u64().ok_or_else(|| ReportError::Rejected {
            action,
            status: 202,
            attempts: 1,
            message: created["message"]
                .as_str()
                .unwrap_or("no deployment id in the answer")
                .to_string(),
        })
    }

    /// `POST /repos/{owner}/{repo}/deployments/{id}/statuses`.
    pub async fn deployment_status(
        &self,
        id: u64,
        state: DeploymentState,
        environment_url: Option<&str>,
        description: &str,
    ) -> Result<()> {
        let mut body = json!({
            "state": state.as_str(),
            "description": super::markdown::truncate_plain(description, 140),
        });
        if let Some(url) = environment_url {
            body["environment_url"] = json!(url);
        }
        if let Some(url) = &self.run_url {
            body["log_url"] = json!(url);
        }
        self.request(
            Verb::PostIdempotent,
            &format!("/repos/{}/deployments/{id}/statuses", self.repository),
            Some(&body),
            &format!("set deployment {id} to {}", state.as_str()),
            Permission::Deployments,
        )
        .await
        .map(drop)
    }

    /// Marks every deployment to `environment` inactive (the preview's PR closed). Returns how many.
    pub async fn deactivate_environment(&self, environment: &str) -> Result<usize> {
        let ids = self.deployment_ids(environment, true).await?;
        for &id in &ids {
            self.deployment_status(id, DeploymentState::Inactive, None, "preview removed")
                .await?;
        }
        Ok(ids.len())
    }

    /// `GET /repos/{owner}/{repo}/deployments?environment=…`: the ids, newest first; the first page only
    /// unless `all_pages`.
    async fn deployment_ids(&self, environment: &str, all_pages: bool) -> Result<Vec<u64>> {
        let action = format!("list the deployments to {environment:?}");
        let path = format!(
            "/repos/{}/deployments?environment={}",
            self.repository,
            query_escape(environment)
        );
        let mut ids = vec![];
        self.find_in_pages(&path, &action, Permission::Deployments, |items| {
            ids.extend(items.iter().filter_map(|d| d["id"].as_u64()));
            (!all_pages).then_some(())
        })
        .await?;
        Ok(ids)
    }

    /// GETs `path` a page at a time (PER_PAGE items, MAX_PAGES pages at most) and hands each page to `visit`
    /// until it returns `Some` or the pages run out.
    async fn find_in_pages<T>(
        &self,
        path: &str,
        action: &str,
        permission: Permission,
        mut visit: impl FnMut(&[Value]) -> Option<T>,
    ) -> Result<Option<T>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        for page in 1..=MAX_PAGES {
            let url = format!("{path}{separator}per_page={PER_PAGE}&page={page}");
            let list = self
                .request(Verb::Get, &url, None, action, permission)
                .await?;
            let items = as_array(list, action)?;
            if let Some(found) = visit(&items) {
                return Ok(Some(found));
            }
            if items.len() < PER_PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// One request, retried by the policy when `verb` is safe to repeat (see [`Verb::idempotent`]).
    async fn request(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        action: &str,
        permission: Permission,
    ) -> Result<Value> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failed = match self.attempt(verb, path, body, action).await? {
                Ok(value) => return Ok(value),
                Err(failed) => failed,
            };
            let wait = match (failed.transient, verb.idempotent()) {
                (Some(kind), true) => self.retry.wait(attempts, kind, failed.requested_wait),
                _ => None,
            };
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(failed.into_error(action, permission, attempts)),
            }
        }
    }

    /// Sends the request once. The outer error is final (transport, decoding); the inner one is GitHub's answer.
    async fn attempt(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        action: &str,
    ) -> Result<std::result::Result<Value, Failed>> {
        let transport = |source| ReportError::Transport {
            action: action.to_string(),
            source,
        };
        let response = match verb {
            Verb::Get => self.client._get(path).await,
            Verb::Post | Verb::PostIdempotent => self.client._post(path, body).await,
            Verb::Patch => self.client._patch(path, body).await,
            Verb::Delete => self.client._delete(path, body).await,
        }
        .map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = self
            .client
            .body_to_string(response)
            .await
            .map_err(transport)?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Ok(Value::Null));
            }
            return serde_json::from_str(&text)
                .map(Ok)
                .map_err(|source| ReportError::Decode {
                    action: action.to_string(),
                    source,
                });
        }
        let message = error_message(&text, &headers);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        Ok(Err(Failed {
            status,
            transient: transient(status, &headers, &message),
            requested_wait: requested_wait(&headers, now),
            message,
        }))
    }
}

/// An error answer from GitHub, before deciding whether to retry it.
struct Failed {
    status: StatusCode,
    transient: Option<Transient>,
    requested_wait: Option<Duration>,
    message: String,
}

impl Failed {
    fn into_error(self, action: &str, permission: Permission, attempts: u32) -> ReportError {
        let action = action.to_string();
        let status = self.status.as_u16();
        let message = self.message;
        match self.transient {
            Some(
                limit @ (Transient::SecondaryRateLimit
                | Transient::PrimaryRateLimit
                | Transient::TooManyRequests),
            ) => ReportError::RateLimited {
                action,
                kind: match limit {
                    Transient::SecondaryRateLimit => "secondary rate limit",
                    Transient::PrimaryRateLimit => "primary rate limit (no requests left)",
                    _ => "rate limit (429 Too Many Requests)",
                },
                status,
                message,
                attempts,
            },
            _ if status == 403 => ReportError::Forbidden {
                action,
                permission,
                message,
            },
            _ => ReportError::Rejected {
                action,
                status,
                message,
                attempts,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    /// A `POST` that creates something: never retried (a retry could create it twice).
    Post,
    /// A `POST` whose repetition changes nothing: a commit status or deployment status (the newest wins).
    PostIdempotent,
    Patch,
    Delete,
}

impl Verb {
    fn idempotent(self) -> bool {
        !matches!(self, Verb::Post)
    }
}

/// GitHub's `message` (and validation `errors`), or a problem+json `detail`, or the start of the body.
fn error_message(body: &str, headers: &http::HeaderMap) -> String {
    let mut message = match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let mut parts = vec![];
            for key in ["message", "title", "detail"] {
                if let Some(s) = v[key].as_str() {
                    parts.push(s.to_string());
                }
            }
            if let Some(errors) = v.get("errors").or_else(|| v.get("validation")) {
                parts.push(errors.to_string());
            }
            parts.join(": ")
        }
        Err(_) => body.chars().take(300).collect(),
    };
    // Prism puts request validation failures here when the spec has its own 422 body.
    if let Some(v) = headers.get("sl-violations").and_then(|v| v.to_str().ok()) {
        message.push_str(" (");
        message.push_str(v);
        message.push(')');
    }
    if message.chars().count() > 600 {
        message = message.chars().take(600).collect::<String>() + "…";
    }
    if message.is_empty() {
        "no message".to_string()
    } else {
        message
    }
}

fn as_array(value: Value, action: &str) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(ReportError::Rejected {
            action: action.to_string(),
            status: 200,
            attempts: 1,
            message: format!("expected a list, got {}", kind_of(&other)),
        }),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn github() -> GithubContext {
        GithubContext {
            token: Some(SecretString::from("ghs_secret_value")),
            repository: Some("acme/api".into()),
            api_url: "https://ghe.example.com/api/v3".into(),
            server_url: "https://ghe.example.com".into(),
            run_id: Some("9".into()),
            event_name: "push".into(),
            sha: "a".repeat(40),
            status_sha: "a".repeat(40),
            ..Default::default()
        }
    }

    fn config() -> ReportConfig {
        ReportConfig {
            status_context: default_status_context("prod", "api-rc"),
            comment: CommentMode::Auto,
            marker: markdown::marker("prod", "api-rc"),
            environment: Environment {
                name: "production".into(),
                preview: false,
            },
        }
    }

    #[test]
    fn local_runs_skip_reporting() {
        let mut g = github();
        g.token = None;
        assert!(skip_reason(&g).unwrap().contains("token"));
        let mut g = github();
        g.repository = None;
        assert_eq!(skip_reason(&g), Some("no GITHUB_REPOSITORY"));
        assert_eq!(skip_reason(&github()), None);
    }

    #[tokio::test]
    async fn reporter_debug_never_shows_the_token() {
        let reporter = Reporter::try_new(&github(), config()).unwrap();
        let debug = format!("{reporter:?}");
        assert!(!debug.contains("ghs_secret_value"), "{debug}");
        assert!(debug.contains("acme/api"));
        assert_eq!(
            reporter.run_url.as_deref(),
            Some("https://ghe.example.com/acme/api/actions/runs/9")
        );
    }

    #[test]
    fn states_for_results() {
        assert_eq!(status_state(ResultKind::NoOp), "success");
        assert_eq!(status_state(ResultKind::DryRun), "success");
        assert_eq!(status_state(ResultKind::Failure), "failure");
        assert_eq!(status_state(ResultKind::Cancelled), "error");
        assert_eq!(
            DeploymentState::for_result(ResultKind::Failure).as_str(),
            "failure"
        );
    }

    #[test]
    fn forbidden_names_the_permission() {
        let e = ReportError::Forbidden {
            action: "post the commit status to abc1234".into(),
            permission: Permission::Statuses,
            message: "Resource not accessible by integration".into(),
        };
        let w = e.warning();
        assert!(w.starts_with("failed to post the commit status"));
        assert!(w.contains("`statuses: write`"));
        assert!(w.contains("Resource not accessible by integration"));
    }

    #[test]
    fn error_messages_from_github_and_prism() {
        let empty = http::HeaderMap::new();
        assert_eq!(
            error_message(
                r#"{"message":"Validation Failed","errors":[{"field":"state"}]}"#,
                &empty
            ),
            r#"Validation Failed: [{"field":"state"}]"#
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "sl-violations",
            "body.state must be equal to one of".parse().unwrap(),
        );
        assert!(error_message("", &headers).contains("body.state must be"));
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("pr-7 preview&x"), "pr-7%20preview%26x");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn what_is_worth_retrying() {
        let none = http::HeaderMap::new();
        let code = |c: u16| StatusCode::from_u16(c).unwrap();
        assert_eq!(transient(code(502), &none, "x"), Some(Transient::Server));
        assert_eq!(
            transient(code(429), &none, "x"),
            Some(Transient::TooManyRequests)
        );
        assert_eq!(
            transient(code(403), &none, "You have exceeded a Secondary Rate Limit"),
            Some(Transient::SecondaryRateLimit)
        );
        let exhausted = headers(&[("x-ratelimit-remaining", "0")]);
        assert_eq!(
            transient(code(403), &exhausted, "API rate limit exceeded"),
            Some(Transient::PrimaryRateLimit)
        );
        assert_eq!(
            transient(code(403), &none, "Resource not accessible by integration"),
            None
        );
        assert_eq!(transient(code(422), &none, "Validation Failed"), None);
        assert_eq!(transient(code(404), &none, "Not Found"), None);
    }

    #[test]
    fn github_says_how_long_to_wait() {
        assert_eq!(
            requested_wait(&headers(&[("retry-after", "7")]), 1_000),
            Some(Duration::from_secs(7))
        );
        let reset = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1030"),
        ]);
        assert_eq!(requested_wait(&reset, 1_000), Some(Duration::from_secs(30)));
        assert_eq!(requested_wait(&reset, 2_000), Some(Duration::ZERO));
        // A reset with requests left is only information.
        let left = headers(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1030"),
        ]);
        assert_eq!(requested_wait(&left, 1_000), None);
    }

    #[test]
    fn backoff_doubles_is_capped_and_stops_after_three_retries() {
        let policy = RetryPolicy::default();
        let s = Duration::from_secs;
        let waits: Vec<_> = (1..=4)
            .map(|n| policy.wait(n, Transient::Server, None))
            .collect();
        assert_eq!(waits, [Some(s(1)), Some(s(2)), Some(s(4)), None]);
        assert_eq!(
            policy.wait(1, Transient::TooManyRequests, Some(s(20))),
            Some(s(20))
        );
        assert_eq!(
            policy.wait(1, Transient::PrimaryRateLimit, Some(s(600))),
            None
        );
        assert_eq!(
            policy.wait(1, Transient::SecondaryRateLimit, None),
            Some(s(60))
        );
        let short = RetryPolicy {
            max_wait: s(5),
            ..policy
        };
        assert_eq!(
            short.wait(1, Transient::SecondaryRateLimit, None),
            Some(s(5))
        );
    }

    #[test]
    fn only_the_markers_author_owns_the_comment() {
        let marker = markdown::marker("prod", "api-rc");
        let comment =
            |body: &str, login: &str| json!({"id": 1, "body": body, "user": {"login": login}});
        let ours = format!("{marker}\nreport");
        assert!(is_ours(
            &comment(&ours, "github-actions[bot]"),
            &marker,
            WORKFLOW_BOT
        ));
        assert!(!is_ours(&comment(&ours, "mallory"), &marker, WORKFLOW_BOT));
        assert!(!is_ours(
            &comment("LGTM", WORKFLOW_BOT),
            &marker,
            WORKFLOW_BOT
        ));
        assert!(!is_ours(
            &json!({"id": 1, "body": ours}),
            &marker,
            WORKFLOW_BOT
        ));
    }

    #[test]
    fn rate_limits_are_not_missing_permissions() {
        let e = Failed {
            status: StatusCode::FORBIDDEN,
            transient: Some(Transient::SecondaryRateLimit),
            requested_wait: None,
            message: "You have exceeded a secondary rate limit".into(),
        }
        .into_error("post the commit status to abc1234", Permission::Statuses, 4);
        let w = e.warning();
        assert_eq!(e.status(), Some(403));
        assert!(
            w.contains("GitHub's secondary rate limit (4 attempts)"),
            "{w}"
        );
        assert!(!w.contains("statuses: write"), "{w}");
    }
}
