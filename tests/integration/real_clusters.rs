//! The engine on conditions production clusters have every day and a fresh namespace does not (issue 12): an RC
//! that declares minReadySeconds, a hand-made sibling RC, an old pod already crash-looping, a canary RC sharing
//! the legacy selector, an HPA on the RC being replaced. Each test failed on 0d1ba96.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, ListParams, Patch, PatchParams};

use crate::seeds::{action_env, api_rc_yaml, rc_names, ready_pods, settled_rc};
use crate::support::{self, TestNs};

async fn seed(ns: &TestNs, replicas: i32, ready_delay_ms: u64) {
    support::apply_yaml(ns, &api_rc_yaml(replicas, ready_delay_ms, "10m", "")).await;
    wait_until(Duration::from_secs(60), || async {
        ready_pods(ns, "name=api-pods").await.len() >= replicas as usize
    })
    .await;
}

async fn wait_until<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn rcs(ns: &TestNs) -> Api<ReplicationController> {
    Api::namespaced(ns.client.clone(), &ns.name)
}

fn pods(ns: &TestNs) -> Api<Pod> {
    Api::namespaced(ns.client.clone(), &ns.name)
}

/// Case 1: the RC's own `minReadySeconds: 20` holds the old RC until the new pod has been Ready for 20 s, though
/// the input `min_ready_seconds` is not given.
#[tokio::test]
async fn the_rcs_own_min_ready_seconds_holds_the_old_rc() {
    let ns = support::namespace("real-minready").await;
    seed(&ns, 1, 500).await;
    let patch = serde_json::json!({"spec": {"minReadySeconds": 20}});
    rcs(&ns)
        .patch("api-rc", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();

    // Watch for the moment the old RC disappears, by our clock.
    let watcher = {
        let api = rcs(&ns);
        tokio::spawn(async move {
            loop {
                if api.get_opt("api-rc").await.unwrap().is_none() {
                    return k8s_openapi::jiff::Timestamp::now();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let img = "node-api-container=registry.local/node-api:2.0";
    let run = support::run_action(&action_env(
        &ns,
        &[("INPUT_IMAGES", img), ("INPUT_VERSION", "v2")],
    ))
    .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let deleted_at = tokio::time::timeout(Duration::from_secs(10), watcher)
        .await
        .expect("the old RC is deleted")
        .unwrap();
    let new_pod = pods(&ns)
        .list(&ListParams::default().labels("version=v2"))
        .await
        .unwrap()
        .items
        .pop()
        .expect("a new pod");
    let ready_at = new_pod
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .and_then(|c| c.last_transition_time)
        .expect("the new pod is Ready")
        .0;
    let held = deleted_at.as_second() - ready_at.as_second();
    assert!(
        held >= 19,
        "the old RC went {held}s after the new pod turned Ready; minReadySeconds is 20"
    );
    let new_rc = rcs(&ns).get("api-rc-v2").await.unwrap();
    assert_eq!(
        new_rc.spec.unwrap().min_ready_seconds,
        Some(20),
        "the new RC inherits the value"
    );
}

/// Case 2: a hand-made `api-rc-canary` (selector `app=api, version=canary`, none of our annotations) is not taken
/// for the current RC of `rc: api-rc`: a first deploy from a manifest leaves it exactly as it was.
#[tokio::test]
async fn a_hand_made_sibling_rc_is_never_adopted_or_deleted() {
    let ns = support::namespace("real-sibling").await;
    let canary = r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: api-rc-canary
spec:
  replicas: 2
  selector: {app: api, version: canary}
  template:
    metadata:
      labels: {app: api, version: canary}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: api, image: "registry.local/api:canary"}
"#;
    support::apply_yaml(&ns, canary).await;
    wait_until(Duration::from_secs(60), || async {
        ready_pods(&ns, "version=canary").await.len() == 2
    })
    .await;
    let before = settled_rc(&ns, "api-rc-canary").await;
    let canary_pods = ready_names(&ns, "version=canary").await;

    let dir = tempdir();
    let manifest = dir.join("api-rc.yaml");
    std::fs::write(
        &manifest,
        r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: api-rc
spec:
  replicas: 3
  selector: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: api, image: "registry.local/api:2.0"}
"#,
    )
    .unwrap();
    let run = support::run_action(&action_env(
        &ns,
        &[
            ("INPUT_MANIFEST", manifest.to_str().unwrap()),
            ("INPUT_VERSION", "v2"),
        ],
    ))
    .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let after = rcs(&ns).get("api-rc-canary").await.unwrap();
    assert_eq!(
        after.spec.as_ref().unwrap().replicas,
        Some(2),
        "the canary keeps its replicas"
    );
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the canary RC was not written to at all"
    );
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc-canary".to_string(), "api-rc-v2".to_string()]
    );
    let still = ready_names(&ns, "version=canary").await;
    assert_eq!(still, canary_pods, "the canary's pods are untouched");
    assert_eq!(ready_pods(&ns, "version=v2").await.len(), 3);
}

/// Case 3: one old pod already crash-looping, a new image that never turns Ready: the rollback finishes (the old
/// RC back at 3 with the 2 pods that were available before), and a later deploy is not blocked.
#[tokio::test]
async fn a_rollback_finishes_past_an_old_pod_that_was_already_crash_looping() {
    let ns = support::namespace("real-crashold").await;
    seed(&ns, 3, 300).await;
    // One old pod crash-loops: its sidecar's image (template changed, one pod replaced).
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "node-api-container", "image": "registry.local/node-api:1.0"},
        {"name": "fluentd", "image": "registry.local/fluentd:crashloop"}
    ]}}}});
    rcs(&ns)
        .patch("api-rc", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let victim = ready_names(&ns, "name=api-pods").await[0].clone();
    pods(&ns)
        .delete(&victim, &Default::default())
        .await
        .unwrap();
    wait_until(Duration::from_secs(60), || async {
        let list = pods(&ns)
            .list(&ListParams::default().labels("name=api-pods"))
            .await
            .unwrap();
        list.items.iter().any(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.restart_count > 0))
        })
    })
    .await;
    assert_eq!(ready_pods(&ns, "name=api-pods").await.len(), 2);

    let run = support::run_action(&action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:never-ready",
            ),
            ("INPUT_VERSION", "v2"),
            ("INPUT_PROGRESS_DEADLINE", "15s"),
        ],
    ))
    .await;
    assert_eq!(run.code, 1, "the update failed: {}", run.stdout);
    assert!(
        run.stdout.contains("Rollback succeeded"),
        "the rollback completes: {}",
        run.stdout
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc".to_string()]);
    let old = rcs(&ns).get("api-rc").await.unwrap();
    assert_eq!(old.spec.unwrap().replicas, Some(3), "back at its count");
    assert!(ready_pods(&ns, "name=api-pods").await.len() >= 2);

    // A later deploy, with both images healthy, is not blocked by the failed one.
    let run = support::run_action(&action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:3.0\nfluentd=registry.local/fluentd:v1.17",
            ),
            ("INPUT_VERSION", "v3"),
        ],
    ))
    .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v3".to_string()]);
    assert_eq!(ready_pods(&ns, "version=v3").await.len(), 3);
}

/// Case 5: the legacy migration relabels only the pods the old RC controls; a canary RC sharing `name=api-pods`
/// keeps its pods as they were, and they neither stall nor count in the rollout.
#[tokio::test]
async fn the_migration_leaves_another_controllers_pods_alone() {
    let ns = support::namespace("real-migrate").await;
    seed(&ns, 2, 300).await;
    let canary = r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: api-canary
spec:
  replicas: 1
  selector: {name: api-pods, track: canary}
  template:
    metadata:
      labels: {name: api-pods, track: canary}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: node-api-container, image: "registry.local/node-api:canary"}
"#;
    support::apply_yaml(&ns, canary).await;
    wait_until(Duration::from_secs(60), || async {
        ready_pods(&ns, "track=canary").await.len() == 1
    })
    .await;
    let canary_pod = ready_names(&ns, "track=canary").await[0].clone();

    let run = support::run_action(&action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:2.0",
            ),
            ("INPUT_VERSION", "v2"),
        ],
    ))
    .await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    let pod = pods(&ns).get(&canary_pod).await.unwrap();
    let labels: BTreeMap<String, String> = pod.metadata.labels.unwrap_or_default();
    assert!(
        !labels.contains_key("version"),
        "the canary's pod was not relabelled: {labels:?}"
    );
    assert!(pod.metadata.deletion_timestamp.is_none());
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-canary".to_string(), "api-rc-v2".to_string()]
    );
    assert_eq!(ready_pods(&ns, "version=v2").await.len(), 2);
}

/// Case 7: `on_failure: keep` says "run it with `mode: rollback`", and `mode: rollback` then rolls the kept
/// update back (it used to refuse because an update was in progress).
#[tokio::test]
async fn mode_rollback_rolls_back_a_kept_update() {
    let ns = support::namespace("real-keep").await;
    seed(&ns, 2, 300).await;
    let run = support::run_action(&action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:never-ready",
            ),
            ("INPUT_VERSION", "v2"),
            ("INPUT_PROGRESS_DEADLINE", "8s"),
            ("INPUT_ON_FAILURE", "keep"),
        ],
    ))
    .await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("`mode: rollback`"),
        "the hint: {}",
        run.stdout
    );
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc".to_string(), "api-rc-v2".to_string()],
        "both kept"
    );

    let run = support::run_action(&action_env(&ns, &[("INPUT_MODE", "rollback")])).await;
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("Rollback succeeded"), "{}", run.stdout);
    assert_eq!(rc_names(&ns).await, vec!["api-rc".to_string()]);
    let old = rcs(&ns).get("api-rc").await.unwrap();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(2));
    let marks = old.metadata.annotations.unwrap_or_default();
    assert!(
        !marks.keys().any(|k| k.ends_with("/next-controller")),
        "no update in progress is left: {marks:?}"
    );
    assert_eq!(ready_pods(&ns, "name=api-pods").await.len(), 2);
}

/// Ownership: an HPA that targets the RC being replaced stops the run before any change (exit 2), naming it.
#[tokio::test]
async fn an_hpa_on_the_old_rc_is_refused_before_any_change() {
    let ns = support::namespace("real-hpa").await;
    seed(&ns, 2, 300).await;
    support::apply_yaml(
        &ns,
        r#"apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: api-hpa
spec:
  scaleTargetRef: {apiVersion: v1, kind: ReplicationController, name: api-rc}
  minReplicas: 2
  maxReplicas: 5
  targetCPUUtilizationPercentage: 80
"#,
    )
    .await;
    let before = settled_rc(&ns, "api-rc").await;
    let run = support::run_action(&action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:2.0",
            ),
            ("INPUT_VERSION", "v2"),
        ],
    ))
    .await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        format!("{}{}", run.stdout, run.stderr)
            .contains("HorizontalPodAutoscaler `api-hpa` scales `api-rc`"),
        "{}",
        run.stdout
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc".to_string()]);
    assert_eq!(
        rcs(&ns)
            .get("api-rc")
            .await
            .unwrap()
            .metadata
            .resource_version,
        before.metadata.resource_version,
        "nothing changed"
    );
}

/// Names of the Ready, non-terminating pods with `selector`, sorted.
async fn ready_names(ns: &TestNs, selector: &str) -> Vec<String> {
    let list = pods(ns)
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap();
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rolling-update-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
