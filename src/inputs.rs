//! Inputs: the environment the Actions runner gives a docker action -> validated [`Settings`].
//!
//! Two stages, as ripgrep does with its flags: [`RawInputs`] is exactly what `envy` reads from `INPUT_*`
//! (strings, all optional), then [`Settings::from_env`] validates everything at once, before anything in the
//! cluster changes, and names the input and the fix in every error.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

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
    pub container: Option<String>,
    pub image: String,
}

/// The GitHub context of the run.
#[derive(Debug, Clone, Default)]
pub struct GithubContext {
    pub token: Option<SecretString>,
    /// `owner/name`.
    pub repository: Option<String>,
    pub api_url: String,
    pub server_url: String,
    pub run_id: Option<String>,
    pub event_name: String,
    /// GITHUB_SHA.
    pub sha: String,
    /// The commit the status goes to: pull_request.head.sha on pull_request events, else GITHUB_SHA.
    pub status_sha: String,
    pub git_ref: String,
    /// The pull request number on pull_request events.
    pub pr_number: Option<u64>,
    /// pull_request.action (opened, synchronize, closed, ...).
    pub pr_action: Option<String>,
}

/// Validated settings for one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Kubeconfig content (raw YAML, base64 already decoded); `None`: KUBECONFIG, ~/.kube/config, in-cluster.
    pub kubeconfig: Option<SecretString>,
    pub context: Option<String>,
    /// `None`: the kubeconfig context's namespace, else `default`.
    pub namespace: Option<String>,
    /// Base RC name, e.g. `api-rc`.
    pub rc: String,
    pub manifest: Option<PathBuf>,
    pub service_manifest: Option<PathBuf>,
    pub images: Vec<ImageOverride>,
    /// The resolved version (already a valid label value).
    pub version: String,
    pub version_label: String,
    pub replicas: Option<i32>,
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
    pub min_ready_seconds: u32,
    pub progress_deadline: Duration,
    pub timeout: Duration,
    pub on_failure: OnFailure,
    pub dry_run: bool,
    pub mode: Mode,
    pub status_context: Option<String>,
    pub comment: CommentMode,
    pub github: GithubContext,
}
