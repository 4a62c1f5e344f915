//! What a run ended with. These are values, not errors: each is diagnosed (where it failed) and reported.

use std::time::Duration;

use crate::diagnosis::Diagnosis;

/// How the rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultKind {
    /// Every new pod is available and the old RC is gone.
    Success,
    /// Nothing to do: the requested version is already deployed and available.
    NoOp,
    /// `dry_run`: the plan was printed, nothing changed.
    DryRun,
    /// The rollout failed (deadline, fail-fast diagnosis); see `rollback`.
    Failure,
    /// The run could not do its work (cluster fault, forbidden, lock held).
    Error,
    /// SIGTERM/SIGINT: scaling stopped, state left resumable.
    Cancelled,
}

impl ResultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultKind::Success => "success",
            ResultKind::NoOp => "no_op",
            ResultKind::DryRun => "dry_run",
            ResultKind::Failure => "failure",
            ResultKind::Error => "error",
            ResultKind::Cancelled => "cancelled",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            ResultKind::Success | ResultKind::NoOp | ResultKind::DryRun => crate::exit::SUCCESS,
            ResultKind::Failure => crate::exit::ROLLOUT_FAILED,
            ResultKind::Error => crate::exit::ERROR,
            ResultKind::Cancelled => crate::exit::CANCELLED,
        }
    }
}

/// What happened after a failure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterFailure {
    /// `on_failure: rollback`: the old RC was restored to this many replicas and the new RC deleted.
    RolledBack { restored_replicas: i32 },
    /// `on_failure: keep`: both RCs left as they are; `hint` says how to resume or roll back.
    Kept { hint: String },
    /// Rollback was attempted and failed; the message says what state is left.
    RollbackFailed { message: String },
}

/// One line of the scaling timeline, seconds since the rollout started.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimelineEntry {
    pub at: Duration,
    pub message: String,
}

/// Old and new image of one container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageChange {
    pub container: String,
    pub old: Option<String>,
    pub new: String,
}

/// Everything the report needs to know about a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub result: ResultKind,
    pub namespace: String,
    /// The RC that now serves (or would serve) the new version, e.g. `api-rc-1a2b3c4`.
    pub rc_name: String,
    /// The RC that was replaced, if any.
    pub previous_rc_name: Option<String>,
    pub version: String,
    pub images: Vec<ImageChange>,
    pub desired_replicas: i32,
    /// New pods available at the end.
    pub ready_replicas: i32,
    pub duration: Duration,
    pub timeline: Vec<TimelineEntry>,
    /// One line, the gist: "3/3 ready in 41s", "progress deadline 5m exceeded", "cancelled by SIGTERM".
    pub summary: String,
    pub diagnosis: Option<Diagnosis>,
    pub after_failure: Option<AfterFailure>,
    /// Preview mode: where the preview can be reached.
    pub environment_url: Option<String>,
}

impl Outcome {
    /// An outcome with no rollout behind it (a fault before it started, a preview cleanup): no images, no
    /// pods, no timeline. Callers fill in what they know beyond that.
    pub fn bare(
        result: ResultKind,
        namespace: &str,
        rc_name: &str,
        version: &str,
        summary: String,
        duration: Duration,
    ) -> Outcome {
        Outcome {
            result,
            namespace: namespace.to_string(),
            rc_name: rc_name.to_string(),
            previous_rc_name: None,
            version: version.to_string(),
            images: vec![],
            desired_replicas: 0,
            ready_replicas: 0,
            duration,
            timeline: vec![],
            summary,
            diagnosis: None,
            after_failure: None,
            environment_url: None,
        }
    }
}
