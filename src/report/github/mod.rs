//! Posting the report to GitHub: the commit status, the sticky PR comment, and each run's Deployment.
//!
//! Reporting never decides the deploy. Every call here ends in a value: a warning that says what could not be
//! posted and, on 403, which `permissions:` entry the workflow needs (a fork's `pull_request` token is
//! read-only, and that must not turn a good deploy red).
//!
//! Split by GitHub domain, as octocrab is: [`statuses`], [`comments`] and [`deployments`] each say what they post
//! and why, over one transport in `client` (requests, retries, errors). Ids are newtypes ([`CommentId`],
//! [`DeploymentId`], [`PullNumber`]), so a comment id cannot be passed where a pull request number goes. This module
//! is the run's side: what to post and where ([`ReportConfig`]), and the three moments of a run (`start`,
//! `progress`, `finish`).

/// A newtype id, shown as its number: its own type, so that one kind of id (a comment's) cannot be passed where
/// another (a pull request's number) goes, as octocrab's models do.
macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

mod client;
pub mod comments;
pub mod deployments;
pub mod statuses;

use std::time::Duration;

use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use secrecy::ExposeSecret;

pub use client::{Permission, ReportError, Result, RetryPolicy};
pub use comments::{CommentId, PullNumber, WORKFLOW_BOT};
pub use deployments::{DeploymentId, DeploymentState};
pub use statuses::{default_status_context, status_state};

use super::{actions, markdown};
use crate::inputs::{CommentMode, GithubContext, Mode, Settings};
use crate::outcome::Outcome;

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
        let name = match (
            &settings.reporting.environment,
            settings.github.event.pull_request.number,
        ) {
            (Some(name), _) => name.clone(),
            (None, Some(pr)) if preview => crate::plan::preview::environment(pr),
            (None, _) => "production".to_string(),
        };
        ReportConfig {
            status_context: settings
                .reporting
                .status_context
                .clone()
                .unwrap_or_else(|| default_status_context(namespace, &settings.rc)),
            comment: settings.reporting.comment,
            marker: markdown::marker(namespace, &settings.rc),
            environment: Environment { name, preview },
        }
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
    deployment: std::sync::Mutex<Option<DeploymentId>>,
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
        let api_url = if github.urls.api.trim().is_empty() {
            "https://api.github.com"
        } else {
            github.urls.api.trim().trim_end_matches('/')
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
                &self.github.event.status_sha,
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
    pub fn deployment_id(&self) -> Option<DeploymentId> {
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
}

fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    use crate::inputs::{GithubEvent, GithubUrls};

    fn github() -> GithubContext {
        GithubContext {
            token: Some(SecretString::from("ghs_secret_value")),
            repository: Some("acme/api".into()),
            urls: GithubUrls {
                api: "https://ghe.example.com/api/v3".into(),
                server: "https://ghe.example.com".into(),
            },
            run_id: Some("9".into()),
            event: GithubEvent {
                name: "push".into(),
                sha: "a".repeat(40),
                status_sha: "a".repeat(40),
                ..Default::default()
            },
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
}
