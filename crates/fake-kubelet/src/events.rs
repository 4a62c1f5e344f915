//! Recording core/v1 Events the way a kubelet's event recorder does.
//!
//! A kubelet does not create a new Event for every repetition: identical events (same object, reason and message)
//! are folded into one whose `count` grows. Diagnosis reads "BackOff (12 events)", so the fake must fold them too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::pod_status::time;

static EVENT_SEQ: AtomicU64 = AtomicU64::new(0);

/// The object an event is about.
#[derive(Clone)]
pub struct Involved {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub node: String,
}

/// Records events for one pod, folding repeats.
pub struct Recorder {
    api: Api<Event>,
    involved: Involved,
    seen: HashMap<(Option<String>, String, String), (String, i32)>,
}

impl Recorder {
    pub fn new(client: kube::Client, involved: Involved) -> Self {
        Recorder {
            api: Api::namespaced(client, &involved.namespace),
            involved,
            seen: HashMap::new(),
        }
    }

    /// Records one event about the pod or (with `container`) one of its containers. Failures are logged and
    /// swallowed: a terminating namespace refuses new events and that must not stop the simulation.
    pub async fn record(
        &mut self,
        container: Option<&str>,
        warning: bool,
        reason: &str,
        message: &str,
    ) {
        let field_path = container.map(|c| format!("spec.containers{{{c}}}"));
        let key = (field_path.clone(), reason.to_string(), message.to_string());
        let now = time(Timestamp::now());
        if let Some((name, count)) = self.seen.get_mut(&key) {
            *count += 1;
            let patch = json!({"count": *count, "lastTimestamp": now});
            if let Err(e) = self
                .api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                log_failure(&self.involved, reason, &e);
            }
            return;
        }
        let seq = EVENT_SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = Timestamp::now().as_nanosecond() as u64;
        let name = format!("{}.{:x}", self.involved.pod, nanos.wrapping_add(seq));
        let inv = &self.involved;
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": inv.namespace},
            "involvedObject": {
                "apiVersion": "v1", "kind": "Pod", "namespace": inv.namespace, "name": inv.pod, "uid": inv.uid,
                "fieldPath": field_path,
            },
            "reason": reason,
            "message": message,
            "source": {"component": "kubelet", "host": inv.node},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": if warning { "Warning" } else { "Normal" },
        });
        let event: Event = match serde_json::from_value(event) {
            Ok(e) => e,
            Err(e) => return eprintln!("fake-kubelet: could not build an event: {e}"),
        };
        match self.api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                self.seen.insert(key, (name, 1));
            }
            Err(e) => log_failure(inv, reason, &e),
        }
    }
}

fn log_failure(inv: &Involved, reason: &str, e: &kube::Error) {
    // A namespace being deleted refuses new events; that is expected at the end of every test.
    if matches!(e, kube::Error::Api(s) if s.code == 403 && s.message.contains("being terminated")) {
        return;
    }
    eprintln!(
        "fake-kubelet: failed to record event {reason} for pod {}/{}: {e}",
        inv.namespace, inv.pod
    );
}
