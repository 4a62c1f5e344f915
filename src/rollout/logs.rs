//! The last log lines of crashing containers, read the way `kubectl logs --previous --tail 20` reads them:
//! through the `pods/{name}/log` subresource, which the API server answers by asking the pod's node (its kubelet).
//!
//! A log is evidence, not a requirement: a refusal (no RBAC on `pods/log`, a node that cannot serve logs, a
//! container with no previous run) becomes a "logs unavailable" note in the diagnosis and never fails the run.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};

/// Log lines read per crashing container (the diagnosis shows the last of them).
const LOG_TAIL: i64 = 20;

/// Pods of the new RC whose logs are read: the same crash repeats on every replica.
const PODS_READ: usize = 3;

/// The logs of the crashing containers of the first few `pods`, keyed by (pod, container); every log that could
/// not be read is noted in `unreadable`.
pub async fn of_crashing_containers(
    api: &Api<Pod>,
    pods: &[Pod],
    unreadable: &mut Vec<String>,
) -> BTreeMap<(String, String), String> {
    let mut logs = BTreeMap::new();
    for pod in pods.iter().take(PODS_READ) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        for (container, previous) in crashing_containers(pod) {
            match container_log(api, &name, &container, previous).await {
                Ok(text) if !text.is_empty() => {
                    logs.insert((name.clone(), container), text);
                }
                Ok(_) => {}
                Err(note) => unreadable.push(note),
            }
        }
    }
    logs
}

/// The containers that crashed, each with whether its log is the previous run's (the kubelet keeps the last
/// terminated one: `previous=true`) or the current one's.
fn crashing_containers(pod: &Pod) -> Vec<(String, bool)> {
    let status = pod.status.as_ref();
    // Init containers first: one that keeps failing is why the others never start.
    status
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .chain(status.and_then(|s| s.container_statuses.as_ref()))
        .flatten()
        .filter_map(|c| {
            let previous = c
                .last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .is_some();
            (previous || c.restart_count > 0).then(|| (c.name.clone(), previous))
        })
        .collect()
}

/// One container's last [`LOG_TAIL`] lines, or the note saying why there are none.
async fn container_log(
    api: &Api<Pod>,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<String, String> {
    let params = LogParams {
        container: Some(container.to_string()),
        previous,
        tail_lines: Some(LOG_TAIL),
        ..Default::default()
    };
    api.logs(pod, &params).await.map_err(|e| {
        let reason = match &e {
            kube::Error::Api(s) if s.code == 403 => super::kube_ops::explain(&e, "get", "pods/log"),
            kube::Error::Api(s) => format!("the API server answered {}: {}", s.code, s.message),
            other => other.to_string(),
        };
        format!("pods/{pod}/log (container {container}): logs unavailable: {reason}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::json;

    fn crashed_pod(name: &str, restarted: bool) -> Pod {
        let last = if restarted {
            json!({"terminated": {"exitCode": 1, "reason": "Error"}})
        } else {
            json!({})
        };
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns"},
            "status": {"containerStatuses": [
                {"name": "app", "image": "api:2", "imageID": "", "ready": false,
                 "restartCount": if restarted { 3 } else { 0 }, "lastState": last},
                {"name": "sidecar", "image": "proxy:1", "imageID": "", "ready": true, "restartCount": 0},
            ]},
        }))
        .unwrap()
    }

    /// Runs [`of_crashing_containers`] against a mock API server that answers each log request with `answer`
    /// (status, body) and records the request URIs.
    async fn read_with(
        pods: &[Pod],
        answer: (u16, &'static str),
    ) -> (BTreeMap<(String, String), String>, Vec<String>, Vec<String>) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let mut uris = vec![];
            while let Some((request, send)) = handle.next_request().await {
                uris.push(request.uri().to_string());
                let response = Response::builder()
                    .status(answer.0)
                    .body(Body::from(answer.1.as_bytes().to_vec()))
                    .unwrap();
                send.send_response(response);
            }
            uris
        });
        let api: Api<Pod> = Api::namespaced(kube::Client::new(service, "ns"), "ns");
        let mut unreadable = vec![];
        let logs = of_crashing_containers(&api, pods, &mut unreadable).await;
        drop(api);
        (logs, unreadable, server.await.unwrap())
    }

    #[tokio::test]
    async fn reads_the_previous_run_of_restarted_containers_only() {
        let (logs, unreadable, uris) =
            read_with(&[crashed_pod("api-1", true)], (200, "boot\nError: no db\n")).await;
        assert_eq!(
            uris,
            ["/api/v1/namespaces/ns/pods/api-1/log?&container=app&previous=true&tailLines=20"]
        );
        assert_eq!(
            logs.get(&("api-1".into(), "app".into()))
                .map(String::as_str),
            Some("boot\nError: no db\n")
        );
        assert!(unreadable.is_empty(), "{unreadable:?}");
    }

    #[tokio::test]
    async fn a_forbidden_log_is_a_note_with_the_rbac_fix_not_a_failure() {
        let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,
            "message":"pods \"api-1\" is forbidden: User \"ci\" cannot get resource \"pods/log\""}"#;
        let (logs, unreadable, _) = read_with(&[crashed_pod("api-1", true)], (403, status)).await;
        assert!(logs.is_empty());
        assert_eq!(unreadable.len(), 1);
        assert!(
            unreadable[0].starts_with(
                "pods/api-1/log (container app): logs unavailable: forbidden: the credentials cannot `get` pods/log;"
            ),
            "{}",
            unreadable[0]
        );
    }

    #[tokio::test]
    async fn a_node_that_cannot_serve_logs_is_a_note() {
        let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,
            "message":"Get \"https://127.0.0.1:10250/containerLogs/ns/api-1/app\": connection refused"}"#;
        let (logs, unreadable, _) = read_with(&[crashed_pod("api-1", true)], (500, status)).await;
        assert!(logs.is_empty());
        assert_eq!(
            unreadable,
            ["pods/api-1/log (container app): logs unavailable: the API server answered 500: Get \"https://127.0.0.1:10250/containerLogs/ns/api-1/app\": connection refused"]
        );
    }

    #[tokio::test]
    async fn pods_without_crashes_are_not_asked() {
        let (logs, unreadable, uris) = read_with(&[crashed_pod("api-1", false)], (200, "x")).await;
        assert!(uris.is_empty() && logs.is_empty() && unreadable.is_empty());
    }
}
