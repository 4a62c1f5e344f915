//! The rolling update engine: zero downtime, honest deadlines, resume, rollback.
//!
//! kubectl rolling-update's arithmetic ([`crate::plan::steps`]) driven by a watch on the namespace's pods
//! instead of one-minute sleeps: every pod change wakes the loop, so the rollout goes as fast as the pods
//! become ready. Every step is written to the RCs' annotations first, so a run killed at any point is resumed
//! by the next run ([`resume`]). A rollout that cannot finish is an outcome, diagnosed and then rolled back
//! or kept as the user asked; `Err` is kept for faults of the cluster connection itself.

pub mod availability;
mod converge;
pub mod kube_ops;
pub mod lock;
mod migrate;
pub mod preview;
mod resume;
pub mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, PostParams};
use kube::runtime::{reflector, watcher, WatchStreamExt as _};
use tokio::sync::{watch, Notify};

use crate::diagnosis::Diagnosis;
use crate::inputs::{OnFailure, Settings};
use crate::outcome::{AfterFailure, ResultKind, TimelineEntry};
use crate::plan::{annotations as ann, Plan};
pub use converge::Ending;

/// One side of a rollout: the RC being scaled down or up.
#[derive(Debug, Clone)]
pub struct Side {
    pub name: String,
    pub selector: BTreeMap<String, String>,
    pub replicas: i32,
}

impl Side {
    pub fn of(rc: &ReplicationController) -> Side {
        let spec = rc.spec.clone().unwrap_or_default();
        Side {
            name: rc.metadata.name.clone().unwrap_or_default(),
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
    pub rcs: Api<ReplicationController>,
    pub pods: reflector::Store<Pod>,
    changed: Arc<Notify>,
    watch_task: tokio::task::JoinHandle<()>,
    pub started: Instant,
    pub timeline: Vec<TimelineEntry>,
    pub cancel: Cancel,
    pub min_ready: Duration,
    pub progress_deadline: Duration,
    pub timeout: Duration,
    pub on_failure: OnFailure,
    /// The latest diagnosis made while the rollout was stuck.
    pub last_diagnosis: Option<Diagnosis>,
}

impl Engine {
    /// Starts the pod watch and waits for its first full list.
    pub async fn start(
        client: kube::Client,
        namespace: &str,
        settings: &Settings,
        cancel: Cancel,
    ) -> anyhow::Result<Engine> {
        let pods_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let (reader, writer) = reflector::store();
        let changed = Arc::new(Notify::new());
        let notify = changed.clone();
        // The cache keeps no managedFields: nothing reads them and they are most of a pod's memory.
        let stream = reflector(
            writer,
            watcher(pods_api, watcher::Config::default())
                .default_backoff()
                .modify(|pod| pod.metadata.managed_fields = None),
        );
        let watch_task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            while stream.next().await.is_some() {
                notify.notify_one();
            }
        });
        tokio::time::timeout(Duration::from_secs(60), reader.wait_until_ready())
            .await
            .map_err(|_| anyhow::anyhow!("could not list and watch pods in namespace `{namespace}` within 60s (check RBAC: list and watch on pods)"))?
            .map_err(|e| anyhow::anyhow!("pod watch stopped: {e}"))?;
        Ok(Engine {
            rcs: Api::namespaced(client.clone(), namespace),
            client,
            namespace: namespace.to_string(),
            pods: reader,
            changed,
            watch_task,
            started: Instant::now(),
            timeline: vec![],
            cancel,
            min_ready: Duration::from_secs(u64::from(settings.min_ready_seconds)),
            progress_deadline: settings.progress_deadline,
            timeout: settings.timeout,
            on_failure: settings.on_failure,
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

    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Pods of the cache selected by `selector`.
    pub fn pods_of(&self, selector: &BTreeMap<String, String>) -> Vec<Arc<Pod>> {
        if selector.is_empty() {
            return vec![];
        }
        self.pods
            .state()
            .into_iter()
            .filter(|p| availability::selector_matches(selector, p.metadata.labels.as_ref()))
            .collect()
    }

    pub fn counts(&self, selector: &BTreeMap<String, String>) -> availability::PodCounts {
        let pods = self.pods_of(selector);
        let refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        availability::count(&refs, self.min_ready, k8s_openapi::jiff::Timestamp::now())
    }

    /// Waits for a pod change, the cancel signal, or `at_most`.
    pub async fn wait_for_change(&mut self, at_most: Duration) {
        let mut cancel = self.cancel.clone();
        tokio::select! {
            _ = self.changed.notified() => {}
            _ = cancel.changed() => {}
            _ = tokio::time::sleep(at_most) => {}
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.watch_task.abort();
    }
}

/// The result of [`execute`], before reporting.
pub struct Executed {
    pub result: ResultKind,
    pub summary: String,
    pub ready: i32,
    pub diagnosis: Option<Diagnosis>,
    pub after_failure: Option<AfterFailure>,
    pub previous_rc_name: Option<String>,
}

/// Runs the plan to its end. The caller holds the lock.
pub async fn execute(engine: &mut Engine, plan: &Plan) -> anyhow::Result<Executed> {
    let new_name = plan.new_rc.metadata.name.clone().unwrap_or_default();

    // An interrupted update to another version is rolled back first, then this one proceeds.
    let mut current = plan.current.clone();
    if let Some(old) = &current {
        if let Some(other) = resume::interrupted_target(old, &new_name) {
            engine.log(format!(
                "Found an interrupted update from {} to {other}; rolling it back before updating to {new_name}",
                Side::of(old).name
            ));
            current = Some(resume::roll_back_interrupted(engine, old, &other, &plan.limits).await?);
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

    let mut from = Side::of(&old);
    let mut to = Side::of(&new_rc);
    engine.log(format!(
        "Scaling up {} from {} to {}, scaling down {} from {} to 0 ({})",
        to.name,
        to.replicas,
        plan.desired,
        from.name,
        from.replicas,
        plan.limits.describe()
    ));
    let ending = converge::converge(engine, Some(&mut from), &mut to, plan.limits, true).await?;
    match ending {
        Ending::Done => {
            engine.log(format!("Update succeeded. Deleting {old_name}"));
            kube_ops::delete(&engine.rcs, &old_name).await?;
            finish_new(engine, &new_name, Some(&old)).await?;
            Ok(succeeded(
                engine,
                &to,
                &new_name,
                plan.desired,
                Some(old_name),
            ))
        }
        Ending::Cancelled => Ok(cancelled(engine, &to, &old_name, &new_name)),
        Ending::Failed { summary, diagnosis } => {
            let ready = engine.counts(&to.selector).available;
            let after = after_failure(engine, &mut from, &mut to, original, plan).await?;
            Ok(Executed {
                result: ResultKind::Failure,
                summary,
                ready,
                diagnosis,
                after_failure: Some(after),
                previous_rc_name: Some(old_name),
            })
        }
    }
}

fn succeeded(
    engine: &Engine,
    to: &Side,
    new_name: &str,
    desired: i32,
    previous: Option<String>,
) -> Executed {
    let ready = engine.counts(&to.selector).available;
    Executed {
        result: ResultKind::Success,
        summary: format!(
            "{new_name}: {ready}/{desired} ready in {}s",
            engine.started.elapsed().as_secs()
        ),
        ready,
        diagnosis: None,
        after_failure: None,
        previous_rc_name: previous,
    }
}

fn cancelled(engine: &mut Engine, to: &Side, old_name: &str, new_name: &str) -> Executed {
    let ready = engine.counts(&to.selector).available;
    engine.log(format!(
        "Cancelled: scaling stopped with {new_name} at {} and {old_name} still serving; re-run the same workflow to resume",
        to.replicas
    ));
    Executed {
        result: ResultKind::Cancelled,
        summary: format!("cancelled: {new_name} at {ready} ready, resumable by a re-run"),
        ready,
        diagnosis: None,
        after_failure: None,
        previous_rc_name: Some(old_name.to_string()),
    }
}

async fn create(
    engine: &mut Engine,
    rc: &ReplicationController,
) -> anyhow::Result<ReplicationController> {
    let name = rc.metadata.name.clone().unwrap_or_default();
    let params = PostParams::default();
    let created = kube_ops::retry(|| engine.rcs.create(&params, rc)).await;
    let created = match created {
        Ok(rc) => rc,
        // A retried create whose first attempt landed.
        Err(kube::Error::Api(s)) if s.code == 409 => engine.rcs.get(&name).await?,
        Err(e) => anyhow::bail!(kube_ops::explain(&e, "create", "replicationcontrollers")),
    };
    engine.log(format!("Created {name}"));
    Ok(created)
}

/// No RC serves yet: create the new one and wait until it is available.
async fn first_deploy(engine: &mut Engine, plan: &Plan) -> anyhow::Result<Executed> {
    let new_name = plan.new_rc.metadata.name.clone().unwrap_or_default();
    let new_rc = match &plan.existing_new {
        Some(existing) => existing.clone(),
        None => create(engine, &plan.new_rc).await?,
    };
    let mut to = Side::of(&new_rc);
    let in_progress = new_rc
        .metadata
        .annotations
        .as_ref()
        .map(|a| ann::IN_PROGRESS.iter().any(|k| a.contains_key(*k)))
        .unwrap_or(false);
    if plan.existing_new.is_some()
        && !in_progress
        && to.replicas == plan.desired
        && engine.counts(&to.selector).available >= plan.desired
    {
        engine.log(format!(
            "{new_name} is already deployed with {}/{} available: nothing to do",
            plan.desired, plan.desired
        ));
        return Ok(Executed {
            result: ResultKind::NoOp,
            summary: format!(
                "{new_name} already deployed: {}/{} ready",
                plan.desired, plan.desired
            ),
            ready: plan.desired,
            diagnosis: None,
            after_failure: None,
            previous_rc_name: None,
        });
    }
    engine.log(format!(
        "Scaling up {new_name} from {} to {}",
        to.replicas, plan.desired
    ));
    match converge::converge(engine, None, &mut to, plan.limits, true).await? {
        Ending::Done => {
            finish_new(engine, &new_name, None).await?;
            Ok(succeeded(engine, &to, &new_name, plan.desired, None))
        }
        Ending::Cancelled => Ok(cancelled(engine, &to, "(none)", &new_name)),
        Ending::Failed { summary, diagnosis } => {
            let ready = engine.counts(&to.selector).available;
            Ok(Executed {
                result: ResultKind::Failure,
                summary,
                ready,
                diagnosis,
                after_failure: Some(AfterFailure::Kept {
                    hint: format!("first deploy: nothing to roll back to; {new_name} is left for inspection (kubectl describe rc {new_name})"),
                }),
                previous_rc_name: None,
            })
        }
    }
}

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
        let template = old.spec.as_ref().and_then(|s| s.template.as_ref());
        marks.insert(
            ann::PREVIOUS_TEMPLATE,
            template.map(|t| serde_json::to_string(t).unwrap_or_default()),
        );
    }
    kube_ops::annotate(&engine.rcs, new_name, &marks).await?;
    Ok(())
}

/// `on_failure`: roll back (restore the old RC, wait for it, delete the new one) or keep both.
async fn after_failure(
    engine: &mut Engine,
    from: &mut Side,
    to: &mut Side,
    original: i32,
    plan: &Plan,
) -> anyhow::Result<AfterFailure> {
    match engine.on_failure {
        OnFailure::Keep => {
            let hint = format!(
                "both RCs kept for inspection: {} at {}, {} at {}. Re-run the workflow to resume the update, or run it with `mode: rollback` to go back to {}",
                from.name, from.replicas, to.name, to.replicas, from.name
            );
            engine.log(hint.clone());
            Ok(AfterFailure::Kept { hint })
        }
        OnFailure::Rollback => resume::roll_back(engine, from, to, original, &plan.limits).await,
    }
}
