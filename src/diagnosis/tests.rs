//! Whole-diagnosis tests: YAML fixtures parsed into k8s-openapi types, exact human messages asserted.

use k8s_openapi::api::core::v1::{Event, Node, Pod, ReplicationController, ResourceQuota};
use serde::Deserialize;

use super::*;
use crate::yaml::parsed;

#[derive(Deserialize)]
struct Log {
    pod: String,
    container: String,
    text: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Fixture {
    max_surge: i32,
    max_unavailable: i32,
    desired_replicas: i32,
    new_rc: Option<ReplicationController>,
    new_pods: Vec<Pod>,
    old_pods: Vec<Pod>,
    all_pods: Vec<Pod>,
    nodes: Vec<Node>,
    events: Vec<Event>,
    quotas: Vec<ResourceQuota>,
    logs: Vec<Log>,
    unreadable: Vec<String>,
    now: Option<k8s_openapi::jiff::Timestamp>,
    autoscaler_status: Option<String>,
}

fn load(name: &str) -> Snapshot {
    let path = format!(
        "{}/tests/fixtures/diagnosis/{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let f: Fixture = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    Snapshot {
        new_rc: f.new_rc,
        new_pods: f.new_pods,
        old_pods: f.old_pods,
        all_pods: f.all_pods.into_iter().map(std::sync::Arc::new).collect(),
        nodes: f.nodes,
        events: f.events,
        quotas: f.quotas,
        logs: f
            .logs
            .into_iter()
            .map(|l| ((l.pod, l.container), l.text))
            .collect(),
        unreadable: f.unreadable,
        max_surge: f.max_surge,
        max_unavailable: f.max_unavailable,
        desired_replicas: f.desired_replicas,
        now: f.now,
        autoscaler_status: f.autoscaler_status,
    }
}

fn kinds(d: &Diagnosis) -> Vec<FindingKind> {
    d.findings.iter().map(|f| f.kind).collect()
}

#[test]
fn seed_names_cpu_the_numbers_and_the_surge_zero_fix() {
    let d = diagnose(&load("seed"));
    assert_eq!(
        kinds(&d),
        vec![FindingKind::InsufficientResources],
        "{d:#?}"
    );
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Insufficient cpu: a new pod needs 100m; the most free on any node is 30m (node-1: 970m of 1000m requested)"
    );
    assert!(f.fatal);
    assert_eq!(
        f.fixes,
        vec![
            "roll with max_surge: 0 and max_unavailable: 1: removing an old pod first (web-1-a on node-1, 100m cpu) frees enough for a new pod there; the cost is one pod of headroom (at least 2 of 3 pods available during the rollout)",
            "add 1 node like node-1 (or raise the node group's max)",
            "lower the cpu request of container app from 100m to <= 30m (then a new pod fits on node-1)",
        ]
    );
    assert_eq!(
        f.evidence[0],
        "0/1 nodes are available: 1 Insufficient cpu."
    );
    assert_eq!(
        f.evidence[1],
        "1 new pod unschedulable of 1 pending: web-2-x7k2p"
    );
    let cpu = f.capacity.iter().find(|r| r.resource == "cpu").unwrap();
    assert_eq!(
        (
            cpu.node.as_str(),
            cpu.allocatable.as_str(),
            cpu.requested.as_str(),
            cpu.free.as_str(),
            cpu.needed.as_str(),
            cpu.fits
        ),
        ("node-1", "1000m", "970m", "30m", "100m", false),
        "the Succeeded job's 500m is not counted"
    );
    let mem = f.capacity.iter().find(|r| r.resource == "memory").unwrap();
    assert_eq!(
        (mem.requested.as_str(), mem.free.as_str(), mem.fits),
        ("640Mi", "3.37Gi", true)
    );
    assert_eq!(d.headline(), Some(f.summary.as_str()));
}

#[test]
fn seed_without_surge_offers_no_surge_fix() {
    let mut s = load("seed");
    s.max_surge = 0;
    s.max_unavailable = 1;
    let d = diagnose(&s);
    assert!(
        d.findings[0].fixes.iter().all(|f| !f.contains("max_surge")),
        "{:?}",
        d.findings[0].fixes
    );
}

fn set_cpu(pod: &mut Pod, cpu: &str) {
    let c = &mut pod.spec.as_mut().unwrap().containers[0];
    c.resources
        .get_or_insert_with(Default::default)
        .requests
        .get_or_insert_with(Default::default)
        .insert(
            "cpu".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity(cpu.into()),
        );
}

#[test]
fn surge_fix_is_withheld_when_an_old_pod_frees_too_little() {
    let mut s = load("seed");
    // 900m + 3 x 20m = 960m: 40m free; removing one old pod frees 20m, still short of 100m.
    set_cpu(std::sync::Arc::make_mut(&mut s.all_pods[0]), "900m");
    for p in &mut s.old_pods {
        set_cpu(p, "20m");
    }
    let d = diagnose(&s);
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Insufficient cpu: a new pod needs 100m; the most free on any node is 40m (node-1: 960m of 1000m requested)"
    );
    assert!(f.fatal);
    assert!(
        f.fixes.iter().all(|x| !x.contains("max_surge")),
        "{:?}",
        f.fixes
    );
}

#[test]
fn a_node_with_room_now_means_the_scheduler_will_retry() {
    let mut s = load("seed");
    set_cpu(std::sync::Arc::make_mut(&mut s.all_pods[0]), "500m");
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::Unschedulable]);
    assert!(!d.is_fatal());
    assert_eq!(
        d.findings[0].summary,
        "The scheduler found no node for 1 new pod, but node-1 has room now; it will retry"
    );
}

#[test]
fn too_many_pods_uses_the_pods_capacity() {
    let mut s = load("seed");
    for n in &mut s.nodes {
        n.status
            .as_mut()
            .unwrap()
            .allocatable
            .as_mut()
            .unwrap()
            .insert(
                "pods".into(),
                k8s_openapi::apimachinery::pkg::api::resource::Quantity("4".into()),
            );
        n.status
            .as_mut()
            .unwrap()
            .allocatable
            .as_mut()
            .unwrap()
            .insert(
                "cpu".into(),
                k8s_openapi::apimachinery::pkg::api::resource::Quantity("4".into()),
            );
    }
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::TooManyPods], "{d:#?}");
    assert_eq!(
        d.findings[0].summary,
        "Too many pods: every node is at its pod limit, the most free on any node is 0 (node-1: 4 of 4 pods)"
    );
    assert!(
        d.findings[0].fixes.iter().all(|f| !f.starts_with("lower")),
        "lowering requests frees no pod slot"
    );
}

#[test]
fn node_selector_mismatch_is_named() {
    let mut s = load("seed");
    s.new_pods[0].spec.as_mut().unwrap().node_selector =
        Some([("disktype".to_string(), "ssd".to_string())].into());
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::NodeSelector], "{d:#?}");
    assert_eq!(
        d.findings[0].summary,
        "The pod's nodeSelector disktype=ssd matches no node (1 node)"
    );
    assert_eq!(
        d.findings[0].evidence.last().unwrap(),
        "node-1 lacks disktype=ssd"
    );
}

#[test]
fn nodes_outside_the_node_selector_are_not_candidates_nor_a_cause() {
    // The seed on a dedicated node: two big empty nodes the pods' nodeSelector excludes must neither show room
    // nor be reported as a selector problem; the numbers are the dedicated node's.
    let mut s = load("seed");
    let selector: std::collections::BTreeMap<String, String> =
        [("pool".to_string(), "dedicated".to_string())].into();
    s.new_pods[0].spec.as_mut().unwrap().node_selector = Some(selector.clone());
    s.nodes[0]
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .extend(selector);
    for name in ["node-2", "node-3"] {
        let mut n = s.nodes[0].clone();
        n.metadata.name = Some(name.into());
        n.metadata.labels = None;
        s.nodes.push(n);
    }
    s.events[0].message = Some(
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match node selector.".into(),
    );
    let d = diagnose(&s);
    assert_eq!(
        kinds(&d),
        vec![FindingKind::InsufficientResources],
        "{d:#?}"
    );
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Insufficient cpu: a new pod needs 100m; the most free on any node is 30m (node-1: 970m of 1000m requested)"
    );
    assert!(f.fatal);
    assert!(
        f.capacity.iter().all(|r| r.node == "node-1"),
        "{:?}",
        f.capacity
    );
    assert!(f.fixes[0].starts_with("roll with max_surge: 0 and max_unavailable: 1"));
}

#[test]
fn terminating_pod_that_frees_room_is_not_fatal() {
    let mut s = load("seed");
    std::sync::Arc::make_mut(&mut s.all_pods[0])
        .metadata
        .deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2024-05-01T10:00:00Z".parse().unwrap(),
    ));
    let d = diagnose(&s);
    assert!(!d.is_fatal(), "{d:#?}");
    assert!(d.findings[0].evidence.contains(
        &"pod system-hog on node-1 is terminating; when it is gone a new pod fits there"
            .to_string()
    ));
}

#[test]
fn pods_not_yet_marked_unschedulable_are_not_fatal() {
    let mut s = load("seed");
    let mut fresh = s.new_pods[0].clone();
    fresh.metadata.name = Some("web-2-fresh".into());
    fresh.status = None;
    s.new_pods.push(fresh);
    let d = diagnose(&s);
    assert_eq!(d.findings[0].kind, FindingKind::InsufficientResources);
    assert!(!d.is_fatal(), "one pending pod has no verdict yet");
}

#[test]
fn autoscaler_scale_up_pending_is_not_fatal() {
    let mut s = load("seed");
    s.events.extend(parsed::<Vec<Event>>(
        r#"
- involvedObject: {kind: Pod, name: web-2-x7k2p, namespace: prod}
  reason: TriggeredScaleUp
  type: Normal
  message: "pod triggered scale-up: [{pool-1 1->2 (max: 3)}]"
  lastTimestamp: "2024-05-01T10:00:40Z"
"#,
    ));
    let d = diagnose(&s);
    assert_eq!(
        kinds(&d),
        vec![
            FindingKind::InsufficientResources,
            FindingKind::ScaleUpPending
        ]
    );
    assert!(!d.is_fatal());
    assert_eq!(
        d.findings[1].summary,
        "The cluster autoscaler is adding nodes: pod triggered scale-up: [{pool-1 1->2 (max: 3)}]"
    );

    // A later "didn't trigger" verdict wins: back to fatal, with the autoscaler's reason as evidence.
    s.events.extend(parsed::<Vec<Event>>(
        r#"
- involvedObject: {kind: Pod, name: web-2-x7k2p, namespace: prod}
  reason: NotTriggerScaleUp
  type: Normal
  message: "pod didn't trigger scale-up: 1 max node group size reached"
  lastTimestamp: "2024-05-01T10:01:40Z"
"#,
    ));
    let d = diagnose(&s);
    assert_eq!(
        kinds(&d),
        vec![
            FindingKind::InsufficientResources,
            FindingKind::ScaleUpRefused
        ]
    );
    assert!(d.is_fatal());
    assert_eq!(
        d.findings[1].summary,
        "The cluster autoscaler won't add a node for the new pods: pod didn't trigger scale-up: 1 max node group size reached"
    );
    assert!(d.findings[0].evidence.contains(
        &"cluster autoscaler: NotTriggerScaleUp: pod didn't trigger scale-up: 1 max node group size reached".to_string()
    ));
}

#[test]
fn unreadable_nodes_fall_back_to_the_scheduler_message() {
    let mut s = load("seed");
    s.nodes.clear();
    s.unreadable = vec!["nodes: forbidden: cannot list nodes at the cluster scope".into()];
    let d = diagnose(&s);
    assert_eq!(d.unreadable, s.unreadable);
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Insufficient cpu on 1 of 1 nodes (the scheduler's count): a new pod needs 100m; free capacity per node is unknown"
    );
    assert!(f.evidence.iter().any(|e| e
        == "could not read nodes (nodes: forbidden: cannot list nodes at the cluster scope): the numbers come from the scheduler's message only"));
    assert!(f.fixes.is_empty(), "no fix can be checked without nodes");
    assert!(f.capacity.is_empty());
}

#[test]
fn partial_pod_list_trusts_the_scheduler_over_a_lower_bound() {
    let mut s = load("seed");
    s.all_pods.clear(); // only the namespace's pods: the 670m system pod is missing
    s.unreadable = vec!["pods in all namespaces: forbidden".into()];
    let d = diagnose(&s);
    let f = &d.findings[0];
    assert_eq!(f.kind, FindingKind::InsufficientResources);
    assert!(f.fatal, "{f:#?}");
    assert!(
        f.summary
            .starts_with("Insufficient cpu on 1 of 1 nodes (the scheduler's count)"),
        "{}",
        f.summary
    );
    assert!(f.evidence.contains(
        &"could not read every pod (pods in all namespaces: forbidden): per-node usage is a lower bound, so the scheduler's count is used".to_string()
    ));
}

#[test]
fn fragmentation_says_no_single_node_fits() {
    let d = diagnose(&load("fragmentation"));
    assert_eq!(kinds(&d), vec![FindingKind::Fragmentation], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "No single node fits a new pod: it needs 1Gi memory; 1.5Gi is free across 3 nodes but the most on any one is 512Mi (node-a: 3.5Gi of 4Gi requested)"
    );
    assert!(f.fatal);
    assert_eq!(
        f.fixes,
        vec![
            "add 1 node like node-a (or raise the node group's max)",
            "lower the memory request of container api from 1Gi to <= 512Mi (then a new pod fits on node-a)",
        ],
        "no old pods in the snapshot: the surge fix is not offered"
    );
    assert_eq!(f.capacity.len(), 9, "3 nodes x cpu, memory, pods");
}

#[test]
fn taint_is_named_with_the_toleration_that_allows_it() {
    let d = diagnose(&load("taint"));
    assert_eq!(kinds(&d), vec![FindingKind::Taint], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "1 of 1 node has a taint the new pods don't tolerate: dedicated=gpu:NoSchedule (node-1)"
    );
    assert!(f.fatal);
    assert_eq!(
        f.fixes[0],
        "if the pods may run on node-1, add this toleration to the pod template:\ntolerations:\n- key: \"dedicated\"\n  operator: \"Equal\"\n  value: \"gpu\"\n  effect: \"NoSchedule\"\n"
    );
    assert_eq!(
        f.fixes[1],
        "or remove the taint: kubectl taint nodes node-1 dedicated=gpu:NoSchedule-"
    );
}

#[test]
fn taint_counts_only_the_nodes_the_node_selector_allows() {
    let mut s = load("taint");
    let selector: std::collections::BTreeMap<String, String> =
        [("pool".to_string(), "gpu".to_string())].into();
    s.new_pods[0].spec.as_mut().unwrap().node_selector = Some(selector.clone());
    let mut other = s.nodes[0].clone();
    other.metadata.name = Some("node-2".into());
    other.spec = None;
    s.nodes[0]
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .extend(selector);
    s.nodes.push(other);
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::Taint], "{d:#?}");
    assert_eq!(
        d.findings[0].summary,
        "1 of 1 node matching the pod's node selector has a taint the new pods don't tolerate: dedicated=gpu:NoSchedule (node-1)"
    );
}

#[test]
fn image_pull_quotes_the_registry_and_fails_fast_on_not_found() {
    let s = load("image_pull");
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::ImagePull], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Cannot pull image registry.example.com/web:v2 for container web (ImagePullBackOff)"
    );
    assert!(
        f.evidence[0].ends_with("registry.example.com/web:v2: not found"),
        "{:?}",
        f.evidence
    );
    assert_eq!(f.fixes, vec!["was it built and pushed? check the tag and the registry credentials (imagePullSecrets)"]);
    assert!(f.fatal);

    // A registry hiccup with a single back-off can still resolve itself.
    let mut s = s;
    for e in &mut s.events {
        if e.reason.as_deref() == Some("Failed") {
            e.message =
                Some("Failed to pull image \"registry.example.com/web:v2\": i/o timeout".into());
        }
    }
    let d = diagnose(&s);
    assert!(!d.findings[0].fatal, "{:?}", d.findings[0]);
}

#[test]
fn crashloop_has_exit_code_restarts_and_the_last_twenty_log_lines() {
    let s = load("crashloop");
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::CrashLoop], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Container web keeps crashing: exit code 1, 3 restarts"
    );
    assert!(f.fatal);
    assert_eq!(f.logs.len(), 20);
    assert_eq!(f.logs.first().map(String::as_str), Some("line 4"));
    assert_eq!(
        f.logs.last().map(String::as_str),
        Some("panic: DATABASE_URL is not set")
    );
    assert_eq!(f.evidence[0], "web-2-a: last exit code 1 (Error)");

    let mut s = s;
    s.new_pods[0]
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[0]
        .restart_count = 1;
    assert!(!diagnose(&s).is_fatal(), "one restart may be a fluke");
}

#[test]
fn never_ready_names_the_probe_and_leaves_it_to_the_deadline() {
    let d = diagnose(&load("never_ready"));
    assert_eq!(kinds(&d), vec![FindingKind::ReadinessProbe], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(f.summary, "Readiness probe of container web keeps failing (httpGet /healthz on port 8080): 12 failures");
    assert_eq!(
        f.evidence[0],
        "Readiness probe failed: HTTP probe failed with statuscode: 503"
    );
    assert!(!f.fatal);
}

#[test]
fn config_error_names_the_missing_configmap() {
    let d = diagnose(&load("config_error"));
    assert_eq!(kinds(&d), vec![FindingKind::ContainerConfig], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Container web cannot start: ConfigMap web-config not found"
    );
    assert_eq!(
        f.fixes,
        vec!["create ConfigMap web-config in prod, or fix the reference in the pod template"]
    );
    assert!(f.fatal);
}

#[test]
fn quota_names_the_quota_and_the_numbers() {
    let d = diagnose(&load("quota"));
    assert_eq!(kinds(&d), vec![FindingKind::Quota], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "ResourceQuota compute is full: requests.cpu: a new pod requests 500m, 1 of 1 is used"
    );
    assert!(f.fatal);
    assert_eq!(
        f.evidence[1],
        "ResourceQuota compute (used/hard): pods 2/10, requests.cpu 1/1"
    );
    assert_eq!(
        f.fixes,
        vec![
            "raise requests.cpu in ResourceQuota compute to at least 1500m",
            "roll with max_surge: 0 and max_unavailable: 1: deleting an old pod first (e.g. web-1-a) returns its quota to the new one; the cost is one pod of headroom (at least 1 of 2 pods available during the rollout)",
        ]
    );
}

#[test]
fn slow_but_progressing_is_never_fatal() {
    let d = diagnose(&load("slow_progressing"));
    assert!(!d.is_fatal(), "{d:#?}");
    assert!(d.findings.is_empty(), "{d:#?}");
}

#[test]
fn unexplained_warning_events_are_passed_on_collapsed() {
    let mut s = load("slow_progressing");
    s.events.extend(parsed::<Vec<Event>>(
        r#"
- {involvedObject: {kind: Pod, name: web-2-b}, reason: FailedCreatePodSandBox, type: Warning, message: "network not ready", count: 2}
- {involvedObject: {kind: Pod, name: web-2-b}, reason: FailedCreatePodSandBox, type: Warning, message: "network not ready", count: 3}
- {involvedObject: {kind: Pod, name: someone-else}, reason: FailedCreatePodSandBox, type: Warning, message: "not ours"}
"#,
    ));
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::Other]);
    assert_eq!(
        d.findings[0].evidence,
        vec!["FailedCreatePodSandBox: network not ready (5 events)"]
    );
    assert!(!d.is_fatal());
}

#[test]
fn preflight_warns_when_the_surge_pod_cannot_fit() {
    let mut s = load("seed");
    s.new_pods.clear();
    let template = s
        .new_rc
        .as_ref()
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .template
        .clone()
        .unwrap();
    assert_eq!(
        preflight(&s, &template),
        vec!["the 1 surge pod (100m cpu, 128Mi memory each) cannot fit on any node: the most free cpu on any node is 30m (node-1: 970m of 1000m requested); consider max_surge: 0 and max_unavailable: 1, or add capacity"]
    );
    s.max_surge = 0;
    assert!(
        preflight(&s, &template).is_empty(),
        "surge 0 needs no spare room"
    );
}

#[test]
fn preflight_warns_when_the_quota_has_no_room() {
    let s = load("quota");
    let template = s
        .new_rc
        .as_ref()
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .template
        .clone()
        .unwrap();
    assert_eq!(
        preflight(&s, &template),
        vec!["ResourceQuota compute has no room for the 1 surge pod: requests.cpu used 1000m of 1000m, each new pod needs 500m"]
    );
}

#[test]
fn text_rendering_has_summary_table_logs_and_fixes() {
    let mut d = diagnose(&load("seed"));
    d.findings.extend(diagnose(&load("crashloop")).findings);
    let t = text::render_text(&d);
    assert!(
        t.starts_with("[fatal] Insufficient cpu: a new pod needs 100m;"),
        "{t}"
    );
    assert!(
        t.contains("    node    resource  allocatable  requested  free    needed  fits\n"),
        "{t}"
    );
    assert!(
        t.contains("    node-1  cpu       1000m        970m       30m     100m    no\n"),
        "{t}"
    );
    assert!(
        t.contains("  fix: add 1 node like node-1 (or raise the node group's max)\n"),
        "{t}"
    );
    assert!(t.contains("    | panic: DATABASE_URL is not set\n"), "{t}");
}

/// Replaces the first new pod's PodScheduled=False message.
fn set_message(s: &mut Snapshot, message: &str) {
    s.new_pods[0]
        .status
        .as_mut()
        .unwrap()
        .conditions
        .as_mut()
        .unwrap()[0]
        .message = Some(message.into());
}

/// No fix may carry a toleration the diagnosis cannot name, or one for a taint Kubernetes owns.
fn assert_no_harmful_toleration(d: &Diagnosis) {
    for f in &d.findings {
        for fix in &f.fixes {
            assert!(!fix.contains("key: \"\""), "empty-key toleration: {fix}");
            assert!(
                !fix.contains("node-role.kubernetes.io/") && !fix.contains("node.kubernetes.io/"),
                "toleration for a Kubernetes-owned taint: {fix}"
            );
            if fix.contains("tolerations:") {
                assert!(fix.contains("- key: \""), "toleration without a key: {fix}");
            }
        }
    }
}

#[test]
fn issue_13_with_nodes_headlines_the_cpu_shortage_not_the_control_plane_taint() {
    let d = diagnose(&load("control_plane"));
    assert_eq!(
        kinds(&d),
        vec![FindingKind::InsufficientResources, FindingKind::Taint],
        "{d:#?}"
    );
    assert!(d.is_fatal());
    assert_eq!(
        d.headline(),
        Some("Insufficient cpu: a new pod needs 500m; the most free on any node is 0m (worker-1: 1000m of 1000m requested)")
    );
    assert_eq!(
        d.findings[0].fixes[0],
        "roll with max_surge: 0 and max_unavailable: 1: removing an old pod first (web-1-a on worker-1, 500m cpu) frees enough for a new pod there; the cost is one pod of headroom (at least 1 of 2 pods available during the rollout)"
    );
    let taint = &d.findings[1];
    assert_eq!(
        taint.summary,
        "1 of 2 nodes matching the pod's node selector has a taint the new pods don't tolerate: node-role.kubernetes.io/control-plane:NoSchedule (cp-1)"
    );
    assert!(taint.fixes.is_empty(), "{:?}", taint.fixes);
    assert!(taint.evidence.contains(&"node-role.kubernetes.io/control-plane:NoSchedule on cp-1: keeps workloads off control-plane nodes; don't tolerate it, make room on the other nodes".to_string()), "{:?}", taint.evidence);
    assert_no_harmful_toleration(&d);
}

#[test]
fn issue_13_with_the_role_only_never_suggests_a_toleration_for_every_taint() {
    let mut s = load("control_plane");
    s.nodes.clear();
    s.all_pods.clear();
    s.unreadable = vec!["nodes: forbidden".into()];
    let d = diagnose(&s);
    assert_eq!(
        kinds(&d),
        vec![FindingKind::InsufficientResources, FindingKind::Taint],
        "{d:#?}"
    );
    assert!(d.is_fatal());
    assert_eq!(
        d.headline(),
        Some("Insufficient cpu on 1 of 5 nodes (the scheduler's count): a new pod needs 500m; free capacity per node is unknown")
    );
    assert!(d.findings[0].evidence.contains(
        &"3 of 5 nodes are outside the pod's node selector or affinity (node(s) didn't match Pod's node affinity/selector): never candidates".to_string()
    ), "{:?}", d.findings[0].evidence);
    let taint = &d.findings[1];
    assert_eq!(
        taint.summary,
        "1 of 5 nodes has a taint the new pods don't tolerate (the scheduler doesn't say which)"
    );
    assert!(
        taint.fixes.iter().all(|f| !f.contains("tolerations:")),
        "{:?}",
        taint.fixes
    );
    for f in &d.findings {
        assert!(
            !f.summary.contains("deallocate"),
            "a DRA clause glued on: {}",
            f.summary
        );
    }
    assert_no_harmful_toleration(&d);
}

#[test]
fn message_only_taints_get_a_toleration_only_when_named_and_not_kubernetes_owned() {
    let mut s = load("seed");
    s.nodes.clear();
    s.unreadable = vec!["nodes: forbidden".into()];
    let msg = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) had untolerated taint {spray: mortein}. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    set_message(&mut s, msg);
    let d = diagnose(&s);
    let summaries: Vec<&str> = d.findings.iter().map(|f| f.summary.as_str()).collect();
    assert_eq!(
        summaries,
        vec![
            "1 of 3 nodes has a taint the new pods don't tolerate: spray=mortein",
            "1 of 3 nodes has a taint the new pods don't tolerate: node-role.kubernetes.io/control-plane",
            "1 of 3 nodes has a taint the new pods don't tolerate: node.kubernetes.io/not-ready",
        ]
    );
    assert_eq!(
        d.findings[0].fixes,
        vec!["if the pods may run there, add this toleration to the pod template:\ntolerations:\n- key: \"spray\"\n  operator: \"Equal\"\n  value: \"mortein\"\n"]
    );
    assert!(d.findings[1].fixes.is_empty() && d.findings[2].fixes.is_empty());
    assert_no_harmful_toleration(&d);
}

#[test]
fn one_pod_per_node_anti_affinity_with_surge_is_fatal_with_the_surge_free_fix() {
    let d = diagnose(&load("anti_affinity"));
    assert_eq!(kinds(&d), vec![FindingKind::PodAffinity], "{d:#?}");
    let f = &d.findings[0];
    assert!(f.fatal, "every node has room, but waiting can't help");
    assert_eq!(
        f.summary,
        "No node is left for a new pod under its required pod anti-affinity (one pod with app=web per node): 3 of 3 nodes already run a pod it excludes, 3 of them this rollout's old pods, which leave only after new pods are available"
    );
    assert_eq!(
        f.fixes,
        vec![
            "roll with max_surge: 0 and max_unavailable: 1: removing an old pod first (web-1-a on node-a) frees its node for a new pod; the cost is one pod of headroom (at least 2 of 3 pods available during the rollout)",
            "or add a node with room (each new pod needs a node of its own)",
            "or make the rule preferredDuringSchedulingIgnoredDuringExecution if pods may share a node",
        ]
    );
    assert!(f
        .evidence
        .contains(&"old pod web-1-b holds node-b".to_string()));
    assert!(!d
        .findings
        .iter()
        .any(|f| f.summary.contains("it will retry")));
}

#[test]
fn anti_affinity_waits_while_a_pod_in_the_way_is_terminating() {
    let mut s = load("anti_affinity");
    s.old_pods[0].metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2024-05-01T10:00:00Z".parse().unwrap(),
        ));
    let d = diagnose(&s);
    assert!(!d.is_fatal(), "{d:#?}");
    assert!(d.findings[0]
        .evidence
        .contains(&"pod web-1-a on node-a is terminating and may free its place".to_string()));
}

#[test]
fn host_ports_spread_and_volumes_each_get_a_finding() {
    let mut s = load("anti_affinity");
    let spec = s.new_pods[0].spec.as_mut().unwrap();
    spec.affinity = None;
    spec.containers[0].ports = Some(vec![serde_saphyr::from_str(
        "{containerPort: 8080, hostPort: 80}",
    )
    .unwrap()]);
    for p in &mut s.old_pods {
        p.spec.as_mut().unwrap().containers[0].ports = Some(vec![serde_saphyr::from_str(
            "{containerPort: 8080, hostPort: 80}",
        )
        .unwrap()]);
    }
    let msg =
        "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports.";
    set_message(&mut s, msg);
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::HostPort], "{d:#?}");
    assert!(d.is_fatal());
    assert_eq!(
        d.headline(),
        Some("Host port 80/TCP is already taken on 3 of 3 nodes (this rollout's old pods hold it until new pods are available)")
    );
    assert!(d.findings[0].fixes[0].starts_with("roll with max_surge: 0 and max_unavailable: 1: removing an old pod first (web-1-a on node-a) frees its host port"));

    let spread = "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints.";
    set_message(&mut s, spread);
    s.new_pods[0].spec.as_mut().unwrap().topology_spread_constraints = Some(vec![serde_saphyr::from_str(
        "{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}",
    ).unwrap()]);
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::TopologySpread], "{d:#?}");
    assert!(d.is_fatal());
    assert_eq!(
        d.headline(),
        Some("The topology spread constraint (maxSkew 1 per zone, whenUnsatisfiable: DoNotSchedule) rules out 3 of 3 nodes")
    );

    // A claim still being bound may resolve itself: named, but the deadline decides.
    let unbound = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    set_message(&mut s, unbound);
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::Volume], "{d:#?}");
    assert_eq!(
        d.headline(),
        Some("The new pods' PersistentVolumeClaims are not bound yet")
    );
    assert!(!d.is_fatal());

    let conflict = "0/3 nodes are available: 3 node(s) didn't match PersistentVolume's node affinity. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    set_message(&mut s, conflict);
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::Volume], "{d:#?}");
    assert!(d.is_fatal());
    assert_eq!(
        d.headline(),
        Some("The new pods' PersistentVolume can't be used on 3 of 3 nodes: its node affinity (usually a zone) places it elsewhere")
    );
}

#[test]
fn a_reason_nothing_models_is_passed_on_and_left_to_the_deadline() {
    let mut s = load("anti_affinity");
    s.new_pods[0].spec.as_mut().unwrap().affinity = None;
    let msg = "0/3 nodes are available: 3 node(s) had something new.";
    set_message(&mut s, msg);
    let d = diagnose(&s);
    assert_eq!(
        d.headline(),
        Some("The scheduler cannot place the new pods: 3 node(s) had something new")
    );
    assert!(!d.is_fatal());
}

#[test]
fn a_rerun_is_not_judged_by_failed_creates_of_an_earlier_rc_of_the_same_name() {
    // The first run's web-2 hit the quota and was deleted; the quota was raised; the re-run's web-2 (a new uid)
    // creates its pods. The hour-old FailedCreate events still name web-2.
    let mut s = load("quota");
    let rc = s.new_rc.as_mut().unwrap();
    rc.status = None;
    rc.metadata.uid = Some("second-run".into());
    rc.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2024-05-01T11:00:00Z".parse().unwrap(),
    ));
    s.events[0].involved_object.uid = Some("first-run".into());
    s.events[0].last_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2024-05-01T10:00:00Z".parse().unwrap(),
    ));
    let d = diagnose(&s);
    assert!(d.findings.is_empty(), "{d:#?}");

    // Without a uid on the event, its time decides: older than the RC is not about it.
    s.events[0].involved_object.uid = None;
    assert!(diagnose(&s).findings.is_empty());

    // The re-run's own FailedCreate still counts.
    s.events[0].involved_object.uid = Some("second-run".into());
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::Quota], "{d:#?}");
    assert!(d.is_fatal());
}

fn at(t: &str) -> Option<k8s_openapi::jiff::Timestamp> {
    Some(t.parse().unwrap())
}

#[test]
fn an_autoscaler_gets_its_cadence_before_a_full_cluster_is_called_stuck() {
    // The seed's first FailedScheduling is at 10:00:30 (count 3; the condition has no transition time).
    let mut s = load("seed");
    s.events[0].first_timestamp = s.events[0].last_timestamp.clone();
    s.autoscaler_status = Some("Cluster-autoscaler status at 2024-05-01 10:00:30".into());
    s.now = at("2024-05-01T10:00:42Z");
    let d = diagnose(&s);
    assert!(!d.is_fatal(), "{d:#?}");
    assert_eq!(
        kinds(&d),
        vec![
            FindingKind::InsufficientResources,
            FindingKind::ScaleUpPending
        ]
    );
    assert_eq!(
        d.findings[1].summary,
        "Waiting for the autoscaler: cluster-autoscaler runs in this cluster and has not answered for the new pods yet (unschedulable for 12 s; it answers within 30 s)"
    );

    // Silent past its cadence: stuck, and said so.
    s.now = at("2024-05-01T10:01:05Z");
    let d = diagnose(&s);
    assert!(d.is_fatal());
    assert!(d.findings[0].evidence.contains(&"cluster-autoscaler runs in this cluster but gave no verdict for the new pods in 30 s (unschedulable for 35 s): it is not adding a node for them".to_string()), "{:?}", d.findings[0].evidence);

    // A refusal within the cadence ends the wait at once, named.
    s.now = at("2024-05-01T10:00:42Z");
    s.events.extend(parsed::<Vec<Event>>(
        r#"
- involvedObject: {kind: Pod, name: web-2-x7k2p, namespace: prod}
  reason: FailedScaleUp
  type: Warning
  message: "Node scale up in zones us-central1-a associated with this pod failed: GCE out of resources. Pod is at risk of not being scheduled."
  lastTimestamp: "2024-05-01T10:00:41Z"
"#,
    ));
    let d = diagnose(&s);
    assert!(d.is_fatal());
    assert_eq!(
        d.findings[1].summary,
        "The cluster autoscaler won't add a node for the new pods: Node scale up in zones us-central1-a associated with this pod failed: GCE out of resources. Pod is at risk of not being scheduled."
    );
}

#[test]
fn karpenter_nodes_or_its_nomination_mean_wait() {
    let mut s = load("seed");
    s.events[0].first_timestamp = s.events[0].last_timestamp.clone();
    s.now = at("2024-05-01T10:00:40Z");
    assert!(diagnose(&s).is_fatal(), "no autoscaler: stuck");
    s.nodes[0]
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("karpenter.sh/nodepool".into(), "default".into());
    let d = diagnose(&s);
    assert!(!d.is_fatal(), "{d:#?}");
    assert!(d.findings[1]
        .summary
        .starts_with("Waiting for the autoscaler: Karpenter runs in this cluster"));
    s.now = at("2024-05-01T10:02:00Z");
    assert!(diagnose(&s).is_fatal(), "silent past its cadence");
    s.events.extend(parsed::<Vec<Event>>(
        r#"
- involvedObject: {kind: Pod, name: web-2-x7k2p, namespace: prod}
  reason: Nominated
  type: Normal
  source: {component: karpenter}
  message: "Pod should schedule on: nodeclaim/default-x8k2c"
  lastTimestamp: "2024-05-01T10:01:50Z"
"#,
    ));
    let d = diagnose(&s);
    assert!(!d.is_fatal());
    assert_eq!(
        d.findings[1].summary,
        "Karpenter is adding a node: Pod should schedule on: nodeclaim/default-x8k2c"
    );
}

#[test]
fn a_crashing_init_container_is_named_as_one() {
    let mut s = load("crashloop");
    let pod = &mut s.new_pods[0];
    let spec = pod.spec.as_mut().unwrap();
    let mut init = spec.containers[0].clone();
    init.name = "migrate".into();
    spec.init_containers = Some(vec![init]);
    let status = pod.status.as_mut().unwrap();
    let mut cs = status.container_statuses.as_ref().unwrap()[0].clone();
    cs.name = "migrate".into();
    status.init_container_statuses = Some(vec![cs]);
    status.container_statuses = None;
    s.logs = [(
        ("web-2-a".to_string(), "migrate".to_string()),
        "ERROR: relation \"users\" does not exist".to_string(),
    )]
    .into();
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::CrashLoop], "{d:#?}");
    assert_eq!(
        d.findings[0].summary,
        "Init container migrate keeps crashing: exit code 1, 3 restarts"
    );
    assert_eq!(
        d.findings[0].logs,
        vec!["ERROR: relation \"users\" does not exist"]
    );
    assert_eq!(
        d.findings[0].fixes,
        vec!["the log of init container migrate shows why it exits: fix the image or its configuration and roll again"]
    );
}

#[test]
fn a_readiness_event_without_a_container_never_prints_an_empty_name() {
    let mut s = load("never_ready");
    for p in &mut s.new_pods {
        for c in &mut p.spec.as_mut().unwrap().containers {
            c.readiness_probe = None;
        }
    }
    for e in &mut s.events {
        e.involved_object.field_path = None;
    }
    let d = diagnose(&s);
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Readiness probe of a container keeps failing (its probe): 12 failures"
    );
    assert!(!f.summary.contains("container  "), "{}", f.summary);
}

#[test]
fn extended_resources_keep_their_names_and_units_without_node_access() {
    let mut s = load("seed");
    s.nodes.clear();
    s.unreadable = vec!["nodes: forbidden".into()];
    let c = &mut s.new_pods[0].spec.as_mut().unwrap().containers[0];
    let requests = c.resources.as_mut().unwrap().requests.as_mut().unwrap();
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    requests.insert("nvidia.com/gpu".into(), Quantity("1".into()));
    requests.insert("hugepages-2Mi".into(), Quantity("64Mi".into()));
    set_message(&mut s, "0/4 nodes are available: 1 Insufficient hugepages-2Mi, 3 Insufficient nvidia.com/gpu. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod.");
    let d = diagnose(&s);
    let summaries: Vec<&str> = d.findings.iter().map(|f| f.summary.as_str()).collect();
    assert_eq!(
        summaries,
        vec![
            "Insufficient hugepages-2Mi on 1 of 4 nodes (the scheduler's count): a new pod needs 64Mi; free capacity per node is unknown",
            "Insufficient nvidia.com/gpu on 3 of 4 nodes (the scheduler's count): a new pod needs 1; free capacity per node is unknown",
        ]
    );
    assert!(d.is_fatal());
}

fn set_waiting(s: &mut Snapshot, container: &str, reason: &str, message: &str) {
    let status = s.new_pods[0].status.as_mut().unwrap();
    let cs = &mut status.container_statuses.as_mut().unwrap()[0];
    cs.name = container.into();
    let w = cs.state.as_mut().unwrap().waiting.as_mut().unwrap();
    w.reason = Some(reason.into());
    w.message = Some(message.into());
}

#[test]
fn create_container_error_names_the_container_and_the_kubelets_message() {
    let mut s = load("config_error");
    // The kubelet's message for a subPath it cannot prepare (pkg/kubelet/kubelet_pods.go makeMounts).
    set_waiting(
        &mut s,
        "web",
        "CreateContainerError",
        "failed to prepare subPath for volumeMount \"data\" of container \"web\"",
    );
    let d = diagnose(&s);
    assert_eq!(kinds(&d), vec![FindingKind::ContainerConfig], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "Container web cannot be created: failed to prepare subPath for volumeMount \"data\" of container \"web\""
    );
    assert_eq!(
        f.evidence,
        vec![
            "failed to prepare subPath for volumeMount \"data\" of container \"web\"",
            "affected: web-2-a (1 pod)",
        ]
    );
    assert_eq!(
        f.fixes,
        vec!["fix the volumeMounts of container web in the pod template (the mount path or subPath the message names)"]
    );
    assert!(f.fatal);

    // containerd's name reservation left by an earlier attempt.
    set_waiting(
        &mut s,
        "web",
        "CreateContainerError",
        "failed to reserve container name \"web_web-2-a_prod_1_0\": name \"web_web-2-a_prod_1_0\" is reserved for \"4f2c\"",
    );
    let f = &diagnose(&s).findings[0];
    assert_eq!(
        f.fixes,
        vec!["the runtime still holds the name of an earlier attempt at container web: delete the pod so it is created afresh, and check the node's container runtime if it comes back"]
    );
    assert!(f.fatal);
}

#[test]
fn create_container_error_never_prints_an_empty_container_name_or_message() {
    let mut s = load("config_error");
    set_waiting(&mut s, "", "CreateContainerError", "");
    let d = diagnose(&s);
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "A container cannot be created: the kubelet gave no message"
    );
    assert_eq!(f.evidence, vec!["affected: web-2-a (1 pod)"]);
    assert_eq!(
        f.fixes,
        vec!["fix what the message names in the spec of a container in the pod template (volume mounts, command, security context)"]
    );
}

/// The quota fixture with its refusal replaced: the RC's ReplicaFailure condition carries the apiserver's error
/// as it is, the FailedCreate event the same error behind "Error creating: " (pkg/controller/controller_utils.go).
fn refused_by(error: &str) -> Snapshot {
    let mut s = load("quota");
    s.quotas.clear();
    let rc = s.new_rc.as_mut().unwrap();
    rc.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].message = Some(error.into());
    s.events[0].message = Some(format!("Error creating: {error}"));
    s
}

#[test]
fn an_admission_webhook_denial_names_the_webhook_and_quotes_its_reason() {
    // "admission webhook %q denied the request: %s":
    // staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/errors/statuserror.go
    let error = "admission webhook \"validate.kyverno.svc-fail\" denied the request: \n\npolicy Pod/prod/web-2-q8w4z for resource violation: \n\nrequire-run-as-nonroot:\n  run-as-non-root: 'validation error: Running as root is not allowed.'";
    let d = diagnose(&refused_by(error));
    assert_eq!(kinds(&d), vec![FindingKind::Other], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "The new pods cannot be created: admission webhook validate.kyverno.svc-fail denied them: \"policy Pod/prod/web-2-q8w4z for resource violation:\""
    );
    assert_eq!(
        f.evidence,
        vec![error.to_string()],
        "condition and event are one refusal"
    );
    assert_eq!(
        f.fixes,
        vec!["change the pod template so the policy admits it, or ask the owner of webhook validate.kyverno.svc-fail"]
    );
    assert!(f.fatal);

    // Any name, any reason; untrusted text is kept as it is here, like other event messages (the report escapes it).
    let d = diagnose(&refused_by(
        "admission webhook \"gatekeeper.example.com\" denied the request: [no-latest] ::error::`image` must be pinned",
    ));
    assert_eq!(
        d.findings[0].summary,
        "The new pods cannot be created: admission webhook gatekeeper.example.com denied them: \"[no-latest] ::error::`image` must be pinned\""
    );

    let d = diagnose(&refused_by(
        "admission webhook \"policy.example.com\" denied the request without explanation",
    ));
    assert_eq!(
        d.findings[0].summary,
        "The new pods cannot be created: admission webhook policy.example.com denied them: no reason given"
    );
    assert!(d.is_fatal());
}

#[test]
fn an_admission_webhook_that_cannot_be_called_is_named_and_fatal() {
    // "failed calling webhook %q: %v" (staging/src/k8s.io/apiserver/pkg/util/webhook/error.go), as an internal
    // error with failurePolicy Fail.
    let error = "Internal error occurred: failed calling webhook \"sidecar-injector.istio.io\": failed to call webhook: Post \"https://istiod.istio-system.svc:443/inject?timeout=10s\": dial tcp 10.96.4.7:443: connect: connection refused";
    let d = diagnose(&refused_by(error));
    assert_eq!(kinds(&d), vec![FindingKind::Other], "{d:#?}");
    let f = &d.findings[0];
    assert_eq!(
        f.summary,
        "The new pods cannot be created: admission webhook sidecar-injector.istio.io cannot be called: \"failed to call webhook: Post \"https://istiod.istio-system.svc:443/inject?timeout=10s\": dial tcp 10.96.4.7:443: connect: connection refused\""
    );
    assert_eq!(f.evidence, vec![error.to_string()]);
    assert_eq!(
        f.fixes,
        vec!["ask the owner of webhook sidecar-injector.istio.io: the apiserver cannot reach it and its failurePolicy refuses every pod it covers until it answers"]
    );
    assert!(f.fatal);
}
