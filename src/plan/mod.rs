//! The plan: pure, no I/O once the current cluster objects are read.
//!
//! From the settings and what the cluster holds ([`Observed`]) it decides which RC is current, builds the new
//! versioned RC (`<rc>-<version>`, the version label in selector and template, our annotations), checks the
//! selector and Service rules that `kubectl rolling-update` users got wrong, and resolves the scaling limits.
//! Everything that would break is refused here, before the cluster changes, with the fix spelled out.

pub mod annotations;
mod autoscalers;
mod build;
pub mod current;
mod dry_run;
mod error;
mod manifest;
pub mod naming;
pub mod preview;
pub mod rollback;
pub mod selectors;
pub mod services;
pub mod spec;
pub mod steps;

use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ReplicationController, Service};

use crate::inputs::{Mode, Settings};
use crate::outcome::ImageChange;
pub use build::build;
pub use dry_run::render_dry_run;
pub use error::PlanError;
pub use manifest::{load_manifest, parse_manifest};
pub use selectors::Migration;
pub use steps::Limits;

/// What the cluster holds, read once before planning.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Every RC in the namespace.
    pub rcs: Vec<ReplicationController>,
    /// Every Service in the namespace.
    pub services: Vec<Service>,
    /// The parsed `manifest` input, if given.
    pub manifest: Option<ReplicationController>,
    /// Every HorizontalPodAutoscaler of the namespace (empty when the credentials may not list them; the run
    /// warns then).
    pub autoscalers: Vec<HorizontalPodAutoscaler>,
}

/// The validated plan for one run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub namespace: String,
    /// The RCs already there that the plan is about: the one serving now (`None` on a first deploy), why it was
    /// picked (several candidates after an interrupted update), and one already named like the new RC (an
    /// interrupted update to the same version, or already deployed). Kept together as [`current::find`] found
    /// them, so a rollback's plan names them the same way.
    pub found: current::Found,
    /// The new RC to create, complete: name, labels, selector, template, annotations, `spec.replicas = 0`.
    pub new_rc: ReplicationController,
    /// Replicas the new RC must reach (`desired`), and how far above and below it the rollout may go.
    pub limits: Limits,
    pub migration: Option<Migration>,
    pub images: Vec<ImageChange>,
    /// Non-fatal warnings ("no Service selects these pods").
    pub warnings: Vec<String>,
    /// `mode: rollback` met an interrupted or kept update: roll that update back (restore `current`, remove the
    /// RC it was heading to) instead of rolling to an older version.
    pub abort_interrupted: bool,
    /// What the plan is for (`deploy`, `rollback`, `preview`): the run executes every plan the same way, and
    /// says which it was.
    pub mode: Mode,
}

impl Plan {
    /// Replicas the new RC must reach: the limits were resolved around it, so they hold the one count.
    pub fn desired(&self) -> i32 {
        self.limits.desired
    }
}

/// Why there is no plan: the deploy's checks or the rollback's. Nothing in the cluster was changed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Rollback(#[from] rollback::RollbackError),
}

/// The plan for the run's mode: a rollback's for `mode: rollback`, a deploy's otherwise (a preview deploys its
/// isolated source, prepared into `observed.manifest`). The run only executes what this returns.
pub fn for_mode(
    settings: &Settings,
    namespace: &str,
    observed: &Observed,
) -> Result<Plan, Refusal> {
    let mut plan = match settings.mode {
        Mode::Rollback => rollback::build(settings, namespace, observed)?,
        _ => build(settings, namespace, observed)?,
    };
    plan.mode = settings.mode;
    Ok(plan)
}

#[cfg(test)]
mod tests;
