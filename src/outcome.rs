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

/// What a failed rollout leaves to report: why it failed, and what was done about it. Empty for every other
/// result; the rollout hands it to the outcome as one.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Failure {
    pub diagnosis: Option<Diagnosis>,
    pub after: Option<AfterFailure>,
}

/// One line of the scaling timeline, seconds since the rollout started.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimelineEntry {
    pub at: Duration,
    pub message: String,
}

/// The new RC's pods: the count it had to reach and the new pods available at the end. Several RCs report the sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Replicas {
    pub desired: i32,
    pub ready: i32,
}

/// How long the run took, and the scaling steps along the way.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Timeline {
    pub duration: Duration,
    pub entries: Vec<TimelineEntry>,
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
    pub replicas: Replicas,
    pub timeline: Timeline,
    /// One line, the gist: "3/3 ready in 41s", "progress deadline 5m exceeded", "cancelled by SIGTERM".
    pub summary: String,
    pub failure: Failure,
    /// Preview mode: where the preview can be reached.
    pub environment_url: Option<String>,
    /// One line per RC of the run (output `rollouts`); empty until the run fills it in.
    pub rollouts: Vec<RolloutLine>,
}

/// One RC's line of output `rollouts`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RolloutLine {
    pub rc: String,
    pub rc_name: String,
    pub previous_rc_name: Option<String>,
    pub version: String,
    pub result: ResultKind,
    pub duration_seconds: u64,
}

impl RolloutLine {
    pub fn of(rc: &str, outcome: &Outcome) -> RolloutLine {
        RolloutLine {
            rc: rc.to_string(),
            rc_name: outcome.rc_name.clone(),
            previous_rc_name: outcome.previous_rc_name.clone(),
            version: outcome.version.clone(),
            result: outcome.result,
            duration_seconds: outcome.timeline.duration.as_secs_f64().round() as u64,
        }
    }
}

impl ResultKind {
    /// How bad a result is, for the result of several RCs together: the worst one counts.
    fn severity(self) -> u8 {
        match self {
            ResultKind::DryRun => 0,
            ResultKind::NoOp => 1,
            ResultKind::Success => 2,
            ResultKind::Cancelled => 3,
            ResultKind::Failure => 4,
            ResultKind::Error => 5,
        }
    }
}

/// One outcome for several RCs, reported once: the worst result; the first RC's names (the outputs single-RC
/// users read stay the same); the failing RC's diagnosis and after-failure first; every RC's images and timeline,
/// each line naming its RC; one `rollouts` line per RC.
pub fn combine(parts: Vec<(String, Outcome)>) -> Outcome {
    let rollouts: Vec<RolloutLine> = parts.iter().map(|(rc, o)| RolloutLine::of(rc, o)).collect();
    let worst = parts
        .iter()
        .max_by_key(|(_, o)| o.result.severity())
        .map(|(rc, _)| rc.clone())
        .unwrap_or_default();
    let mut first = parts[0].1.clone();
    let failing = parts
        .iter()
        .find(|(rc, _)| *rc == worst)
        .map(|(_, o)| o.clone());
    first.result = failing.as_ref().map_or(first.result, |f| f.result);
    first.summary = parts
        .iter()
        .map(|(rc, o)| format!("{rc}: {}", o.summary))
        .collect::<Vec<_>>()
        .join("; ");
    if let Some(f) = &failing {
        first.failure = Failure {
            diagnosis: f.failure.diagnosis.clone(),
            after: parts
                .iter()
                .find_map(|(_, o)| o.failure.after.clone().filter(|_| o.result == f.result))
                .or(f.failure.after.clone()),
        };
    }
    first.images = parts
        .iter()
        .flat_map(|(rc, o)| {
            o.images.iter().map(move |i| ImageChange {
                container: format!("{rc}/{}", i.container),
                ..i.clone()
            })
        })
        .collect();
    let mut timeline: Vec<TimelineEntry> = parts
        .iter()
        .flat_map(|(rc, o)| {
            o.timeline.entries.iter().map(move |t| TimelineEntry {
                at: t.at,
                message: format!("{rc}: {}", t.message),
            })
        })
        .collect();
    timeline.sort_by_key(|t| t.at);
    first.timeline = Timeline {
        duration: parts
            .iter()
            .map(|(_, o)| o.timeline.duration)
            .max()
            .unwrap_or_default(),
        entries: timeline,
    };
    first.replicas = Replicas {
        desired: parts.iter().map(|(_, o)| o.replicas.desired).sum(),
        ready: parts.iter().map(|(_, o)| o.replicas.ready).sum(),
    };
    first.rollouts = rollouts;
    first
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
            replicas: Replicas::default(),
            timeline: Timeline {
                duration,
                entries: vec![],
            },
            summary,
            failure: Failure::default(),
            environment_url: None,
            rollouts: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(rc: &str, result: ResultKind, secs: u64) -> (String, Outcome) {
        let mut o = Outcome::bare(
            result,
            "ns",
            &format!("{rc}-v2"),
            "v2",
            format!("{rc} {}", result.as_str()),
            Duration::from_secs(secs),
        );
        o.images = vec![ImageChange {
            container: "app".into(),
            old: Some("a:1".into()),
            new: "a:2".into(),
        }];
        o.timeline.entries = vec![TimelineEntry {
            at: Duration::from_secs(secs),
            message: "step".into(),
        }];
        (rc.to_string(), o)
    }

    /// Issue 16: one outcome for several RCs, the worst result, every RC named, one `rollouts` line each.
    #[test]
    fn several_outcomes_combine_into_the_worst_with_a_line_per_rc() {
        let c = combine(vec![
            part("api-rc", ResultKind::Success, 10),
            part("worker-rc", ResultKind::Failure, 4),
        ]);
        assert_eq!(c.result, ResultKind::Failure);
        assert_eq!(
            c.rc_name, "api-rc-v2",
            "the first RC's names stay the outputs'"
        );
        assert_eq!(c.timeline.duration, Duration::from_secs(10));
        assert!(
            c.summary.contains("api-rc: api-rc success")
                && c.summary.contains("worker-rc: worker-rc failure")
        );
        assert_eq!(
            c.images
                .iter()
                .map(|i| i.container.as_str())
                .collect::<Vec<_>>(),
            ["api-rc/app", "worker-rc/app"]
        );
        assert_eq!(
            c.timeline.entries[0].message, "worker-rc: step",
            "sorted by time"
        );
        assert_eq!(c.rollouts.len(), 2);
        assert_eq!(c.rollouts[1].result, ResultKind::Failure);
        let json = serde_json::to_string(&c.rollouts).unwrap();
        assert!(json.starts_with(r#"[{"rc":"api-rc","rc_name":"api-rc-v2","previous_rc_name":null,"version":"v2","result":"success","duration_seconds":10}"#), "{json}");
    }
}
