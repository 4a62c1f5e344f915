//! Posting the report to GitHub: the commit status, the sticky PR comment, and (preview mode) Deployments.
//!
//! Reporting never decides the deploy. Every call here ends in a value: a warning that says what could not be
//! posted and, on 403, which `permissions:` entry the workflow needs (a fork's `pull_request` token is
//! read-only, and that must not turn a good deploy red). Requests are made with octocrab's raw methods so each
//! status code can be told apart, and so the comment update is the `PATCH` GitHub's API defines (octocrab's
//! `update_comment` sends `POST`). Retries are off: a retried `POST` could post a comment twice, and a status or
//! comment that fails once is a warning, not worth delaying the job for.

use std::time::Duration;

use http::StatusCode;
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::{actions, markdown};
use crate::inputs::{CommentMode, GithubContext, Settings};
use crate::outcome::{Outcome, ResultKind};

/// GitHub's page size limit; also what the comment and deployment lists ask for.
const PER_PAGE: usize = 100;
/// At most this many pages are read (10,000 comments); past that the marker search gives up and posts anew.
const MAX_PAGES: usize = 100;

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
    #[error("failed to {action}: GitHub answered {status}: {message}")]
    Rejected {
        action: String,
        status: u16,
        message: String,
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
}

impl ReportConfig {
    /// `namespace` is the resolved one (the settings may leave it to the kubeconfig).
    pub fn new(settings: &Settings, namespace: &str) -> Self {
        ReportConfig {
            status_context: settings
                .status_context
                .clone()
                .unwrap_or_else(|| default_status_context(namespace, &settings.rc)),
            comment: settings.comment,
            marker: markdown::marker(namespace, &settings.rc),
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
        })
    }

    pub fn config(&self) -> &ReportConfig {
        &self.config
    }

    /// Posts the `pending` status when the rollout starts.
    pub async fn pending(&self, description: &str) -> Result<()> {
        self.post_status("pending", description).await
    }

    /// Posts the final status and the sticky comment. Never fails: what could not be posted is a warning.
    pub async fn finish(&self, outcome: &Outcome, markdown: &str) -> ReportResult {
        let mut result = ReportResult::default();
        let state = status_state(outcome.result);
        if let Err(e) = self
            .post_status(state, &markdown::status_description(outcome))
            .await
        {
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
        result
    }

    /// `POST /repos/{owner}/{repo}/statuses/{sha}` on the status SHA (the PR head on `pull_request`).
    pub async fn post_status(&self, state: &str, description: &str) -> Result<()> {
        let mut body = json!({
            "state": state,
            "context": self.config.status_context,
            "description": description,
        });
        if let Some(url) = &self.run_url {
            body["target_url"] = json!(url);
        }
        let sha = &self.github.status_sha;
        self.request(
            Verb::Post,
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

    /// Updates our comment on the PR (found by the marker) or creates it. Returns its `html_url`.
    pub async fn upsert_comment(&self, pr: u64, body: &str) -> Result<Option<String>> {
        match self.find_comment(pr).await? {
            Some(id) => self.update_comment(id, body).await,
            None => self.create_comment(pr, body).await,
        }
    }

    /// The id of the first comment on the PR whose body starts with the marker; reads every page.
    pub async fn find_comment(&self, pr: u64) -> Result<Option<u64>> {
        let action = format!("list the comments of pull request #{pr}");
        let path = format!("/repos/{}/issues/{pr}/comments", self.repository);
        let marker = &self.config.marker;
        self.find_in_pages(&path, &action, Permission::PullRequestsRead, |items| {
            items
                .iter()
                .find(|c| {
                    c["body"]
                        .as_str()
                        .is_some_and(|b| b.trim_start().starts_with(marker))
                })
                .and_then(|c| c["id"].as_u64())
        })
        .await
    }

    /// `POST /repos/{owner}/{repo}/issues/{pr}/comments`.
    pub async fn create_comment(&self, pr: u64, body: &str) -> Result<Option<String>> {
        let created = self
            .request(
                Verb::Post,
                &format!("/repos/{}/issues/{pr}/comments", self.repository),
                Some(&json!({ "body": body })),
                &format!("comment on pull request #{pr}"),
                Permission::PullRequestsWrite,
            )
            .await?;
        Ok(created["html_url"].as_str().map(str::to_string))
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

    /// `POST /repos/{owner}/{repo}/deployments` for a preview environment. Returns the deployment id.
    pub async fn create_deployment(
        &self,
        environment: &str,
        git_ref: &str,
        description: &str,
    ) -> Result<u64> {
        let action = format!("create a deployment to {environment:?}");
        let created = self
            .request(
                Verb::Post,
                &format!("/repos/{}/deployments", self.repository),
                Some(&json!({
                    "ref": git_ref,
                    "environment": environment,
                    "description": description,
                    "auto_merge": false,
                    "required_contexts": [],
                    "transient_environment": true,
                    "production_environment": false,
                })),
                &action,
                Permission::Deployments,
            )
            .await?;
        created["id"].as_u64().ok_or_else(|| ReportError::Rejected {
            action,
            status: 202,
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
            Verb::Post,
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
        let action = format!("list the deployments to {environment:?}");
        let path = format!(
            "/repos/{}/deployments?environment={}",
            self.repository,
            query_escape(environment)
        );
        let mut ids = vec![];
        self.find_in_pages(&path, &action, Permission::Deployments, |items| {
            ids.extend(items.iter().filter_map(|d| d["id"].as_u64()));
            None::<()>
        })
        .await?;
        for &id in &ids {
            self.deployment_status(id, DeploymentState::Inactive, None, "preview removed")
                .await?;
        }
        Ok(ids.len())
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

    async fn request(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        action: &str,
        permission: Permission,
    ) -> Result<Value> {
        let transport = |source| ReportError::Transport {
            action: action.to_string(),
            source,
        };
        let response = match verb {
            Verb::Get => self.client._get(path).await,
            Verb::Post => self.client._post(path, body).await,
            Verb::Patch => self.client._patch(path, body).await,
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
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|source| ReportError::Decode {
                action: action.to_string(),
                source,
            });
        }
        let message = error_message(&text, &headers);
        let rate_limited = headers
            .get("x-ratelimit-remaining")
            .is_some_and(|v| v.as_bytes() == b"0");
        if status == StatusCode::FORBIDDEN && !rate_limited {
            return Err(ReportError::Forbidden {
                action: action.to_string(),
                permission,
                message,
            });
        }
        Err(ReportError::Rejected {
            action: action.to_string(),
            status: status.as_u16(),
            message,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Verb {
    Get,
    Post,
    Patch,
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
}
