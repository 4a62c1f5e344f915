//! The loop: scale `to` up within the surge limit, scale `from` down as `to`'s pods become available, never
//! below the availability floor. Driven by pod changes (a watch), not by sleeps.
//!
//! Progress is any gain in available `to` pods or any scale step; it resets the progress deadline. When `to`'s
//! pods are stuck, the engine asks the diagnosis every few seconds; a cause that cannot resolve itself for
//! [`FAIL_FAST_GRACE`] ends the rollout at once instead of waiting for the deadline.

use std::time::{Duration, Instant};

use super::{decide, kube_ops, snapshot, Engine, Side};
use crate::diagnosis::{self, Diagnosis};
use crate::plan::Limits;

/// How long a fatal diagnosis must hold before the rollout fails fast.
pub const FAIL_FAST_GRACE: Duration = Duration::from_secs(6);
/// How long `to` must be without progress before the first diagnosis, and how often it repeats.
const DIAGNOSE_AFTER: Duration = Duration::from_secs(2);
const DIAGNOSE_EVERY: Duration = Duration::from_secs(2);

/// How the loop ended.
#[derive(Debug)]
pub enum Ending {
    Done,
    Failed {
        summary: String,
        diagnosis: Option<Diagnosis>,
    },
    Cancelled,
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// What one pass of the loop must reach, and by when.
#[derive(Debug, Clone, Copy)]
pub struct Pass {
    pub limits: Limits,
    /// Available `to` pods that finish the pass (see [`decide::View::required_available`]).
    pub required_available: i32,
    /// The run's timeout as it applies to this pass (an update leaves the rollback its budget).
    pub deadline: Instant,
    /// Stop early on a fatal diagnosis (off while rolling back: we restore whatever we can).
    pub fail_fast: bool,
}

/// Converges to `to.replicas == limits.desired` (available) and `from.replicas == 0`.
pub async fn converge(
    engine: &mut Engine,
    mut from: Option<&mut Side>,
    to: &mut Side,
    pass: Pass,
) -> anyhow::Result<Ending> {
    let Pass {
        limits, fail_fast, ..
    } = pass;
    let mut last_progress = Instant::now();
    let mut best_available = -1;
    let mut fatal_since: Option<Instant> = None;
    let mut last_diagnosis_at: Option<Instant> = None;
    let mut slowest_startup = Duration::ZERO;

    loop {
        if engine.is_cancelled() {
            return Ok(Ending::Cancelled);
        }
        // One read of the cache per decision: it is made on every burst of pod events.
        let pods = engine.pods();
        let to_pods = super::controlled_by(&pods, to);
        let counts = engine.count(&to_pods);
        if counts.available > best_available {
            best_available = counts.available;
            last_progress = Instant::now();
            fatal_since = None;
        }
        let view = decide::View {
            from: from.as_deref().map(|f| {
                let c = engine.count(&super::controlled_by(&pods, f));
                decide::SideView {
                    replicas: f.replicas,
                    live: c.live,
                    available: c.available,
                }
            }),
            to: decide::SideView {
                replicas: to.replicas,
                live: counts.live,
                available: counts.available,
            },
            limits,
            required_available: pass.required_available,
        };
        match decide::decide(&view) {
            decide::Decision::Done => return Ok(Ending::Done),
            decide::Decision::Scale { to: up, from: down } => {
                // The lock may have been lost since the last write: never write without it.
                if engine.is_cancelled() {
                    return Ok(Ending::Cancelled);
                }
                if up != to.replicas {
                    kube_ops::scale(&engine.rcs, &to.name, up).await?;
                    to.replicas = up;
                    engine.log(format!(
                        "Scaling {} up to {up} ({}/{} available)",
                        to.name, counts.available, limits.desired
                    ));
                }
                if let (Some(f), Some(down)) = (from.as_deref_mut(), down) {
                    kube_ops::scale(&engine.rcs, &f.name, down).await?;
                    f.replicas = down;
                    engine.log(format!(
                        "Scaling {} down to {down} ({} has {}/{} available)",
                        f.name, to.name, counts.available, limits.desired
                    ));
                }
                last_progress = Instant::now();
                continue;
            }
            decide::Decision::Wait => {}
        }
        // No step possible: wait, watch the deadlines, and diagnose when stuck.
        let stalled_for = last_progress.elapsed();
        if stalled_for >= engine.progress_deadline {
            let d = diagnose(engine, from.as_deref(), to, &limits).await;
            let cause = d.headline().map(|h| format!(": {h}")).unwrap_or_default();
            return Ok(Ending::Failed {
                summary: format!(
                    "progress deadline {} exceeded: {}/{} new pods available{cause}",
                    human(engine.progress_deadline),
                    counts.available,
                    limits.desired
                ),
                diagnosis: Some(d),
            });
        }
        if Instant::now() >= pass.deadline {
            let d = diagnose(engine, from.as_deref(), to, &limits).await;
            return Ok(Ending::Failed {
                summary: format!(
                    "timeout {} exceeded while still progressing: {}/{} new pods available",
                    human(engine.timeout),
                    counts.available,
                    limits.desired
                ),
                diagnosis: Some(d),
            });
        }
        // Diagnose only when something looks wrong: a pod shows trouble, the RC has not created its pods, or no
        // progress for twice the slowest start-up seen. A healthy slow rollout makes no diagnosis requests.
        for p in &to_pods {
            if let Some(t) = super::availability::startup_time(p) {
                slowest_startup = slowest_startup.max(t);
            }
        }
        let trouble = to_pods
            .iter()
            .any(|p| super::availability::shows_trouble(p))
            || counts.live < to.replicas;
        let patience = DIAGNOSE_AFTER.max(slowest_startup * 2);
        let stuck = counts.available < to.replicas
            && stalled_for >= DIAGNOSE_AFTER
            && (trouble || stalled_for >= patience);
        if stuck && last_diagnosis_at.is_none_or(|t| t.elapsed() >= DIAGNOSE_EVERY) {
            last_diagnosis_at = Some(Instant::now());
            let d = diagnose(engine, from.as_deref(), to, &limits).await;
            if d.is_fatal() {
                let since = *fatal_since.get_or_insert_with(Instant::now);
                if fail_fast && since.elapsed() >= FAIL_FAST_GRACE {
                    let headline = d
                        .headline()
                        .unwrap_or("the new pods cannot become available")
                        .to_string();
                    engine.log(format!("Stopping early: {headline}"));
                    return Ok(Ending::Failed {
                        summary: format!("stalled: {headline}"),
                        diagnosis: Some(d),
                    });
                }
            } else {
                fatal_since = None;
            }
            engine.last_diagnosis = Some(d);
        }

        let mut wait = Duration::from_secs(2);
        wait = wait.min(engine.progress_deadline.saturating_sub(stalled_for));
        wait = wait.min(pass.deadline.saturating_duration_since(Instant::now()));
        if let Some(next) = super::availability::next_availability_in(
            &to_pods,
            engine.min_ready,
            k8s_openapi::jiff::Timestamp::now(),
        ) {
            wait = wait.min(next + Duration::from_millis(50));
        }
        engine
            .wait_for_change(wait.max(Duration::from_millis(10)))
            .await;
    }
}

async fn diagnose(
    engine: &mut Engine,
    from: Option<&Side>,
    to: &Side,
    limits: &Limits,
) -> Diagnosis {
    let to_rc = kube_ops::get(&engine.rcs, &to.name).await.ok().flatten();
    let from_rc = match from {
        Some(f) => kube_ops::get(&engine.rcs, &f.name).await.ok().flatten(),
        None => None,
    };
    let Some(to_rc) = to_rc else {
        return Diagnosis::default();
    };
    let sources = snapshot::Sources {
        client: &engine.client,
        namespace: &engine.namespace,
        cluster: &engine.cluster,
        namespace_pods: Some(engine.namespace_pods()),
        events: true,
    };
    let snap = snapshot::gather(sources, &to_rc, from_rc.as_ref(), limits).await;
    diagnosis::diagnose(&snap)
}
