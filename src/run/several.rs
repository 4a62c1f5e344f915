//! Several ReplicationControllers in one step (an API and its worker): planned together, locked in a fixed
//! order, rolled at once or one after another, settled all or nothing, reported once.
//!
//! Why all or nothing: the RCs of one release depend on each other (the API speaks the worker's new protocol).
//! So no RC is finished (old RC deleted) until every RC has converged; when one fails, every RC that changed goes
//! back with `on_failure: rollback`, or all are left resumable with `keep`. Each RC keeps its own floor and
//! ceiling and is diagnosed on its own. A re-run resumes every RC from its own annotations, as a single-RC run does.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{ReplicationController, Service};

use super::preview::{clean_up, plan_service, prepare_preview, put_service, Scope};
use super::{fence, observe, take_lock, Run, Stop};
use crate::cluster::Cluster;
use crate::inputs::{Mode, OnFailure, Order, Settings};
use crate::outcome::{self, AfterFailure, Failure, Outcome, ResultKind};
use crate::plan::{self, Observed, Plan};
use crate::report::actions;
use crate::rollout::cluster_cache::ClusterCache;
use crate::rollout::{self, lock, Cancel, Engine, Executed, PodWatch, Rolled};

/// One RC of the run: its settings (scoped by [`Settings::for_rc`], and to its preview's base name in a
/// preview), its plan, and in a preview the preview Service to put in place before it rolls.
struct Part {
    rc: String,
    settings: Settings,
    plan: Plan,
    service: Option<Service>,
}

/// Names the RC in a refusal, so a list of RCs says which entry is wrong.
fn for_rc(rc: &str, stop: Stop) -> Stop {
    match stop {
        Stop::BadInput(message) => Stop::BadInput(format!("RC `{rc}`: {message}")),
        other => other,
    }
}

/// The containers of `rc`'s pod template, from its manifest or the live RC it would be built from.
fn containers_of(rc: &ReplicationController) -> BTreeSet<String> {
    rc.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|p| p.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default()
}

/// Plans every RC before anything is written: one bad entry refuses the whole run, naming the RC. With `pr`
/// (mode `preview`), each RC is planned as its own preview `<rc>-pr-<N>`, isolated from production, and its
/// preview Service derived; all are checked before any is created.
fn plan_all(
    settings: &Settings,
    pr: Option<u64>,
    namespace: &str,
    shared: &Observed,
    manifests: &[(PathBuf, ReplicationController)],
) -> Result<Vec<Part>, Stop> {
    let bad = |rc: &str, e: String| for_rc(rc, Stop::BadInput(e));
    if let (Some(_), Some(_)) = (pr, &settings.service_manifest) {
        return Err(Stop::BadInput(format!(
            "input `service_manifest`: it describes one preview Service, but input `rc` names several RCs ({}); remove it (each preview's Service is then derived from the production Service that selects its pods) or use one preview step per RC",
            settings.rcs.join(", ")
        )));
    }
    for image in &settings.images {
        if let Some(r) = &image.rc {
            if !settings.rcs.contains(r) {
                return Err(Stop::BadInput(format!(
                    "input `images`: `{r}:{}` names an RC that is not in input `rc` ({}); use one of those names",
                    image.container.as_deref().unwrap_or_default(),
                    settings.rcs.join(", ")
                )));
            }
        }
    }
    let mut parts = vec![];
    let mut used: BTreeSet<String> = BTreeSet::new();
    for rc in &settings.rcs {
        let manifest = manifests
            .iter()
            .find(|(_, m)| m.metadata.name.as_deref() == Some(rc.as_str()));
        let source = manifest.map(|(_, m)| m.clone()).or_else(|| {
            plan::current::find(rc, "", &shared.rcs)
                .ok()
                .and_then(|f| f.current)
        });
        let containers = source.as_ref().map(containers_of).unwrap_or_default();
        used.extend(containers.iter().cloned());
        let mut one = settings.for_rc(rc, manifest.map(|(p, _)| p.clone()), |c| {
            containers.contains(c)
        });
        let mut observed = Observed {
            manifest: manifest.map(|(_, m)| m.clone()),
            ..shared.clone()
        };
        let preview = match pr {
            Some(pr) => {
                let scope = Scope {
                    pr,
                    production_rc: rc.clone(),
                };
                one.rc = plan::preview::base_name(rc, pr);
                one.rcs = vec![one.rc.clone()];
                let labels =
                    prepare_preview(&one, &scope, &mut observed).map_err(|e| for_rc(rc, e))?;
                Some((scope, labels))
            }
            None => None,
        };
        let plan =
            plan::for_mode(&one, namespace, &observed).map_err(|e| bad(rc, e.to_string()))?;
        let service = match &preview {
            Some((scope, labels)) => {
                plan_service(&one, scope, &observed, &plan, labels).map_err(|e| for_rc(rc, e))?
            }
            None => None,
        };
        parts.push(Part {
            rc: rc.clone(),
            settings: one,
            plan,
            service,
        });
    }
    for image in settings.images.iter().filter(|i| i.rc.is_none()) {
        if let Some(c) = image.container.as_deref().filter(|c| !used.contains(*c)) {
            return Err(Stop::BadInput(format!(
                "input `images`: no RC of {} has a container `{c}`; write `<rc>:<container>=<image>` or use a container name they have ({})",
                settings.rcs.join(", "),
                used.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(parts)
}

/// Takes every RC's lock in name order (two runs over overlapping sets can't deadlock); on a refusal, releases
/// what it took. `names` are the base names the runs lock: the RCs', or their previews'.
async fn lock_all(
    cluster: &Cluster,
    settings: &Settings,
    names: &[String],
) -> Result<Vec<lock::LockGuard>, Stop> {
    let mut names = names.to_vec();
    names.sort();
    let mut guards = vec![];
    for rc in &names {
        match take_lock(cluster, settings, rc).await {
            Ok(guard) => guards.push(guard),
            Err(refused) => {
                for guard in guards {
                    guard.release().await;
                }
                return Err(refused);
            }
        }
    }
    Ok(guards)
}

/// Several RCs; `run.scope` is the pull request's in a preview or its cleanup.
pub(super) async fn deploy_several(run: Run<'_>) -> Result<Outcome, Stop> {
    let settings = run.settings;
    let pr = run.scope.map(|s| s.pr);
    // What each RC's run locks: its own base name, or its preview's (never the production RC's).
    let lock_names: Vec<String> = settings
        .rcs
        .iter()
        .map(|rc| match pr {
            Some(pr) => plan::preview::base_name(rc, pr),
            None => rc.clone(),
        })
        .collect();
    actions::group("Connecting to the cluster");
    let cluster = super::connect(settings).await?;
    actions::print_untrusted(&format!(
        "namespace {}; {} RCs: {}",
        cluster.namespace,
        settings.rcs.len(),
        settings.rcs.join(", ")
    ));
    actions::end_group();

    if let (Mode::Cleanup, Some(scope)) = (settings.mode, run.scope) {
        // Everything a PR's previews made carries its PR label: one cleanup removes every RC's preview, under
        // every preview's lock so that no preview of this PR is rolling meanwhile.
        let guards = if settings.dry_run {
            vec![]
        } else {
            lock_all(&cluster, settings, &lock_names).await?
        };
        let result = clean_up(settings, scope, &cluster, run.started).await;
        for guard in guards {
            guard.release().await;
        }
        return result;
    }

    actions::group("Planning");
    let mut manifests = vec![];
    for path in &settings.manifests {
        let m = plan::load_manifest(path).map_err(|e| Stop::BadInput(e.to_string()))?;
        manifests.push((path.clone(), m));
    }
    let mut no_manifest = settings.clone();
    no_manifest.manifest = None;
    // As for one RC (run/mod.rs): the cache of nodes and cluster-wide pods and the namespace's pod watch (one,
    // shared by every engine) start listing now, and the locks and the observation are taken at once; an
    // observation made while another run held a lock is made again under ours.
    let cache = Arc::new(ClusterCache::new(
        cluster.client.clone(),
        &cluster.namespace,
    ));
    let mut watch = None;
    if !settings.dry_run {
        cache.warm().await;
        watch = Some(PodWatch::start(cluster.client.clone(), &cluster.namespace));
    }
    let locking = async {
        match settings.dry_run {
            true => Ok(vec![]),
            false => lock_all(&cluster, settings, &lock_names).await,
        }
    };
    let (early, guards) = tokio::join!(observe(&cluster, &no_manifest), locking);
    let guards = guards?;
    let result = async {
        let shared = match guards.iter().any(|guard| guard.contended()) {
            true => observe(&cluster, &no_manifest).await?,
            false => early?,
        };
        let parts = plan_all(settings, pr, &cluster.namespace, &shared, &manifests)?;
        roll_planned(&run, &cluster, parts, &guards, Head { cache, watch }).await
    }
    .await;
    for guard in guards {
        guard.release().await;
    }
    result
}

/// What the run started before planning: the cluster-wide cache and the namespace's pod watch (none for a dry
/// run).
struct Head {
    cache: Arc<ClusterCache>,
    watch: Option<PodWatch>,
}

/// The planned RCs under their locks: a dry run's report, or the rollout.
async fn roll_planned(
    run: &Run<'_>,
    cluster: &Cluster,
    parts: Vec<Part>,
    guards: &[lock::LockGuard],
    head: Head,
) -> Result<Outcome, Stop> {
    let settings = run.settings;
    for part in &parts {
        if let Some(reason) = &part.plan.found.reason {
            actions::print_untrusted(&format!("{}: {reason}", part.rc));
        }
        for warning in &part.plan.warnings {
            actions::warning(&format!("{}: {warning}", part.rc));
        }
    }
    actions::end_group();
    if settings.dry_run {
        let mut outcomes = vec![];
        let mut environment_url = None;
        for part in &parts {
            actions::print_untrusted(&plan::render_dry_run(&part.plan));
            let o = super::dry_run_outcome(&part.settings, &part.plan, run.started);
            if let Some(service) = &part.service {
                let url = put_service(&part.settings, cluster, service).await?;
                environment_url.get_or_insert(url);
            }
            outcomes.push((part.rc.clone(), o));
        }
        let mut combined = outcome::combine(outcomes);
        combined.environment_url = environment_url;
        return Ok(combined);
    }

    let mut fenced = run.cancel.clone();
    for guard in guards {
        fenced = fence(fenced, guard.lost());
    }
    // One pending status and one Deployment for the release; the final report settles both.
    if let Some(reporter) = run.reporter {
        let targets: Vec<String> = parts
            .iter()
            .map(|p| p.plan.new_rc.metadata.name.clone().unwrap_or_default())
            .collect();
        for warning in reporter
            .start(&format!("rolling {}", targets.join(", ")))
            .await
        {
            actions::warning(&warning);
        }
    }
    {
        // Previews: every preview Service in place before its pods roll (all were checked when planning). The
        // release's URL is the first RC's that has one (the API's, not the worker's).
        let mut environment_url = None;
        for part in &parts {
            if let Some(service) = &part.service {
                let url = put_service(&part.settings, cluster, service).await?;
                environment_url.get_or_insert(url);
            }
        }
        let rolled = roll_all(cluster, settings, &parts, head, &fenced, run.started);
        let mut outcome = match run.reporter {
            // Live progress for the release as a whole, as for one RC (see run/progress.rs).
            Some(reporter) => {
                let targets = parts
                    .iter()
                    .map(|p| {
                        let name = p.plan.new_rc.metadata.name.clone().unwrap_or_default();
                        (name, p.plan.desired())
                    })
                    .collect();
                let watch = super::progress::watch(
                    reporter,
                    cluster.client.clone(),
                    &cluster.namespace,
                    targets,
                );
                tokio::select! {
                    biased;
                    outcome = rolled => outcome?,
                    never = watch => match never {},
                }
            }
            None => rolled.await?,
        };
        outcome.environment_url = environment_url;
        Ok(outcome)
    }
}

async fn roll_all(
    cluster: &Cluster,
    settings: &Settings,
    parts: &[Part],
    head: Head,
    cancel: &Cancel,
    started: Instant,
) -> Result<Outcome, Stop> {
    actions::group("Rolling update");
    // The engines of one run share one cache of nodes and cluster-wide pods (see rollout::cluster_cache) and one
    // pod watch of the namespace, started before planning; each counts the pods its RCs control.
    let Head { cache, watch } = head;
    let watch = watch.ok_or_else(|| {
        Stop::Fault(anyhow::anyhow!(
            "no pod watch was started for a run that rolls"
        ))
    })?;
    let mut engines = vec![];
    for part in parts {
        let engine = Engine::with_watch(
            cluster.client.clone(),
            watch.clone(),
            cache.clone(),
            &part.settings,
            cancel.clone(),
        )
        .await
        .map_err(Stop::Fault)?;
        engines.push(engine);
    }
    let rolled: Vec<Option<Rolled>> = match settings.order {
        Order::Parallel => {
            let runs = engines
                .iter_mut()
                .zip(parts)
                .map(|(engine, part)| rollout::roll(engine, &part.plan));
            futures::future::join_all(runs)
                .await
                .into_iter()
                .map(|r| r.map(Some))
                .collect::<anyhow::Result<_>>()?
        }
        Order::Sequential => {
            let mut out = vec![];
            let mut stop = false;
            for (engine, part) in engines.iter_mut().zip(parts) {
                if stop {
                    out.push(None);
                    continue;
                }
                let r = rollout::roll(engine, &part.plan).await?;
                stop = !matches!(
                    &r,
                    Rolled::Converged(_)
                        | Rolled::Ended(Executed {
                            result: ResultKind::NoOp | ResultKind::Success,
                            ..
                        })
                );
                out.push(Some(r));
            }
            out
        }
    };
    let any_failed = rolled.iter().any(|r| {
        matches!(r, Some(Rolled::Failed { .. }))
            || matches!(r, Some(Rolled::Ended(e)) if !matches!(e.result, ResultKind::NoOp | ResultKind::Success))
    });

    let mut outcomes = vec![];
    for ((engine, part), r) in engines.iter_mut().zip(parts).zip(rolled) {
        let executed = match r {
            None => Executed {
                result: ResultKind::Cancelled,
                summary: "not started: an RC before it failed (order: sequential)".into(),
                ready: 0,
                failure: Failure::default(),
                previous_rc_name: None,
            },
            Some(Rolled::Ended(executed)) => executed,
            Some(Rolled::Converged(mut pending)) if any_failed => {
                let after = settle_failed(engine, settings, &mut pending).await?;
                let summary = format!(
                    "{} converged, but another RC of this release failed",
                    pending.to.name
                );
                let ready = engine.counts(&pending.to).available;
                Executed::failed(summary, ready, None, after, &pending)
            }
            Some(Rolled::Converged(pending)) => rollout::finish(engine, &pending).await?,
            Some(Rolled::Failed {
                summary,
                diagnosis,
                ready,
                mut pending,
            }) => {
                let after = settle_failed(engine, settings, &mut pending).await?;
                Executed::failed(summary, ready, diagnosis, after, &pending)
            }
        };
        let o = super::executed_outcome(&part.settings, &part.plan, started, executed, engine);
        outcomes.push((part.rc.clone(), o));
    }
    actions::end_group();
    // The failing RC's diagnosis first (a stable sort keeps the input's order otherwise).
    let mut sorted = outcomes;
    sorted
        .sort_by_key(|(_, o)| !(o.result == ResultKind::Failure && o.failure.diagnosis.is_some()));
    let mut combined = outcome::combine(sorted);
    // The outputs keep describing the first RC of input `rc`, whatever the report's order.
    if let Some(first) = combined
        .rollouts
        .iter()
        .position(|l| l.rc == settings.rcs[0])
    {
        let line = combined.rollouts.remove(first);
        combined.rc_name = line.rc_name.clone();
        combined.previous_rc_name = line.previous_rc_name.clone();
        combined.version = line.version.clone();
        combined.rollouts.insert(0, line);
    }
    Ok(combined)
}

/// A failed release: every RC that changed goes back (`on_failure: rollback`), or is kept resumable (`keep`).
async fn settle_failed(
    engine: &mut Engine,
    settings: &Settings,
    pending: &mut rollout::Pending,
) -> Result<AfterFailure, Stop> {
    Ok(match settings.deadlines.on_failure {
        OnFailure::Rollback => rollout::undo(engine, pending).await?,
        OnFailure::Keep => rollout::keep_hint(engine, pending),
    })
}
