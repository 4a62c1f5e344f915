//! Nodes and the other namespaces' pods, for the capacity model, from one watch per run instead of one full list per
//! diagnosis.
//!
//! Why: a stuck rollout is diagnosed every 2 s, and each diagnosis used to page through every pod of the cluster
//! (100 per request). On a cluster of 10,000 pods that was about a hundred requests and 16 MB every 2 s, to learn
//! what a watch says in a few events (bench/results.md, "Cost of a diagnosis"). So the first reader of a run (the
//! pre-flight check, or the first diagnosis) lists nodes and pods once and keeps watching them; every later one
//! reads the cache. A rollout that is never stuck pays that one list, as it paid the pre-flight's before, and the
//! watch's events; one that is stuck no longer pays per diagnosis. The tasks stop when the run drops the cache.
//!
//! What is kept is what [`crate::diagnosis`] reads of those objects, nothing more: a pod keeps its name,
//! namespace, node, phase, deletion mark and the resource fields of its containers (the scheduler's request rule
//! needs init containers' restart policy and pod-level resources too, see `diagnosis/resources.rs`); a node loses
//! its image list and managedFields. The server filters too: only pods bound to a node and not finished (the
//! scheduler's own selector for "assigned pods"), the only ones that use room on a node.
//!
//! Reads that are not allowed degrade the diagnosis as before and are never retried: a forbidden list (the README's
//! namespaced Role grants no cluster reads) is recorded in `unreadable` once per diagnosis and the watch is not
//! started again; a forbidden watch after an allowed list (a ClusterRole written before this cache, `list` only)
//! falls back to one paged list per diagnosis, the cost of old.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::{reflector, watcher, WatchStreamExt as _};
use tokio::sync::{watch, Mutex};

use super::kube_ops;

/// How long a diagnosis waits for the first list of a cache before it goes on without it (the watch keeps
/// trying, with backoff, for the next diagnosis).
const FIRST_LIST_WITHIN: Duration = Duration::from_secs(20);
/// Objects per list page: kube's and kubectl's chunk size. Pages are trimmed as they arrive (see module doc).
const PAGE: u32 = 500;
/// Pods that take room on a node: bound, and not finished.
const ASSIGNED_PODS: &str = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed";

/// The run's cluster-wide reads. Cheap to create; nothing is read until [`ClusterCache::nodes`] or
/// [`ClusterCache::pods`] is first called.
pub struct ClusterCache {
    client: kube::Client,
    nodes: Lazy<Node>,
    pods: Lazy<Pod>,
}

impl ClusterCache {
    /// `own_namespace`'s pods are left out: the run reads them whole from its engine's pod watch.
    pub fn new(client: kube::Client, own_namespace: &str) -> ClusterCache {
        let pods = format!("{ASSIGNED_PODS},metadata.namespace!={own_namespace}");
        ClusterCache {
            client,
            nodes: Lazy::new("nodes", None, trim_node),
            pods: Lazy::new("pods in other namespaces", Some(pods), trim_pod),
        }
    }

    /// Starts listing nodes and pods now, without waiting: a run calls it as soon as it is connected, so the
    /// lists run while the lock is taken and the namespace observed, and the pre-flight check finds them done.
    pub async fn warm(&self) {
        self.nodes.ensure_started(&self.client).await;
        self.pods.ensure_started(&self.client).await;
    }

    /// Every node; empty, with the reason in `unreadable`, when they cannot be read.
    pub async fn nodes(&self, unreadable: &mut Vec<String>) -> Vec<Node> {
        let nodes = self.nodes.read(&self.client, unreadable).await;
        nodes.iter().map(|n| Node::clone(n)).collect()
    }

    /// Every pod bound to a node and not finished, in every other namespace, trimmed to what the capacity model reads;
    /// empty, with the reason in `unreadable`, when they cannot be read. Shared with the cache, not copied.
    pub async fn pods(&self, unreadable: &mut Vec<String>) -> Vec<Arc<Pod>> {
        self.pods.read(&self.client, unreadable).await
    }
}

/// How a cache's watch is doing, as its task reports it.
#[derive(Debug, Clone, PartialEq)]
enum Health {
    /// Listing; the last error, if any, while it retries.
    Listing(Option<String>),
    /// Listed and watching: the store is complete.
    Ready,
    /// The list is forbidden: the task has stopped, and reads report this.
    Denied(String),
    /// The list was allowed, the watch is not: the task has stopped, and reads list directly.
    ListOnly,
}

enum State<K: kube::Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    Unstarted,
    Started {
        store: reflector::Store<K>,
        health: watch::Receiver<Health>,
        task: tokio::task::JoinHandle<()>,
    },
}

/// One resource's cache, started by the first read.
struct Lazy<K: kube::Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    what: &'static str,
    fields: Option<String>,
    trim: fn(&mut K),
    state: Mutex<State<K>>,
}

impl<K> Lazy<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    fn new(what: &'static str, fields: Option<String>, trim: fn(&mut K)) -> Lazy<K> {
        Lazy {
            what,
            fields,
            trim,
            state: Mutex::new(State::Unstarted),
        }
    }

    fn start(&self, api: Api<K>) -> State<K> {
        let (store, writer) = reflector::store();
        let mut config = watcher::Config::default().page_size(PAGE);
        if let Some(fields) = &self.fields {
            config = config.fields(fields);
        }
        let trim = self.trim;
        let stream = reflector(writer, watcher(api, config).default_backoff().modify(trim));
        let (tx, health) = watch::channel(Health::Listing(None));
        let what = self.what;
        let task = tokio::spawn(async move {
            futures::pin_mut!(stream);
            let mut listed = false;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::InitDone) => {
                        listed = true;
                        tx.send_replace(Health::Ready);
                    }
                    Ok(_) => {}
                    Err(e) => match denied(&e) {
                        // Stop: the credentials will not change during the run, and retrying a 403 every few
                        // seconds only loads the API server and its audit log.
                        Some(_) if listed => {
                            tx.send_replace(Health::ListOnly);
                            return;
                        }
                        Some(cause) => {
                            tx.send_replace(Health::Denied(kube_ops::explain(cause, "list", what)));
                            return;
                        }
                        None if !listed => {
                            tx.send_replace(Health::Listing(Some(format!("not listed yet ({e})"))));
                        }
                        // A watch that ends or fails after the list is resumed by the watcher (re-listing if
                        // its resourceVersion is too old); the store keeps answering meanwhile.
                        None => {}
                    },
                }
            }
        });
        State::Started {
            store,
            health,
            task,
        }
    }

    async fn ensure_started(&self, client: &kube::Client) {
        let mut state = self.state.lock().await;
        if matches!(*state, State::Unstarted) {
            *state = self.start(Api::all(client.clone()));
        }
    }

    async fn read(&self, client: &kube::Client, unreadable: &mut Vec<String>) -> Vec<Arc<K>> {
        let mut state = self.state.lock().await;
        if matches!(*state, State::Unstarted) {
            *state = self.start(Api::all(client.clone()));
        }
        let State::Started { store, health, .. } = &mut *state else {
            unreachable!("started above")
        };
        let settled = |h: &Health| !matches!(h, Health::Listing(_));
        // Whatever the wait ends with (settled, timed out, the task gone), the health says what to do.
        let _ = tokio::time::timeout(FIRST_LIST_WITHIN, health.wait_for(settled)).await;
        let now = health.borrow().clone();
        match now {
            Health::Ready => store.state(),
            Health::Denied(why) => {
                unreadable.push(format!("{}: {why}", self.what));
                vec![]
            }
            Health::ListOnly => {
                let api: Api<K> = Api::all(client.clone());
                let items = super::snapshot::list_or_note(
                    api,
                    self.what,
                    self.fields.as_deref(),
                    unreadable,
                )
                .await;
                items
                    .into_iter()
                    .map(|mut k| {
                        (self.trim)(&mut k);
                        Arc::new(k)
                    })
                    .collect()
            }
            Health::Listing(error) => {
                let why = error.unwrap_or_else(|| {
                    format!("not listed within {} s", FIRST_LIST_WITHIN.as_secs())
                });
                unreadable.push(format!("{}: {why}", self.what));
                vec![]
            }
        }
    }
}

impl<K: kube::Resource + 'static> Drop for Lazy<K>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    fn drop(&mut self) {
        if let State::Started { task, .. } = self.state.get_mut() {
            task.abort();
        }
    }
}

/// The error a request was refused with (401, 403), if that is what `e` is.
fn denied(e: &watcher::Error) -> Option<&kube::Error> {
    match e {
        watcher::Error::InitialListFailed(cause)
        | watcher::Error::WatchStartFailed(cause)
        | watcher::Error::WatchFailed(cause) => {
            matches!(cause, kube::Error::Api(s) if s.code == 401 || s.code == 403).then_some(cause)
        }
        _ => None,
    }
}

/// A pod as the capacity model reads it: where it runs, whether it still holds room, and what it requests.
pub fn trim_pod(pod: &mut Pod) {
    let meta = std::mem::take(&mut pod.metadata);
    pod.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        deletion_timestamp: meta.deletion_timestamp,
        ..ObjectMeta::default()
    };
    let resources_only = |c: &Container| Container {
        name: c.name.clone(),
        resources: c.resources.clone(),
        restart_policy: c.restart_policy.clone(),
        ..Container::default()
    };
    pod.spec = pod.spec.take().map(|spec| PodSpec {
        node_name: spec.node_name,
        containers: spec.containers.iter().map(resources_only).collect(),
        init_containers: spec
            .init_containers
            .map(|cs| cs.iter().map(resources_only).collect()),
        resources: spec.resources,
        overhead: spec.overhead,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|status| PodStatus {
        phase: status.phase,
        ..PodStatus::default()
    });
}

/// A node without what no rule reads and most of its size is: managedFields and the list of cached images.
pub fn trim_node(node: &mut Node) {
    node.metadata.managed_fields = None;
    if let Some(status) = node.status.as_mut() {
        status.images = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::json;

    /// Serves `answer(method, path_and_query)` for every request and records each request line; `None` holds the
    /// request open (a watch with no events yet).
    fn mock(
        answer: impl Fn(&str, &str) -> Option<(u16, String)> + Send + 'static,
    ) -> (kube::Client, Arc<std::sync::Mutex<Vec<String>>>) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let seen = Arc::new(std::sync::Mutex::new(vec![]));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut open = vec![];
            while let Some((request, send)) = handle.next_request().await {
                let line = format!(
                    "{} {}",
                    request.method(),
                    request
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("")
                );
                log.lock().unwrap().push(line.clone());
                let (method, path) = line.split_once(' ').unwrap();
                let Some((code, body)) = answer(method, path) else {
                    open.push(send);
                    continue;
                };
                let response = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(body.into_bytes()))
                    .unwrap();
                send.send_response(response);
            }
        });
        (kube::Client::new(service, "default"), seen)
    }

    fn forbidden(what: &str) -> (u16, String) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
            "code": 403, "message": format!("{what} is forbidden: User \"ci\" cannot list resource")});
        (403, status.to_string())
    }

    fn pod_list() -> (u16, String) {
        let pod = json!({"metadata": {"name": "other", "namespace": "elsewhere", "resourceVersion": "5",
                "labels": {"app": "x"}, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "big:1", "command": ["sleep"],
                "resources": {"requests": {"cpu": "300m"}}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}});
        let list = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "10"},
            "items": [pod]});
        (200, list.to_string())
    }

    fn is_list(method: &str, path: &str) -> bool {
        method == "GET" && !path.contains("watch=true")
    }

    #[tokio::test]
    async fn pods_are_listed_once_then_read_from_the_watch_trimmed() {
        let (client, seen) = mock(|method, path| is_list(method, path).then(pod_list));
        let cache = ClusterCache::new(client, "app");
        for _ in 0..5 {
            let mut unreadable = vec![];
            let pods = cache.pods(&mut unreadable).await;
            assert_eq!(unreadable, Vec::<String>::new());
            assert_eq!(pods.len(), 1);
            let pod = &pods[0];
            assert_eq!(pod.metadata.name.as_deref(), Some("other"));
            assert_eq!(pod.metadata.labels, None, "trimmed");
            assert_eq!(pod.metadata.managed_fields, None, "trimmed");
            let spec = pod.spec.as_ref().unwrap();
            assert_eq!(spec.node_name.as_deref(), Some("n1"));
            assert_eq!(spec.containers[0].image, None, "trimmed");
            assert!(spec.containers[0].resources.is_some(), "requests kept");
            assert_eq!(
                pod.status.as_ref().unwrap().phase.as_deref(),
                Some("Running")
            );
        }
        let lists: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| !l.contains("watch=true"))
            .cloned()
            .collect();
        assert_eq!(lists.len(), 1, "one list for five reads: {lists:?}");
        assert!(
            lists[0].contains("fieldSelector=spec.nodeName%21%3D%2Cstatus.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed%2Cmetadata.namespace%21%3Dapp"),
            "only assigned, unfinished pods of other namespaces: {}",
            lists[0]
        );
    }

    #[tokio::test]
    async fn a_forbidden_list_is_recorded_on_every_read_and_never_retried() {
        let (client, seen) = mock(|_, _| Some(forbidden("nodes")));
        let cache = ClusterCache::new(client, "app");
        for _ in 0..3 {
            let mut unreadable = vec![];
            assert!(cache.nodes(&mut unreadable).await.is_empty());
            assert_eq!(unreadable.len(), 1, "{unreadable:?}");
            assert!(
                unreadable[0].starts_with("nodes: forbidden: the credentials cannot `list` nodes"),
                "{unreadable:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(seen.lock().unwrap().len(), 1, "{:?}", seen.lock().unwrap());
    }

    #[tokio::test]
    async fn a_forbidden_watch_falls_back_to_a_list_per_read() {
        let (client, seen) = mock(|method, path| {
            Some(if is_list(method, path) {
                pod_list()
            } else {
                forbidden("pods")
            })
        });
        let cache = ClusterCache::new(client, "app");
        let mut first = vec![];
        assert_eq!(cache.pods(&mut first).await.len(), 1);
        // The watch is refused right after the list; let the task see it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = seen.lock().unwrap().len();
        for _ in 0..3 {
            let mut unreadable = vec![];
            let pods = cache.pods(&mut unreadable).await;
            assert_eq!((pods.len(), unreadable.len()), (1, 0), "{unreadable:?}");
            assert_eq!(pods[0].metadata.labels, None, "trimmed as the watch would");
        }
        let requests = seen.lock().unwrap().clone();
        let watches = requests.iter().filter(|l| l.contains("watch=true")).count();
        assert_eq!(watches, 1, "the refused watch is not retried: {requests:?}");
        let after: Vec<&String> = requests[before..].iter().collect();
        assert_eq!(after.len(), 3, "one list per read: {after:?}");
        assert!(after.iter().all(|l| is_list("GET", l)), "{after:?}");
    }
}
