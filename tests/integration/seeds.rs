//! The seeds' objects and the environment a runner gives the action, shared by the engine's tests.
//!
//! `api-rc` is the seeds' multi-container RC (node-api beside a fluentd sidecar) in its legacy state: selector
//! `name=api-pods` only, no version label. `api-srv` selects `name=api-pods`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Endpoints, Pod, ReplicationController};
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt as _};

use crate::support::TestNs;

pub const READY_DELAY_ANNOTATION: &str = "fake-kubelet.rolling-update.github.io/ready-delay-ms";

/// The seeds' legacy RC and Service; `extra_spec` is YAML appended under the pod spec (indented 6 spaces).
pub fn api_rc_yaml(replicas: i32, ready_delay_ms: u64, cpu: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: api-rc
spec:
  replicas: {replicas}
  selector:
    name: api-pods
  template:
    metadata:
      labels:
        name: api-pods
      annotations:
        {READY_DELAY_ANNOTATION}: "{ready_delay_ms}"
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: node-api-container
        image: registry.local/node-api:1.0
        ports:
        - containerPort: 3000
          protocol: TCP
        resources:
          requests:
            cpu: {cpu}
      - name: fluentd
        image: registry.local/fluentd:v1.16
{extra_spec}
---
apiVersion: v1
kind: Service
metadata:
  name: api-srv
spec:
  selector:
    name: api-pods
  ports:
  - port: 80
    targetPort: 3000
    protocol: TCP
"#
    )
}

/// The INPUT_* and GITHUB_* variables for a push-like run against the test namespace, plus `extra`.
pub fn action_env(ns: &TestNs, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let kubeconfig = std::fs::read_to_string(crate::support::kubeconfig()).expect("kubeconfig");
    let mut env: BTreeMap<String, String> = [
        ("INPUT_KUBECONFIG", kubeconfig.as_str()),
        ("INPUT_NAMESPACE", ns.name.as_str()),
        ("INPUT_RC", "api-rc"),
        ("INPUT_PROGRESS_DEADLINE", "60s"),
        ("INPUT_TIMEOUT", "5m"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_EVENT_NAME", "workflow_dispatch"),
        ("GITHUB_RUN_ID", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// What a watch saw during a rollout: the fewest ready Service endpoints and the most live pods.
#[derive(Debug, Default, Clone)]
pub struct Watched {
    pub min_ready_endpoints: Option<usize>,
    pub max_live_pods: usize,
}

/// Watches `api-srv`'s Endpoints and the namespace's pods until dropped.
pub struct FloorWatch {
    pub seen: Arc<Mutex<Watched>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FloorWatch {
    pub async fn start(ns: &TestNs) -> FloorWatch {
        let seen = Arc::new(Mutex::new(Watched::default()));
        let eps: Api<Endpoints> = Api::namespaced(ns.client.clone(), &ns.name);
        let s = seen.clone();
        let t1 = tokio::spawn(async move {
            let stream = watcher(
                eps,
                watcher::Config::default().fields("metadata.name=api-srv"),
            )
            .default_backoff()
            .applied_objects();
            futures::pin_mut!(stream);
            while let Some(Ok(ep)) = stream.next().await {
                let ready: usize = ep
                    .subsets
                    .unwrap_or_default()
                    .iter()
                    .map(|s| s.addresses.as_ref().map_or(0, |a| a.len()))
                    .sum();
                let mut w = s.lock().unwrap();
                w.min_ready_endpoints = Some(w.min_ready_endpoints.map_or(ready, |m| m.min(ready)));
            }
        });
        let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
        let s = seen.clone();
        let t2 = tokio::spawn(async move {
            let store = kube::runtime::reflector::store::Writer::<Pod>::default();
            let reader = store.as_reader();
            let stream = kube::runtime::reflector(store, watcher(pods, watcher::Config::default()))
                .default_backoff();
            futures::pin_mut!(stream);
            while stream.next().await.is_some() {
                let live = reader
                    .state()
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .count();
                let mut w = s.lock().unwrap();
                w.max_live_pods = w.max_live_pods.max(live);
            }
        });
        // Let both watches list before the rollout starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
        FloorWatch {
            seen,
            tasks: vec![t1, t2],
        }
    }

    /// Starts watching once `api-srv` lists `ready` addresses (the Endpoints controller lags the pods a
    /// little), so the floor measures the rollout, not the seed's start-up.
    pub async fn start_at(ns: &TestNs, ready: usize) -> FloorWatch {
        let eps: Api<Endpoints> = Api::namespaced(ns.client.clone(), &ns.name);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let listed = eps.get_opt("api-srv").await.ok().flatten().map_or(0, |ep| {
                ep.subsets
                    .unwrap_or_default()
                    .iter()
                    .map(|s| s.addresses.as_ref().map_or(0, |a| a.len()))
                    .sum::<usize>()
            });
            if listed >= ready {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "api-srv never listed {ready} ready addresses"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        FloorWatch::start(ns).await
    }

    pub fn watched(&self) -> Watched {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FloorWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Names of the RCs in the namespace, sorted.
pub async fn rc_names(ns: &TestNs) -> Vec<String> {
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let mut names: Vec<String> = rcs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|r| r.metadata.name)
        .collect();
    names.sort();
    names
}

/// Ready, non-terminating pods whose labels include `selector`, and their images (container -> image).
pub async fn ready_pods(ns: &TestNs, selector: &str) -> Vec<BTreeMap<String, String>> {
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    pods.list(&kube::api::ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .map(|p| {
            p.spec
                .unwrap()
                .containers
                .into_iter()
                .map(|c| (c.name, c.image.unwrap_or_default()))
                .collect()
        })
        .collect()
}

/// Applies `yaml` (an `api_rc_yaml`) and waits until `replicas` of its pods are ready, dumping the namespace and
/// failing the test otherwise.
pub async fn seed_api_rc(ns: &TestNs, yaml: &str, replicas: usize, timeout: std::time::Duration) {
    crate::support::apply_yaml(ns, yaml).await;
    let ready = crate::support::wait_for(timeout, || async {
        ready_pods(ns, "name=api-pods").await.len() >= replicas
    })
    .await;
    if ready.is_none() {
        ns.dump().await;
        panic!("the seed's pods did not become ready within {timeout:?}");
    }
}

/// Waits until the RC controller has nothing left to write to `name`'s status (observed generation current, every
/// replica counted ready and available) and returns it, so a test that compares the RC before and after a run
/// compares our writes, not the controller's late status update.
pub async fn settled_rc(ns: &TestNs, name: &str) -> ReplicationController {
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let settled = crate::support::wait_for(Duration::from_secs(60), || async {
        let rc = rcs.get(name).await.unwrap();
        let want = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = rc.status.clone().unwrap_or_default();
        let at_rest = status.observed_generation == rc.metadata.generation
            && status.replicas == want
            && status.fully_labeled_replicas.unwrap_or(0) == want
            && status.ready_replicas.unwrap_or(0) == want
            && status.available_replicas.unwrap_or(0) == want;
        at_rest.then_some(rc)
    })
    .await;
    match settled {
        Some(rc) => rc,
        None => {
            ns.dump().await;
            panic!("the RC controller did not settle `{name}`'s status within 60 s");
        }
    }
}
