//! One task per pod: drives its containers' state machines with a single timer, records their events and patches
//! the pod status through the status subresource only when it actually changed.

use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

use crate::container::{ContainerSim, Seen, Timing};
use crate::events::{Involved, Recorder};
use crate::pod_status::{all_ready, initialized, status_patch, PodFacts};

/// Everything a worker needs about its pod, extracted once when the pod is first seen.
pub struct PodJob {
    pub client: kube::Client,
    pub involved: Involved,
    pub host_ip: String,
    pub pod_ip: String,
    pub timing: Timing,
    /// (name, image, what its failing readiness probe reports, what an earlier status said about it)
    pub containers: Vec<(String, String, String, Option<Seen>)>,
    /// Init containers, run one after the other before the containers.
    pub init_containers: Vec<InitJob>,
    /// startTime of a pod adopted from an earlier run.
    pub start_time: Option<Timestamp>,
    pub scheduled: Option<Value>,
    /// The termination message crashing containers leave (annotation `...termination-message`).
    pub termination_message: Option<String>,
}

/// One init container of a pod.
pub struct InitJob {
    pub name: String,
    pub image: String,
    /// When an earlier status saw it complete (started, finished).
    pub completed: Option<(Timestamp, Timestamp)>,
}

pub async fn run(job: PodJob) {
    let start = Instant::now();
    let wall_start = job.start_time.unwrap_or_else(Timestamp::now);
    let inv = job.involved.clone();
    let pod_ref = format!("{}_{}({})", inv.pod, inv.namespace, inv.uid);
    let mut sims: Vec<ContainerSim> = job
        .containers
        .iter()
        .map(|(name, image, probe, seen)| {
            let mut sim = ContainerSim::new(
                name,
                image,
                start,
                &job.timing,
                probe.clone(),
                pod_ref.clone(),
            );
            sim.termination_message = job.termination_message.clone();
            if let Some(seen) = seen {
                sim.adopt(seen.clone(), start, &job.timing);
            }
            sim
        })
        .collect();
    let mut inits: Vec<ContainerSim> = job
        .init_containers
        .iter()
        .map(|init| {
            let mut sim = ContainerSim::new_init(
                &init.name,
                &init.image,
                start,
                &job.timing,
                pod_ref.clone(),
            );
            sim.termination_message = job.termination_message.clone();
            if let Some((started_at, finished_at)) = &init.completed {
                sim.adopt_completed(*started_at, *finished_at);
            }
            sim
        })
        .collect();
    let api: Api<Pod> = Api::namespaced(job.client.clone(), &inv.namespace);
    let mut recorder = Recorder::new(job.client.clone(), inv.clone());
    let facts = PodFacts {
        uid: &inv.uid,
        pod_ip: &job.pod_ip,
        host_ip: &job.host_ip,
        start_time: wall_start,
        scheduled: job.scheduled.clone(),
    };
    let mut ready_since = wall_start;
    let mut was_ready = false;
    let mut last_sent = Value::Null;
    loop {
        // Init containers run one at a time, in order; the others start once all have completed.
        let active: Vec<&mut ContainerSim> = match inits.iter_mut().find(|c| !c.completed()) {
            Some(init) => vec![init],
            None => sims.iter_mut().collect(),
        };
        for sim in active {
            let events = sim.advance(Instant::now(), Timestamp::now(), &job.timing);
            for e in events {
                recorder
                    .record(Some(&sim.name), e.warning, e.reason, &e.message)
                    .await;
            }
        }
        let ready = initialized(&inits) && all_ready(&sims);
        if ready != was_ready {
            was_ready = ready;
            ready_since = Timestamp::now();
        }
        let patch = status_patch(&facts, &inits, &sims, ready_since);
        if patch != last_sent {
            match api
                .patch_status(&inv.pod, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => last_sent = patch,
                Err(e) if crate::code(&e) == Some(404) => return,
                Err(e) => eprintln!(
                    "fake-kubelet: failed to patch status of {}/{}: {e}",
                    inv.namespace, inv.pod
                ),
            }
        }
        // A completed init container hands over to the next one (or the containers) at once.
        let due = match inits.iter().find(|c| !c.completed()) {
            Some(init) => init.due(),
            None => sims.iter().filter_map(ContainerSim::due).min(),
        };
        let Some(due) = due else {
            return;
        };
        tokio::time::sleep_until(due.into()).await;
    }
}
