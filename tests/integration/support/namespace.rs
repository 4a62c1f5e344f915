//! A namespace per test: parallel tests never see each other's objects, and a failing test leaves a dump of what
//! the cluster looked like (pods, their statuses, the namespace's events) in its output.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod, ReplicationController};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

/// A test's namespace and a client bound to the test's runtime.
pub struct TestNs {
    pub name: String,
    pub client: kube::Client,
    /// Dedicated nodes created for this test, removed with the namespace.
    pub(super) nodes: Arc<Mutex<Vec<String>>>,
}

/// Creates a namespace named `<prefix>-<unique suffix>`.
pub async fn namespace(prefix: &str) -> TestNs {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let seed = (nanos as u64)
        ^ ((std::process::id() as u64) << 32)
        ^ (SEQ.fetch_add(1, Ordering::Relaxed) as u64) << 20;
    let name = format!(
        "{}-{}",
        prefix.trim_end_matches('-'),
        base36(seed % 36u64.pow(6))
    );
    let client = super::client().await;
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": {"rolling-update.test/ns": "true"}}}))
            .expect("a namespace");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("failed to create namespace {name}: {e}"));
    TestNs {
        name,
        client,
        nodes: Arc::default(),
    }
}

fn base36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    for _ in 0..6 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    String::from_utf8(out).expect("ascii")
}

impl TestNs {
    /// Prints (and returns) the namespace's RCs, pods with their statuses, and events, oldest first.
    pub async fn dump(&self) -> String {
        let text = dump(&self.client, &self.name).await;
        println!("{text}");
        text
    }
}

async fn dump(client: &kube::Client, ns: &str) -> String {
    let mut out = format!("===== namespace {ns} =====\n");
    let lp = ListParams::default();
    if let Ok(rcs) = Api::<ReplicationController>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
    {
        for rc in rcs {
            let spec = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            let st = rc.status.unwrap_or_default();
            let _ = writeln!(
                out,
                "rc {}: spec {spec}, replicas {}, ready {}, available {}",
                rc.metadata.name.unwrap_or_default(),
                st.replicas,
                st.ready_replicas.unwrap_or(0),
                st.available_replicas.unwrap_or(0)
            );
        }
    }
    if let Ok(pods) = Api::<Pod>::namespaced(client.clone(), ns).list(&lp).await {
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let node = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_else(|| "-".into());
            let status = pod.status.unwrap_or_default();
            let deleting = if pod.metadata.deletion_timestamp.is_some() {
                " (terminating)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "pod {name}{deleting}: phase {}, node {node}, ip {}",
                status.phase.unwrap_or_default(),
                status.pod_ip.unwrap_or_default()
            );
            for c in status.conditions.unwrap_or_default() {
                let _ = writeln!(
                    out,
                    "  condition {}={} {} {}",
                    c.type_,
                    c.status,
                    c.reason.unwrap_or_default(),
                    c.message.unwrap_or_default()
                );
            }
            for c in status.container_statuses.unwrap_or_default() {
                let state = serde_json::to_string(&c.state).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  container {} ready={} restarts={} state={state}",
                    c.name, c.ready, c.restart_count
                );
            }
        }
    }
    if let Ok(events) = Api::<Event>::namespaced(client.clone(), ns).list(&lp).await {
        let mut events = events.items;
        events.sort_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
        for e in events {
            let _ = writeln!(
                out,
                "event {} {} {}/{}: {} (x{}) from {}",
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.involved_object.kind.unwrap_or_default(),
                e.involved_object.name.unwrap_or_default(),
                e.message.unwrap_or_default(),
                e.count.unwrap_or(1),
                e.source.and_then(|s| s.component).unwrap_or_default()
            );
        }
    }
    out
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let keep = std::env::var("KEEP_NAMESPACES").is_ok_and(|v| v == "1");
        if keep && !panicking {
            return;
        }
        let name = self.name.clone();
        let nodes = std::mem::take(&mut *self.nodes.lock().unwrap_or_else(|e| e.into_inner()));
        // A fresh runtime and client on a plain thread: drop may run inside (or after) the test's runtime.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let client = super::client().await;
                let text = if panicking {
                    Some(dump(&client, &name).await)
                } else {
                    None
                };
                if !keep {
                    let _ = Api::<Namespace>::all(client.clone())
                        .delete(&name, &DeleteParams::background())
                        .await;
                    // Pods left on a removed node are finished by the fake kubelet (it handles orphans).
                    for node in nodes {
                        let _ = Api::<Node>::all(client.clone())
                            .delete(&node, &DeleteParams::default())
                            .await;
                    }
                }
                text
            })
        });
        if let Ok(Some(text)) = cleanup.join() {
            println!("{text}");
        }
    }
}
