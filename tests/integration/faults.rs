//! Faults between the action and the apiserver (issue 9): a flaky network, a persistent outage, an apiserver that
//! goes away for ten seconds. The action talks through [`FaultProxy`]; the floor is watched directly on the
//! apiserver (not through the proxy), so what the Service saw is the truth whatever the action saw.
//!
//! The apiserver restart is simulated: the cluster is shared with every other test, so instead of stopping it the
//! proxy closes its listening socket and drops every open connection (watches included) for ten seconds, then
//! accepts again. To the action that is exactly a stopped and restarted apiserver: connections refused, then back.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, ReplicationController};
use kube::api::Api;

use crate::fault_proxy::{Fault, FaultProxy, Mode};
use crate::seeds::{action_env, api_rc_yaml, rc_names, ready_pods, FloorWatch};
use crate::support::{self, wait_for, TestNs};

const NEXT: &str = "rolling-update.github.io/next-controller";

pub(crate) async fn seed(ns: &TestNs, replicas: i32, ready_delay_ms: u64) {
    let mut yaml = api_rc_yaml(replicas, ready_delay_ms, "10m", "");
    if !yaml.contains("protocol:") {
        // Server-side apply on 1.20 needs the port's protocol (a key of the associative list).
        yaml = yaml.replace("  - port: 80\n", "  - port: 80\n    protocol: TCP\n");
    }
    support::apply_yaml(ns, &yaml).await;
    let ready = wait_for(Duration::from_secs(60), || async {
        ready_pods(ns, "name=api-pods").await.len() >= replicas as usize
    })
    .await;
    assert!(
        ready.is_some(),
        "the seeds' {replicas} pods did not become ready"
    );
    // The floor is measured on the Service's endpoints: start from a full set (the endpoints controller lags
    // behind pod readiness, more so when many tests run at once).
    let endpoints: Api<Endpoints> = Api::namespaced(ns.client.clone(), &ns.name);
    let full = wait_for(Duration::from_secs(30), || async {
        let ready: usize = endpoints
            .get_opt("api-srv")
            .await
            .ok()
            .flatten()
            .and_then(|e| e.subsets)
            .unwrap_or_default()
            .iter()
            .map(|s| s.addresses.as_ref().map_or(0, |a| a.len()))
            .sum();
        ready >= replicas as usize
    })
    .await;
    assert!(
        full.is_some(),
        "api-srv never had {replicas} ready endpoints"
    );
}

fn env_via(ns: &TestNs, proxy: &FaultProxy, version: &str) -> BTreeMap<String, String> {
    let image = format!("node-api-container=registry.local/node-api:{version}");
    let mut env = action_env(ns, &[("INPUT_IMAGES", &image), ("INPUT_VERSION", version)]);
    env.insert("INPUT_KUBECONFIG".into(), proxy.kubeconfig());
    env
}

pub(crate) async fn rc(ns: &TestNs, name: &str) -> Option<ReplicationController> {
    Api::<ReplicationController>::namespaced(ns.client.clone(), &ns.name)
        .get_opt(name)
        .await
        .unwrap()
}

pub(crate) fn replicas(rc: &ReplicationController) -> i32 {
    rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// Waits until the action has created `name` and scaled it to at least 1 (the rollout is under way).
async fn wait_rollout_under_way(ns: &TestNs, name: &str) {
    let started = wait_for(Duration::from_secs(60), || async {
        rc(ns, name).await.is_some_and(|r| replicas(&r) >= 1)
    })
    .await;
    assert!(started.is_some(), "the rollout to {name} did not start");
}

/// The state a stopped run must leave: the old RC still serving and marked for resume, the new RC within the
/// surge limit, nothing else.
async fn assert_consistent_and_resumable(
    ns: &TestNs,
    old: &str,
    new: &str,
    desired: i32,
    surge: i32,
) {
    let old_rc = rc(ns, old).await.expect("the old RC is still there");
    let new_rc = rc(ns, new).await.expect("the new RC is still there");
    let ann = old_rc.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        ann.get(NEXT).map(String::as_str),
        Some(new),
        "the old RC records where the update was going"
    );
    let total = replicas(&old_rc) + replicas(&new_rc);
    assert!(
        total <= desired + surge && total >= desired,
        "replicas {old}={} {new}={} outside [{desired}, {}]",
        replicas(&old_rc),
        replicas(&new_rc),
        desired + surge
    );
    let mut names = rc_names(ns).await;
    names.sort();
    assert_eq!(
        names,
        vec![old.to_string(), new.to_string()],
        "no other RC appeared"
    );
}

#[tokio::test]
async fn ten_percent_faults_the_rollout_completes_with_the_floor_held() {
    let ns = support::namespace("fault-ten").await;
    // 8 replicas: enough requests that exactly 10% of them cover five kinds of faults.
    seed(&ns, 8, 400).await;
    let proxy = FaultProxy::start(Mode::Faults { percent: 10 }, 3).await;
    let watch = FloorWatch::start(&ns).await;
    let run = support::run_action(&env_via(&ns, &proxy, "v2")).await;
    let stats = proxy.stats();
    println!("proxy: {stats:?}");
    assert_eq!(run.code, 0, "the rollout completes despite the faults");
    let cuts = stats.injected.get(&Fault::CutWatch).copied().unwrap_or(0);
    assert!(
        stats.share * 10 + 10 >= stats.requests && stats.total_injected() >= stats.share,
        "10% of the requests got a fault: {stats:?}"
    );
    assert!(
        stats.injected.len() >= 5,
        "several kinds of faults: {stats:?}"
    );
    assert!(cuts >= 1, "watches were cut mid-way: {stats:?}");
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v2".to_string()]);
    let pods = ready_pods(&ns, "name=api-pods,version=v2").await;
    assert_eq!(pods.len(), 8);
    assert!(pods
        .iter()
        .all(|p| p["node-api-container"] == "registry.local/node-api:v2"));
    let seen = watch.watched();
    assert!(
        seen.min_ready_endpoints.unwrap() >= 8,
        "the Service fell below 8 ready endpoints: {seen:?}"
    );
    assert!(
        seen.max_live_pods <= 9,
        "more than desired + surge pods: {seen:?}"
    );
    let lease =
        Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(ns.client.clone(), &ns.name);
    assert!(
        lease
            .get_opt("rolling-update-api-rc")
            .await
            .unwrap()
            .is_none(),
        "the lock is released"
    );
}

#[tokio::test]
async fn a_persistent_503_ends_in_exit_3_leaving_a_resumable_state() {
    let ns = support::namespace("fault-503").await;
    seed(&ns, 3, 1500).await;
    let proxy = FaultProxy::start(Mode::Pass, 7).await;
    let watch = FloorWatch::start(&ns).await;
    let env = env_via(&ns, &proxy, "v3");
    let running = tokio::spawn({
        let env = env.clone();
        async move { support::run_action(&env).await }
    });
    wait_rollout_under_way(&ns, "api-rc-v3").await;
    proxy.set_mode(Mode::AlwaysUnavailable);
    let started = std::time::Instant::now();
    let run = tokio::time::timeout(Duration::from_secs(120), running)
        .await
        .expect("the run ends")
        .unwrap();
    println!(
        "ended {:?} after the outage began; proxy: {:?}",
        started.elapsed(),
        proxy.stats()
    );
    assert_eq!(run.code, 3, "a persistent fault is an infrastructure error");
    assert!(
        run.stdout.contains("Result: ERROR"),
        "reported as an error outcome"
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("503") || all.contains("unavailable"),
        "says what the cluster answered"
    );
    assert_consistent_and_resumable(&ns, "api-rc", "api-rc-v3", 3, 1).await;

    // The cluster is back: a re-run resumes and completes.
    proxy.set_mode(Mode::Pass);
    let again = support::run_action(&env).await;
    assert_eq!(again.code, 0, "a re-run completes");
    assert!(
        again
            .stdout
            .contains("Continuing update with existing controller api-rc-v3"),
        "it resumed"
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v3".to_string()]);
    assert_eq!(ready_pods(&ns, "version=v3").await.len(), 3);
    let seen = watch.watched();
    assert!(
        seen.min_ready_endpoints.unwrap() >= 3,
        "floor broken: {seen:?}"
    );
    assert!(seen.max_live_pods <= 4, "{seen:?}");
}

#[tokio::test]
async fn an_apiserver_gone_for_ten_seconds_mid_rollout_resumes_or_a_rerun_completes() {
    let ns = support::namespace("fault-restart").await;
    seed(&ns, 4, 1000).await;
    let proxy = FaultProxy::start(Mode::Pass, 11).await;
    let watch = FloorWatch::start(&ns).await;
    let env = env_via(&ns, &proxy, "v4");
    let running = tokio::spawn({
        let env = env.clone();
        async move { support::run_action(&env).await }
    });
    wait_rollout_under_way(&ns, "api-rc-v4").await;
    proxy.set_mode(Mode::Refuse);
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.set_mode(Mode::Pass);
    let run = tokio::time::timeout(Duration::from_secs(180), running)
        .await
        .expect("the run ends")
        .unwrap();
    assert!(
        proxy.stats().refused_or_dropped >= 1,
        "the outage cut the open connections: {:?}",
        proxy.stats()
    );
    match run.code {
        0 => println!("the run itself resumed after the outage"),
        3 => {
            println!("the run stopped with an infrastructure error; re-running");
            assert_consistent_and_resumable(&ns, "api-rc", "api-rc-v4", 4, 1).await;
            let again = support::run_action(&env).await;
            assert_eq!(again.code, 0, "a re-run completes");
        }
        other => {
            panic!("unexpected exit code {other}: neither resumed nor an infrastructure error")
        }
    }
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v4".to_string()]);
    assert_eq!(ready_pods(&ns, "version=v4").await.len(), 4);
    let seen = watch.watched();
    assert!(
        seen.min_ready_endpoints.unwrap() >= 4,
        "floor broken during the outage: {seen:?}"
    );
    assert!(seen.max_live_pods <= 5, "{seen:?}");
}
