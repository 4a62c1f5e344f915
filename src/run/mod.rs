//! `run()`: inputs -> plan -> rollout -> diagnosis -> report, top to bottom.
//!
//! Every path ends in an [`Outcome`] that is reported the same way (log, job summary, outputs, commit status,
//! PR comment), except bad input, which is refused before anything else happens. The exit code is the
//! outcome's (see [`crate::exit`]).

mod preview;
mod progress;
mod report;
mod secrets;
mod several;

use preview::{clean_up, plan_service, prepare_preview, preview_scope, put_service, Scope};
use report::report;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;

use crate::cluster::{self, Cluster};
use crate::diagnosis;
use crate::exit;
use crate::inputs::{Mode, Settings};
use crate::outcome::{Outcome, Replicas, ResultKind, Timeline};
use crate::plan::{self, Observed, Plan};
use crate::report::actions;
use crate::report::github::{ReportConfig, Reporter};
use crate::rollout::cluster_cache::ClusterCache;
use crate::rollout::{self, lock, Cancel, Engine, PodWatch};

/// Reads the process environment and runs. Returns the exit code.
pub async fn run(cancel: Cancel) -> i32 {
    let settings = match Settings::from_process_env() {
        Ok(s) => s,
        Err(e) => {
            actions::error(&format!("{e}"));
            actions::eprint_untrusted(&format!("error: {e}"));
            return exit::BAD_INPUT;
        }
    };
    run_with(settings, cancel).await
}

/// A failure before or outside the rollout: bad input found late (exit 2), or a fault (exit 3), or the lock.
enum Stop {
    BadInput(String),
    Fault(anyhow::Error),
    Locked(lock::Held),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Fault(e)
    }
}

pub async fn run_with(settings: Settings, cancel: Cancel) -> i32 {
    secrets::protect(&settings);
    let started = Instant::now();
    let (settings, scope) = match preview_scope(settings) {
        Ok(scoped) => scoped,
        Err(e) => {
            actions::error(&e.to_string());
            actions::eprint_untrusted(&format!("error: {e}"));
            return exit::BAD_INPUT;
        }
    };
    let report_namespace = settings
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let reporter = Reporter::new(
        &settings.github,
        ReportConfig::new(&settings, &report_namespace),
    );

    let run = Run {
        settings: &settings,
        scope: scope.as_ref(),
        cancel: &cancel,
        reporter: reporter.as_ref(),
        started,
    };
    let (outcome, code) = match deploy(run).await {
        Ok(outcome) => {
            let code = outcome.result.exit_code();
            (outcome, code)
        }
        Err(Stop::BadInput(message)) => {
            actions::error(&message);
            actions::eprint_untrusted(&format!("error: {message}"));
            return exit::BAD_INPUT;
        }
        Err(Stop::Locked(held)) => {
            let message = held.to_string();
            actions::error(&message);
            (error_outcome(&settings, &message, started), exit::LOCKED)
        }
        Err(Stop::Fault(e)) => {
            let message = format!("{e:#}");
            actions::error(&message);
            (error_outcome(&settings, &message, started), exit::ERROR)
        }
    };
    let mut outcome = outcome;
    if outcome.rollouts.is_empty() {
        outcome.rollouts = vec![crate::outcome::RolloutLine::of(&settings.rc, &outcome)];
    }
    report(&settings, scope.as_ref(), reporter.as_ref(), &outcome).await;
    code
}

fn error_outcome(settings: &Settings, message: &str, started: Instant) -> Outcome {
    let namespace = settings.namespace.as_deref().unwrap_or("default");
    let rc_name = format!("{}-{}", settings.rc, settings.version);
    let summary = message.lines().next().unwrap_or(message).to_string();
    Outcome::bare(
        ResultKind::Error,
        namespace,
        &rc_name,
        &settings.version,
        summary,
        started.elapsed(),
    )
}

/// What planning reads (see [`cluster::observe`]), with its refusals as the run's.
async fn observe(cluster: &Cluster, settings: &Settings) -> Result<Observed, Stop> {
    cluster::observe::observe(cluster, settings)
        .await
        .map_err(|e| match e {
            cluster::observe::ObserveError::Fault(e) => Stop::Fault(e),
            bad => Stop::BadInput(bad.to_string()),
        })
}

/// What every path of a deploy is given: the settings, the pull request's scope (a preview or its cleanup), the
/// cancel signal, the reporter when the run reports to GitHub, and when the run started.
#[derive(Clone, Copy)]
struct Run<'a> {
    settings: &'a Settings,
    scope: Option<&'a Scope>,
    cancel: &'a Cancel,
    reporter: Option<&'a Reporter>,
    started: Instant,
}

async fn deploy(run: Run<'_>) -> Result<Outcome, Stop> {
    let settings = run.settings;
    if settings.rcs.len() > 1 {
        return several::deploy_several(run).await;
    }
    actions::group("Connecting to the cluster");
    let cluster = connect(settings).await?;
    actions::print_untrusted(&format!("namespace {}", cluster.namespace));
    actions::end_group();

    // One cache of nodes and cluster-wide pods for the whole run: the pre-flight check and every diagnosis share
    // it, and it stops when the run is over. Its lists start now, under the lock and the observation.
    let cluster_cache = Arc::new(ClusterCache::new(
        cluster.client.clone(),
        &cluster.namespace,
    ));
    if settings.mode != Mode::Cleanup {
        cluster_cache.warm().await;
    }
    // The engine's pod watch does not need the plan: its first list runs under the lock and the observation too.
    let pod_watch = match (settings.mode, settings.dry_run) {
        (Mode::Cleanup, _) | (_, true) => None,
        _ => Some(PodWatch::start(cluster.client.clone(), &cluster.namespace)),
    };
    // The lock and the observation at once (start-up is time users wait before anything moves). The plan is
    // made from this observation only if the lock was free at once; when another run held it, we look again.
    let observing = async {
        match settings.mode {
            Mode::Cleanup => None,
            _ => Some(observe(&cluster, settings).await),
        }
    };
    let locking = async {
        match settings.dry_run {
            true => None,
            false => Some(take_lock(&cluster, settings, &settings.rc).await),
        }
    };
    let (early, locked) = tokio::join!(observing, locking);
    let guard = locked.transpose()?;
    let early = match &guard {
        Some(guard) if guard.contended() => None,
        _ => early,
    };
    // Fencing: a lost lock stops the engine before its next write, exactly as a cancellation does.
    let fenced = match &guard {
        Some(guard) => fence(run.cancel.clone(), guard.lost()),
        None => run.cancel.clone(),
    };
    let head = Head {
        observed: early,
        cluster_cache,
        pod_watch,
    };
    let under_lock = Run {
        cancel: &fenced,
        ..run
    };
    let result = deploy_locked(under_lock, &cluster, head).await;
    if let Some(guard) = guard {
        guard.release().await;
    }
    result
}

/// Takes this run's lock on base name `rc`. A refusal is the run's stop: held by a live run (exit 5), no such
/// namespace (bad input), or a fault.
async fn take_lock(
    cluster: &Cluster,
    settings: &Settings,
    rc: &str,
) -> Result<lock::LockGuard, Stop> {
    let holder = lock::identity(
        settings.github.run_id.as_deref(),
        settings.github.repository.as_deref(),
    );
    match lock::acquire(cluster.client.clone(), &cluster.namespace, rc, &holder).await {
        Ok(Ok(guard)) => Ok(guard),
        Ok(Err(lock::Refused::Held(held))) => Err(Stop::Locked(held)),
        Ok(Err(lock::Refused::NoNamespace)) => Err(Stop::BadInput(
            cluster::observe::ObserveError::NoNamespace(cluster.namespace.clone()).to_string(),
        )),
        Err(e) => Err(Stop::Fault(e)),
    }
}

/// The cluster connection; a wrong `kubeconfig` input is bad input (exit 2), the rest a fault (exit 3).
async fn connect(settings: &Settings) -> Result<Cluster, Stop> {
    cluster::connect(settings).await.map_err(|e| {
        if e.is_bad_input() {
            Stop::BadInput(format!("{:#}", anyhow::Error::new(e)))
        } else {
            Stop::Fault(e.into())
        }
    })
}

/// A cancel signal that turns true when the run is cancelled or the lock is lost.
fn fence(mut cancel: Cancel, mut lost: tokio::sync::watch::Receiver<bool>) -> Cancel {
    let (tx, rx) = tokio::sync::watch::channel(*cancel.borrow() || *lost.borrow());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = cancel.changed() => if changed.is_err() { break },
                changed = lost.changed() => {
                    if changed.is_err() { break }
                    if *lost.borrow() {
                        actions::error("lost the lock (its renewals failed for longer than the lease allows, or another run took it over): stopping before the next write; the update is left resumable");
                    }
                }
            }
            if *cancel.borrow() || *lost.borrow() {
                let _ = tx.send(true);
                break;
            }
        }
    });
    rx
}

/// What the run read while it took the lock.
struct Head {
    /// The observation made meanwhile, if still valid (the lock was free at once).
    observed: Option<Result<Observed, Stop>>,
    /// The cluster-wide cache, already listing.
    cluster_cache: Arc<ClusterCache>,
    /// The namespace's pod watch, already listing (not for a dry run or a cleanup).
    pod_watch: Option<PodWatch>,
}

/// The run under its lock; its cancel signal is fenced by the lock.
async fn deploy_locked(run: Run<'_>, cluster: &Cluster, head: Head) -> Result<Outcome, Stop> {
    let Run {
        settings,
        scope,
        cancel,
        reporter,
        started,
    } = run;
    let Head {
        observed: early,
        cluster_cache,
        pod_watch,
    } = head;
    if let (Mode::Cleanup, Some(scope)) = (settings.mode, scope) {
        return clean_up(settings, scope, cluster, started).await;
    }
    actions::group("Planning");
    let mut observed = match early {
        Some(observed) => observed?,
        None => observe(cluster, settings).await?,
    };
    let preview_labels = match scope {
        Some(scope) => Some(prepare_preview(settings, scope, &mut observed)?),
        None => None,
    };
    let plan = plan::for_mode(settings, &cluster.namespace, &observed)
        .map_err(|e| Stop::BadInput(e.to_string()))?;
    let mut environment_url = None;
    if let (Some(scope), Some(production_labels)) = (scope, preview_labels) {
        if let Some(service) = plan_service(settings, scope, &observed, &plan, &production_labels)?
        {
            environment_url = Some(put_service(settings, cluster, &service).await?);
        }
    }
    if let Some(reason) = &plan.found.reason {
        actions::print_untrusted(reason);
    }
    for warning in &plan.warnings {
        actions::warning(warning);
    }
    if settings.dry_run {
        preflight(cluster, &cluster_cache, &plan, None).await;
        actions::end_group();
        actions::print_untrusted(&plan::render_dry_run(&plan));
        return Ok(dry_run_outcome(settings, &plan, started));
    }

    // The pre-flight check, the pending status on GitHub and the pod watch's first list do not depend on each
    // other: together, the first scale-up comes one round trip after planning instead of three.
    let description = format!(
        "rolling {} to {}",
        settings.rc,
        plan.new_rc.metadata.name.as_deref().unwrap_or_default()
    );
    let (report_warnings, engine) = tokio::join!(
        async {
            match reporter {
                Some(reporter) => reporter.start(&description).await,
                None => vec![],
            }
        },
        Engine::with_watch(
            cluster.client.clone(),
            pod_watch
                .unwrap_or_else(|| PodWatch::start(cluster.client.clone(), &cluster.namespace)),
            cluster_cache.clone(),
            settings,
            cancel.clone(),
        ),
    );
    let mut engine = engine.context("starting the rollout")?;
    // The pre-flight check reads the namespace's pods from the engine's watch and the cluster from the cache
    // warmed under the lock: only the namespace's events and quotas are read here.
    let namespace_pods = engine.namespace_pods();
    preflight(cluster, &cluster_cache, &plan, Some(namespace_pods)).await;
    actions::end_group();
    for warning in report_warnings {
        actions::warning(&warning);
    }

    actions::group("Rolling update");
    let executed = match reporter {
        Some(reporter) => {
            let new_rc = plan.new_rc.metadata.name.clone().unwrap_or_default();
            let watch = progress::watch(
                reporter,
                cluster.client.clone(),
                &cluster.namespace,
                vec![(new_rc, plan.desired())],
            );
            tokio::select! {
                biased;
                executed = rollout::execute(&mut engine, &plan) => executed,
                never = watch => match never {},
            }
        }
        None => rollout::execute(&mut engine, &plan).await,
    };
    actions::end_group();
    let executed = executed?;

    let mut outcome = executed_outcome(settings, &plan, started, executed, &mut engine);
    outcome.environment_url = environment_url;
    Ok(outcome)
}

/// The outcome of a plan the engine executed: the plan's names and images, the execution's result, the engine's
/// timeline.
fn executed_outcome(
    settings: &Settings,
    plan: &Plan,
    started: Instant,
    executed: rollout::Executed,
    engine: &mut Engine,
) -> Outcome {
    let mut outcome = base_outcome(settings, plan, started);
    outcome.result = executed.result;
    outcome.summary = executed.summary;
    outcome.replicas.ready = executed.ready;
    outcome.previous_rc_name = executed.previous_rc_name.or(outcome.previous_rc_name);
    outcome.failure = executed.failure;
    outcome.timeline = Timeline {
        duration: started.elapsed(),
        entries: std::mem::take(&mut engine.timeline),
    };
    outcome
}

/// Warnings before any change: surge pods that cannot fit, a quota without room.
async fn preflight(
    cluster: &Cluster,
    cache: &ClusterCache,
    plan: &Plan,
    namespace_pods: Option<Vec<Pod>>,
) {
    let Some(template) = plan.new_rc.spec.as_ref().and_then(|s| s.template.as_ref()) else {
        return;
    };
    let sources = rollout::snapshot::Sources {
        client: &cluster.client,
        namespace: &cluster.namespace,
        cluster: cache,
        namespace_pods,
        events: false,
    };
    let snap = rollout::snapshot::gather(
        sources,
        &plan.new_rc,
        plan.found.current.as_ref(),
        &plan.limits,
    )
    .await;
    for warning in diagnosis::preflight(&snap, template) {
        actions::warning(&format!("pre-flight: {warning}"));
    }
}

/// A dry run's outcome: what was planned, and for which mode.
fn dry_run_outcome(settings: &Settings, plan: &Plan, started: Instant) -> Outcome {
    let mut outcome = base_outcome(settings, plan, started);
    outcome.result = ResultKind::DryRun;
    outcome.summary = format!(
        "dry run: {} planned ({}), nothing changed",
        outcome.rc_name,
        plan.mode.as_str()
    );
    outcome
}

fn base_outcome(settings: &Settings, plan: &Plan, started: Instant) -> Outcome {
    Outcome {
        previous_rc_name: plan
            .found
            .current
            .as_ref()
            .and_then(|c| c.metadata.name.clone()),
        images: plan.images.clone(),
        replicas: Replicas {
            desired: plan.desired(),
            ready: 0,
        },
        ..Outcome::bare(
            ResultKind::Success,
            &plan.namespace,
            plan.new_rc.metadata.name.as_deref().unwrap_or_default(),
            &settings.version,
            String::new(),
            started.elapsed(),
        )
    }
}
