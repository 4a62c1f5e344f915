//! RBAC (issue 9): the Role of deploy/rbac.yaml (pasted into the README) is enough for a full rollout, and without
//! the optional ClusterRole the diagnosis degrades to what it can see and says what it could not read.
//!
//! How the credentials are bound to nothing else: the test apiserver has a static token file and no token
//! controller, so no new token can be minted at runtime. The action's kubeconfig keeps the admin token but sets
//! `as: <user>` (kube-rs sends `Impersonate-User`); the apiserver then authorizes every request as that user, who is
//! bound to the Role only. That exercises the Role for real: a verb missing from it is a 403 for the action.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, ReplicationController};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::bad_input::kubeconfig_with;
use crate::faults::seed;
use crate::seeds::{action_env, rc_names, ready_pods, FloorWatch};
use crate::support::{self, TestNs};

/// Applies the Role of deploy/rbac.yaml in `ns` and binds it to the user `user`, nothing else.
pub(crate) async fn bind_readme_role(ns: &TestNs, user: &str) {
    bind_readme_role_without(ns, user, None).await;
}

/// The same, with the rule for the resource `without` (e.g. "pods/log") taken out of the Role.
async fn bind_readme_role_without(ns: &TestNs, user: &str, without: Option<&str>) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml"))
        .expect("deploy/rbac.yaml");
    let mut role = None;
    for value in serde_saphyr::from_multiple::<serde_json::Value>(&text).expect("YAML") {
        if value["kind"] == "Role" {
            role = Some(serde_json::from_value::<Role>(value).expect("a Role"));
        }
    }
    let mut role = role.expect("deploy/rbac.yaml has a Role");
    role.metadata.namespace = Some(ns.name.clone());
    if let (Some(without), Some(rules)) = (without, role.rules.as_mut()) {
        let before = rules.len();
        rules.retain(|r| !r.resources.iter().flatten().any(|res| res == without));
        assert!(
            rules.len() < before,
            "deploy/rbac.yaml has no rule for {without}"
        );
    }
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "rolling-update", "namespace": ns.name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]
    }))
    .unwrap();
    Api::<Role>::namespaced(ns.client.clone(), &ns.name)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(ns.client.clone(), &ns.name)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

pub(crate) fn as_user(user: &str) -> String {
    kubeconfig_with(|u| {
        u.insert("as".into(), user.into());
    })
}

/// A client with the same impersonation, to check that the user really is limited.
async fn client_as(user: &str) -> kube::Client {
    let kubeconfig = Kubeconfig::from_yaml(&as_user(user)).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

#[tokio::test]
async fn the_readme_role_alone_is_enough_for_a_full_rollout() {
    let ns = support::namespace("rbac-role").await;
    let user = format!("rolling-update-ci-{}", ns.name);
    bind_readme_role(&ns, &user).await;
    seed(&ns, 3, 300).await;

    // The impersonated user is really limited: no nodes, no RCs in other namespaces.
    let limited = client_as(&user).await;
    let nodes = Api::<Node>::all(limited.clone())
        .list(&Default::default())
        .await;
    assert!(
        matches!(nodes, Err(kube::Error::Api(ref s)) if s.code == 403),
        "{nodes:?}"
    );
    let elsewhere = Api::<ReplicationController>::namespaced(limited.clone(), "default")
        .list(&Default::default())
        .await;
    assert!(
        matches!(elsewhere, Err(kube::Error::Api(ref s)) if s.code == 403),
        "{elsewhere:?}"
    );

    let watch = FloorWatch::start(&ns).await;
    let mut env = action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:2.0",
            ),
            ("INPUT_VERSION", "v2"),
        ],
    );
    env.insert("INPUT_KUBECONFIG".into(), as_user(&user));
    let run = support::run_action(&env).await;
    assert_eq!(run.code, 0, "the rollout succeeds with the Role only");
    // The only refused reads are the optional ClusterRole's (node capacity for the pre-flight check).
    for line in run.stdout.lines().filter(|l| l.contains("forbidden")) {
        assert!(
            line.contains("cannot `list` nodes") || line.contains("pods in all namespaces"),
            "refused: {line}"
        );
        assert!(line.starts_with("::warning::"), "only a warning: {line}");
    }
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v2".to_string()]);
    assert_eq!(ready_pods(&ns, "version=v2").await.len(), 3);
    assert!(watch.watched().min_ready_endpoints.unwrap() >= 3);
}

#[tokio::test]
async fn without_node_access_the_capacity_diagnosis_says_what_it_could_not_read() {
    let ns = support::namespace("rbac-nodes").await;
    let user = format!("rolling-update-ci-{}", ns.name);
    bind_readme_role(&ns, &user).await;
    seed(&ns, 2, 300).await;
    // The new version asks for more CPU than any node has: the scheduler refuses it.
    let manifest = r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: api-rc
spec:
  replicas: 2
  selector:
    name: api-pods
  template:
    metadata:
      labels:
        name: api-pods
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: node-api-container
        image: registry.local/node-api:big
        resources:
          requests:
            cpu: "64"
      - name: fluentd
        image: registry.local/fluentd:v1.16
"#;
    let path = std::env::temp_dir().join(format!("{}-big.yaml", ns.name));
    std::fs::write(&path, manifest).unwrap();
    let mut env = action_env(
        &ns,
        &[("INPUT_VERSION", "big"), ("INPUT_PROGRESS_DEADLINE", "40s")],
    );
    env.insert("INPUT_MANIFEST".into(), path.display().to_string());
    env.insert("INPUT_KUBECONFIG".into(), as_user(&user));
    let started = std::time::Instant::now();
    let run = support::run_action(&env).await;
    let out = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 1, "the rollout fails (and is rolled back)");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "fails fast, not at a distant deadline"
    );
    assert!(
        out.contains("Insufficient cpu"),
        "the scheduler's message is the cause"
    );
    assert!(
        out.contains("could not read nodes"),
        "says what it could not read"
    );
    assert!(
        out.contains("cannot `list` nodes"),
        "and why: the missing verb and resource"
    );
    assert!(
        out.contains("could not check the capacity"),
        "the pre-flight check says it could not run"
    );
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc".to_string()],
        "rolled back"
    );
    assert_eq!(ready_pods(&ns, "name=api-pods").await.len(), 2);
}

#[tokio::test]
async fn without_pods_log_the_crash_is_still_diagnosed_and_the_log_is_noted_as_unavailable() {
    let ns = support::namespace("rbac-logs").await;
    let user = format!("rolling-update-ci-{}", ns.name);
    bind_readme_role_without(&ns, &user, Some("pods/log")).await;
    seed(&ns, 2, 300).await;
    let mut env = action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:2.0-crashloop",
            ),
            ("INPUT_VERSION", "v2"),
            ("INPUT_MAX_UNAVAILABLE", "0"),
            ("INPUT_PROGRESS_DEADLINE", "2m"),
        ],
    );
    env.insert("INPUT_KUBECONFIG".into(), as_user(&user));
    let run = support::run_action(&env).await;
    let out = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 1, "a crashing image fails the rollout: {out}");
    assert!(
        out.contains("Container node-api-container keeps crashing: exit code 1"),
        "the crash is diagnosed without its log: {out}"
    );
    assert!(
        out.contains("/log (container node-api-container): logs unavailable: forbidden: the credentials cannot `get` pods/log;"),
        "says the log could not be read, and why: {out}"
    );
    assert!(!out.contains("ECONNREFUSED"), "no log line was read");
}
