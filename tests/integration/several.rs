//! Several RCs in one step (issue 16): the seeds' API behind its Service and a worker, rolled together, all or
//! nothing, on the real control plane.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::Api;

use crate::seeds::{action_env, api_rc_yaml, rc_names, ready_pods, FloorWatch};
use crate::support::{self, TestNs};

const WORKER: &str = r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: worker-rc
spec:
  replicas: 2
  selector: {app: worker}
  template:
    metadata:
      labels: {app: worker}
      annotations: {fake-kubelet.rolling-update.github.io/ready-delay-ms: "WORKER_DELAY_MS"}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: worker, image: "registry.local/worker:1.0"}
      - {name: fluentd, image: "registry.local/fluentd:v1.16"}
"#;

async fn seed_both(ns: &TestNs) {
    seed_with_worker_delay(ns, 300).await;
}

/// The API (3 pods, ready 300 ms after start) and the worker (2 pods, ready `worker_delay_ms` after start).
async fn seed_with_worker_delay(ns: &TestNs, worker_delay_ms: u64) {
    support::apply_yaml(ns, &api_rc_yaml(3, 300, "10m", "")).await;
    support::apply_yaml(
        ns,
        &WORKER.replace("WORKER_DELAY_MS", &worker_delay_ms.to_string()),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while ready_pods(ns, "name=api-pods").await.len() < 3
        || ready_pods(ns, "app=worker").await.len() < 2
    {
        assert!(Instant::now() < deadline, "seeds not ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn env(
    ns: &TestNs,
    images: &str,
    version: &str,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut e = action_env(
        ns,
        &[
            ("INPUT_RC", "api-rc\nworker-rc"),
            ("INPUT_IMAGES", images),
            ("INPUT_VERSION", version),
        ],
    );
    for (k, v) in extra {
        e.insert(k.to_string(), v.to_string());
    }
    e
}

async fn replicas(ns: &TestNs, name: &str) -> Option<i32> {
    Api::<ReplicationController>::namespaced(ns.client.clone(), &ns.name)
        .get_opt(name)
        .await
        .unwrap()
        .and_then(|r| r.spec)
        .and_then(|s| s.replicas)
}

#[tokio::test]
async fn an_api_and_its_worker_roll_together_with_one_report() {
    let ns = support::namespace("several-ok").await;
    seed_both(&ns).await;
    let watch = FloorWatch::start_at(&ns, 3).await;
    let images = "node-api-container=registry.local/node-api:2.0\nworker-rc:worker=registry.local/worker:2.0\nfluentd=registry.local/fluentd:v1.17";
    let run = support::run_action(&env(&ns, images, "v2", &[])).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc-v2".to_string(), "worker-rc-v2".to_string()]
    );
    let api = ready_pods(&ns, "name=api-pods,version=v2").await;
    assert_eq!(api.len(), 3);
    assert!(api
        .iter()
        .all(|p| p["fluentd"] == "registry.local/fluentd:v1.17"));
    let worker = ready_pods(&ns, "app=worker,version=v2").await;
    assert_eq!(worker.len(), 2);
    assert!(worker
        .iter()
        .all(|p| p["worker"] == "registry.local/worker:2.0"
            && p["fluentd"] == "registry.local/fluentd:v1.17"));
    assert!(
        watch.watched().min_ready_endpoints.unwrap() >= 3,
        "the API's Service floor held: {:?}",
        watch.watched()
    );
    // One report: the rollouts output has a line per RC, and the classic outputs describe the first RC.
    assert!(run.stdout.contains("rc_name=api-rc-v2"), "{}", run.stdout);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("rollouts="))
        .expect("rollouts output");
    let rollouts: serde_json::Value = serde_json::from_str(&line["rollouts=".len()..]).unwrap();
    assert_eq!(rollouts.as_array().unwrap().len(), 2);
    assert_eq!(rollouts[1]["rc"], "worker-rc");
    assert_eq!(rollouts[1]["rc_name"], "worker-rc-v2");
    assert_eq!(rollouts[1]["result"], "success");
}

/// A run that waits out a dead run's lock plans from what it reads under the lock, not from what it read before:
/// the worker is scaled to 3 while the run holds the API's lock and waits for the worker's (a cancelled job's
/// Lease, never renewed), and the new worker RC takes the 3. Planned before locking, it took the 2 seen first.
#[tokio::test]
async fn a_run_that_waited_for_a_lock_plans_from_what_it_reads_under_it() {
    use k8s_openapi::api::coordination::v1::Lease;
    let ns = support::namespace("several-wait").await;
    seed_both(&ns).await;
    crate::rollout::put_lease_of(&ns, "worker-rc", "octo/api run 90 on runner-gone pid 1", 0).await;
    let images = "node-api-container=registry.local/node-api:2.0\nworker-rc:worker=registry.local/worker:2.0";
    let env = env(&ns, images, "v2", &[]);
    let run = tokio::spawn(async move { support::run_action(&env).await });

    // The moment: the run holds the API's lock (taken first, in name order) and so waits for the worker's.
    let leases: Api<Lease> = Api::namespaced(ns.client.clone(), &ns.name);
    let deadline = Instant::now() + Duration::from_secs(20);
    while leases
        .get_opt("rolling-update-api-rc")
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the run never took the API's lock"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let worker_lease = leases.get("rolling-update-worker-rc").await.unwrap();
    assert!(
        worker_lease
            .spec
            .and_then(|s| s.holder_identity)
            .unwrap_or_default()
            .contains("runner-gone"),
        "the worker's lock is still the dead run's: the change below lands during the wait"
    );
    let rcs = Api::<ReplicationController>::namespaced(ns.client.clone(), &ns.name);
    rcs.patch(
        "worker-rc",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();

    let run = run.await.unwrap();
    assert_eq!(run.code, 0, "{}", run.stdout);
    crate::rollout::assert_waited_for_a_silent_lock(&run.stdout);
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc-v2".to_string(), "worker-rc-v2".to_string()]
    );
    assert_eq!(
        replicas(&ns, "worker-rc-v2").await,
        Some(3),
        "{}",
        run.stdout
    );
    assert_eq!(ready_pods(&ns, "app=worker,version=v2").await.len(), 3);
}

#[tokio::test]
async fn a_crashing_worker_brings_both_back_at_full_strength() {
    let ns = support::namespace("several-fail").await;
    seed_both(&ns).await;
    let images = "node-api-container=registry.local/node-api:3.0\nworker-rc:worker=registry.local/worker:crashloop";
    let run = support::run_action(&env(
        &ns,
        images,
        "v3",
        &[("INPUT_PROGRESS_DEADLINE", "20s")],
    ))
    .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc".to_string(), "worker-rc".to_string()],
        "both back on their original RCs"
    );
    assert_eq!(replicas(&ns, "api-rc").await, Some(3));
    assert_eq!(replicas(&ns, "worker-rc").await, Some(2));
    assert_eq!(ready_pods(&ns, "name=api-pods").await.len(), 3);
    assert_eq!(ready_pods(&ns, "app=worker").await.len(), 2);
    assert!(
        run.stdout.to_lowercase().contains("crash"),
        "the worker's diagnosis is reported: {}",
        run.stdout
    );
}

#[tokio::test]
async fn a_bad_entry_for_the_second_rc_changes_nothing() {
    let ns = support::namespace("several-bad").await;
    seed_both(&ns).await;
    let before = rc_names(&ns).await;
    let images = "node-api-container=registry.local/node-api:4.0\nworker-rc:no-such-container=registry.local/worker:4.0";
    let run = support::run_action(&env(&ns, images, "v4", &[])).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(text.contains("RC `worker-rc`"), "names the RC: {text}");
    assert!(text.contains("no-such-container"), "{text}");
    assert_eq!(rc_names(&ns).await, before, "nothing changed");
    assert_eq!(replicas(&ns, "api-rc").await, Some(3));
}

#[tokio::test]
async fn a_sigkill_mid_run_and_a_rerun_finish_both() {
    let ns = support::namespace("several-kill").await;
    seed_both(&ns).await;
    let images = "node-api-container=registry.local/node-api:5.0\nworker-rc:worker=registry.local/worker:5.0";
    let e = env(&ns, images, "v5", &[]);
    let mut child = tokio::process::Command::new(support::ACTION_BIN)
        .env_clear()
        .envs(&e)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill when both new RCs exist and the API's is under way (chosen by cluster state, not by time).
    let deadline = Instant::now() + Duration::from_secs(60);
    let landed = loop {
        let api = replicas(&ns, "api-rc-v5").await;
        let worker = replicas(&ns, "worker-rc-v5").await;
        if api.is_some_and(|r| r >= 1) && worker.is_some() {
            child.start_kill().unwrap();
            let _ = child.wait().await;
            break (api, worker, replicas(&ns, "api-rc").await);
        }
        assert!(Instant::now() < deadline, "the rollout never got under way");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        landed.2.is_some(),
        "killed mid-rollout, the old API RC still there: {landed:?}"
    );
    let run = support::run_action(&e).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("Continuing update"),
        "the re-run continued: {}",
        run.stdout
    );
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc-v5".to_string(), "worker-rc-v5".to_string()]
    );
    assert_eq!(ready_pods(&ns, "version=v5").await.len(), 5);
}

/// `on_failure: keep` leaves every RC resumable (the API's old RC is not deleted though its new one converged),
/// and `mode: rollback` over the same RCs then brings both back.
#[tokio::test]
async fn keep_leaves_both_resumable_and_rollback_brings_both_back() {
    let ns = support::namespace("several-keep").await;
    seed_both(&ns).await;
    let images = "node-api-container=registry.local/node-api:6.0\nworker-rc:worker=registry.local/worker:crashloop";
    let run = support::run_action(&env(
        &ns,
        images,
        "v6",
        &[
            ("INPUT_PROGRESS_DEADLINE", "20s"),
            ("INPUT_ON_FAILURE", "keep"),
        ],
    ))
    .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        rc_names(&ns).await,
        vec![
            "api-rc".to_string(),
            "api-rc-v6".to_string(),
            "worker-rc".to_string(),
            "worker-rc-v6".to_string()
        ],
        "all kept: the converged API's old RC too"
    );
    let mut e = env(&ns, "", "v6", &[]);
    e.insert("INPUT_MODE".into(), "rollback".into());
    e.remove("INPUT_IMAGES");
    let run = support::run_action(&e).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc".to_string(), "worker-rc".to_string()]
    );
    assert_eq!(replicas(&ns, "api-rc").await, Some(3));
    assert_eq!(replicas(&ns, "worker-rc").await, Some(2));
    assert_eq!(ready_pods(&ns, "name=api-pods").await.len(), 3);
}

/// One report for the release on GitHub: one pending status naming both new RCs, live progress for the release
/// as a whole while the slow worker rolls (its pods take 12 s to be ready; the progress watch reads every 10 s),
/// one Deployment that goes in_progress -> success, one final status.
#[tokio::test]
async fn several_rcs_are_one_release_on_github() {
    use crate::secrets::fake_github::FakeGithub;
    let ns = support::namespace("several-gh").await;
    seed_with_worker_delay(&ns, 12_000).await;
    let github = FakeGithub::start();
    let images = "node-api-container=registry.local/node-api:7.0\nworker-rc:worker=registry.local/worker:7.0";
    let e = env(
        &ns,
        images,
        "v7",
        &[
            ("INPUT_GITHUB_TOKEN", "ghs_several_test_token_0123456789"),
            ("GITHUB_API_URL", &github.url),
            ("GITHUB_REPOSITORY", "octo/api"),
        ],
    );
    let run = support::run_action(&e).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let statuses: Vec<serde_json::Value> = github
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains("/statuses/"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(statuses[0]["state"], "pending");
    assert_eq!(
        statuses[0]["description"],
        "rolling api-rc-v7, worker-rc-v7"
    );
    let progress: Vec<&str> = statuses[1..statuses.len() - 1]
        .iter()
        .filter(|s| s["state"] == "pending")
        .filter_map(|s| s["description"].as_str())
        .collect();
    assert!(
        progress.iter().any(|d| d.starts_with("rolling: ")
            && d.contains("/5 new pods ready (api-rc-v7 ")
            && d.contains(", worker-rc-v7 ")),
        "no progress of the release among {statuses:?}"
    );
    assert_eq!(
        statuses.len(),
        2 + progress.len(),
        "one pending, the progress, one final: {statuses:?}"
    );
    assert_eq!(statuses.last().unwrap()["state"], "success");
    let deployments = github.deployments();
    assert_eq!(deployments.len(), 1, "one Deployment for the release");
    assert_eq!(
        deployments[0].states.last().map(String::as_str),
        Some("success")
    );
}

/// `mode: preview` and `cleanup` take several RCs as a deploy does: one run gives each RC its isolated preview
/// `<rc>-pr-<N>` (the API's with a preview Service, the worker's without one, as production has none), with
/// production untouched and never selecting a preview pod; a dry-run cleanup changes nothing; one cleanup
/// removes both previews.
#[tokio::test]
async fn previews_of_several_rcs_and_their_cleanup() {
    use crate::workflows::Runner;
    use k8s_openapi::api::core::v1::{Pod, Service};
    use kube::api::ListParams;

    let ns = support::namespace("several-preview").await;
    seed_both(&ns).await;
    let head = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
    let opened = Runner::new(
        &ns,
        "pull_request",
        "pull_request.opened.json",
        "refs/pull/2/merge",
        "0000000000000000000000000000000000000abc",
        &[
            ("rc", "api-rc, worker-rc"),
            ("mode", "preview"),
            (
                "images",
                "node-api-container=registry.local/node-api:pr-2\nworker-rc:worker=registry.local/worker:pr-2",
            ),
        ],
    );
    let run = opened.run().await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let out = opened.outputs();
    assert_eq!(out["rc_name"], "api-rc-pr-2-ec26c3e");
    let rollouts: serde_json::Value = serde_json::from_str(&out["rollouts"]).unwrap();
    assert_eq!(rollouts[1]["rc"], "worker-rc");
    assert_eq!(rollouts[1]["rc_name"], "worker-rc-pr-2-ec26c3e");
    assert_eq!(
        rc_names(&ns).await,
        vec![
            "api-rc".to_string(),
            "api-rc-pr-2-ec26c3e".to_string(),
            "worker-rc".to_string(),
            "worker-rc-pr-2-ec26c3e".to_string()
        ]
    );
    let preview = ready_pods(&ns, "rolling-update.github.io/pr=2").await;
    assert_eq!(preview.len(), 2, "one preview pod per RC: {preview:?}");
    assert!(preview
        .iter()
        .any(|p| p.get("worker").map(String::as_str) == Some("registry.local/worker:pr-2")));
    assert!(preview.iter().any(|p| {
        p.get("node-api-container").map(String::as_str) == Some("registry.local/node-api:pr-2")
    }));
    // Production: untouched, and its selectors never take in a preview pod.
    assert_eq!(ready_pods(&ns, "name=api-pods").await.len(), 3);
    assert_eq!(ready_pods(&ns, "app=worker").await.len(), 2);
    assert_eq!(replicas(&ns, "worker-rc").await, Some(2));
    let pr = ListParams::default().labels("rolling-update.github.io/pr=2");
    let svcs: Api<Service> = Api::namespaced(ns.client.clone(), &ns.name);
    let preview_services: Vec<String> = svcs
        .list(&pr)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert_eq!(preview_services, vec!["api-srv-pr-2".to_string()]);
    let url = format!(
        "preview Service api-srv-pr-2 -> http://api-srv-pr-2.{}.svc.cluster.local",
        ns.name
    );
    assert!(run.stdout.contains(&url), "{}", run.stdout);

    // A dry-run cleanup says what it would remove and removes nothing.
    let dry = Runner::new(
        &ns,
        "pull_request",
        "pull_request.closed.json",
        "refs/pull/2/merge",
        head,
        &[
            ("rc", "api-rc\nworker-rc"),
            ("mode", "cleanup"),
            ("dry_run", "true"),
        ],
    );
    let run = dry.run().await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("would be removed (nothing changed)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        ready_pods(&ns, "rolling-update.github.io/pr=2").await.len(),
        2
    );

    let closed = Runner::new(
        &ns,
        "pull_request",
        "pull_request.closed.json",
        "refs/pull/2/merge",
        head,
        &[("rc", "api-rc\nworker-rc"), ("mode", "cleanup")],
    );
    let run = closed.run().await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("preview of PR #2 removed: 2 RC(s)"),
        "{}",
        run.stdout
    );
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    assert!(rcs.list(&pr).await.unwrap().items.is_empty());
    assert!(svcs.list(&pr).await.unwrap().items.is_empty());
    assert!(pods.list(&pr).await.unwrap().items.is_empty());
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc".to_string(), "worker-rc".to_string()]
    );
    assert_eq!(ready_pods(&ns, "app=worker").await.len(), 2);
}
