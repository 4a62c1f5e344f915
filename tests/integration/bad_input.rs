//! Bad input (issue 9): a corpus of what people get wrong, each run through the real binary against a real
//! namespace. Every case must end with a message that names the input and the fix, the documented exit code
//! (docs/exit-codes.md: 2 for input the workflow author fixes, 3 for a cluster that can't be reached or refuses
//! the credentials), and the namespace exactly as it was: the RCs (spec, labels, annotations, resourceVersion),
//! the pods (labels, annotations, spec), the Services, and no Lease left behind.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::faults::seed;
use crate::seeds::{action_env, ready_pods, settled_rc};
use crate::support::{self, wait_for, TestNs};

const BAD_INPUT: i32 = 2;
const INFRA: i32 = 3;

/// One bad input: what to change in a valid environment, and what the run must say.
struct Case {
    name: &'static str,
    /// Variables to set (an empty value removes the variable).
    set: Vec<(&'static str, String)>,
    /// A manifest file to write and pass as `manifest` (INPUT_IMAGES is then removed).
    manifest: Option<String>,
    /// Runs against the namespace with a versioned RC (`web-v1`) instead of the seeds' legacy one.
    versioned: bool,
    code: i32,
    /// Each must appear in the output: the input's name and the fix.
    says: Vec<&'static str>,
}

fn case(
    name: &'static str,
    set: &[(&'static str, &str)],
    code: i32,
    says: &[&'static str],
) -> Case {
    Case {
        name,
        set: set.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        manifest: None,
        versioned: false,
        code,
        says: says.to_vec(),
    }
}

fn manifest_case(name: &'static str, manifest: &str, says: &[&'static str]) -> Case {
    Case {
        manifest: Some(manifest.to_string()),
        ..case(name, &[], BAD_INPUT, says)
    }
}

fn rc_manifest(containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: api-rc\nspec:\n  replicas: 3\n  selector:\n    name: api-pods\n  template:\n    metadata:\n      labels:\n        name: api-pods\n    spec:\n      containers:{containers}\n"
    )
}

/// The test kubeconfig with `edit` applied to its only user.
pub(crate) fn kubeconfig_with(
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> String {
    let text = std::fs::read_to_string(support::kubeconfig()).expect("the test kubeconfig");
    let mut doc: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    let user = doc["users"][0]["user"].as_object_mut().expect("a user");
    edit(user);
    serde_saphyr::to_string(&doc).expect("a kubeconfig")
}

fn kubeconfig_server(server: &str) -> String {
    let text = std::fs::read_to_string(support::kubeconfig()).expect("the test kubeconfig");
    let mut doc: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    doc["clusters"][0]["cluster"]
        .as_object_mut()
        .expect("a cluster")
        .insert("server".into(), server.into());
    serde_saphyr::to_string(&doc).expect("a kubeconfig")
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn corpus(dir: &std::path::Path) -> Vec<Case> {
    let event = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write the event file");
        path.display().to_string()
    };
    let garbage_event = event("garbage.json", "{ this is not json");
    let headless_event = event("headless.json", r#"{"pull_request": {"number": 7}}"#);
    let missing_event = dir.join("missing.json").display().to_string();
    let wrong_token = kubeconfig_with(|u| {
        u.insert(
            "token".into(),
            "0000000000000000000000000000000000000000000000000000000000000000".into(),
        );
    });
    let nobody = kubeconfig_with(|u| {
        u.insert("as".into(), "rolling-update-nobody".into());
    });
    let lease_only = kubeconfig_with(|u| {
        u.insert("as".into(), "rolling-update-lease-only".into());
    });
    let unreachable = kubeconfig_server(&format!("https://127.0.0.1:{}", closed_port()));
    let long = "v".repeat(64);
    let two = "\n      - name: a\n        image: x:1\n      - name: a\n        image: y:1";
    vec![
        // The manifest.
        manifest_case(
            "malformed YAML manifest",
            "kind: ReplicationController\nspec: [unclosed\n  replicas: {",
            &["input `manifest`", "parse"],
        ),
        manifest_case(
            "malformed JSON manifest",
            r#"{"kind": "ReplicationController", "spec": {"replicas": 3,"#,
            &["input `manifest`", "parse"],
        ),
        manifest_case(
            "a Deployment, not an RC",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n",
            &["input `manifest`", "`kind: ReplicationController`"],
        ),
        manifest_case(
            "no containers",
            &rc_manifest(" []"),
            &["no containers", "add `spec.template.spec.containers`"],
        ),
        manifest_case(
            "duplicate container names",
            &rc_manifest(two),
            &["two containers named `a`", "unique name"],
        ),
        manifest_case(
            "negative replicas in the manifest",
            &rc_manifest("\n      - name: a\n        image: x:1")
                .replace("replicas: 3", "replicas: -2"),
            &["input `manifest`", "replicas"],
        ),
        manifest_case(
            "two RCs in one manifest",
            &format!(
                "{}---\n{}",
                rc_manifest("\n      - name: a\n        image: x:1"),
                rc_manifest("\n      - name: b\n        image: y:1")
                    .replace("name: api-rc", "name: other-rc")
            ),
            &["input `manifest`", "own file"],
        ),
        manifest_case(
            "manifest for another namespace",
            &rc_manifest("\n      - name: a\n        image: x:1").replace(
                "  name: api-rc\n",
                "  name: api-rc\n  namespace: elsewhere\n",
            ),
            &["input `manifest`", "remove `metadata.namespace`"],
        ),
        case(
            "manifest file missing",
            &[
                ("INPUT_MANIFEST", "deploy/does-not-exist.yaml"),
                ("INPUT_IMAGES", ""),
            ],
            BAD_INPUT,
            &["input `manifest`", "check the path"],
        ),
        // Images.
        case(
            "unknown container in images",
            &[("INPUT_IMAGES", "nginx=nginx:1.25")],
            BAD_INPUT,
            &[
                "input `images`",
                "no container `nginx`",
                "node-api-container=<image>",
            ],
        ),
        case(
            "bare image for a two-container pod",
            &[("INPUT_IMAGES", "registry.local/node-api:2.0")],
            BAD_INPUT,
            &["input `images`", "Name the container"],
        ),
        case(
            "empty images and no manifest",
            &[("INPUT_IMAGES", "")],
            BAD_INPUT,
            &["input `images`", "`container=image`"],
        ),
        case(
            "images entry without an image",
            &[("INPUT_IMAGES", "node-api-container=")],
            BAD_INPUT,
            &["input `images`"],
        ),
        // Version and labels.
        case(
            "label value too long",
            &[("INPUT_VERSION", &long)],
            BAD_INPUT,
            &["input `version`", "63"],
        ),
        case(
            "version with characters invalid in a label",
            &[("INPUT_VERSION", "v1/beta+1")],
            BAD_INPUT,
            &["input `version`", "label value"],
        ),
        case(
            "a tag with characters invalid in a label",
            &[
                ("INPUT_VERSION", ""),
                ("INPUT_VERSION_FROM", "tag"),
                ("GITHUB_REF", "refs/tags/release@2024!"),
            ],
            BAD_INPUT,
            &["input `version_from`", "rename the tag"],
        ),
        case(
            "version_from tag on a branch",
            &[("INPUT_VERSION", ""), ("INPUT_VERSION_FROM", "tag")],
            BAD_INPUT,
            &["input `version_from`", "tag pushes"],
        ),
        case(
            "invalid version_label",
            &[("INPUT_VERSION_LABEL", "bad key!")],
            BAD_INPUT,
            &["input `version_label`", "`version`"],
        ),
        // Numbers, durations, enums.
        case(
            "negative replicas",
            &[("INPUT_REPLICAS", "-1")],
            BAD_INPUT,
            &["input `replicas`"],
        ),
        case(
            "surge and unavailable both 0",
            &[("INPUT_MAX_SURGE", "0"), ("INPUT_MAX_UNAVAILABLE", "0")],
            BAD_INPUT,
            &["input `max_surge`", "`max_surge: 1`"],
        ),
        case(
            "percentage over 100",
            &[("INPUT_MAX_UNAVAILABLE", "150%")],
            BAD_INPUT,
            &["input `max_unavailable`"],
        ),
        case(
            "percentage that is not a number",
            &[("INPUT_MAX_SURGE", "lots%")],
            BAD_INPUT,
            &["input `max_surge`"],
        ),
        case(
            "duration in words",
            &[("INPUT_TIMEOUT", "5 minutes")],
            BAD_INPUT,
            &["input `timeout`"],
        ),
        case(
            "negative duration",
            &[("INPUT_PROGRESS_DEADLINE", "-1s")],
            BAD_INPUT,
            &["input `progress_deadline`"],
        ),
        case(
            "negative min_ready_seconds",
            &[("INPUT_MIN_READY_SECONDS", "-5")],
            BAD_INPUT,
            &["input `min_ready_seconds`"],
        ),
        case(
            "unknown mode",
            &[("INPUT_MODE", "deploy-all")],
            BAD_INPUT,
            &["input `mode`", "deploy"],
        ),
        case(
            "unknown on_failure",
            &[("INPUT_ON_FAILURE", "explode")],
            BAD_INPUT,
            &["input `on_failure`", "rollback"],
        ),
        case(
            "dry_run not a boolean",
            &[("INPUT_DRY_RUN", "maybe")],
            BAD_INPUT,
            &["input `dry_run`", "true"],
        ),
        case(
            "unknown comment mode",
            &[("INPUT_COMMENT", "sometimes")],
            BAD_INPUT,
            &["input `comment`"],
        ),
        // Names.
        case(
            "rc missing",
            &[("INPUT_RC", "")],
            BAD_INPUT,
            &["input `rc`", "is required"],
        ),
        case(
            "rc not a valid name",
            &[("INPUT_RC", "API_RC")],
            BAD_INPUT,
            &["input `rc`", "base name"],
        ),
        case(
            "namespace not a valid name",
            &[("INPUT_NAMESPACE", "Bad_NS")],
            BAD_INPUT,
            &["input `namespace`"],
        ),
        case(
            "namespace that does not exist",
            &[("INPUT_NAMESPACE", "no-such-namespace-x7")],
            BAD_INPUT,
            &["input `namespace`", "does not exist", "create it"],
        ),
        // The event file.
        case(
            "missing event file",
            &[
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", &missing_event),
            ],
            BAD_INPUT,
            &["`GITHUB_EVENT_PATH`", "workflow job"],
        ),
        case(
            "garbage event file",
            &[
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", &garbage_event),
            ],
            BAD_INPUT,
            &["`GITHUB_EVENT_PATH`"],
        ),
        case(
            "pull_request event without head sha",
            &[
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", &headless_event),
            ],
            BAD_INPUT,
            &["`GITHUB_EVENT_PATH`", "pull_request.head.sha"],
        ),
        // The kubeconfig and the cluster.
        case(
            "garbage kubeconfig",
            &[("INPUT_KUBECONFIG", "this: is: not: a kubeconfig: [")],
            BAD_INPUT,
            &["input `kubeconfig`", "kubectl config view --raw"],
        ),
        case(
            "garbage base64 kubeconfig",
            &[("INPUT_KUBECONFIG", "QUJD$RA=x==")],
            BAD_INPUT,
            &["input `kubeconfig`"],
        ),
        case(
            "base64 of something that is not a kubeconfig",
            &[(
                "INPUT_KUBECONFIG",
                "aGVsbG8gd29ybGQsIG5vdCBhIGt1YmVjb25maWc=",
            )],
            BAD_INPUT,
            &["input `kubeconfig`", "not a valid kubeconfig"],
        ),
        case(
            "base64 that is not base64",
            &[("INPUT_KUBECONFIG", "QUJDRA=x==")],
            BAD_INPUT,
            &["input `kubeconfig`", "base64"],
        ),
        case(
            "unknown context",
            &[("INPUT_CONTEXT", "no-such-context")],
            BAD_INPUT,
            &["input `kubeconfig`", "`context`"],
        ),
        case(
            "unreachable server",
            &[("INPUT_KUBECONFIG", &unreachable)],
            INFRA,
            &["cannot reach the API server", "`kubeconfig`"],
        ),
        case(
            "wrong token (401)",
            &[("INPUT_KUBECONFIG", &wrong_token)],
            INFRA,
            &["unauthorized", "`kubeconfig`"],
        ),
        case(
            "RBAC forbidden on the lock (403)",
            &[("INPUT_KUBECONFIG", &nobody)],
            INFRA,
            &[
                "forbidden",
                "cannot `create` leases.coordination.k8s.io",
                "Role",
            ],
        ),
        case(
            "RBAC forbidden on the RCs (403)",
            &[("INPUT_KUBECONFIG", &lease_only)],
            INFRA,
            &["forbidden", "cannot `list` replicationcontrollers", "Role"],
        ),
        // Rules against what the cluster holds.
        Case {
            versioned: true,
            ..case(
                "Service selecting the version",
                &[
                    ("INPUT_RC", "web"),
                    ("INPUT_IMAGES", "web=registry.local/web:2"),
                    ("INPUT_VERSION", "v2"),
                ],
                BAD_INPUT,
                &["Service `web-srv`", "remove `version` from the selector"],
            )
        },
        Case {
            versioned: true,
            ..case(
                "same name, different images",
                &[
                    ("INPUT_RC", "web"),
                    ("INPUT_IMAGES", "web=registry.local/web:3"),
                    ("INPUT_VERSION", "v1"),
                ],
                BAD_INPUT,
                &[
                    "cannot have the same name as the existing ReplicationController `web-v1`",
                    "new `version`",
                ],
            )
        },
    ]
}

/// What must not change: RCs and Services with their resourceVersions, pods' labels/annotations/spec, Leases.
async fn state(ns: &TestNs) -> String {
    let lp = ListParams::default();
    let mut out = BTreeMap::new();
    for rc in Api::<ReplicationController>::namespaced(ns.client.clone(), &ns.name)
        .list(&lp)
        .await
        .unwrap()
    {
        let m = &rc.metadata;
        out.insert(
            format!("rc/{}", m.name.clone().unwrap_or_default()),
            json!([m.labels, m.annotations, m.resource_version, rc.spec]),
        );
    }
    for pod in Api::<Pod>::namespaced(ns.client.clone(), &ns.name)
        .list(&lp)
        .await
        .unwrap()
    {
        let m = &pod.metadata;
        out.insert(
            format!("pod/{}", m.name.clone().unwrap_or_default()),
            json!([
                m.labels,
                m.annotations,
                m.owner_references,
                m.deletion_timestamp,
                pod.spec
            ]),
        );
    }
    for svc in Api::<Service>::namespaced(ns.client.clone(), &ns.name)
        .list(&lp)
        .await
        .unwrap()
    {
        let m = &svc.metadata;
        out.insert(
            format!("service/{}", m.name.clone().unwrap_or_default()),
            json!([m.labels, m.annotations, m.resource_version, svc.spec]),
        );
    }
    for lease in Api::<Lease>::namespaced(ns.client.clone(), &ns.name)
        .list(&lp)
        .await
        .unwrap()
    {
        out.insert(
            format!("lease/{}", lease.metadata.name.clone().unwrap_or_default()),
            json!(lease.spec),
        );
    }
    serde_json::to_string_pretty(&out).unwrap()
}

/// A user allowed to take the lock and nothing else (for the 403 on the RCs).
async fn lease_only_role(ns: &TestNs) {
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "lease-only"},
        "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update", "delete"]}]
    }))
    .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "lease-only"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lease-only"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "rolling-update-lease-only"}]
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

const WEB: &str = r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: web-v1
  annotations:
    rolling-update.github.io/base: web
spec:
  replicas: 2
  selector:
    app: web
    version: v1
  template:
    metadata:
      labels:
        app: web
        version: v1
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: registry.local/web:1
---
apiVersion: v1
kind: Service
metadata:
  name: web-srv
spec:
  selector:
    app: web
    version: v1
  ports:
  - port: 80
    protocol: TCP
"#;

#[tokio::test]
async fn every_bad_input_is_named_with_its_fix_and_changes_nothing() {
    let (legacy, versioned) = tokio::join!(
        support::namespace("bad-input"),
        support::namespace("bad-input-web")
    );
    seed(&legacy, 2, 0).await;
    lease_only_role(&legacy).await;
    support::apply_yaml(&versioned, WEB).await;
    let ready = wait_for(Duration::from_secs(60), || async {
        ready_pods(&versioned, "app=web").await.len() >= 2
    })
    .await;
    assert!(ready.is_some(), "web-v1's pods did not become ready");
    // The RC controller's last status writes land before the reference state is taken.
    settled_rc(&legacy, "api-rc").await;
    settled_rc(&versioned, "web-v1").await;
    let before = [state(&legacy).await, state(&versioned).await];

    let dir = std::env::temp_dir().join(format!("bad-input-{}", legacy.name));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = corpus(&dir);
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let ns = if c.versioned { &versioned } else { &legacy };
        let mut env = action_env(
            ns,
            &[
                (
                    "INPUT_IMAGES",
                    "node-api-container=registry.local/node-api:2.0",
                ),
                ("INPUT_VERSION", "v2"),
            ],
        );
        if let Some(manifest) = &c.manifest {
            let path = dir.join(format!("manifest-{i}.yaml"));
            std::fs::write(&path, manifest).unwrap();
            env.insert("INPUT_MANIFEST".into(), path.display().to_string());
            env.remove("INPUT_IMAGES");
        }
        for (k, v) in &c.set {
            if v.is_empty() {
                env.remove(*k);
            } else {
                env.insert(k.to_string(), v.clone());
            }
        }
        println!("===== case {i}: {}", c.name);
        let run = support::run_action(&env).await;
        let out = format!("{}\n{}", run.stdout, run.stderr);
        let mut problems = Vec::new();
        if run.code != c.code {
            problems.push(format!("exit code {} (expected {})", run.code, c.code));
        }
        for needle in &c.says {
            if !out.contains(needle) {
                problems.push(format!("does not say {needle:?}"));
            }
        }
        if !out.contains("::error::") {
            problems.push("no ::error:: annotation".into());
        }
        for noise in ["panicked", "Status {", "RUST_BACKTRACE"] {
            if out.contains(noise) {
                problems.push(format!("shows {noise:?}"));
            }
        }
        let after = state(ns).await;
        let reference = &before[usize::from(c.versioned)];
        if &after != reference {
            problems.push(format!(
                "the namespace changed:\n--- before\n{reference}\n--- after\n{after}"
            ));
        }
        if !problems.is_empty() {
            failures.push(format!("case {i} ({}): {}", c.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
