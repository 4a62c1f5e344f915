//! The control plane and the fake kubelet behave like a real cluster (issue 2): the RC controller, the scheduler,
//! the Endpoints controller and graceful deletion are the real ones; pod statuses and events from the fake kubelet
//! look like a kubelet's.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Endpoints, Event, Pod, ReplicationController};
use kube::api::{Api, DeleteParams, ListParams, LogParams};

use crate::support::{self, apply_yaml, dedicated_node, wait_for, TestNs};

const LONG: Duration = Duration::from_secs(60);

async fn pods(ns: &TestNs, selector: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

fn pods_api(ns: &TestNs) -> Api<Pod> {
    Api::namespaced(ns.client.clone(), &ns.name)
}

async fn pod(ns: &TestNs, name: &str) -> Option<Pod> {
    pods_api(ns).get_opt(name).await.ok().flatten()
}

fn condition(pod: &Pod, kind: &str) -> Option<(String, String, String)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|(s, _, _)| s == "True")
}

fn container(pod: &Pod, name: &str) -> Option<ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == name)
        .cloned()
}

fn waiting(pod: &Pod, name: &str) -> Option<(String, String)> {
    let w = container(pod, name)?.state?.waiting?;
    Some((w.reason.unwrap_or_default(), w.message.unwrap_or_default()))
}

/// The events about one object, as (type, reason, message, count, source component, source host).
async fn events_of(ns: &TestNs, name: &str) -> Vec<(String, String, String, i32, String, String)> {
    let api: Api<Event> = Api::namespaced(ns.client.clone(), &ns.name);
    let selector = format!("involvedObject.name={name}");
    let list = api
        .list(&ListParams::default().fields(&selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.into_iter()
        .map(|e| {
            let source = e.source.unwrap_or_default();
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
                e.count.unwrap_or(1),
                source.component.unwrap_or_default(),
                source.host.unwrap_or_default(),
            )
        })
        .collect()
}

/// Waits for an event about `name` with this reason whose message contains `text`; returns its count.
async fn wait_event(ns: &TestNs, name: &str, reason: &str, text: &str) -> i32 {
    wait_for(LONG, || async {
        events_of(ns, name)
            .await
            .into_iter()
            .find(|e| e.1 == reason && e.2.contains(text))
            .map(|e| e.3)
    })
    .await
    .unwrap_or_else(|| panic!("no {reason} event containing {text:?} for {name}"))
}

fn single_pod(name: &str, image: &str, extra_container_fields: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  containers:
  - name: app
    image: {image}
{extra_container_fields}"#
    )
}

#[tokio::test]
async fn an_rc_of_three_gets_three_ready_pods_and_deleting_it_removes_them() {
    let ns = support::namespace("cp-rc").await;
    apply_yaml(
        &ns,
        r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 3
  selector: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {fake-kubelet.rolling-update.github.io/ready-delay-ms: "300"}
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
"#,
    )
    .await;
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let ready = wait_for(LONG, || async {
        let rc = rcs.get("web").await.ok()?;
        (rc.status?.ready_replicas == Some(3)).then_some(())
    })
    .await;
    assert!(ready.is_some(), "the RC did not report 3 ready replicas");
    let running = pods(&ns, "app=web").await;
    assert_eq!(running.len(), 3);
    assert!(running.iter().all(is_ready));
    let ips: BTreeSet<String> = running
        .iter()
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    assert_eq!(ips.len(), 3, "pod IPs must be unique: {ips:?}");
    let first = &running[0];
    let first_name = first.metadata.name.clone().unwrap();
    let node = first.spec.as_ref().unwrap().node_name.clone().unwrap();
    let status = first.status.as_ref().unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(status.host_ip.is_some() && status.start_time.is_some());
    let c = container(first, "web").unwrap();
    assert!(c.ready && c.started == Some(true) && c.state.unwrap().running.is_some());
    let events = events_of(&ns, &first_name).await;
    for reason in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        assert!(
            events.iter().any(|e| e.1 == reason),
            "no {reason} event in {events:?}"
        );
    }
    let started = events.iter().find(|e| e.1 == "Started").unwrap();
    assert_eq!(
        (started.2.as_str(), started.4.as_str(), started.5.as_str()),
        ("Started container web", "kubelet", node.as_str())
    );

    // Pods get the default 30 s grace period: gone within 15 s means the fake kubelet finished their deletion.
    rcs.delete("web", &DeleteParams::background())
        .await
        .expect("delete the RC");
    let gone = wait_for(Duration::from_secs(15), || async {
        pods(&ns, "app=web").await.is_empty()
    })
    .await;
    assert!(gone.is_some(), "the RC's pods were not removed");
    let killing = events_of(&ns, &first_name).await;
    assert!(
        killing
            .iter()
            .any(|e| e.1 == "Killing" && e.2 == "Stopping container web" && e.4 == "kubelet"),
        "no Killing event in {killing:?}"
    );
}

#[tokio::test]
async fn a_pod_that_does_not_fit_stays_pending_with_insufficient_cpu() {
    let ns = support::namespace("cp-cpu").await;
    let node = dedicated_node(&ns, "1", "2Gi").await;
    let placed = |name: &str, cpu: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeSelector: {{rolling-update.test/dedicated: {ns}}}
  tolerations:
  - {{key: rolling-update.test/dedicated, operator: Equal, value: {ns}, effect: NoSchedule}}
  containers:
  - name: app
    image: registry.local/api:v1
    resources:
      requests: {{cpu: {cpu}, memory: 64Mi}}
"#,
            ns = ns.name
        )
    };
    apply_yaml(&ns, &placed("filler", "970m")).await;
    let filler = wait_for(LONG, || async { pod(&ns, "filler").await.filter(is_ready) })
        .await
        .expect("filler ready");
    assert_eq!(
        filler.spec.unwrap().node_name.as_deref(),
        Some(node.as_str())
    );

    apply_yaml(&ns, &placed("extra", "100m")).await;
    let (status, reason, message) = wait_for(LONG, || async {
        condition(&pod(&ns, "extra").await?, "PodScheduled").filter(|c| c.0 == "False")
    })
    .await
    .expect("the scheduler never reported the pod unschedulable");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "Unschedulable")
    );
    assert!(message.contains("1 Insufficient cpu"), "{message}");
    wait_event(&ns, "extra", "FailedScheduling", "1 Insufficient cpu").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let extra = pod(&ns, "extra").await.unwrap();
    assert_eq!(extra.status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(extra.spec.unwrap().node_name, None);
}

#[tokio::test]
async fn an_unpullable_image_shows_errimagepull_then_imagepullbackoff() {
    let ns = support::namespace("cp-pull").await;
    let image = "registry.local/api:unpullable";
    apply_yaml(&ns, &single_pod("api", image, "")).await;
    let (reason, message) = wait_for(LONG, || async {
        waiting(&pod(&ns, "api").await?, "app").filter(|w| w.0 == "ImagePullBackOff")
    })
    .await
    .expect("no ImagePullBackOff");
    assert_eq!(
        (reason.as_str(), message.as_str()),
        (
            "ImagePullBackOff",
            "Back-off pulling image \"registry.local/api:unpullable\""
        )
    );
    let api = pod(&ns, "api").await.unwrap();
    assert_eq!(
        api.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    assert!(!is_ready(&api));
    let pull_failure = format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image");
    wait_event(&ns, "api", "Failed", &pull_failure).await;
    wait_event(&ns, "api", "Failed", "Error: ErrImagePull").await;
    wait_event(&ns, "api", "BackOff", "Back-off pulling image").await;
    let events = events_of(&ns, "api").await;
    let failed = events
        .iter()
        .find(|e| e.2.starts_with("Failed to pull image"))
        .unwrap();
    assert!(failed.2.contains("manifest unknown"));
    assert_eq!(
        (failed.0.as_str(), failed.4.as_str()),
        ("Warning", "kubelet")
    );
    // It keeps retrying, like a kubelet: the Pulling event is folded into one with a growing count.
    let pulls = wait_for(LONG, || async {
        events_of(&ns, "api")
            .await
            .into_iter()
            .find(|e| e.1 == "Pulling" && e.3 >= 2)
            .map(|e| e.3)
    })
    .await;
    assert!(pulls.is_some(), "the image pull was not retried");
    assert!(waiting(&pod(&ns, "api").await.unwrap(), "app")
        .is_some_and(|w| w.0 == "ErrImagePull" || w.0 == "ImagePullBackOff"));
    // No container ever ran, so there is no log: the kubelet's refusal comes back through the API server.
    match pods_api(&ns).logs("api", &LogParams::default()).await {
        Err(kube::Error::Api(s)) => assert!(
            s.code == 400
                && s.message
                    .contains("container \"app\" in pod \"api\" is waiting to start"),
            "{s:?}"
        ),
        other => panic!("a log of a container that never ran: {other:?}"),
    }
}

#[tokio::test]
async fn a_crashing_container_goes_into_crashloopbackoff_with_growing_restarts() {
    let ns = support::namespace("cp-crash").await;
    apply_yaml(&ns, &single_pod("api", "registry.local/api:crashloop", "")).await;
    let (_, message) = wait_for(LONG, || async {
        waiting(&pod(&ns, "api").await?, "app").filter(|w| w.0 == "CrashLoopBackOff")
    })
    .await
    .expect("no CrashLoopBackOff");
    assert!(
        message.starts_with("back-off 10s restarting failed container=app pod=api_"),
        "{message}"
    );
    let first = container(&pod(&ns, "api").await.unwrap(), "app").unwrap();
    let last = first
        .last_state
        .and_then(|s| s.terminated)
        .expect("a last termination");
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    let restarts = wait_for(LONG, || async {
        let c = container(&pod(&ns, "api").await?, "app")?;
        (c.restart_count > first.restart_count && c.restart_count >= 2).then_some(c.restart_count)
    })
    .await;
    assert!(
        restarts.is_some(),
        "the restart count did not grow past {}",
        first.restart_count
    );
    let api = pod(&ns, "api").await.unwrap();
    assert_eq!(
        api.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    assert!(!is_ready(&api));
    // The log through the API server's pods/log, which asks the (fake) kubelet: `kubectl logs --previous --tail 2`.
    let previous = LogParams {
        previous: true,
        tail_lines: Some(2),
        ..LogParams::default()
    };
    let log = pods_api(&ns)
        .logs("api", &previous)
        .await
        .expect("the previous run's log");
    assert_eq!(
        log,
        "Error: connect ECONNREFUSED 10.0.0.5:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (net.js:1141:16)\n"
    );
    let backoffs = wait_event(
        &ns,
        "api",
        "BackOff",
        "Back-off restarting failed container",
    )
    .await;
    assert!(backoffs >= 1);
    wait_event(&ns, "api", "Pulled", "already present on machine").await;
}

#[tokio::test]
async fn a_never_ready_container_runs_with_failing_readiness_probes() {
    let ns = support::namespace("cp-probe").await;
    let probe = "    readinessProbe:\n      httpGet: {path: /healthz, port: 8080}\n";
    apply_yaml(
        &ns,
        &single_pod("api", "registry.local/api:never-ready", probe),
    )
    .await;
    let count = wait_for(LONG, || async {
        events_of(&ns, "api")
            .await
            .into_iter()
            .find(|e| e.1 == "Unhealthy" && e.3 >= 2)
    })
    .await
    .expect("fewer than 2 failed probes reported");
    assert_eq!(
        count.2,
        "Readiness probe failed: HTTP probe failed with statuscode: 503"
    );
    assert_eq!(count.0, "Warning");
    let api = pod(&ns, "api").await.unwrap();
    assert_eq!(
        api.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    let c = container(&api, "app").unwrap();
    assert!(!c.ready && c.started == Some(true) && c.state.unwrap().running.is_some());
    assert_eq!(
        condition(&api, "Ready"),
        Some((
            "False".into(),
            "ContainersNotReady".into(),
            "containers with unready status: [app]".into()
        ))
    );
}

#[tokio::test]
async fn a_missing_configmap_shows_createcontainerconfigerror() {
    let ns = support::namespace("cp-config").await;
    apply_yaml(
        &ns,
        &single_pod("api", "registry.local/api:configerror", ""),
    )
    .await;
    let (_, message) = wait_for(LONG, || async {
        waiting(&pod(&ns, "api").await?, "app").filter(|w| w.0 == "CreateContainerConfigError")
    })
    .await
    .expect("no CreateContainerConfigError");
    assert_eq!(message, "configmap \"app-config\" not found");
    wait_event(
        &ns,
        "api",
        "Failed",
        "Error: configmap \"app-config\" not found",
    )
    .await;
    assert_eq!(
        pod(&ns, "api")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Pending")
    );
}

#[tokio::test]
async fn a_pod_is_ready_only_when_all_its_containers_are() {
    let ns = support::namespace("cp-multi").await;
    let sidecar = "  - name: sidecar\n    image: registry.local/proxy:never-ready\n";
    apply_yaml(&ns, &single_pod("api", "registry.local/api:v2", sidecar)).await;
    let api = wait_for(LONG, || async {
        pod(&ns, "api")
            .await
            .filter(|p| container(p, "app").is_some_and(|c| c.ready))
    })
    .await
    .expect("the app container never became ready");
    assert!(!container(&api, "sidecar").unwrap().ready);
    assert_eq!(
        condition(&api, "Ready"),
        Some((
            "False".into(),
            "ContainersNotReady".into(),
            "containers with unready status: [sidecar]".into()
        ))
    );
    wait_event(&ns, "api", "Unhealthy", "Readiness probe failed").await;
}

#[tokio::test]
async fn a_service_lists_only_ready_pods_as_ready_endpoints() {
    let ns = support::namespace("cp-svc").await;
    let web = |name: &str, image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: web}}\nspec:\n  containers:\n  - name: web\n    image: {image}\n    ports: [{{containerPort: 8080}}]\n---\n"
        )
    };
    let manifests = format!(
        "{}{}{}apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n",
        web("web-a", "registry.local/web:1"),
        web("web-b", "registry.local/web:1"),
        web("web-sick", "registry.local/web:never-ready"),
    );
    apply_yaml(&ns, &manifests).await;
    let ip_of = |p: Option<Pod>| p.and_then(|p| p.status?.pod_ip);
    let ips = wait_for(LONG, || async {
        let (a, b, sick) = (
            pod(&ns, "web-a").await,
            pod(&ns, "web-b").await,
            pod(&ns, "web-sick").await,
        );
        if !a.as_ref().is_some_and(is_ready) || !b.as_ref().is_some_and(is_ready) {
            return None;
        }
        Some((BTreeSet::from([ip_of(a)?, ip_of(b)?]), ip_of(sick)?))
    })
    .await
    .expect("web-a and web-b never became ready");
    let endpoints: Api<Endpoints> = Api::namespaced(ns.client.clone(), &ns.name);
    let seen = wait_for(LONG, || async {
        let subsets = endpoints.get("web").await.ok()?.subsets.unwrap_or_default();
        let ready: BTreeSet<String> = subsets
            .iter()
            .flat_map(|s| s.addresses.iter().flatten())
            .map(|a| a.ip.clone())
            .collect();
        let not_ready: BTreeSet<String> = subsets
            .iter()
            .flat_map(|s| s.not_ready_addresses.iter().flatten())
            .map(|a| a.ip.clone())
            .collect();
        (ready == ips.0 && not_ready == BTreeSet::from([ips.1.clone()]))
            .then_some((ready, not_ready))
    })
    .await;
    let last = endpoints.get("web").await.ok().and_then(|e| e.subsets);
    assert!(
        seen.is_some(),
        "endpoints never showed ready {:?} and not ready {:?}; last seen {last:?}",
        ips.0,
        ips.1
    );
}

/// Issue 15: the test bed's apiserver survives CustomResourceDefinitions and custom objects. Kubernetes 1.20 as
/// vendored (modern-go/reflect2 1.0.1) and built with Go ≥ 1.18 died here with "fatal error: fault" (SIGSEGV in
/// map iteration); scripts/build-control-plane.sh now builds it with reflect2 1.0.2.
#[tokio::test]
async fn custom_resources_do_not_crash_the_apiserver() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{ApiResource, DynamicObject, PostParams};

    let ns = support::namespace("cp-crd").await;
    let suffix = ns.name.rsplit('-').next().unwrap_or("x").to_string();
    let group = format!("t{suffix}.rolling-update.test");
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("nodepools.{group}")},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "nodepools", "singular": "nodepool", "kind": "NodePool"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {
                        "limits": {"type": "object", "additionalProperties": {"type": "string"}},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                    }}
                }}}
            }]
        }
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(ns.client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let name = format!("nodepools.{group}");
    let established = wait_for(Duration::from_secs(30), || async {
        crds.get(&name)
            .await
            .ok()
            .and_then(|c| c.status)
            .and_then(|s| s.conditions)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            })
    })
    .await;
    assert!(established.is_some(), "the CRD is established");

    let resource = ApiResource {
        group: group.clone(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: "NodePool".into(),
        plural: "nodepools".into(),
    };
    let pools: Api<DynamicObject> = Api::namespaced_with(ns.client.clone(), &ns.name, &resource);
    for i in 0..20 {
        let mut pool = DynamicObject::new(&format!("pool-{i}"), &resource);
        // Maps of maps: what crashed reflect2 1.0.1 when the apiserver encoded them.
        pool.data = serde_json::json!({"spec": {
            "limits": {"cpu": "1000", "memory": "1000Gi"},
            "labels": {"karpenter.sh/nodepool": format!("pool-{i}"), "team": "api"}
        }});
        pools.create(&PostParams::default(), &pool).await.unwrap();
    }
    let listed = pools.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 20);
    assert_eq!(
        listed.items[3].data["spec"]["labels"]["team"],
        serde_json::json!("api")
    );
    // Still alive: a core read after the custom ones, then clean up.
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    rcs.list(&ListParams::default()).await.unwrap();
    crds.delete(&name, &DeleteParams::default()).await.unwrap();
}
