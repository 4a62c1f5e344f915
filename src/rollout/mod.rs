//! The rolling update engine: zero downtime, honest deadlines, resume, rollback.
//!
//! kubectl rolling-update's arithmetic ([`crate::plan::steps`]) driven by a watch on the namespace's pods
//! instead of one-minute sleeps: every pod change wakes the loop, so the rollout goes as fast as the pods
//! become ready. Every step is written to the RCs' annotations first, so a run killed at any point is resumed
//! by the next run ([`resume`]). A rollout that cannot finish is an outcome, diagnosed and then rolled back
//! or kept as the user asked; `Err` is kept for faults of the cluster connection itself.

pub mod availability;
pub mod cluster_cache;
mod converge;
pub mod decide;
pub mod kube_ops;
pub mod lock;
mod logs;
mod migrate;
pub mod preview;
mod resume;
pub mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, PostParams};
use kube::runtime::{reflector, watcher, WatchStreamExt as _};
use tokio::sync::watch;

use crate::diagnosis::Diagnosis;
use crate::inputs::{OnFailure, Settings};
use crate::outcome::{AfterFailure, Failure, ResultKind, TimelineEntry};
use crate::plan::{annotations as ann, Plan};
pub use converge::Ending;

/// One side of a rollout: the RC being scaled down or up. Its pods are the ones it controls (by UID), not the
/// ones its selector matches: another controller's pods may carry the same labels.
#[derive(Debug, Clone)]
pub struct Side {
    pub name: String,
    pub uid: String,
    pub selector: BTreeMap<String, String>,
    pub replicas: i32,
}

impl Side {
    pub fn of(rc: &ReplicationController) -> Side {
        let spec = rc.spec.clone().unwrap_or_default();
        Side {
            name: rc.metadata.name.clone().unwrap_or_default(),
            uid: rc.metadata.uid.clone().unwrap_or_default(),
            selector: spec.selector.unwrap_or_default(),
            replicas: spec.replicas.unwrap_or(0),
        }
    }
}

/// Cancellation, as sent by main on SIGTERM/SIGINT.
pub type Cancel = watch::Receiver<bool>;

/// The engine's connection to the namespace: the RC API and a live cache of the pods.
pub struct Engine {
    pub client: kube::Client,
    pub namespace: String,
    /// Nodes and every namespace's pods for the diagnosis, shared with the run's other engines and its pre-flight
    /// check; started by the first read.
    pub cluster: Arc<cluster_cache::ClusterCache>,
    pub rcs: Api<ReplicationController>,
    /// The namespace's pods, live (stopped with the engine).
    watch: PodWatch,
    pub started: Instant,
    pub timeline: Vec<TimelineEntry>,
    pub cancel: Cancel,
    /// The `min_ready_seconds` input, when given; the effective value is the larger of it and the new RC's
    /// `spec.minReadySeconds` ([`Engine::use_min_ready_of`]).
    pub min_ready: Duration,
    pub progress_deadline: Duration,
    /// The whole run's timeout, from [`Engine::started`].
    pub timeout: Duration,
    pub on_failure: OnFailure,
    /// The latest diagnosis made while the rollout was stuck.
    pub last_diagnosis: Option<Diagnosis>,
}

/// The namespace's pod watch, started before the engine that reads it: its first list can run while the run
/// takes its lock and observes the cluster (start-up is time users wait before anything moves).
///
/// A handle: the engines of one run (several RCs in one namespace) share one watch through clones, each told of
/// every change on its own. One watch per engine decoded every pod event of the namespace once per RC. The watch
/// stops when the last handle is dropped.
#[derive(Clone)]
pub struct PodWatch {
    namespace: String,
    reader: reflector::Store<Pod>,
    /// Counts the watch's events; each handle's receiver remembers which it has seen.
    changed: watch::Receiver<u64>,
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "held for its Drop: the last handle stops the watch"
        )
    )]
    task: Arc<AbortOnDrop>,
}

/// Stops the watch's task with the last handle.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PodWatch {
    /// Starts listing and watching the namespace's pods; returns at once.
    pub fn start(client: kube::Client, namespace: &str) -> PodWatch {
        let pods_api: Api<Pod> = Api::namespaced(client, namespace);
        let (reader, writer) = reflector::store();
        let (notify, changed) = watch::channel(0u64);
        // The cache keeps no managedFields: nothing reads them and they are most of a pod's memory.
        let stream = reflector(
            writer,
            watcher(pods_api, watcher::Config::default())
                .default_backoff()
                .modify(|pod| pod.metadata.managed_fields = None),
        );
        let task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while stream.next().await.is_some() {
                // Events that came in the same read are applied before the engine is told: one decision per
                // burst (a kubelet's status writes for many pods), not one per event, at no cost in latency.
                while let Some(Some(_)) = stream.next().now_or_never() {}
                notify.send_modify(|events| *events += 1);
            }
        });
        PodWatch {
            namespace: namespace.to_string(),
            reader,
            changed,
            task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// Waits for the first full list (60 s at most: a watch that cannot list is an RBAC problem).
    async fn ready(&self) -> anyhow::Result<()> {
        let namespace = &self.namespace;
        tokio::time::timeout(Duration::from_secs(60), self.reader.wait_until_ready())
            .await
            .map_err(|_| anyhow::anyhow!("could not list and watch pods in namespace `{namespace}` within 60s (check RBAC: list and watch on pods)"))?
            .map_err(|e| anyhow::anyhow!("pod watch stopped: {e}"))
    }

    /// Resolves at the next change this handle has not seen (at once if there is one); never, once the watch's
    /// task is gone, so a waiting loop waits on its other branches instead of spinning.
    async fn next_change(&mut self) {
        if self.changed.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Engine {
    /// Starts the pod watch and waits for its first full list.
    pub async fn start(
        client: kube::Client,
        namespace: &str,
        cluster: Arc<cluster_cache::ClusterCache>,
        settings: &Settings,
        cancel: Cancel,
    ) -> anyhow::Result<Engine> {
        let watch = PodWatch::start(client.clone(), namespace);
        Engine::with_watch(client, watch, cluster, settings, cancel).await
    }

    /// The engine over a pod watch started earlier ([`PodWatch::start`]), once its first list is in.
    pub async fn with_watch(
        client: kube::Client,
        watch: PodWatch,
        cluster: Arc<cluster_cache::ClusterCache>,
        settings: &Settings,
        cancel: Cancel,
    ) -> anyhow::Result<Engine> {
        watch.ready().await?;
        Ok(Engine {
            rcs: Api::namespaced(client.clone(), &watch.namespace),
            client,
            namespace: watch.namespace.clone(),
            cluster,
            watch,
            started: Instant::now(),
            timeline: vec![],
            cancel,
            min_ready: Duration::from_secs(u64::from(settings.pace.min_ready_seconds.unwrap_or(0))),
            progress_deadline: settings.deadlines.progress_deadline,
            timeout: settings.deadlines.timeout,
            on_failure: settings.deadlines.on_failure,
            last_diagnosis: None,
        })
    }

    /// Prints a line the way kubectl users know it and records it in the timeline.
    pub fn log(&mut self, message: impl Into<String>) {
        let message = message.into();
        let at = self.started.elapsed();
        // Object names and event messages: untrusted, printed so the runner cannot read a command in them.
        crate::report::actions::print_untrusted(&format!("[{:>6.1}s] {message}", at.as_secs_f64()));
        self.timeline.push(TimelineEntry { at, message });
    }

    /// Availability counts with the RC's own `spec.minReadySeconds` when it is longer than the input: the RC
    /// controller reports such pods unavailable, and so must we (issue 12, case 1).
    pub fn use_min_ready_of(&mut self, rc: &ReplicationController) {
        let spec = rc
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let spec = Duration::from_secs(u64::try_from(spec).unwrap_or(0));
        self.min_ready = self.min_ready.max(spec);
    }

    /// When the run's timeout ends.
    pub fn run_deadline(&self) -> Instant {
        self.started + self.timeout
    }

    /// When the update (and an interrupted update's rollback before it) must stop: with `on_failure: rollback`
    /// the last quarter of the timeout is kept for the rollback, so the run reports within its timeout.
    pub fn update_deadline(&self) -> Instant {
        self.started + update_budget(self.timeout, self.on_failure)
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Every pod of the namespace, as the watch holds them now.
    pub fn pods(&self) -> Vec<Arc<Pod>> {
        self.watch.reader.state()
    }

    /// A copy of every pod of the namespace, for a snapshot (the pre-flight check, a diagnosis).
    pub fn namespace_pods(&self) -> Vec<Pod> {
        self.pods().iter().map(|p| Pod::clone(p)).collect()
    }

    pub fn counts(&self, side: &Side) -> availability::PodCounts {
        self.count(&controlled_by(&self.pods(), side))
    }

    /// Counts of pods already picked from one read of the cache ([`controlled_by`]).
    pub fn count(&self, pods: &[&Pod]) -> availability::PodCounts {
        availability::count(pods, self.min_ready, k8s_openapi::jiff::Timestamp::now())
    }

    /// Waits for a pod change, the cancel signal, or `at_most`.
    pub async fn wait_for_change(&mut self, at_most: Duration) {
        tokio::select! {
            _ = self.watch.next_change() => {}
            _ = cancel_changed(self.cancel.clone()) => {}
            _ = tokio::time::sleep(at_most) => {}
        }
    }
}

/// The pods of `pods` (one read of the cache, [`Engine::pods`]) that `side`'s RC controls (ownerReference UID).
pub fn controlled_by<'a>(pods: &'a [Arc<Pod>], side: &Side) -> Vec<&'a Pod> {
    if side.uid.is_empty() {
        return vec![];
    }
    pods.iter()
        .map(|p| p.as_ref())
        .filter(|p| availability::controller_uid(p) == Some(side.uid.as_str()))
        .collect()
}

/// Resolves when the cancel signal changes. A closed channel (its sender gone) never signals again: it then
/// never resolves, so a waiting loop waits on the rest instead of spinning.
async fn cancel_changed(mut cancel: Cancel) {
    if cancel.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The part of `timeout` kept for a rollback after a failed update: a quarter.
pub fn rollback_budget(timeout: Duration) -> Duration {
    timeout / 4
}

/// The part of `timeout` the update (and an interrupted update's rollback before it) may use.
pub fn update_budget(timeout: Duration, on_failure: OnFailure) -> Duration {
    match on_failure {
        OnFailure::Rollback => timeout - rollback_budget(timeout),
        OnFailure::Keep => timeout,
    }
}

/// The previous pod template as recorded for `mode: rollback`, or `Err(size)` when it is too large to record.
fn previous_template(old: &ReplicationController) -> Result<Option<String>, usize> {
    let template = old.spec.as_ref().and_then(|s| s.template.as_ref());
    match template.map(|t| serde_json::to_string(t).unwrap_or_default()) {
        Some(t) if t.len() > PREVIOUS_TEMPLATE_MAX => Err(t.len()),
        t => Ok(t),
    }
}

/// The result of [`execute`], before reporting.
pub struct Executed {
    pub result: ResultKind,
    pub summary: String,
    pub ready: i32,
    pub failure: Failure,
    pub previous_rc_name: Option<String>,
}

/// Runs the plan to its end. The caller holds the lock.
pub async fn execute(engine: &mut Engine, plan: &Plan) -> anyhow::Result<Executed> {
    match roll(engine, plan).await? {
        Rolled::Ended(executed) => Ok(executed),
        Rolled::Converged(pending) => finish(engine, &pending).await,
        Rolled::Failed {
            summary,
            diagnosis,
            ready,
            mut pending,
        } => {
            let after = match (&mut pending.from, engine.on_failure) {
                (None, _) => AfterFailure::Kept {
                    hint: format!(
                        "first deploy: nothing to roll back to; {0} is left for inspection (kubectl describe rc {0})",
                        pending.to.name
                    ),
                },
                (Some(_), OnFailure::Keep) => keep_hint(engine, &pending),
                (Some(_), OnFailure::Rollback) => undo(engine, &mut pending).await?,
            };
            Ok(Executed::failed(summary, ready, diagnosis, after, &pending))
        }
    }
}

impl Executed {
    /// A failed rollout of `pending`, settled by `after`.
    pub fn failed(
        summary: String,
        ready: i32,
        diagnosis: Option<Diagnosis>,
        after: AfterFailure,
        pending: &Pending,
    ) -> Executed {
        Executed {
            result: ResultKind::Failure,
            summary,
            ready,
            failure: Failure {
                diagnosis,
                after: Some(after),
            },
            previous_rc_name: pending.from.as_ref().map(|f| f.side.name.clone()),
        }
    }
}

/// The old side of a rollout still to be settled: its RC as it was (for `mode: rollback`'s record) and what a
/// rollback restores.
#[derive(Debug, Clone)]
pub struct OldSide {
    pub side: Side,
    pub rc: ReplicationController,
    pub restore: resume::Restore,
}

/// A rollout that reached its end, whose last step is still to take: finishing (record the previous version,
/// delete the old RC) or undoing it. With several RCs nothing is finished until every RC has converged, so one
/// failure can still bring every RC back.
#[derive(Debug, Clone)]
pub struct Pending {
    pub from: Option<OldSide>,
    pub to: Side,
    pub desired: i32,
    pub limits: crate::plan::Limits,
}

/// Where [`roll`] stopped.
pub enum Rolled {
    /// Nothing left to settle: a no-op, a cancellation, `mode: rollback` of a kept update.
    Ended(Executed),
    /// Every new pod is available and the old RC is at 0, not yet deleted.
    Converged(Pending),
    /// The update cannot finish; nothing was rolled back yet.
    Failed {
        summary: String,
        diagnosis: Option<Diagnosis>,
        ready: i32,
        pending: Pending,
    },
}

/// Finishes a converged rollout: records the previous version on the new RC, then deletes the old one.
pub async fn finish(engine: &mut Engine, pending: &Pending) -> anyhow::Result<Executed> {
    let new_name = pending.to.name.clone();
    // What `mode: rollback` needs is written before the old RC is deleted: a kill in between loses nothing.
    finish_new(engine, &new_name, pending.from.as_ref().map(|f| &f.rc)).await?;
    if let Some(from) = &pending.from {
        engine.log(format!("Update succeeded. Deleting {}", from.side.name));
        kube_ops::delete(&engine.rcs, &from.side.name).await?;
    }
    Ok(succeeded(
        engine,
        &pending.to,
        &new_name,
        pending.desired,
        pending.from.as_ref().map(|f| f.side.name.clone()),
    ))
}

/// Undoes a rollout (converged or failed): the old RC back to what it had, the new RC to 0 and deleted. Without
/// an old RC (a first deploy), the new RC is scaled to 0 and deleted.
pub async fn undo(engine: &mut Engine, pending: &mut Pending) -> anyhow::Result<AfterFailure> {
    let deadline = engine.run_deadline();
    match &mut pending.from {
        Some(from) => {
            let restore = from.restore;
            resume::roll_back(
                engine,
                &mut from.side,
                &mut pending.to,
                restore,
                &pending.limits,
                deadline,
            )
            .await
        }
        None => {
            let name = pending.to.name.clone();
            engine.log(format!("Removing {name}: it was this run's first deploy"));
            kube_ops::scale(&engine.rcs, &name, 0).await?;
            kube_ops::delete(&engine.rcs, &name).await?;
            Ok(AfterFailure::RolledBack {
                restored_replicas: 0,
            })
        }
    }
}

/// `on_failure: keep`: both RCs stay; say how to resume or roll back.
pub fn keep_hint(engine: &mut Engine, pending: &Pending) -> AfterFailure {
    let from = pending.from.as_ref().map(|f| &f.side);
    let hint = match from {
        Some(from) => format!(
            "both RCs kept for inspection: {} at {}, {} at {}. Re-run the workflow to resume the update, or run it with `mode: rollback` to go back to {}",
            from.name, from.replicas, pending.to.name, pending.to.replicas, from.name
        ),
        None => format!(
            "{} kept for inspection at {}; re-run the workflow to resume",
            pending.to.name, pending.to.replicas
        ),
    };
    engine.log(hint.clone());
    AfterFailure::Kept { hint }
}

/// Rolls the plan to its end, leaving the last step (finish or undo) to the caller.
pub async fn roll(engine: &mut Engine, plan: &Plan) -> anyhow::Result<Rolled> {
    let new_name = plan.new_rc.metadata.name.clone().unwrap_or_default();
    if plan.abort_interrupted {
        return Ok(Rolled::Ended(abort_interrupted(engine, plan).await?));
    }

    // An interrupted update to another version is rolled back first, then this one proceeds.
    let mut current = plan.found.current.clone();
    if let Some(old) = &current {
        if let Some(other) = resume::interrupted_target(old, &new_name) {
            engine.log(format!(
                "Found an interrupted update from {} to {other}; rolling it back before updating to {new_name}",
                Side::of(old).name
            ));
            match resume::roll_back_interrupted(engine, old, &other, &plan.limits).await? {
                Some(restored) => current = Some(restored),
                None => {
                    let side = Side::of(old);
                    return Ok(Rolled::Ended(cancelled(engine, &side, &side.name, &other)));
                }
            }
        }
    }

    let Some(old) = current else {
        return first_deploy(engine, plan).await;
    };
    let old_name = Side::of(&old).name;

    let old = match &plan.migration {
        Some(m) => migrate::add_version_label(engine, &old, m).await?,
        None => old,
    };

    // Record where we are on the old RC before creating anything: a run killed after this resumes.
    let original = old
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ann::ORIGINAL_REPLICAS))
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or_else(|| Side::of(&old).replicas);
    let mut marks = BTreeMap::new();
    marks.insert(ann::ORIGINAL_REPLICAS, Some(original.to_string()));
    marks.insert(ann::NEXT, Some(new_name.clone()));
    let old = kube_ops::annotate(&engine.rcs, &old_name, &marks).await?;

    let new_rc = match kube_ops::get(&engine.rcs, &new_name).await? {
        Some(existing) => {
            engine.log(format!(
                "Continuing update with existing controller {new_name}."
            ));
            existing
        }
        None => create(engine, &plan.new_rc).await?,
    };

    engine.use_min_ready_of(&new_rc);
    let mut from = Side::of(&old);
    let mut to = Side::of(&new_rc);
    let available_at_start = engine.counts(&from).available;
    engine.log(format!(
        "Scaling up {} from {} to {}, scaling down {} from {} to 0 ({}; {} of {} old pods available)",
        to.name,
        to.replicas,
        plan.desired(),
        from.name,
        from.replicas,
        plan.limits.describe(),
        available_at_start,
        from.replicas
    ));
    let pass = converge::Pass {
        limits: plan.limits,
        required_available: plan.desired(),
        deadline: engine.update_deadline(),
        fail_fast: true,
    };
    let ending = converge::converge(engine, Some(&mut from), &mut to, pass).await?;
    let pending = Pending {
        from: Some(OldSide {
            side: from,
            rc: old,
            restore: resume::Restore {
                replicas: original,
                available: available_at_start.min(original),
            },
        }),
        to,
        desired: plan.desired(),
        limits: plan.limits,
    };
    Ok(rolled(engine, ending, pending, &old_name, &new_name))
}

/// `mode: rollback` on an update in progress or kept: roll that update back.
async fn abort_interrupted(engine: &mut Engine, plan: &Plan) -> anyhow::Result<Executed> {
    let Some(busy) = &plan.found.current else {
        anyhow::bail!("internal: an abort plan without a current RC");
    };
    let name = Side::of(busy).name;
    let next = busy
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ann::NEXT))
        .cloned()
        .unwrap_or_default();
    engine.use_min_ready_of(busy);
    engine.log(format!(
        "Rolling back the update from {name} to {next} that is in progress or was kept"
    ));
    let Some(restored) = resume::roll_back_interrupted(engine, busy, &next, &plan.limits).await?
    else {
        let side = Side::of(busy);
        return Ok(cancelled(engine, &side, &name, &next));
    };
    let to = Side::of(&restored);
    let ready = engine.counts(&to).available;
    engine.log(format!(
        "Rollback succeeded: {name} is back at {}, {next} deleted",
        to.replicas
    ));
    Ok(Executed {
        result: ResultKind::Success,
        summary: format!(
            "rolled back to {name}: {ready}/{} ready, {next} removed",
            to.replicas
        ),
        ready,
        failure: Failure::default(),
        previous_rc_name: Some(next),
    })
}

fn succeeded(
    engine: &Engine,
    to: &Side,
    new_name: &str,
    desired: i32,
    previous: Option<String>,
) -> Executed {
    let ready = engine.counts(to).available;
    Executed {
        result: ResultKind::Success,
        summary: format!(
            "{new_name}: {ready}/{desired} ready in {}s",
            engine.started.elapsed().as_secs()
        ),
        ready,
        failure: Failure::default(),
        previous_rc_name: previous,
    }
}

/// Where the converge loop's `ending` leaves the update `pending` from `old_name` to `new_name`.
fn rolled(
    engine: &mut Engine,
    ending: Ending,
    pending: Pending,
    old_name: &str,
    new_name: &str,
) -> Rolled {
    match ending {
        Ending::Done => Rolled::Converged(pending),
        Ending::Cancelled => Rolled::Ended(cancelled(engine, &pending.to, old_name, new_name)),
        Ending::Failed { summary, diagnosis } => {
            let ready = engine.counts(&pending.to).available;
            Rolled::Failed {
                summary,
                diagnosis,
                ready,
                pending,
            }
        }
    }
}

fn cancelled(engine: &mut Engine, to: &Side, old_name: &str, new_name: &str) -> Executed {
    let ready = engine.counts(to).available;
    engine.log(format!(
        "Cancelled: scaling stopped with {new_name} at {} and {old_name} still serving; re-run the same workflow to resume",
        to.replicas
    ));
    Executed {
        result: ResultKind::Cancelled,
        summary: format!("cancelled: {new_name} at {ready} ready, resumable by a re-run"),
        ready,
        failure: Failure::default(),
        previous_rc_name: Some(old_name.to_string()),
    }
}

async fn create(
    engine: &mut Engine,
    rc: &ReplicationController,
) -> anyhow::Result<ReplicationController> {
    let created = create_rc(&engine.rcs, rc).await?;
    engine.log(format!(
        "Created {}",
        rc.metadata.name.as_deref().unwrap_or_default()
    ));
    Ok(created)
}

/// Creates `rc`. A 409 is an answer (the RC exists: a retried create whose first attempt landed), not a fault
/// to retry: the RC is read instead.
async fn create_rc(
    rcs: &Api<ReplicationController>,
    rc: &ReplicationController,
) -> anyhow::Result<ReplicationController> {
    let name = rc.metadata.name.clone().unwrap_or_default();
    let params = PostParams::default();
    let created = kube_ops::retry_if(
        || rcs.create(&params, rc),
        |e| kube_ops::is_transient(e) && !matches!(e, kube::Error::Api(s) if s.code == 409),
    )
    .await;
    match created {
        Ok(rc) => Ok(rc),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(rcs.get(&name).await?),
        Err(e) => anyhow::bail!(kube_ops::explain(&e, "create", "replicationcontrollers")),
    }
}

/// No RC serves yet: create the new one and wait until it is available.
async fn first_deploy(engine: &mut Engine, plan: &Plan) -> anyhow::Result<Rolled> {
    let new_name = plan.new_rc.metadata.name.clone().unwrap_or_default();
    let new_rc = match &plan.found.existing_new {
        Some(existing) => existing.clone(),
        None => create(engine, &plan.new_rc).await?,
    };
    engine.use_min_ready_of(&new_rc);
    let mut to = Side::of(&new_rc);
    let in_progress = new_rc
        .metadata
        .annotations
        .as_ref()
        .map(|a| ann::IN_PROGRESS.iter().any(|k| a.contains_key(*k)))
        .unwrap_or(false);
    if plan.found.existing_new.is_some()
        && !in_progress
        && to.replicas == plan.desired()
        && engine.counts(&to).available >= plan.desired()
    {
        engine.log(format!(
            "{new_name} is already deployed with {}/{} available: nothing to do",
            plan.desired(),
            plan.desired()
        ));
        return Ok(Rolled::Ended(Executed {
            result: ResultKind::NoOp,
            summary: format!(
                "{new_name} already deployed: {}/{} ready",
                plan.desired(),
                plan.desired()
            ),
            ready: plan.desired(),
            failure: Failure::default(),
            previous_rc_name: None,
        }));
    }
    engine.log(format!(
        "Scaling up {new_name} from {} to {}",
        to.replicas,
        plan.desired()
    ));
    let pass = converge::Pass {
        limits: plan.limits,
        required_available: plan.desired(),
        deadline: engine.update_deadline(),
        fail_fast: true,
    };
    let ending = converge::converge(engine, None, &mut to, pass).await?;
    let pending = Pending {
        from: None,
        to,
        desired: plan.desired(),
        limits: plan.limits,
    };
    Ok(rolled(engine, ending, pending, "(none)", &new_name))
}

/// The largest previous pod template recorded in an annotation: well under the 256 KiB all annotations share.
const PREVIOUS_TEMPLATE_MAX: usize = 128 * 1024;

/// Removes our in-progress annotations from the new RC and records the previous version for `mode: rollback`.
async fn finish_new(
    engine: &mut Engine,
    new_name: &str,
    old: Option<&ReplicationController>,
) -> anyhow::Result<()> {
    let mut marks: BTreeMap<&str, Option<String>> =
        ann::IN_PROGRESS.iter().map(|k| (*k, None)).collect();
    if let Some(old) = old {
        marks.insert(ann::PREVIOUS_NAME, old.metadata.name.clone());
        let selector = old.spec.as_ref().and_then(|s| s.selector.as_ref());
        marks.insert(
            ann::PREVIOUS_SELECTOR,
            selector.map(|s| serde_json::to_string(s).unwrap_or_default()),
        );
        // All of an object's annotations share 256 KiB; a template too large to record is left out (and said),
        // rather than making the annotate request fail after a successful rollout.
        let template = previous_template(old).unwrap_or_else(|size| {
            engine.log(format!(
                "The previous pod template ({size} bytes) is too large to record on {new_name} (at most {PREVIOUS_TEMPLATE_MAX}); `mode: rollback` will not be able to rebuild it: deploy the old images with `images` instead"
            ));
            None
        });
        marks.insert(ann::PREVIOUS_TEMPLATE, template);
    }
    kube_ops::annotate(&engine.rcs, new_name, &marks).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
