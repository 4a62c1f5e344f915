//! The three ways teams release (issue 7), each run with the exact environment a runner gives a docker action:
//! every input of action.yml as INPUT_<NAME> (defaults included, as the runner passes them), the GITHUB_*
//! context, a real webhook payload as the event file, and GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Endpoints, Pod, ReplicationController, Service};
use kube::api::{Api, ListParams};
use kube::runtime::{watcher, WatchStreamExt as _};

use crate::seeds::{api_rc_yaml, rc_names, ready_pods};
use crate::support::{self, run_action, ActionRun, TestNs};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What the runner would set for `with:` = `inputs` on `event` (a file under tests/fixtures/events).
pub(crate) struct Runner {
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) dir: std::path::PathBuf,
}

impl Runner {
    pub(crate) fn new(
        ns: &TestNs,
        event_name: &str,
        event_file: &str,
        git_ref: &str,
        sha: &str,
        inputs: &[(&str, &str)],
    ) -> Runner {
        let action: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(format!("{ROOT}/action.yml")).unwrap())
                .unwrap();
        let mut env = BTreeMap::new();
        for (name, spec) in action["inputs"].as_object().unwrap() {
            let name = name.as_str();
            let default = spec["default"].as_str().unwrap_or_default();
            // The runner evaluates `${{ github.token }}`; any token will do against a GitHub that isn't there.
            let value = if default.contains("${{") {
                "ghs_runner_token_for_tests"
            } else {
                default
            };
            env.insert(
                format!("INPUT_{}", name.to_uppercase().replace(' ', "_")),
                value.to_string(),
            );
        }
        let kubeconfig = std::fs::read_to_string(support::kubeconfig()).unwrap();
        env.insert("INPUT_KUBECONFIG".into(), kubeconfig);
        env.insert("INPUT_NAMESPACE".into(), ns.name.clone());
        env.insert("INPUT_RC".into(), "api-rc".into());
        for (k, v) in inputs {
            env.insert(format!("INPUT_{}", k.to_uppercase()), v.to_string());
        }
        let dir = std::env::temp_dir().join(format!("runner-{}-{}", ns.name, event_name));
        std::fs::create_dir_all(&dir).unwrap();
        let output = dir.join("output");
        let summary = dir.join("summary");
        std::fs::write(&output, "").unwrap();
        std::fs::write(&summary, "").unwrap();
        let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for (k, v) in [
            ("GITHUB_ACTIONS", "true".to_string()),
            ("CI", "true".to_string()),
            ("GITHUB_EVENT_NAME", event_name.to_string()),
            (
                "GITHUB_EVENT_PATH",
                format!("{ROOT}/tests/fixtures/events/{event_file}"),
            ),
            ("GITHUB_REF", git_ref.to_string()),
            ("GITHUB_SHA", sha.to_string()),
            ("GITHUB_REPOSITORY", "Codertocat/Hello-World".to_string()),
            ("GITHUB_SERVER_URL", "https://github.com".to_string()),
            // Nothing listens here: reporting fails with a warning, and the deploy must not care.
            ("GITHUB_API_URL", format!("http://127.0.0.1:{closed_port}")),
            ("GITHUB_RUN_ID", "4242".to_string()),
            ("GITHUB_WORKSPACE", ROOT.to_string()),
            ("GITHUB_OUTPUT", output.display().to_string()),
            ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
            ("RUNNER_TEMP", dir.display().to_string()),
        ] {
            env.insert(k.to_string(), v);
        }
        Runner { env, dir }
    }

    pub(crate) async fn run(&self) -> ActionRun {
        run_action(&self.env).await
    }

    /// $GITHUB_OUTPUT parsed with the runner's rules (`name=value` and `name<<DELIMITER` blocks).
    pub(crate) fn outputs(&self) -> BTreeMap<String, String> {
        let text = std::fs::read_to_string(self.dir.join("output")).unwrap();
        let mut out = BTreeMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some((name, delimiter)) = line.split_once("<<") {
                let mut value = vec![];
                for l in lines.by_ref() {
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                out.insert(name.to_string(), value.join("\n"));
            } else if let Some((name, value)) = line.split_once('=') {
                out.insert(name.to_string(), value.to_string());
            }
        }
        out
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(self.dir.join("summary")).unwrap()
    }
}

async fn seed(ns: &TestNs) {
    support::apply_yaml(ns, &api_rc_yaml(3, 300, "10m", "")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ready_pods(ns, "name=api-pods").await.len() < 3 {
        assert!(std::time::Instant::now() < deadline, "seed pods not ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn tag_push_deploys_the_tag_as_the_version() {
    let ns = support::namespace("wf-tag").await;
    seed(&ns).await;
    let runner = Runner::new(
        &ns,
        "push",
        "push.tag.json",
        "refs/tags/v1.0.1",
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        &[
            ("version_from", "tag"),
            (
                "images",
                "node-api-container=registry.local/node-api:v1.0.1",
            ),
        ],
    );
    let r = runner.run().await;
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("::warning::"),
        "the unreachable GitHub is a warning, not a failure"
    );
    let out = runner.outputs();
    assert_eq!(out["rc_name"], "api-rc-v1.0.1");
    assert_eq!(out["previous_rc_name"], "api-rc");
    assert_eq!(out["version"], "v1.0.1");
    assert_eq!(out["result"], "success");
    assert!(out["duration_seconds"].parse::<u64>().is_ok());
    assert!(
        runner.summary().contains("api-rc-v1.0.1"),
        "job summary written"
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v1.0.1".to_string()]);
}

/// Every address the production Service `api-srv` ever listed while this watch ran.
fn watch_production_endpoints(
    ns: &TestNs,
) -> (Arc<Mutex<BTreeSet<String>>>, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let api: Api<Endpoints> = Api::namespaced(ns.client.clone(), &ns.name);
    let s = seen.clone();
    let task = tokio::spawn(async move {
        let stream = watcher(
            api,
            watcher::Config::default().fields("metadata.name=api-srv"),
        )
        .default_backoff()
        .applied_objects();
        futures::pin_mut!(stream);
        while let Some(Ok(ep)) = stream.next().await {
            for subset in ep.subsets.unwrap_or_default() {
                for a in subset
                    .addresses
                    .unwrap_or_default()
                    .into_iter()
                    .chain(subset.not_ready_addresses.unwrap_or_default())
                {
                    s.lock().unwrap().insert(a.ip);
                }
            }
        }
    });
    (seen, task)
}

async fn pod_ips(ns: &TestNs, selector: &str) -> BTreeSet<String> {
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    pods.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.status.and_then(|s| s.pod_ip))
        .collect()
}

#[tokio::test]
async fn pull_request_preview_is_isolated_and_cleanup_removes_it() {
    let ns = support::namespace("wf-preview").await;
    seed(&ns).await;
    let (seen, watch) = watch_production_endpoints(&ns);
    let head = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
    let opened = Runner::new(
        &ns,
        "pull_request",
        "pull_request.opened.json",
        "refs/pull/2/merge",
        "0000000000000000000000000000000000000abc",
        &[
            ("mode", "preview"),
            ("images", "node-api-container=registry.local/node-api:pr-2"),
        ],
    );
    let r = opened.run().await;
    assert_eq!(r.code, 0);
    let out = opened.outputs();
    assert_eq!(
        out["rc_name"], "api-rc-pr-2-ec26c3e",
        "version from the PR's head SHA, not the merge commit"
    );
    let preview_ips = pod_ips(&ns, "rolling-update.github.io/pr=2").await;
    assert_eq!(preview_ips.len(), 1, "one preview pod by default");
    // The preview Service serves the preview pod.
    let eps: Api<Endpoints> = Api::namespaced(ns.client.clone(), &ns.name);
    let waited = support::wait_for(Duration::from_secs(20), || {
        let eps = eps.clone();
        let preview_ips = preview_ips.clone();
        async move {
            let ep = eps.get_opt("api-srv-pr-2").await.ok().flatten()?;
            let ips: BTreeSet<String> = ep
                .subsets
                .unwrap_or_default()
                .into_iter()
                .flat_map(|s| s.addresses.unwrap_or_default())
                .map(|a| a.ip)
                .collect();
            (ips == preview_ips).then_some(())
        }
    })
    .await;
    assert!(
        waited.is_some(),
        "the preview Service lists the preview pod"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let production_ever = seen.lock().unwrap().clone();
    assert!(
        production_ever.is_disjoint(&preview_ips),
        "a preview pod became a production endpoint: {production_ever:?} vs {preview_ips:?}"
    );
    assert_eq!(
        ready_pods(&ns, "name=api-pods").await.len(),
        3,
        "production untouched"
    );

    // A push to the PR (synchronize, a new head SHA) rolls the preview to the new build.
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{ROOT}/tests/fixtures/events/pull_request.synchronize.json"
        ))
        .unwrap(),
    )
    .unwrap();
    event["pull_request"]["head"]["sha"] = "5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80".into();
    let mut pushed = Runner::new(
        &ns,
        "pull_request",
        "pull_request.synchronize.json",
        "refs/pull/2/merge",
        "0000000000000000000000000000000000000def",
        &[
            ("mode", "preview"),
            ("images", "node-api-container=registry.local/node-api:pr-2b"),
        ],
    );
    let event_file = pushed.dir.join("event.json");
    std::fs::write(&event_file, event.to_string()).unwrap();
    pushed
        .env
        .insert("GITHUB_EVENT_PATH".into(), event_file.display().to_string());
    let r = pushed.run().await;
    assert_eq!(r.code, 0);
    assert_eq!(pushed.outputs()["rc_name"], "api-rc-pr-2-5d6e7f8");
    assert_eq!(
        pushed.outputs()["previous_rc_name"],
        "api-rc-pr-2-ec26c3e",
        "the preview rolled"
    );
    let preview_pods = ready_pods(&ns, "rolling-update.github.io/pr=2").await;
    assert!(preview_pods
        .iter()
        .all(|p| p["node-api-container"] == "registry.local/node-api:pr-2b"));
    let preview_ips: BTreeSet<String> = preview_ips
        .union(&pod_ips(&ns, "rolling-update.github.io/pr=2").await)
        .cloned()
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let production_ever = seen.lock().unwrap().clone();
    assert!(
        production_ever.is_disjoint(&preview_ips),
        "a preview pod became a production endpoint"
    );
    watch.abort();

    let closed = Runner::new(
        &ns,
        "pull_request",
        "pull_request.closed.json",
        "refs/pull/2/merge",
        head,
        &[("mode", "cleanup")],
    );
    let r = closed.run().await;
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("preview of PR #2 removed"),
        "says what it removed"
    );
    let pr = ListParams::default().labels("rolling-update.github.io/pr=2");
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let svcs: Api<Service> = Api::namespaced(ns.client.clone(), &ns.name);
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    assert!(rcs.list(&pr).await.unwrap().items.is_empty());
    assert!(svcs.list(&pr).await.unwrap().items.is_empty());
    assert!(pods.list(&pr).await.unwrap().items.is_empty());
    assert!(
        rc_names(&ns).await.contains(&"api-rc".to_string()),
        "production RC still there"
    );
}

#[tokio::test]
async fn workflow_dispatch_releases_and_rolls_back() {
    let ns = support::namespace("wf-manual").await;
    seed(&ns).await;
    let sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
    let release = Runner::new(
        &ns,
        "workflow_dispatch",
        "workflow_dispatch.json",
        "refs/heads/main",
        sha,
        &[
            ("images", "node-api-container=registry.local/node-api:2.0"),
            ("version", "2.0"),
        ],
    );
    let r = release.run().await;
    assert_eq!(r.code, 0);
    assert_eq!(release.outputs()["rc_name"], "api-rc-2.0");
    assert!(ready_pods(&ns, "version=2.0")
        .await
        .iter()
        .all(|p| p["node-api-container"] == "registry.local/node-api:2.0"));

    let rollback = Runner::new(
        &ns,
        "workflow_dispatch",
        "workflow_dispatch.json",
        "refs/heads/main",
        sha,
        &[("mode", "rollback")],
    );
    let r = rollback.run().await;
    assert_eq!(r.code, 0);
    let out = rollback.outputs();
    assert_eq!(out["rc_name"], "api-rc");
    assert_eq!(out["previous_rc_name"], "api-rc-2.0");
    assert_eq!(rc_names(&ns).await, vec!["api-rc".to_string()]);
    let pods = ready_pods(&ns, "name=api-pods").await;
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p["node-api-container"] == "registry.local/node-api:1.0"));
}
