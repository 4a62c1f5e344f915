//! Going back: rolling back a failed update (`on_failure: rollback`) and an interrupted update to another
//! version. A rollback is the same loop with the roles swapped, so it keeps the same availability floor.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ReplicationController;

use super::converge::{converge, Ending};
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

/// Restores `from` (the old RC) to `original` replicas as `to` (the failed new RC) goes to 0, then deletes `to`
/// and clears our annotations from `from`.
pub async fn roll_back(
    engine: &mut Engine,
    from: &mut Side,
    to: &mut Side,
    original: i32,
    limits: &Limits,
) -> anyhow::Result<AfterFailure> {
    engine.log(format!(
        "Rolling back: scaling {} back up to {original}, {} down to 0",
        from.name, to.name
    ));
    let back = Limits::resolve(
        original,
        crate::inputs::IntOrPercent::Int(limits.max_surge),
        crate::inputs::IntOrPercent::Int(limits.max_unavailable),
    );
    match converge(engine, Some(to), from, back, false).await? {
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

/// Rolls back an interrupted update from `old` to `other` and returns the restored old RC.
pub async fn roll_back_interrupted(
    engine: &mut Engine,
    old: &ReplicationController,
    other: &str,
    limits: &Limits,
) -> anyhow::Result<ReplicationController> {
    let mut from = Side::of(old);
    let original = original_replicas(old).unwrap_or(from.replicas);
    match kube_ops::get(&engine.rcs, other).await? {
        Some(other_rc) => {
            let mut to = Side::of(&other_rc);
            match roll_back(engine, &mut from, &mut to, original, limits).await? {
                AfterFailure::RolledBack { .. } => {}
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
    Ok(restored)
}
