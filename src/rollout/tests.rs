//! The engine's small contracts that need no cluster (issue 12's smaller items): a create's 409 is an answer, a
//! closed cancel channel is waited on, not spun on, the timeout's budget, the previous template's size; and the
//! pod watch that several engines share.

use std::time::Duration;

use http::{Request, Response};
use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::Api;
use kube::client::Body;

use super::{
    cancel_changed, create_rc, previous_template, rollback_budget, update_budget, PodWatch,
    PREVIOUS_TEMPLATE_MAX,
};
use crate::inputs::OnFailure;

fn status(code: u16, reason: &str) -> String {
    serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
        "code": code, "message": reason})
    .to_string()
}

/// A create whose first attempt landed but whose answer was lost (a 500), retried, meets 409: the RC is read,
/// not created again, and the 409 is not retried (it used to cost 6 s of backoff and then fail the run).
#[tokio::test]
async fn a_create_answered_409_reads_the_rc_instead_of_retrying() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut seen = vec![];
        let mut posts = 0;
        while let Some((request, send)) = handle.next_request().await {
            seen.push(format!("{} {}", request.method(), request.uri().path()));
            let (code, body) = match request.method().as_str() {
                "POST" => {
                    posts += 1;
                    if posts == 1 {
                        (500, status(500, "InternalError"))
                    } else {
                        (409, status(409, "AlreadyExists"))
                    }
                }
                _ => (
                    200,
                    serde_json::json!({"apiVersion": "v1", "kind": "ReplicationController",
                        "metadata": {"name": "api-rc-v2", "uid": "u-1"}})
                    .to_string(),
                ),
            };
            send.send_response(
                Response::builder()
                    .status(code)
                    .body(Body::from(body.into_bytes()))
                    .unwrap(),
            );
        }
        seen
    });
    let api: Api<ReplicationController> = Api::namespaced(kube::Client::new(service, "ns"), "ns");
    let rc: ReplicationController = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "api-rc-v2"}, "spec": {"replicas": 0}}),
    )
    .unwrap();
    let created = create_rc(&api, &rc).await.expect("the 409 is an answer");
    drop(api);
    assert_eq!(created.metadata.uid.as_deref(), Some("u-1"));
    assert_eq!(
        server.await.unwrap(),
        [
            "POST /api/v1/namespaces/ns/replicationcontrollers",
            "POST /api/v1/namespaces/ns/replicationcontrollers",
            "GET /api/v1/namespaces/ns/replicationcontrollers/api-rc-v2",
        ]
    );
}

/// A cancel channel whose sender is gone never signals again: waiting on it must not resolve at once (the
/// engine's wait loop would spin at 100 % CPU), while a real cancel is seen.
#[tokio::test]
async fn a_closed_cancel_channel_is_waited_on_not_spun_on() {
    let (tx, rx) = tokio::sync::watch::channel(false);
    drop(tx);
    let waited = tokio::time::timeout(Duration::from_millis(200), cancel_changed(rx)).await;
    assert!(waited.is_err(), "resolved at once on a closed channel");

    let (tx, rx) = tokio::sync::watch::channel(false);
    let waiting = tokio::spawn(cancel_changed(rx));
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("a cancel is seen")
        .unwrap();
}

fn pod(name: &str, version: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": version,
            "managedFields": [{"manager": "kubectl"}]}})
}

/// Drains the changes `watch` has not seen yet: true when at least one was there.
async fn drain(watch: &mut PodWatch) -> bool {
    let mut any = false;
    while tokio::time::timeout(Duration::from_millis(100), watch.next_change())
        .await
        .is_ok()
    {
        any = true;
    }
    any
}

/// The engines of a several-RC run share one pod watch of the namespace (one decode of each pod event, not one
/// per RC): every handle must be told of every change on its own (a shared `Notify` woke only one of them), and
/// the watch must run until the last handle is gone.
#[tokio::test]
async fn every_handle_of_a_shared_pod_watch_sees_every_change() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (watch_tx, watch_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut watch_tx = Some(watch_tx);
        let mut held = vec![];
        while let Some((request, send)) = handle.next_request().await {
            let watching = request.uri().query().unwrap_or("").contains("watch=true");
            match (watching, watch_tx.take()) {
                (false, tx) => {
                    watch_tx = tx;
                    let list = serde_json::json!({"apiVersion": "v1", "kind": "PodList",
                        "metadata": {"resourceVersion": "10"}, "items": [pod("api-1", "10")]});
                    send.send_response(Response::new(Body::from(list.to_string().into_bytes())));
                }
                // The first watch is answered when the test says; later ones are held open.
                (true, Some(tx)) => {
                    let _ = tx.send(send);
                }
                (true, None) => held.push(send),
            }
        }
    });
    let client = kube::Client::new(service, "ns");
    let mut first = PodWatch::start(client, "ns");
    let mut second = first.clone();
    first.ready().await.expect("listed");
    assert!(drain(&mut first).await, "the list is a change");
    assert!(
        drain(&mut second).await,
        "the list is a change for every handle"
    );
    assert!(!drain(&mut first).await && !drain(&mut second).await);

    let added = serde_json::json!({"type": "ADDED", "object": pod("api-2", "11")});
    watch_rx
        .await
        .expect("the watch was opened")
        .send_response(Response::new(Body::from(format!("{added}\n").into_bytes())));
    for (which, watch) in [("first", &mut first), ("second", &mut second)] {
        tokio::time::timeout(Duration::from_secs(5), watch.next_change())
            .await
            .unwrap_or_else(|_| panic!("the {which} handle was not told of the new pod"));
        assert_eq!(watch.reader.state().len(), 2, "{which}");
    }
    let pods = first.reader.state();
    assert!(
        pods.iter().all(|p| p.metadata.managed_fields.is_none()),
        "managedFields are not kept"
    );

    let task = first.task.0.abort_handle();
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "stopped while a handle was left");
    drop(second);
    tokio::time::timeout(Duration::from_secs(5), async {
        while !task.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the watch stops with its last handle");
}

/// Issue 12, item 8: one timeout for the whole run; with `on_failure: rollback` the update stops with a
/// quarter left for the rollback, so the run reports before the job's own limit.
#[test]
fn the_update_leaves_the_rollback_a_quarter_of_the_timeout() {
    let t = Duration::from_secs(1800);
    assert_eq!(
        update_budget(t, OnFailure::Rollback),
        Duration::from_secs(1350)
    );
    assert_eq!(
        update_budget(t, OnFailure::Rollback) + rollback_budget(t),
        t,
        "update and rollback together fit the timeout"
    );
    assert_eq!(update_budget(t, OnFailure::Keep), t, "nothing to keep back");
}

/// Issue 12, item 9: the previous template is recorded unless it would not fit the annotations' 256 KiB.
#[test]
fn a_previous_template_too_large_to_record_is_left_out() {
    let small: ReplicationController = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "api-rc"},
        "spec": {"template": {"metadata": {"labels": {"name": "api-pods"}}}}
    }))
    .unwrap();
    assert!(previous_template(&small)
        .unwrap()
        .unwrap()
        .contains("api-pods"));
    let mut big = small.clone();
    let env: Vec<serde_json::Value> = (0..2000)
        .map(|i| serde_json::json!({"name": format!("VAR_{i}"), "value": "x".repeat(100)}))
        .collect();
    big.spec.as_mut().unwrap().template = Some(
        serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "api", "image": "a:1", "env": env}]}
        }))
        .unwrap(),
    );
    let size = previous_template(&big).unwrap_err();
    assert!(size > PREVIOUS_TEMPLATE_MAX, "{size}");
}
