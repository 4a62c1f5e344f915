//! Going back: rolling back a failed update (`on_failure: rollback`) and an interrupted update to another
//! version. A rollback is the same loop with the roles swapped, so it keeps the same availability floor.

use std::collections::BTreeMap;
use std::time::Instant;

use k8s_openapi::api::core::v1::ReplicationController;

use super::converge::{converge, Ending, Pass};
use super::{kube_ops, Engine, Side};
use crate::outcome::AfterFailure;
use crate::plan::{annotations as ann, Limits};

/// The RC an interrupted update from `old` was heading to, if it is not `new_name`.
pub fn interrupted_target(old: &ReplicationController, new_name: &str) -> Option<String> {
    let next = old.metadata.annotations.as_ref()?.get(ann::NEXT)?;
    (next != new_name).then(|| next.clone())
}

fn original_replicas(rc: &ReplicationController) -> Option<i32> {
    rc.metadata
        .annotations
        .as_ref()?
        .get(ann::ORIGINAL_REPLICAS)?
        .parse()
        .ok()
}

/// What a rollback restores: the old RC's replica count before the run, and how many of its pods were available
/// then. A rollback is done when the old RC is back at `replicas` with at least `available` available pods: an
/// old pod that was already crash-looping before the run is not waited for (issue 12, case 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restore {
    pub replicas: i32,
    pub available: i32,
}

/// Restores `from` (the old RC) to `restore.replicas` as `to` (the failed new RC) goes to 0, then deletes `to`
/// and clears our annotations from `from`.
pub async fn roll_back(
    engine: &mut Engine,
    from: &mut Side,
    to: &mut Side,
    restore: Restore,
    limits: &Limits,
    deadline: Instant,
) -> anyhow::Result<AfterFailure> {
    let original = restore.replicas;
    engine.log(format!(
        "Rolling back: scaling {} back up to {original}, {} down to 0",
        from.name, to.name
    ));
    let back = Limits::resolve(
        original,
        crate::inputs::IntOrPercent::Int(limits.max_surge),
        crate::inputs::IntOrPercent::Int(limits.max_unavailable),
    );
    let pass = Pass {
        limits: back,
        required_available: restore.available,
        deadline,
        fail_fast: false,
    };
    match converge(engine, Some(to), from, pass).await? {
        Ending::Done => {
            kube_ops::delete(&engine.rcs, &to.name).await?;
            clear_marks(engine, &from.name).await?;
            engine.log(format!(
                "Rollback succeeded: {} is back at {original}, {} deleted",
                from.name, to.name
            ));
            Ok(AfterFailure::RolledBack {
                restored_replicas: original,
            })
        }
        Ending::Cancelled => Ok(AfterFailure::RollbackFailed {
            message: format!(
                "cancelled during rollback: {} at {}, {} at {}; re-run to resume",
                from.name, from.replicas, to.name, to.replicas
            ),
        }),
        Ending::Failed { summary, .. } => {
            let message = format!(
                "rollback did not complete ({summary}); {} at {} and {} at {} are left as they are",
                from.name, from.replicas, to.name, to.replicas
            );
            engine.log(message.clone());
            Ok(AfterFailure::RollbackFailed { message })
        }
    }
}

async fn clear_marks(engine: &mut Engine, name: &str) -> anyhow::Result<ReplicationController> {
    let marks: BTreeMap<&str, Option<String>> = [(ann::ORIGINAL_REPLICAS, None), (ann::NEXT, None)]
        .into_iter()
        .collect();
    kube_ops::annotate(&engine.rcs, name, &marks).await
}

/// Rolls back an interrupted update from `old` to `other` and returns the restored old RC, or `None` when the
/// run was cancelled meanwhile (left resumable: a cancellation, not a fault). The availability before the
/// interrupted run is not known: the rollback restores at least what both RCs have available now.
pub async fn roll_back_interrupted(
    engine: &mut Engine,
    old: &ReplicationController,
    other: &str,
    limits: &Limits,
) -> anyhow::Result<Option<ReplicationController>> {
    let mut from = Side::of(old);
    let original = original_replicas(old).unwrap_or(from.replicas);
    match kube_ops::get(&engine.rcs, other).await? {
        Some(other_rc) => {
            let mut to = Side::of(&other_rc);
            let now_available = engine.counts(&from).available + engine.counts(&to).available;
            let restore = Restore {
                replicas: original,
                available: now_available.min(original),
            };
            let deadline = engine.update_deadline();
            match roll_back(engine, &mut from, &mut to, restore, limits, deadline).await? {
                AfterFailure::RolledBack { .. } => {}
                _ if engine.is_cancelled() => return Ok(None),
                AfterFailure::RollbackFailed { message } | AfterFailure::Kept { hint: message } => {
                    anyhow::bail!(
                        "could not roll back the interrupted update to {other}: {message}"
                    )
                }
            }
        }
        None => {
            // The other RC is gone: only our marks are left on the old one.
            if from.replicas != original {
                kube_ops::scale(&engine.rcs, &from.name, original).await?;
            }
        }
    }
    let restored = clear_marks(engine, &from.name).await?;
    Ok(Some(restored))
}
