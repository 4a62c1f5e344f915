//! Issue 5 on the real control plane: a rollout that cannot finish is stopped early and explained with the
//! scheduler's, kubelet's or quota's own evidence and the numbers behind it; a slow rollout is never called stuck.
//!
//! Capacity tests run on dedicated fake nodes (`support::dedicated_node`) so their numbers are exact and no other
//! test's pods land there; the scheduler then also reports every other node as "didn't match node selector",
//! which the diagnosis must treat as non-candidates. Failure images of the fake kubelet (`unpullable`,
//! `crashloop`, `never-ready`, `configerror`) stand in for broken builds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod, ResourceQuota};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::fault_proxy::{FaultProxy, Mode};
use crate::seeds::{action_env, READY_DELAY_ANNOTATION};
use crate::support::{self, run_action, wait_for, ActionRun, TestNs, DEDICATED_LABEL};

/// The seeds' API RC (`api-rc`, selector `name=api-pods`, node-api beside a fluentd sidecar) with the knobs
/// these tests turn.
struct ApiRc {
    replicas: i32,
    ready_delay_ms: u64,
    cpu: &'static str,
    memory: Option<&'static str>,
    /// Pin the pods to the namespace's dedicated nodes (nodeSelector and toleration).
    dedicated: bool,
    readiness_probe: bool,
    /// Required pod anti-affinity: one `name=api-pods` pod per node.
    one_per_node: bool,
    /// A hostPort for node-api-container's port 3000.
    host_port: Option<u16>,
}

impl Default for ApiRc {
    fn default() -> Self {
        ApiRc {
            replicas: 3,
            ready_delay_ms: 300,
            cpu: "10m",
            memory: None,
            dedicated: false,
            readiness_probe: false,
            one_per_node: false,
            host_port: None,
        }
    }
}

/// nodeSelector and toleration for the namespace's dedicated nodes, as pod-spec YAML indented `indent` spaces.
fn dedicated_spec(ns: &TestNs, indent: usize) -> String {
    let pad = " ".repeat(indent);
    format!(
        "{pad}nodeSelector:\n{pad}  {DEDICATED_LABEL}: {ns}\n{pad}tolerations:\n{pad}- key: {DEDICATED_LABEL}\n{pad}  operator: Equal\n{pad}  value: {ns}\n{pad}  effect: NoSchedule\n",
        ns = ns.name
    )
}

impl ApiRc {
    fn yaml(&self, ns: &TestNs) -> String {
        let memory = self
            .memory
            .map(|m| format!("\n            memory: {m}"))
            .unwrap_or_default();
        let probe = if self.readiness_probe {
            "        readinessProbe:\n          httpGet:\n            path: /healthz\n            port: 3000\n          periodSeconds: 1\n"
        } else {
            ""
        };
        let mut dedicated = if self.dedicated {
            dedicated_spec(ns, 6)
        } else {
            String::new()
        };
        if self.one_per_node {
            dedicated.push_str("      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector:\n              matchLabels:\n                name: api-pods\n            topologyKey: kubernetes.io/hostname\n");
        }
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
        {READY_DELAY_ANNOTATION}: "{delay}"
    spec:
      terminationGracePeriodSeconds: 1
{dedicated}      containers:
      - name: node-api-container
        image: registry.local/node-api:1.0
        ports:
        - containerPort: 3000{host_port}
        resources:
          requests:
            cpu: {cpu}{memory}
{probe}      - name: fluentd
        image: registry.local/fluentd:v1.16
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
"#,
            replicas = self.replicas,
            delay = self.ready_delay_ms,
            host_port = self
                .host_port
                .map(|p| format!("\n          hostPort: {p}"))
                .unwrap_or_default(),
            cpu = self.cpu,
        )
    }

    /// Applies the RC and waits until all its pods are Ready.
    async fn seed(&self, ns: &TestNs) {
        support::apply_yaml(ns, &self.yaml(ns)).await;
        wait_ready(ns, "name=api-pods", self.replicas as usize).await;
    }
}

async fn ready_count(ns: &TestNs, selector: &str) -> usize {
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    let Ok(list) = pods.list(&ListParams::default().labels(selector)).await else {
        return 0;
    };
    list.items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count()
}

async fn wait_ready(ns: &TestNs, selector: &str, n: usize) {
    let ok = wait_for(Duration::from_secs(60), || async {
        ready_count(ns, selector).await >= n
    })
    .await;
    if ok.is_none() {
        ns.dump().await;
        panic!("{n} pods with {selector} not ready within 60 s");
    }
}

/// The runner's environment (the seeds' `action_env`) for rolling node-api-container to `image` as `version` with
/// surge 1, a 2m progress deadline, plus `extra`.
fn env(
    ns: &TestNs,
    image: &str,
    version: &str,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let images = format!("node-api-container={image}");
    let mut vars: Vec<(&str, &str)> = vec![
        ("INPUT_IMAGES", &images),
        ("INPUT_VERSION", version),
        ("INPUT_MAX_SURGE", "1"),
        ("INPUT_MAX_UNAVAILABLE", "0"),
        ("INPUT_PROGRESS_DEADLINE", "2m"),
    ];
    vars.extend_from_slice(extra);
    action_env(ns, &vars)
}

/// A finished run: exit code, everything it printed, and how long it took.
struct Timed {
    run: ActionRun,
    took: Duration,
}

impl Timed {
    fn out(&self) -> String {
        format!("{}\n{}", self.run.stdout, self.run.stderr)
    }

    /// Asserts `needle` is in the output, showing the output otherwise.
    fn says(&self, needle: &str) {
        let out = self.out();
        assert!(
            out.contains(needle),
            "expected {needle:?} in the output:\n{out}"
        );
    }
}

async fn roll(env: &BTreeMap<String, String>) -> Timed {
    let started = Instant::now();
    let run = run_action(env).await;
    Timed {
        run,
        took: started.elapsed(),
    }
}

/// A failed run that stopped early: exit 1, "Stopping early", well before `deadline`.
fn assert_failed_fast(r: &Timed, deadline: Duration) {
    assert_eq!(r.run.code, 1, "a failed rollout exits 1");
    r.says("Stopping early");
    assert!(
        r.took < deadline / 2,
        "took {:?}: not failing fast (deadline {deadline:?})",
        r.took
    );
}

/// A bare pod on the dedicated node that requests `cpu`, like the system pods of the second seed's node.
async fn filler(ns: &TestNs, cpu: &str) {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: filler\n  labels:\n    app: filler\nspec:\n  terminationGracePeriodSeconds: 1\n{}  containers:\n  - name: filler\n    image: registry.local/filler:1\n    resources:\n      requests:\n        cpu: {cpu}\n",
        dedicated_spec(ns, 2)
    );
    support::apply_yaml(ns, &yaml).await;
    wait_ready(ns, "app=filler", 1).await;
}

/// The markdown capacity table's rows (`| node | resource | ... |`) for `resource`.
fn table_rows<'a>(report: &'a str, resource: &str) -> Vec<&'a str> {
    let cell = format!(" | {resource} | ");
    report
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(&cell))
        .collect()
}

#[tokio::test]
async fn second_seed_fails_fast_on_cpu_with_the_numbers_then_surge_zero_succeeds() {
    let ns = support::namespace("diag-seed").await;
    let node = support::dedicated_node(&ns, "1", "4Gi").await;
    filler(&ns, "670m").await;
    ApiRc {
        cpu: "100m",
        dedicated: true,
        ..Default::default()
    }
    .seed(&ns)
    .await;

    // 670m + 3 x 100m = 970m of 1000m: a surge pod needs 100m where 30m is free.
    let image = "registry.local/node-api:2.0";
    let surge = env(
        &ns,
        image,
        "v2",
        &[
            ("INPUT_PROGRESS_DEADLINE", "5m"),
            ("ROLLING_UPDATE_PRINT_REPORT", "1"),
        ],
    );
    let r = roll(&surge).await;
    assert_eq!(r.run.code, 1, "a rollout that cannot finish exits 1");
    assert!(
        r.took < Duration::from_secs(60),
        "took {:?}: waited instead of failing fast",
        r.took
    );
    r.says("Stopping early");
    r.says(&format!(
        "Insufficient cpu: a new pod needs 100m; the most free on any node is 30m ({node}: 970m of 1000m requested)"
    ));
    r.says("roll with max_surge: 0 and max_unavailable: 1");
    r.says("1 Insufficient cpu"); // the scheduler's own words are in the evidence
                                  // Warned before any change.
    r.says(&format!(
        "pre-flight: the 1 surge pod (100m cpu each) cannot fit on any node: the most free cpu on any node is 30m ({node}: 970m of 1000m requested)"
    ));
    // The markdown report carries the capacity table, for the dedicated node only.
    let report = r
        .run
        .stdout
        .split("----- report")
        .nth(1)
        .unwrap_or_else(|| panic!("no report printed:\n{}", r.out()));
    assert!(
        report.contains("| Node | Resource | Allocatable | Requested | Free | Needed | Fits |"),
        "{report}"
    );
    let cpu_rows = table_rows(report, "cpu");
    assert_eq!(
        cpu_rows,
        vec![format!(
            "| {node} | cpu | 1000m | 970m | 30m | 100m | **no** |"
        )],
        "{report}"
    );
    // Nodes outside the selector ("didn't match Pod's node affinity" in 1.20) are not a cause of their own.
    assert!(!r.out().contains("nodeSelector"), "no selector finding");
    assert!(
        !r.out().contains("The scheduler cannot place the new pods"),
        "no finding for the other nodes"
    );

    // The alternative the diagnosis offered works.
    let no_surge = env(
        &ns,
        image,
        "v2",
        &[
            ("INPUT_MAX_SURGE", "0"),
            ("INPUT_MAX_UNAVAILABLE", "1"),
            ("INPUT_PROGRESS_DEADLINE", "1m"),
        ],
    );
    let ok = roll(&no_surge).await;
    assert_eq!(
        ok.run.code, 0,
        "rolling with max_surge 0 / max_unavailable 1 succeeds"
    );
    assert_eq!(ready_count(&ns, "name=api-pods,version=v2").await, 3);
}

#[tokio::test]
async fn memory_spread_over_three_nodes_is_no_single_node_fits() {
    let ns = support::namespace("diag-frag").await;
    for _ in 0..3 {
        support::dedicated_node(&ns, "1", "1536Mi").await;
    }
    // One 1Gi pod per node leaves 512Mi (half a pod) on each: 1.5Gi in total, but no node can take a 1Gi pod.
    ApiRc {
        memory: Some("1Gi"),
        dedicated: true,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let r = roll(&env(&ns, "registry.local/node-api:2.0", "v2", &[])).await;
    assert_failed_fast(&r, Duration::from_secs(120));
    r.says("No single node fits a new pod: it needs 1Gi memory");
    r.says("1.5Gi is free across 3 nodes but the most on any one is 512Mi");
    r.says("roll with max_surge: 0 and max_unavailable: 1");
}

#[tokio::test]
async fn untolerated_taint_is_named_with_the_toleration() {
    let ns = support::namespace("diag-taint").await;
    let node = support::dedicated_node(&ns, "2", "4Gi").await;
    ApiRc {
        replicas: 2,
        dedicated: true,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    // The node is tainted after the old pods run on it (NoSchedule doesn't evict them).
    let nodes: Api<Node> = Api::all(ns.client.clone());
    let taints = json!({"spec": {"taints": [
        {"key": DEDICATED_LABEL, "value": ns.name, "effect": "NoSchedule"},
        {"key": "gpu", "value": "true", "effect": "NoSchedule"},
    ]}});
    nodes
        .patch(&node, &PatchParams::default(), &Patch::Merge(&taints))
        .await
        .expect("taint the node");

    let r = roll(&env(&ns, "registry.local/node-api:2.0", "v2", &[])).await;
    assert_failed_fast(&r, Duration::from_secs(120));
    r.says(&format!(
        "1 of 1 node matching the pod's node selector has a taint the new pods don't tolerate: gpu=true:NoSchedule ({node})"
    ));
    r.says("- key: \"gpu\"");
    r.says("value: \"true\"");
    r.says(&format!("kubectl taint nodes {node} gpu=true:NoSchedule-"));
}

#[tokio::test]
async fn unpullable_image_fails_fast_with_the_registry_message() {
    let ns = support::namespace("diag-pull").await;
    ApiRc {
        replicas: 2,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let image = "registry.local/node-api:2.0-unpullable";
    let r = roll(&env(&ns, image, "v2", &[])).await;
    assert_failed_fast(&r, Duration::from_secs(120));
    r.says(&format!(
        "Cannot pull image {image} for container node-api-container"
    ));
    r.says("manifest unknown");
    r.says("was it built and pushed?");
    assert_eq!(
        ready_count(&ns, "name=api-pods").await,
        2,
        "rolled back to the old pods"
    );
}

#[tokio::test]
async fn crashing_image_fails_fast_with_exit_code_and_log_lines() {
    let ns = support::namespace("diag-crash").await;
    ApiRc {
        replicas: 2,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let r = roll(&env(
        &ns,
        "registry.local/node-api:2.0-crashloop",
        "v2",
        &[],
    ))
    .await;
    assert_failed_fast(&r, Duration::from_secs(120));
    r.says("Container node-api-container keeps crashing: exit code 1");
    r.says("Error: connect ECONNREFUSED 10.0.0.5:5432"); // the container's last log lines
}

#[tokio::test]
async fn missing_configmap_fails_fast_and_names_it() {
    let ns = support::namespace("diag-config").await;
    ApiRc {
        replicas: 2,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let r = roll(&env(
        &ns,
        "registry.local/node-api:2.0-configerror",
        "v2",
        &[],
    ))
    .await;
    assert_failed_fast(&r, Duration::from_secs(120));
    r.says("Container node-api-container cannot start: ConfigMap app-config not found");
    r.says(&format!("create ConfigMap app-config in {}", ns.name));
}

#[tokio::test]
async fn never_ready_image_fails_at_the_deadline_naming_the_probe() {
    let ns = support::namespace("diag-ready").await;
    ApiRc {
        replicas: 2,
        readiness_probe: true,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let r = roll(&env(
        &ns,
        "registry.local/node-api:2.0-never-ready",
        "v2",
        &[("INPUT_PROGRESS_DEADLINE", "15s")],
    ))
    .await;
    assert_eq!(r.run.code, 1);
    // A failing probe may still recover: no early stop, the deadline decides.
    assert!(
        !r.out().contains("Stopping early"),
        "a failing readiness probe is not fatal on its own"
    );
    assert!(
        r.took >= Duration::from_secs(15),
        "took {:?}, before the deadline",
        r.took
    );
    r.says("progress deadline 15s exceeded");
    r.says("Readiness probe of container node-api-container keeps failing (httpGet /healthz on port 3000)");
    r.says("Readiness probe failed: HTTP probe failed with statuscode: 503");
}

#[tokio::test]
async fn exceeded_quota_fails_fast_naming_the_quota_and_its_numbers() {
    let ns = support::namespace("diag-quota").await;
    ApiRc {
        replicas: 3,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    // Room for the 3 old pods, not for a surge pod.
    let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: pod-count\nspec:\n  hard:\n    pods: \"3\"\n";
    support::apply_yaml(&ns, quota).await;
    let quotas: Api<ResourceQuota> = Api::namespaced(ns.client.clone(), &ns.name);
    let counted = wait_for(Duration::from_secs(30), || async {
        let used = quotas
            .get("pod-count")
            .await
            .ok()
            .and_then(|q| q.status)
            .and_then(|s| s.used);
        used.is_some_and(|u| u.get("pods").is_some_and(|p| p.0 == "3"))
    })
    .await;
    assert!(
        counted.is_some(),
        "the quota controller did not count the pods"
    );

    let r = roll(&env(&ns, "registry.local/node-api:2.0", "v2", &[])).await;
    assert_failed_fast(&r, Duration::from_secs(120));
    r.says("ResourceQuota pod-count is full: pods: a new pod requests 1, 3 of 3 is used");
    r.says("ResourceQuota pod-count (used/hard): pods 3/3");
    r.says("exceeded quota: pod-count");
    r.says("pre-flight: ResourceQuota pod-count has no room for the 1 surge pod: pods used 3 of 3, each new pod needs 1");
}

#[tokio::test]
async fn slow_but_progressing_rollout_is_never_called_stuck() {
    let ns = support::namespace("diag-slow").await;
    // Each new pod takes 6 s to become ready: 3 steps of 6 s, each well inside a 20 s progress deadline.
    ApiRc {
        replicas: 3,
        ready_delay_ms: 6000,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let r = roll(&env(
        &ns,
        "registry.local/node-api:2.0",
        "v2",
        &[("INPUT_PROGRESS_DEADLINE", "20s")],
    ))
    .await;
    assert_eq!(
        r.run.code, 0,
        "a slow rollout that keeps progressing succeeds"
    );
    assert!(!r.out().contains("Stopping early"));
    assert!(!r.out().contains("[fatal]"));
    assert!(
        r.took >= Duration::from_secs(18),
        "took {:?}: the ready delay was not honoured",
        r.took
    );
    assert_eq!(ready_count(&ns, "name=api-pods,version=v2").await, 3);
}

/// Plays the cluster autoscaler: once a new pod is unschedulable, records `TriggeredScaleUp` on it, and after
/// `after` adds a node of the namespace's dedicated pool.
async fn autoscaler(ns: &TestNs, after: Duration) {
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    let pending = wait_for(Duration::from_secs(60), || async {
        let list = pods
            .list(&ListParams::default().labels("name=api-pods,version=v2"))
            .await
            .ok()?;
        list.items.into_iter().find(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "PodScheduled" && c.status == "False")
                })
        })
    })
    .await
    .expect("a new pod the scheduler cannot place");
    let now = k8s_openapi::jiff::Timestamp::now();
    let event: Event = serde_json::from_value(json!({
        "metadata": {"generateName": "scale-up-"},
        "involvedObject": {"kind": "Pod", "namespace": ns.name, "name": pending.metadata.name,
                           "uid": pending.metadata.uid, "apiVersion": "v1"},
        "reason": "TriggeredScaleUp",
        "message": "pod triggered scale-up: [{dedicated-pool 1->2 (max: 3)}]",
        "type": "Normal",
        "source": {"component": "cluster-autoscaler"},
        "firstTimestamp": now.to_string(),
        "lastTimestamp": now.to_string(),
        "count": 1,
    }))
    .expect("an event");
    let events: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    events
        .create(&PostParams::default(), &event)
        .await
        .expect("record TriggeredScaleUp");
    tokio::time::sleep(after).await;
    support::dedicated_node(ns, "1", "4Gi").await;
}

#[tokio::test]
async fn pending_autoscaler_scale_up_is_waited_for_not_reported_as_stuck() {
    let ns = support::namespace("diag-autoscale").await;
    support::dedicated_node(&ns, "1", "4Gi").await;
    filler(&ns, "670m").await;
    ApiRc {
        cpu: "100m",
        dedicated: true,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    // The second seed's full node, but an autoscaler is adding a node: wait past the fail-fast grace for it.
    let run_env = env(
        &ns,
        "registry.local/node-api:2.0",
        "v2",
        &[("INPUT_PROGRESS_DEADLINE", "1m")],
    );
    let (r, ()) = tokio::join!(roll(&run_env), autoscaler(&ns, Duration::from_secs(15)));
    assert_eq!(
        r.run.code, 0,
        "the rollout waits for the new node and finishes"
    );
    assert!(
        !r.out().contains("Stopping early"),
        "a scale-up in progress is not stuck"
    );
    assert!(
        r.took >= Duration::from_secs(15),
        "took {:?}: finished before the node existed",
        r.took
    );
    assert_eq!(ready_count(&ns, "name=api-pods,version=v2").await, 3);
}

/// Polls the namespace's events until the scheduler reports a new pod (`api-rc-v2-*`) it cannot place; returns
/// when it first saw one.
async fn first_failed_scheduling(ns: &TestNs) -> Option<Instant> {
    let events: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    wait_for(Duration::from_secs(120), || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("FailedScheduling")
                    && e.involved_object
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("api-rc-v2-"))
            })
            .then(Instant::now)
    })
    .await
}

/// Rolls to v2 with surge 1 and a 5m deadline while watching for the scheduler's first FailedScheduling; asserts
/// the run failed and returns its environment, the run and how long after that FailedScheduling it ended.
async fn roll_surge_timed(ns: &TestNs, what: &str) -> (BTreeMap<String, String>, Timed, Duration) {
    let surge = env(
        ns,
        "registry.local/node-api:2.0",
        "v2",
        &[("INPUT_PROGRESS_DEADLINE", "5m")],
    );
    let (r, first) = tokio::join!(roll(&surge), first_failed_scheduling(ns));
    let first = first.expect("the scheduler reported the surge pod unschedulable");
    let after_first = Instant::now().saturating_duration_since(first);
    println!(
        "{what}: run took {:?}, ended {after_first:?} after the first FailedScheduling",
        r.took
    );
    assert_eq!(r.run.code, 1, "{}", r.out());
    (surge, r, after_first)
}

/// The fix the diagnosis offered: rolling to v2 with max_surge 0 and max_unavailable 1 succeeds.
async fn surge_free_roll_succeeds(ns: &TestNs, replicas: usize) {
    let no_surge = env(
        ns,
        "registry.local/node-api:2.0",
        "v2",
        &[
            ("INPUT_MAX_SURGE", "0"),
            ("INPUT_MAX_UNAVAILABLE", "1"),
            ("INPUT_PROGRESS_DEADLINE", "1m"),
        ],
    );
    let ok = roll(&no_surge).await;
    assert_eq!(ok.run.code, 0, "{}", ok.out());
    assert_eq!(ready_count(ns, "name=api-pods,version=v2").await, replicas);
}

/// Issue 13: one pod per node by required anti-affinity, every node taken, max_surge 1. Every node has room, so
/// "it will retry" kept the run waiting for the whole deadline; the 1.20 scheduler enforces the rule, the old pods
/// only leave after new ones are available, so nothing can change: fail fast and offer rolling without surge.
#[tokio::test]
async fn one_pod_per_node_anti_affinity_with_surge_fails_fast_with_the_surge_free_fix() {
    let ns = support::namespace("diag-anti").await;
    let a = support::dedicated_node(&ns, "2", "4Gi").await;
    let b = support::dedicated_node(&ns, "2", "4Gi").await;
    ApiRc {
        replicas: 2,
        dedicated: true,
        one_per_node: true,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let (surge, r, after_first) = roll_surge_timed(&ns, "anti-affinity").await;
    r.says("Stopping early: No node is left for a new pod under its required pod anti-affinity (one pod with name=api-pods per node): 2 of the 2 nodes its node selector allows already run a pod it excludes, 2 of them this rollout's old pods, which leave only after new pods are available");
    r.says("didn't match pod anti-affinity rules"); // the scheduler's own words, as evidence
    r.says("roll with max_surge: 0 and max_unavailable: 1: removing an old pod first (api-rc-");
    r.says("frees its node for a new pod");
    assert!(
        !r.out().contains("it will retry"),
        "room on a node is not a reason to wait here"
    );
    assert!(
        after_first <= Duration::from_secs(30),
        "ended {after_first:?} after the first FailedScheduling: not failing fast"
    );
    // The old pods are where they were: one per node.
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    let mut nodes: Vec<String> = pods
        .list(&ListParams::default().labels("name=api-pods"))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    nodes.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(nodes, want);

    // With the README's Role only (no nodes), the scheduler's words and the namespace's pods say the same.
    let user = format!("rolling-update-ci-{}", ns.name);
    crate::rbac::bind_readme_role(&ns, &user).await;
    let mut role_env = surge.clone();
    role_env.insert("INPUT_KUBECONFIG".into(), crate::rbac::as_user(&user));
    let role = roll(&role_env).await;
    assert_failed_fast(&role, Duration::from_secs(120));
    role.says("could not read nodes");
    role.says("Stopping early: No node is left for a new pod under its required pod anti-affinity (one pod with name=api-pods per node)");
    role.says("frees its node for a new pod");

    // The fix the diagnosis offered works.
    surge_free_roll_succeeds(&ns, 2).await;
}

/// Issue 13: a run that hit a full pod quota is rolled back (its RC deleted); after the quota is raised, the
/// re-run creates an RC of the same name. The first run's FailedCreate events (kept for an hour) name it too;
/// they are about the deleted RC, not this one, and must not stop the re-run.
#[tokio::test]
async fn a_rerun_after_raising_a_full_pod_quota_succeeds() {
    let ns = support::namespace("diag-requota").await;
    // New pods take 10 s to become ready, so the re-run is diagnosed while it waits (after 2 s without progress)
    // and a fatal verdict would hold for the 6 s fail-fast grace before any progress.
    ApiRc {
        replicas: 2,
        ready_delay_ms: 10_000,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let quota = "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: pod-count\nspec:\n  hard:\n    pods: \"2\"\n";
    support::apply_yaml(&ns, quota).await;
    let quotas: Api<ResourceQuota> = Api::namespaced(ns.client.clone(), &ns.name);
    let counted = |used: &'static str, hard: &'static str| {
        let quotas = quotas.clone();
        async move {
            let status = quotas.get("pod-count").await.ok()?.status?;
            let ok = status.used?.get("pods").is_some_and(|p| p.0 == used)
                && status.hard?.get("pods").is_some_and(|p| p.0 == hard);
            ok.then_some(())
        }
    };
    assert!(
        wait_for(Duration::from_secs(30), || counted("2", "2"))
            .await
            .is_some(),
        "the quota controller did not count the pods"
    );
    let run_env = env(&ns, "registry.local/node-api:2.0", "v2", &[]);
    let first = roll(&run_env).await;
    assert_failed_fast(&first, Duration::from_secs(120));
    first.says("ResourceQuota pod-count is full: pods: a new pod requests 1, 2 of 2 is used");
    assert_eq!(
        crate::seeds::rc_names(&ns).await,
        vec!["api-rc".to_string()],
        "the first run's api-rc-v2 was rolled back and deleted"
    );

    let raised = json!({"spec": {"hard": {"pods": "10"}}});
    quotas
        .patch("pod-count", &PatchParams::default(), &Patch::Merge(&raised))
        .await
        .expect("raise the quota");
    assert!(
        wait_for(Duration::from_secs(30), || counted("2", "10"))
            .await
            .is_some(),
        "the quota status did not follow"
    );
    let events: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    let stale = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("FailedCreate")
                && e.involved_object.name.as_deref() == Some("api-rc-v2")
        })
        .count();
    assert!(
        stale > 0,
        "the first run's FailedCreate events are still there"
    );

    let second = roll(&run_env).await;
    assert_eq!(second.run.code, 0, "the re-run succeeds:\n{}", second.out());
    assert!(!second.out().contains("ResourceQuota pod-count is full"));
    assert_eq!(ready_count(&ns, "name=api-pods,version=v2").await, 2);
}

/// Two dedicated nodes for the pods: a worker of 1 CPU, full (670m filler + 3 old pods of 100m), and a
/// control-plane node of 4 CPU with room but the `node-role.kubernetes.io/control-plane` taint. Returns both names
/// and the seeded RC.
async fn full_worker_and_control_plane(ns: &TestNs) -> (String, String, ApiRc) {
    let worker = support::dedicated_node(ns, "1", "4Gi").await;
    let control_plane = support::dedicated_node(ns, "4", "8Gi").await;
    let nodes: Api<Node> = Api::all(ns.client.clone());
    let taints = json!({"spec": {"taints": [
        {"key": DEDICATED_LABEL, "value": ns.name, "effect": "NoSchedule"},
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
    ]}});
    nodes
        .patch(
            &control_plane,
            &PatchParams::default(),
            &Patch::Merge(&taints),
        )
        .await
        .expect("taint the control-plane node");
    filler(ns, "670m").await;
    let rc = ApiRc {
        cpu: "100m",
        dedicated: true,
        ..Default::default()
    };
    rc.seed(ns).await;
    (worker, control_plane, rc)
}

/// No toleration without a key, none for the control-plane taint, no advice to remove that taint.
fn assert_no_harmful_toleration(r: &Timed) {
    let out = r.out();
    assert!(!out.contains("key: \"\""), "a keyless toleration:\n{out}");
    assert!(
        !out.contains("- key: \"node-role.kubernetes.io"),
        "a toleration for the control-plane taint:\n{out}"
    );
    assert!(
        !out.contains("kubectl taint nodes"),
        "removing the control-plane taint is not a fix:\n{out}"
    );
}

/// Issue 13: the pods' two nodes are a full worker and a control-plane node (room, but its taint). The headline
/// is the cpu shortage, not the taint the scheduler sorts first; no toleration is offered for the control-plane
/// taint, with admin credentials (numbers per node) and with the README's Role only (the scheduler's words only).
#[tokio::test]
async fn control_plane_taint_is_never_the_headline_nor_tolerated_with_or_without_node_access() {
    let ns = support::namespace("diag-cp").await;
    let (worker, control_plane, _) = full_worker_and_control_plane(&ns).await;

    let admin = roll(&env(&ns, "registry.local/node-api:2.0", "v2", &[])).await;
    assert_failed_fast(&admin, Duration::from_secs(120));
    admin.says(&format!(
        "Stopping early: Insufficient cpu: a new pod needs 100m; the most free on any node is 30m ({worker}: 970m of 1000m requested)"
    ));
    admin.says(&format!("1 of 2 nodes matching the pod's node selector has a taint the new pods don't tolerate: node-role.kubernetes.io/control-plane:NoSchedule ({control_plane})"));
    admin.says("keeps workloads off control-plane nodes");
    admin.says("that the pod didn't tolerate"); // the scheduler's 1.20 words are in the evidence
    assert_no_harmful_toleration(&admin);

    let user = format!("rolling-update-ci-{}", ns.name);
    crate::rbac::bind_readme_role(&ns, &user).await;
    let mut role_env = env(&ns, "registry.local/node-api:2.0", "v2", &[]);
    role_env.insert("INPUT_KUBECONFIG".into(), crate::rbac::as_user(&user));
    let role = roll(&role_env).await;
    assert_failed_fast(&role, Duration::from_secs(120));
    role.says("could not read nodes");
    role.says("Stopping early: Insufficient cpu on 1 of ");
    role.says("(the scheduler's count): a new pod needs 100m; free capacity per node is unknown");
    role.says("a taint the new pods don't tolerate: node-role.kubernetes.io/control-plane");
    assert_no_harmful_toleration(&role);
}

/// Issue 13 end to end with kube-scheduler 1.34.2+'s wording (the stand-in scheduler writes the condition and
/// the event; tests/integration/stand_in.rs): the unnamed taint, DRA's "no new claims to deallocate" and the
/// preemption sentence go through the product's real reading path, with admin credentials and with the README's
/// Role only. The headline is the cpu shortage; no toleration is offered for a taint nobody named.
#[tokio::test]
async fn newer_scheduler_wording_is_read_right_with_and_without_node_access() {
    let ns = support::namespace("diag-134").await;
    let (worker, control_plane, rc) = full_worker_and_control_plane(&ns).await;
    // The new version, scheduled by the stand-in.
    let manifest = rc
        .yaml(&ns)
        .split("---")
        .next()
        .unwrap()
        .replace("registry.local/node-api:1.0", "registry.local/node-api:2.0")
        .replace(
            "      terminationGracePeriodSeconds: 1\n",
            &format!(
                "      terminationGracePeriodSeconds: 1\n      schedulerName: {}\n",
                crate::stand_in::STAND_IN_1_34
            ),
        );
    assert!(manifest.contains("schedulerName"), "{manifest}");
    let path = std::env::temp_dir().join(format!("{}-v2.yaml", ns.name));
    std::fs::write(&path, &manifest).unwrap();
    let mut run_env = action_env(
        &ns,
        &[
            ("INPUT_VERSION", "v2"),
            ("INPUT_MAX_SURGE", "1"),
            ("INPUT_MAX_UNAVAILABLE", "0"),
            ("INPUT_PROGRESS_DEADLINE", "2m"),
        ],
    );
    run_env.insert("INPUT_MANIFEST".into(), path.display().to_string());
    let stand_in = crate::stand_in::start(&ns);

    let admin = roll(&run_env).await;
    assert_failed_fast(&admin, Duration::from_secs(120));
    admin.says("node(s) had untolerated taint(s)"); // the 1.34 words reached the diagnosis
    admin.says("no new claims to deallocate, preemption: 0/");
    admin.says(&format!(
        "Stopping early: Insufficient cpu: a new pod needs 100m; the most free on any node is 30m ({worker}: 970m of 1000m requested)"
    ));
    admin.says(&format!("1 of 2 nodes matching the pod's node selector has a taint the new pods don't tolerate: node-role.kubernetes.io/control-plane:NoSchedule ({control_plane})"));

    let user = format!("rolling-update-ci-{}", ns.name);
    crate::rbac::bind_readme_role(&ns, &user).await;
    run_env.insert("INPUT_KUBECONFIG".into(), crate::rbac::as_user(&user));
    let role = roll(&run_env).await;
    stand_in.abort();
    assert_failed_fast(&role, Duration::from_secs(120));
    role.says("could not read nodes");
    role.says("Stopping early: Insufficient cpu on 1 of ");
    role.says("a taint the new pods don't tolerate (the scheduler doesn't say which)");
    for r in [&admin, &role] {
        assert_no_harmful_toleration(r);
        let out = r.out();
        assert!(
            !out.contains("operator: \"Exists\""),
            "a bare Exists toleration:\n{out}"
        );
        assert!(
            !out.contains("Insufficient cpu. no new claims"),
            "a DRA clause glued to a reason:\n{out}"
        );
        for line in out.lines().filter(|l| l.contains("Stopping early")) {
            assert!(!line.contains("deallocate"), "{line}");
        }
    }
}

/// Labels the namespace's dedicated node as one of Karpenter's (`karpenter.sh/nodepool: default`).
async fn karpenter_label(ns: &TestNs, node: &str) {
    let nodes: Api<Node> = Api::all(ns.client.clone());
    let label = json!({"metadata": {"labels": {"karpenter.sh/nodepool": "default"}}});
    nodes
        .patch(node, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .expect("label the node");
}

/// The second seed's full node (970m of 1000m requested), as one of Karpenter's.
async fn full_karpenter_node(ns: &TestNs) {
    let node = support::dedicated_node(ns, "1", "4Gi").await;
    karpenter_label(ns, &node).await;
    filler(ns, "670m").await;
    ApiRc {
        cpu: "100m",
        dedicated: true,
        ..Default::default()
    }
    .seed(ns)
    .await;
}

/// Issue 13: with Karpenter running (its nodes carry `karpenter.sh/nodepool`), a full cluster is not called stuck
/// ~9 s after the first FailedScheduling: Karpenter gets its cadence (30 s) to nominate a node. Silent past it,
/// the run fails and says so.
#[tokio::test]
async fn karpenter_gets_its_cadence_then_silence_is_fatal() {
    let ns = support::namespace("diag-karp").await;
    full_karpenter_node(&ns).await;
    let run_env = env(&ns, "registry.local/node-api:2.0", "v2", &[]);
    let (r, first) = tokio::join!(roll(&run_env), first_failed_scheduling(&ns));
    let after_first = Instant::now().saturating_duration_since(first.expect("a FailedScheduling"));
    println!(
        "karpenter: run took {:?}, ended {after_first:?} after the first FailedScheduling",
        r.took
    );
    assert_failed_fast(&r, Duration::from_secs(120));
    assert!(
        after_first >= Duration::from_secs(30),
        "ended {after_first:?} after the first FailedScheduling, before Karpenter's cadence"
    );
    r.says("Karpenter runs in this cluster but gave no verdict for the new pods in 30 s");
    r.says("Insufficient cpu: a new pod needs 100m");
}

/// Issue 13: Karpenter nominates a node claim, and the node comes: the rollout waits for it and finishes.
#[tokio::test]
async fn karpenter_nomination_is_waited_for() {
    let ns = support::namespace("diag-karp-nom").await;
    full_karpenter_node(&ns).await;
    let run_env = env(
        &ns,
        "registry.local/node-api:2.0",
        "v2",
        &[("INPUT_PROGRESS_DEADLINE", "2m")],
    );
    let karpenter = async {
        // Like Karpenter: nominate after a batch window, bring the node up later.
        first_failed_scheduling(&ns).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
        let pending = pods
            .list(&ListParams::default().labels("name=api-pods,version=v2"))
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none())
            .expect("a pending new pod");
        let now = k8s_openapi::jiff::Timestamp::now();
        let event: Event = serde_json::from_value(json!({
            "metadata": {"generateName": "nominated-"},
            "involvedObject": {"kind": "Pod", "namespace": ns.name, "name": pending.metadata.name,
                               "uid": pending.metadata.uid, "apiVersion": "v1"},
            "reason": "Nominated",
            "message": "Pod should schedule on: nodeclaim/default-x8k2c",
            "type": "Normal",
            "source": {"component": "karpenter"},
            "firstTimestamp": now.to_string(),
            "lastTimestamp": now.to_string(),
            "count": 1,
        }))
        .unwrap();
        Api::<Event>::namespaced(ns.client.clone(), &ns.name)
            .create(&PostParams::default(), &event)
            .await
            .expect("record Nominated");
        tokio::time::sleep(Duration::from_secs(25)).await;
        let added = support::dedicated_node(&ns, "1", "4Gi").await;
        karpenter_label(&ns, &added).await;
    };
    let (r, ()) = tokio::join!(roll(&run_env), karpenter);
    assert_eq!(r.run.code, 0, "{}", r.out());
    assert!(!r.out().contains("Stopping early"));
    assert!(r.took >= Duration::from_secs(30), "took {:?}", r.took);
    assert_eq!(ready_count(&ns, "name=api-pods,version=v2").await, 3);
}

/// Issue 13: a hostPort allows one pod per node; with every node taken and max_surge 1 the surge pod has nowhere
/// to go while the old pods keep the port. Fail fast, name the port, offer rolling without surge, which works.
#[tokio::test]
async fn host_port_taken_by_the_old_pods_fails_fast_with_the_surge_free_fix() {
    let ns = support::namespace("diag-port").await;
    support::dedicated_node(&ns, "2", "4Gi").await;
    support::dedicated_node(&ns, "2", "4Gi").await;
    ApiRc {
        replicas: 2,
        dedicated: true,
        host_port: Some(18080),
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let (_, r, after_first) = roll_surge_timed(&ns, "host port").await;
    assert!(after_first <= Duration::from_secs(30), "{after_first:?}");
    r.says("Stopping early: Host port 18080/TCP is already taken on 2 of the 2 nodes its node selector allows (this rollout's old pods hold it until new pods are available)");
    r.says("didn't have free ports for the requested pod ports");
    r.says("roll with max_surge: 0 and max_unavailable: 1: removing an old pod first (api-rc-");
    r.says("frees its host port for a new pod");
    surge_free_roll_succeeds(&ns, 2).await;
}

/// Issue 13, bounded cost: a pod of another namespace on the node is counted (a cluster-wide read), and however
/// many diagnoses a stuck rollout makes, pods of the whole cluster are listed once per run (the watch-backed
/// cache), not once per diagnosis. Requests are counted by the proxy the action talks through.
#[tokio::test]
async fn other_namespaces_pods_are_counted_and_cluster_pods_listed_once_per_run() {
    let ns = support::namespace("diag-cost").await;
    let other = support::namespace("diag-cost-other").await;
    let node = support::dedicated_node(&ns, "1", "4Gi").await;
    // Another team's 670m on our dedicated node, from its own namespace.
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: other-team\n  labels:\n    app: other-team\nspec:\n  terminationGracePeriodSeconds: 1\n{}  containers:\n  - name: main\n    image: registry.local/other:1\n    resources:\n      requests:\n        cpu: 670m\n",
        dedicated_spec(&ns, 2)
    );
    support::apply_yaml(&other, &yaml).await;
    wait_ready(&other, "app=other-team", 1).await;
    ApiRc {
        cpu: "100m",
        dedicated: true,
        ..Default::default()
    }
    .seed(&ns)
    .await;

    let proxy = FaultProxy::start(Mode::Pass, 13).await;
    let mut surge = env(
        &ns,
        "registry.local/node-api:2.0",
        "v2",
        &[("INPUT_PROGRESS_DEADLINE", "5m")],
    );
    surge.insert("INPUT_KUBECONFIG".into(), proxy.kubeconfig());
    let r = roll(&surge).await;
    assert_failed_fast(&r, Duration::from_secs(300));
    // 670m (other namespace) + 3 x 100m: only a read of every namespace's pods gives 970m.
    r.says(&format!(
        "Insufficient cpu: a new pod needs 100m; the most free on any node is 30m ({node}: 970m of 1000m requested)"
    ));

    let lines = proxy.stats().lines;
    let path = |l: &String| {
        l.split_once(' ')
            .map_or(String::new(), |(_, p)| p.to_string())
    };
    let is_watch = |l: &String| l.contains("watch=true") || l.contains("watch=1");
    let events = format!("/api/v1/namespaces/{}/events", ns.name);
    let snapshots = lines
        .iter()
        .filter(|l| l.starts_with("GET ") && path(l).split('?').next() == Some(events.as_str()))
        .count();
    let cluster_pod_lists = lines
        .iter()
        .filter(|l| l.starts_with("GET /api/v1/pods") && !is_watch(l))
        .count();
    let node_lists = lines
        .iter()
        .filter(|l| l.starts_with("GET /api/v1/nodes") && !is_watch(l))
        .count();
    // The pre-flight check and at least the diagnoses of the fail-fast grace: enough for per-diagnosis lists to show.
    assert!(
        snapshots >= 4,
        "expected the pre-flight check and several diagnoses, saw {snapshots} events lists:\n{lines:#?}"
    );
    assert!(
        cluster_pod_lists <= 2 && node_lists <= 2,
        "{cluster_pod_lists} cluster-wide pod lists and {node_lists} node lists for {snapshots} snapshots:\n{lines:#?}"
    );
    // The namespace's pods come from the engine's watch during the rollout: listed whole by the pre-flight check
    // and the watch's first list only (the legacy relabel lists the old RC's pods by label, not counted here).
    let ns_pods = format!("/api/v1/namespaces/{}/pods", ns.name);
    let ns_pod_lists = lines
        .iter()
        .filter(|l| {
            l.starts_with("GET ")
                && !is_watch(l)
                && !l.contains("labelSelector")
                && path(l).split('?').next() == Some(ns_pods.as_str())
        })
        .count();
    assert!(
        ns_pod_lists <= 2,
        "{ns_pod_lists} lists of the namespace's pods for {snapshots} snapshots:\n{lines:#?}"
    );
}

/// Issue 13 on the real control plane: a new init container that crashes keeps the pods Pending before any app
/// container starts; the diagnosis names it as an init container, with its exit code and its last log lines.
#[tokio::test]
async fn crashing_init_container_fails_fast_and_is_named() {
    let ns = support::namespace("diag-init").await;
    let yaml = ApiRc {
        replicas: 2,
        ..Default::default()
    }
    .yaml(&ns)
    .replacen(
        "      containers:\n",
        "      initContainers:\n      - name: migrate\n        image: registry.local/migrate:1.0\n      containers:\n",
        1,
    );
    support::apply_yaml(&ns, &yaml).await;
    wait_ready(&ns, "name=api-pods", 2).await;
    let r = roll(&env(
        &ns,
        "registry.local/node-api:2.0",
        "v2",
        &[(
            "INPUT_IMAGES",
            "node-api-container=registry.local/node-api:2.0\nmigrate=registry.local/migrate:2.0-crashloop",
        )],
    ))
    .await;
    assert_failed_fast(&r, Duration::from_secs(120));
    r.says("Init container migrate keeps crashing: exit code 1");
    r.says("Error: connect ECONNREFUSED 10.0.0.5:5432"); // the init container's last log lines
    assert_eq!(
        ready_count(&ns, "name=api-pods").await,
        2,
        "rolled back to the old pods"
    );
}

/// Issue 13 on the real control plane: a container the runtime refuses to create (CreateContainerError) is named
/// with the runtime's message and the fix it points to.
#[tokio::test]
async fn create_container_error_fails_fast_and_names_the_container() {
    let ns = support::namespace("diag-create").await;
    ApiRc {
        replicas: 2,
        ..Default::default()
    }
    .seed(&ns)
    .await;
    let r = roll(&env(
        &ns,
        "registry.local/node-api:2.0-createerror",
        "v2",
        &[],
    ))
    .await;
    assert_failed_fast(&r, Duration::from_secs(120));
    r.says("Container node-api-container cannot be created: failed to prepare subPath for volumeMount \"data\" of container \"node-api-container\"");
    r.says("fix the volumeMounts of container node-api-container in the pod template");
    assert_eq!(
        ready_count(&ns, "name=api-pods").await,
        2,
        "rolled back to the old pods"
    );
}

/// Issue 13 with a ClusterRole written before the cache (`list` on nodes and pods, no `watch`): the watch is
/// refused once and not retried, and every diagnosis falls back to a list, so the numbers are still right.
#[tokio::test]
async fn a_list_only_cluster_role_still_gives_the_numbers_without_retrying_the_watch() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};

    let ns = support::namespace("diag-listonly").await;
    let other = support::namespace("diag-listonly-other").await;
    let user = format!("rolling-update-ci-{}", ns.name);
    crate::rbac::bind_readme_role(&ns, &user).await;
    let name = format!("rolling-update-capacity-list-{}", ns.name);
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["list"]}],
    }))
    .unwrap();
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }))
    .unwrap();
    let roles: Api<ClusterRole> = Api::all(ns.client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(ns.client.clone());
    roles.create(&PostParams::default(), &role).await.unwrap();
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    let node = support::dedicated_node(&ns, "1", "4Gi").await;
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: other-team\n  labels:\n    app: other-team\nspec:\n  terminationGracePeriodSeconds: 1\n{}  containers:\n  - name: main\n    image: registry.local/other:1\n    resources:\n      requests:\n        cpu: 670m\n",
        dedicated_spec(&ns, 2)
    );
    support::apply_yaml(&other, &yaml).await;
    wait_ready(&other, "app=other-team", 1).await;
    ApiRc {
        cpu: "100m",
        dedicated: true,
        ..Default::default()
    }
    .seed(&ns)
    .await;

    // Through the counting proxy, as the user: the proxy keeps the impersonation header.
    let proxy = FaultProxy::start(Mode::Pass, 14).await;
    let mut kubeconfig: serde_json::Value = serde_saphyr::from_str(&proxy.kubeconfig()).unwrap();
    for u in kubeconfig["users"].as_array_mut().expect("users") {
        u["user"]["as"] = json!(user);
    }
    let mut surge = env(
        &ns,
        "registry.local/node-api:2.0",
        "v2",
        &[("INPUT_PROGRESS_DEADLINE", "5m")],
    );
    surge.insert(
        "INPUT_KUBECONFIG".into(),
        serde_saphyr::to_string(&kubeconfig).unwrap(),
    );
    let r = roll(&surge).await;
    let _ = bindings.delete(&name, &Default::default()).await;
    let _ = roles.delete(&name, &Default::default()).await;
    assert_failed_fast(&r, Duration::from_secs(300));
    r.says(&format!(
        "Insufficient cpu: a new pod needs 100m; the most free on any node is 30m ({node}: 970m of 1000m requested)"
    ));
    assert!(!r.out().contains("could not read"), "nothing is unreadable");

    let lines = proxy.stats().lines;
    let watches = |base: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("GET {base}?")) && l.contains("watch=true"))
            .count()
    };
    let lists = lines
        .iter()
        .filter(|l| l.starts_with("GET /api/v1/pods?") && !l.contains("watch=true"))
        .count();
    assert_eq!(
        (watches("/api/v1/pods"), watches("/api/v1/nodes")),
        (1, 1),
        "each refused watch is tried once:\n{lines:#?}"
    );
    assert!(
        lists >= 3,
        "without watch, diagnoses list the cluster's pods again ({lists} lists):\n{lines:#?}"
    );
}
