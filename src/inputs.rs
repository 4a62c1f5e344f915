//! Inputs: the environment the Actions runner gives a docker action -> validated [`Settings`].
//!
//! Two stages, as ripgrep does with its flags: [`RawInputs`] is exactly what `envy` reads from `INPUT_*`
//! (strings, all optional), then [`Settings::from_env`] validates everything at once, before anything in the
//! cluster changes, and names the input and the fix in every error. Each input is defined once, in [`defs`]:
//! name, default, description and parser; action.yml and the docs are generated from there.

pub mod defs;
mod error;
mod github;
pub mod names;
mod raw;
mod values;
mod version;

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

pub use error::{InputError, Problem, Source};
pub use github::is_pull_request_event;
pub use raw::RawInputs;

/// An integer or a percentage of the desired replica count (`max_surge`, `max_unavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(i32),
    Percent(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Deploy,
    Preview,
    Cleanup,
    Rollback,
}

impl Mode {
    /// The input's word for this mode.
    pub fn as_str(self) -> &'static str {
        defs::MODES
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(word, _)| *word)
            .unwrap_or("deploy")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    Rollback,
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentMode {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionFrom {
    Sha,
    Timestamp,
    Tag,
}

/// `container=image`, or a bare image (container `None`) for single-container pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOverride {
    /// `<rc>:<container>=<image>`: only for that RC (with several RCs); `None`: every RC with that container.
    pub rc: Option<String>,
    pub container: Option<String>,
    pub image: String,
}

/// How several RCs are rolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// All at once, each with its own floor and ceiling.
    Parallel,
    /// One after another, in the order of input `rc`; a failure stops the rest.
    Sequential,
}

/// The GitHub context of the run.
#[derive(Debug, Clone, Default)]
pub struct GithubContext {
    pub token: Option<SecretString>,
    /// `owner/name`.
    pub repository: Option<String>,
    pub urls: GithubUrls,
    pub run_id: Option<String>,
    pub event: GithubEvent,
}

/// What the run was started for: the event, its commit and ref, and the pull request it is about. The commit
/// the action speaks about (`status_sha`) depends on the event, so they are read together.
#[derive(Debug, Clone, Default)]
pub struct GithubEvent {
    /// GITHUB_EVENT_NAME.
    pub name: String,
    /// GITHUB_SHA.
    pub sha: String,
    /// The commit the status goes to: pull_request.head.sha on pull_request events, else GITHUB_SHA.
    pub status_sha: String,
    pub git_ref: String,
    pub pull_request: PullRequestEvent,
}

/// Where GitHub answers, without a trailing `/`: the REST API (GITHUB_API_URL) and the web pages the report
/// links to (GITHUB_SERVER_URL). A GitHub Enterprise Server has its own of both.
#[derive(Debug, Clone, Default)]
pub struct GithubUrls {
    pub api: String,
    pub server: String,
}

/// The pull request of a `pull_request` or `pull_request_target` event; empty on every other event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullRequestEvent {
    pub number: Option<u64>,
    /// pull_request.action (opened, synchronize, closed, ...).
    pub action: Option<String>,
}

/// Validated settings for one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Kubeconfig content (raw YAML, base64 already decoded); `None`: KUBECONFIG, ~/.kube/config, in-cluster.
    pub kubeconfig: Option<SecretString>,
    pub context: Option<String>,
    /// `None`: the kubeconfig context's namespace, else `default`.
    pub namespace: Option<String>,
    /// Base RC name, e.g. `api-rc`: the first of `rcs`, the one this run's single-RC steps work on.
    pub rc: String,
    /// Every base RC name of input `rc` (one or more, in the order given).
    pub rcs: Vec<String>,
    /// The first of `manifests`.
    pub manifest: Option<PathBuf>,
    /// Every path of input `manifest` (one per line).
    pub manifests: Vec<PathBuf>,
    /// With several RCs: roll them all at once or one after another.
    pub order: Order,
    pub service_manifest: Option<PathBuf>,
    pub images: Vec<ImageOverride>,
    /// The resolved version (already a valid label value).
    pub version: String,
    pub version_label: String,
    pub replicas: Option<i32>,
    pub pace: Pace,
    pub deadlines: Deadlines,
    pub dry_run: bool,
    pub mode: Mode,
    pub reporting: Reporting,
    pub github: GithubContext,
}

/// How fast pods are replaced: the bounds around the desired count that the plan resolves into
/// [`crate::plan::Limits`], and how long a new pod must be ready before it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
    /// `None` when the input is not given: the RC's own `spec.minReadySeconds` applies.
    pub min_ready_seconds: Option<u32>,
}

/// When the rollout gives up, and what it leaves then: the rollback's time comes out of `timeout` when
/// `on_failure` is `rollback`, so the three are read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub progress_deadline: Duration,
    pub timeout: Duration,
    pub on_failure: OnFailure,
}

/// What the run tells GitHub beyond the job log: the commit status, the pull request comment, the Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporting {
    pub status_context: Option<String>,
    pub comment: CommentMode,
    /// The GitHub Deployment environment; `None`: `production`, or `pr-<N>` for previews.
    pub environment: Option<String>,
}

impl Settings {
    /// The settings of one RC of several: `rc` and `manifest` are that RC's, `images` the entries that apply to it
    /// (un-prefixed ones only where `has_container` says the RC has that container).
    pub fn for_rc(
        &self,
        rc: &str,
        manifest: Option<PathBuf>,
        has_container: impl Fn(&str) -> bool,
    ) -> Settings {
        let mut one = self.clone();
        one.rc = rc.to_string();
        one.rcs = vec![rc.to_string()];
        one.manifest = manifest.clone();
        one.manifests = manifest.into_iter().collect();
        one.images = self
            .images
            .iter()
            .filter(|i| match (&i.rc, &i.container) {
                (Some(r), _) => r == rc,
                (None, Some(c)) => has_container(c),
                (None, None) => true,
            })
            .map(|i| ImageOverride {
                rc: None,
                ..i.clone()
            })
            .collect();
        one
    }

    /// Reads and validates the inputs from the process environment (what the Actions runner set).
    pub fn from_process_env() -> Result<Settings, InputError> {
        // Non-UTF-8 variables can't be inputs of ours; skip them instead of panicking like `env::vars()`.
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Settings::from_env(vars)
    }

    /// Validates `INPUT_*` and `GITHUB_*` from `vars` (reading only the event file at GITHUB_EVENT_PATH) and
    /// reports every bad input at once.
    pub fn from_env(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, InputError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Settings::from_env_at(vars, now)
    }

    /// [`Settings::from_env`] with the clock given (for `version_from: timestamp`).
    pub fn from_env_at(
        vars: impl IntoIterator<Item = (String, String)>,
        now_unix: u64,
    ) -> Result<Settings, InputError> {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let raw = RawInputs::from_vars(vars.iter().cloned());
        let github_vars: std::collections::HashMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("GITHUB_"))
            .collect();
        raw.validate(&github_vars, now_unix)
    }
}

impl RawInputs {
    /// Stage two: every input through its definition's parser (in the order problems are reported), then the
    /// checks that span inputs.
    fn validate(
        &self,
        github_vars: &std::collections::HashMap<String, String>,
        now_unix: u64,
    ) -> Result<Settings, InputError> {
        use defs::*;
        use error::Problems;
        let mut problems = Problems::default();
        let p = &mut problems;

        let kubeconfig = self.parse(&KUBECONFIG, p).flatten();
        let context = self.parse(&CONTEXT, p).flatten();
        let namespace = self.parse(&NAMESPACE, p).flatten();
        let rcs = self.parse(&RC, p).flatten();
        let rc = rcs.as_ref().and_then(|r| r.first().cloned());
        let manifests = self.parse(&MANIFEST, p).flatten().unwrap_or_default();
        let manifest = manifests.first().cloned();
        let order = self.parse(&ORDER, p).flatten();
        let service_manifest = self.parse(&SERVICE_MANIFEST, p).flatten();
        let mode = self.parse(&MODE, p).flatten();
        let images = self.parse(&IMAGES, p).map(Option::unwrap_or_default);
        if let (Some(imgs), Some(m)) = (&images, mode) {
            if imgs.is_empty() && manifest.is_none() && matches!(m, Mode::Deploy | Mode::Preview) {
                p.push(Problem::input(
                    IMAGES.doc.name,
                    "is empty and no `manifest` is given, so there is nothing new to deploy; set `images` to `container=image` lines (or one bare image for a single-container pod), or pass a `manifest`",
                ));
            }
        }
        let version_label = self.parse(&VERSION_LABEL, p).flatten();
        let replicas = self.parse(&REPLICAS, p).flatten();
        let max_surge = self.parse(&MAX_SURGE, p).flatten();
        let max_unavailable = self.parse(&MAX_UNAVAILABLE, p).flatten();
        let is_zero =
            |v: IntOrPercent| matches!(v, IntOrPercent::Int(0) | IntOrPercent::Percent(0));
        if let (Some(s), Some(u)) = (max_surge, max_unavailable) {
            if is_zero(s) && is_zero(u) {
                p.push(Problem::input(
                    MAX_SURGE.doc.name,
                    "and `max_unavailable` are both 0, so the rollout could neither add a new pod nor remove an old one; set `max_surge: 1` (zero downtime, one extra pod) or `max_unavailable: 1`",
                ));
            }
        }
        // Unset and 0 differ: unset keeps the RC's own `spec.minReadySeconds`, an explicit value overrides it.
        let min_ready_seconds = self.parse(&MIN_READY_SECONDS, p);
        let progress_deadline = self.parse(&PROGRESS_DEADLINE, p).flatten();
        let timeout = self.parse(&TIMEOUT, p).flatten();
        let on_failure = self.parse(&ON_FAILURE, p).flatten();
        let dry_run = self.parse(&DRY_RUN, p).flatten();
        let comment = self.parse(&COMMENT, p).flatten();
        let version_from = self.parse(&VERSION_FROM, p).flatten();
        let environment = self.parse(&ENVIRONMENT, p).flatten();
        let token = self.parse(&GITHUB_TOKEN, p).flatten();
        let status_context = self.parse(&STATUS_CONTEXT, p).flatten();
        let github = p.take(github::context(github_vars, token));
        let explicit_version = self.parse(&VERSION, p).flatten();
        let version = match (&github, version_from) {
            (Some(gh), Some(from)) => p.take(version::resolve(
                explicit_version.as_deref(),
                from,
                gh,
                now_unix,
            )),
            _ => None,
        };

        if let Some(e) = InputError::from_problems(problems.0) {
            return Err(e);
        }
        // Every `None` below recorded a problem, so with none recorded all are present.
        let missing = || {
            InputError::Invalid(Problem::input(
                RC.doc.name,
                "internal: a value is missing after validation",
            ))
        };
        Ok(Settings {
            kubeconfig,
            context,
            namespace,
            rc: rc.ok_or_else(missing)?,
            rcs: rcs.ok_or_else(missing)?,
            manifest,
            manifests,
            order: order.ok_or_else(missing)?,
            service_manifest,
            images: images.ok_or_else(missing)?,
            version: version.ok_or_else(missing)?,
            version_label: version_label.ok_or_else(missing)?,
            replicas,
            pace: Pace {
                max_surge: max_surge.ok_or_else(missing)?,
                max_unavailable: max_unavailable.ok_or_else(missing)?,
                min_ready_seconds: min_ready_seconds.ok_or_else(missing)?,
            },
            deadlines: Deadlines {
                progress_deadline: progress_deadline.ok_or_else(missing)?,
                timeout: timeout.ok_or_else(missing)?,
                on_failure: on_failure.ok_or_else(missing)?,
            },
            dry_run: dry_run.ok_or_else(missing)?,
            mode: mode.ok_or_else(missing)?,
            reporting: Reporting {
                status_context,
                comment: comment.ok_or_else(missing)?,
                environment,
            },
            github: github.ok_or_else(missing)?,
        })
    }
}

#[cfg(test)]
mod tests;
