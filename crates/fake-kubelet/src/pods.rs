//! The pod side: one watch over all bound pods, dispatching to per-pod workers and finishing graceful deletions.
//!
//! A single watch (not one per node or namespace) keeps the fake kubelet cheap with hundreds of pods. The loop owns
//! all bookkeeping (which pods run a worker, which IPs are taken), so it needs no locks.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use tokio::task::JoinHandle;

use crate::config::{Config, READY_DELAY_ANNOTATION, TERMINATION_MESSAGE_ANNOTATION};
use crate::container::{Seen, Termination};
use crate::events::{Involved, Recorder};
use crate::ip_pool::IpPool;
use crate::nodes::{kind_of, NodeKind, NodeSet};
use crate::pod_worker::{self, InitJob, PodJob};

struct Tracked {
    task: JoinHandle<()>,
    ip: Option<String>,
    deleting: bool,
}

pub struct Pods {
    client: kube::Client,
    cfg: Arc<Config>,
    nodes: NodeSet,
    tracked: HashMap<String, Tracked>,
    ips: IpPool,
}

impl Pods {
    pub fn new(client: kube::Client, cfg: Arc<Config>, nodes: NodeSet) -> Self {
        Pods {
            client,
            cfg,
            nodes,
            tracked: HashMap::new(),
            ips: IpPool::default(),
        }
    }

    /// Runs until the process ends; watch errors are logged and the watch is resumed with back-off.
    pub async fn run(mut self) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let config = watcher::Config::default().fields("spec.nodeName!=");
        let mut stream = watcher(api, config).default_backoff().boxed();
        let mut listed: HashSet<String> = HashSet::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => listed.clear(),
                Ok(Event::InitApply(pod)) => {
                    listed.insert(uid(&pod));
                    self.apply(pod).await;
                }
                Ok(Event::InitDone) => {
                    // Pods deleted while the watch was down never produce a Delete event.
                    let gone: Vec<String> = self
                        .tracked
                        .keys()
                        .filter(|u| !listed.contains(*u))
                        .cloned()
                        .collect();
                    for u in gone {
                        self.forget(&u);
                    }
                }
                Ok(Event::Apply(pod)) => self.apply(pod).await,
                Ok(Event::Delete(pod)) => self.forget(&uid(&pod)),
                Err(e) => eprintln!("fake-kubelet: pod watch failed: {e}"),
            }
        }
    }

    fn forget(&mut self, uid: &str) {
        if let Some(t) = self.tracked.remove(uid) {
            t.task.abort();
            if let Some(ip) = t.ip {
                self.ips.release(&ip);
            }
        }
    }

    async fn apply(&mut self, pod: Pod) {
        let uid = uid(&pod);
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("");
        if matches!(phase, "Succeeded" | "Failed")
            || self.tracked.get(&uid).is_some_and(|t| t.deleting)
        {
            return;
        }
        let terminating = pod.metadata.deletion_timestamp.is_some();
        if !terminating && self.tracked.contains_key(&uid) {
            return;
        }
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return;
        };
        match kind_of(&self.client, &self.nodes, &node).await {
            NodeKind::Fake => {}
            // Pods bound to a node that was removed (a test's dedicated node) are orphans nobody else would finish.
            NodeKind::Missing if terminating => {}
            NodeKind::Missing | NodeKind::Other => return,
        }
        if terminating {
            if let Some(t) = self.tracked.get_mut(&uid) {
                t.task.abort();
                t.deleting = true;
                t.task = tokio::spawn(finish_deletion(
                    self.client.clone(),
                    pod,
                    node,
                    self.cfg.delete_delay,
                ));
            } else {
                let task = tokio::spawn(finish_deletion(
                    self.client.clone(),
                    pod,
                    node,
                    self.cfg.delete_delay,
                ));
                self.tracked.insert(
                    uid,
                    Tracked {
                        task,
                        ip: None,
                        deleting: true,
                    },
                );
            }
            return;
        }
        let existing_ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
        let ip = match existing_ip {
            Some(ip) => {
                self.ips.claim(&ip);
                ip
            }
            None => match self.ips.allocate() {
                Some(ip) => ip,
                None => return eprintln!("fake-kubelet: no pod IP left for {uid}"),
            },
        };
        let job = self.job(&pod, node, ip.clone());
        let task = tokio::spawn(pod_worker::run(job));
        self.tracked.insert(
            uid,
            Tracked {
                task,
                ip: Some(ip),
                deleting: false,
            },
        );
    }

    fn job(&self, pod: &Pod, node: String, pod_ip: String) -> PodJob {
        let mut timing = self.cfg.timing.clone();
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        if let Some(ms) = annotations
            .get(READY_DELAY_ANNOTATION)
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            timing.ready = Duration::from_millis(ms);
        }
        let spec = pod.spec.as_ref();
        let containers = spec
            .into_iter()
            .flat_map(|s| &s.containers)
            .map(|c| {
                (
                    c.name.clone(),
                    c.image.clone().unwrap_or_default(),
                    probe_failure(c, &pod_ip),
                    seen(pod, &c.name),
                )
            })
            .collect();
        let init_containers = spec
            .into_iter()
            .flat_map(|s| s.init_containers.iter().flatten())
            .map(|c| InitJob {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                completed: completed(pod, &c.name),
            })
            .collect();
        let scheduled = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
            .and_then(|c| serde_json::to_value(c).ok());
        PodJob {
            client: self.client.clone(),
            involved: involved(pod, node),
            host_ip: "127.0.0.1".into(),
            pod_ip,
            timing,
            containers,
            init_containers,
            scheduled,
            termination_message: annotations.get(TERMINATION_MESSAGE_ANNOTATION).cloned(),
            start_time: pod
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0),
        }
    }
}

/// When an init container completed, if the pod's status (set by an earlier run of the fake kubelet) says it did.
fn completed(pod: &Pod, container: &str) -> Option<(Timestamp, Timestamp)> {
    let status = pod
        .status
        .as_ref()?
        .init_container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == container)?;
    let done = status.state.as_ref()?.terminated.as_ref()?;
    (done.exit_code == 0).then(|| {
        let at = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
            t.map(|t| t.0).unwrap_or_default()
        };
        (at(done.started_at.as_ref()), at(done.finished_at.as_ref()))
    })
}

/// What the pod's current status says about a container (set by an earlier run of the fake kubelet).
fn seen(pod: &Pod, container: &str) -> Option<Seen> {
    let status = pod
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == container)?;
    let running_since = status
        .state
        .as_ref()
        .and_then(|s| s.running.as_ref())
        .and_then(|r| r.started_at.as_ref())
        .map(|t| t.0);
    let last_state = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| Termination {
            exit_code: t.exit_code,
            reason: t.reason.clone().unwrap_or_default(),
            started_at: t.started_at.as_ref().map(|t| t.0).unwrap_or_default(),
            finished_at: t.finished_at.as_ref().map(|t| t.0).unwrap_or_default(),
            message: t.message.clone(),
        });
    Some(Seen {
        running_since,
        ready: status.ready,
        restart_count: status.restart_count,
        last_state,
    })
}

/// What a failing readiness probe of this container reports, in the kubelet's words for the probe's kind.
fn probe_failure(container: &Container, pod_ip: &str) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let port = |p: &IntOrString| match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    let probe = container.readiness_probe.as_ref();
    if let Some(tcp) = probe.and_then(|p| p.tcp_socket.as_ref()) {
        let port = port(&tcp.port);
        return format!("dial tcp {pod_ip}:{port}: connect: connection refused");
    }
    if let Some(exec) = probe.and_then(|p| p.exec.as_ref()) {
        let command = exec.command.clone().unwrap_or_default().join(" ");
        return format!("command \"{command}\" exited with status 1");
    }
    "HTTP probe failed with statuscode: 503".to_string()
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn involved(pod: &Pod, node: String) -> Involved {
    Involved {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        pod: pod.metadata.name.clone().unwrap_or_default(),
        uid: uid(pod),
        node,
    }
}

/// Stops the containers (Killing events) and removes the pod, as a kubelet does after a graceful delete.
async fn finish_deletion(client: kube::Client, pod: Pod, node: String, delay: Duration) {
    let inv = involved(&pod, node);
    let running: Vec<String> = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
                .map(|c| c.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut recorder = Recorder::new(client.clone(), inv.clone());
    for name in running {
        recorder
            .record(
                Some(&name),
                false,
                "Killing",
                &format!("Stopping container {name}"),
            )
            .await;
    }
    tokio::time::sleep(delay).await;
    let api: Api<Pod> = Api::namespaced(client, &inv.namespace);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(inv.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&inv.pod, &params).await {
        Ok(_) => {}
        Err(e) if matches!(crate::code(&e), Some(404 | 409)) => {}
        Err(e) => eprintln!(
            "fake-kubelet: failed to finish deleting {}/{}: {e}",
            inv.namespace, inv.pod
        ),
    }
}
