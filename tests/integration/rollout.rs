//! The engine on the real control plane (issue 4): the floor holds, steps follow readiness not sleeps,
//! deadlines roll back, killed runs resume, one run at a time, and `mode: rollback`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::Api;

use crate::seeds::{action_env, api_rc_yaml, rc_names, ready_pods, FloorWatch};
use crate::support::{self, TestNs};

const BIN: &str = env!("CARGO_BIN_EXE_rolling-update");

struct Run {
    code: i32,
    out: String,
}

async fn run(env: &BTreeMap<String, String>) -> Run {
    let out = tokio::process::Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .await
        .expect("run the action");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: text,
    }
}

async fn seed(ns: &TestNs, replicas: i32, ready_delay_ms: u64) {
    support::apply_yaml(ns, &api_rc_yaml(replicas, ready_delay_ms, "10m", "")).await;
    wait_ready(
        ns,
        "name=api-pods",
        replicas as usize,
        Duration::from_secs(60),
    )
    .await;
}

async fn wait_ready(ns: &TestNs, selector: &str, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if ready_pods(ns, selector).await.len() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} pods with {selector} not ready within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn images(extra: &str) -> String {
    format!("node-api-container=registry.local/node-api:{extra}")
}

#[tokio::test]
async fn seeds_update_keeps_three_endpoints_and_leaves_only_the_new_rc() {
    let ns = support::namespace("roll-floor").await;
    seed(&ns, 3, 500).await;
    let watch = FloorWatch::start_at(&ns, 3).await;
    let img = images("2.0");
    let r = run(&action_env(
        &ns,
        &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v2")],
    ))
    .await;
    assert_eq!(r.code, 0, "rollout failed");
    assert!(
        r.out.contains("Scaling api-rc-v2 up to 1"),
        "kubectl-like log lines"
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v2".to_string()]);
    let pods = ready_pods(&ns, "name=api-pods,version=v2").await;
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert_eq!(p["node-api-container"], "registry.local/node-api:2.0");
        assert_eq!(
            p["fluentd"], "registry.local/fluentd:v1.16",
            "sidecar untouched"
        );
    }
    let seen = watch.watched();
    assert!(
        seen.min_ready_endpoints.unwrap() >= 3,
        "Service dropped below 3 ready endpoints: {seen:?}"
    );
    assert!(
        seen.max_live_pods <= 4,
        "more than desired + surge pods: {seen:?}"
    );
    // No in-progress annotations are left behind, and the previous version is recorded for rollback.
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let ann = rcs
        .get("api-rc-v2")
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap();
    assert!(!ann.contains_key("rolling-update.github.io/next-controller"));
    assert!(!ann.contains_key("rolling-update.github.io/source"));
    assert_eq!(ann["rolling-update.github.io/previous-name"], "api-rc");

    // A re-run for the version already deployed is a no-op success.
    let again = run(&action_env(
        &ns,
        &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v2")],
    ))
    .await;
    assert_eq!(again.code, 0);
    assert!(again.out.contains("already deployed"), "no-op expected");
}

#[tokio::test]
async fn surge_zero_unavailable_one_keeps_two_endpoints_and_three_pods() {
    let ns = support::namespace("roll-unavail").await;
    seed(&ns, 3, 500).await;
    let watch = FloorWatch::start_at(&ns, 3).await;
    let img = images("2.1");
    let r = run(&action_env(
        &ns,
        &[
            ("INPUT_IMAGES", &img),
            ("INPUT_VERSION", "v21"),
            ("INPUT_MAX_SURGE", "0"),
            ("INPUT_MAX_UNAVAILABLE", "1"),
        ],
    ))
    .await;
    assert_eq!(r.code, 0);
    assert!(r.out.contains("keep 2 pods available, don't exceed 3 pods"));
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v21".to_string()]);
    let seen = watch.watched();
    assert!(seen.min_ready_endpoints.unwrap() >= 2, "{seen:?}");
    assert!(seen.max_live_pods <= 3, "{seen:?}");
}

#[tokio::test]
async fn ten_replicas_with_surge_three_take_about_four_ready_delays() {
    let ns = support::namespace("roll-fast").await;
    let delay_ms = 2000;
    seed(&ns, 10, delay_ms).await;
    let img = images("3.0");
    let started = Instant::now();
    let r = run(&action_env(
        &ns,
        &[
            ("INPUT_IMAGES", &img),
            ("INPUT_VERSION", "v3"),
            ("INPUT_MAX_SURGE", "3"),
        ],
    ))
    .await;
    let took = started.elapsed();
    assert_eq!(r.code, 0);
    // ceil(10/3) = 4 ready delays of 2 s = 8 s; kubectl's one-minute update period would take 4+ minutes.
    let bound = Duration::from_millis(4 * delay_ms) + Duration::from_secs(8);
    assert!(
        took < bound,
        "took {took:?}, expected about 8 s (< {bound:?})"
    );
    assert_eq!(ready_pods(&ns, "version=v3").await.len(), 10);
}

#[tokio::test]
async fn never_ready_image_hits_the_deadline_and_rolls_back() {
    let ns = support::namespace("roll-back").await;
    seed(&ns, 3, 300).await;
    let watch = FloorWatch::start_at(&ns, 3).await;
    let img = images("never-ready");
    let r = run(&action_env(
        &ns,
        &[
            ("INPUT_IMAGES", &img),
            ("INPUT_VERSION", "bad"),
            ("INPUT_PROGRESS_DEADLINE", "15s"),
        ],
    ))
    .await;
    assert_eq!(r.code, 1, "a failed rollout exits 1");
    assert!(
        r.out.contains("progress deadline 15s exceeded") || r.out.contains("stalled"),
        "says why"
    );
    assert!(
        r.out.contains("Readiness probe failed"),
        "diagnosis names the failing probe"
    );
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc".to_string()],
        "the new RC is gone"
    );
    assert_eq!(
        ready_pods(&ns, "name=api-pods").await.len(),
        3,
        "old RC back at 3 available"
    );
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let old = rcs.get("api-rc").await.unwrap();
    assert_eq!(old.spec.unwrap().replicas, Some(3));
    assert!(!old
        .metadata
        .annotations
        .unwrap_or_default()
        .contains_key("rolling-update.github.io/next-controller"));
    assert!(watch.watched().min_ready_endpoints.unwrap() >= 3);
}

/// The replica counts of the old and the new RC (`None` when absent).
async fn counts(ns: &TestNs, old: &str, new: &str) -> (Option<i32>, Option<i32>) {
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let get = |name: &str| {
        let rcs = rcs.clone();
        let name = name.to_string();
        async move {
            rcs.get_opt(&name)
                .await
                .unwrap()
                .and_then(|r| r.spec)
                .and_then(|s| s.replicas)
        }
    };
    (get(old).await, get(new).await)
}

/// Starts the action and SIGKILLs it the moment the cluster shows `when(old, new)` (polled every 20 ms), never
/// by wall-clock sleeps. Returns the counts seen when the kill landed.
async fn kill_when(
    ns: &TestNs,
    env: &BTreeMap<String, String>,
    when: impl Fn(Option<i32>, Option<i32>) -> bool,
) -> (Option<i32>, Option<i32>) {
    let mut child = tokio::process::Command::new(BIN)
        .env_clear()
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (old, new) = counts(ns, "api-rc", "api-rc-v4").await;
        if when(old, new) {
            child.start_kill().unwrap(); // SIGKILL
            let _ = child.wait().await;
            return (old, new);
        }
        assert!(
            Instant::now() < deadline,
            "the state to kill at never came: {old:?} {new:?}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the kill point"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issue 12: kills chosen by cluster state (new RC at its first step, the old RC half-way down, the old RC at 1),
/// each proven mid-rollout by the counts it landed on; every next run continues the same update.
#[tokio::test]
async fn killed_runs_resume_and_converge_with_the_floor_held() {
    let ns = support::namespace("roll-kill").await;
    seed(&ns, 4, 1500).await;
    let watch = FloorWatch::start_at(&ns, 4).await;
    let img = images("4.0");
    let env = action_env(&ns, &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v4")]);

    let first = kill_when(&ns, &env, |old, new| old == Some(4) && new == Some(1)).await;
    assert_eq!(first, (Some(4), Some(1)), "killed at the first step");
    let second = kill_when(&ns, &env, |old, _| old.is_some_and(|o| o <= 2)).await;
    assert!(
        matches!(second, (Some(2), Some(2..=3))),
        "killed half-way: {second:?}"
    );
    let third = kill_when(&ns, &env, |old, _| old == Some(1)).await;
    assert!(
        matches!(third, (Some(1), Some(3..=4))),
        "killed near the end: {third:?}"
    );
    let r = run(&env).await;
    assert_eq!(r.code, 0, "re-run converges");
    assert!(
        r.out
            .contains("Continuing update with existing controller api-rc-v4"),
        "the re-run continued the same update"
    );
    assert!(
        !r.out.contains("Scaling api-rc-v4 up to 1 "),
        "it did not start over"
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v4".to_string()]);
    assert_eq!(ready_pods(&ns, "version=v4").await.len(), 4);
    let seen = watch.watched();
    assert!(
        seen.min_ready_endpoints.unwrap() >= 4,
        "floor broken across kills: {seen:?}"
    );
}

/// Issue 12, fencing: another run takes the Lease over mid-rollout (as after a network partition longer than the
/// lease). Our run notices at its next renewal, stops before writing again (exit 4, resumable), and does not
/// delete the Lease it no longer holds.
#[tokio::test]
async fn a_lost_lock_stops_the_run_before_its_next_write() {
    use k8s_openapi::api::coordination::v1::Lease;
    let ns = support::namespace("roll-fence").await;
    seed(&ns, 3, 2500).await;
    let img = images("8.0");
    let env = action_env(&ns, &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v8")]);
    let child = tokio::process::Command::new(BIN)
        .env_clear()
        .envs(&env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(ns.client.clone(), &ns.name);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, new) = counts(&ns, "api-rc", "api-rc-v8").await;
        if new == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "the rollout never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lease = leases.get("rolling-update-api-rc").await.unwrap();
    lease.spec.as_mut().unwrap().holder_identity = Some("octo/api run 99 on thief pid 1".into());
    leases
        .replace("rolling-update-api-rc", &Default::default(), &lease)
        .await
        .unwrap();
    let stolen_at = counts(&ns, "api-rc", "api-rc-v8").await;
    let out = child.wait_with_output().await.unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert_eq!(
        out.status.code(),
        Some(4),
        "a lost lock ends the run as a cancellation"
    );
    assert!(text.contains("lost the lock"), "says why");
    // Readiness takes 2.5 s a step and renewals come every 3 s: at most one step may have been written between
    // the theft and our noticing it.
    let after = counts(&ns, "api-rc", "api-rc-v8").await;
    assert!(
        after.1.unwrap() <= stolen_at.1.unwrap() + 1,
        "wrote on after losing the lock: {stolen_at:?} -> {after:?}"
    );
    let still = leases.get("rolling-update-api-rc").await.unwrap();
    assert_eq!(
        still.spec.unwrap().holder_identity.as_deref(),
        Some("octo/api run 99 on thief pid 1"),
        "the Lease we no longer held was not deleted"
    );
    // Once the thief is gone, a re-run finishes the update.
    leases
        .delete("rolling-update-api-rc", &Default::default())
        .await
        .unwrap();
    let r = run(&env).await;
    assert_eq!(r.code, 0);
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v8".to_string()]);
}

#[tokio::test]
async fn two_runs_at_once_one_rolls_the_other_names_the_holder() {
    let ns = support::namespace("roll-lock").await;
    // Slow enough that the winner renews its Lease while the loser watches: a live holder is named, not waited for.
    seed(&ns, 2, 4000).await;
    let img = images("5.0");
    let mut a = action_env(&ns, &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v5")]);
    a.insert("GITHUB_RUN_ID".into(), "111".into());
    a.insert("GITHUB_REPOSITORY".into(), "octo/api".into());
    let mut b = a.clone();
    b.insert("GITHUB_RUN_ID".into(), "222".into());
    let (ra, rb) = tokio::join!(run(&a), run(&b));
    let codes = [ra.code, rb.code];
    assert!(
        codes.contains(&0) && codes.contains(&5),
        "exactly one rolls, the other is locked out: {codes:?}"
    );
    let loser = if ra.code == 5 { &ra } else { &rb };
    let winner_run = if ra.code == 0 { "111" } else { "222" };
    assert!(
        loser.out.contains(&format!("octo/api run {winner_run}")),
        "names the holder"
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v5".to_string()]);
}

#[tokio::test]
async fn mode_rollback_brings_the_previous_images_back() {
    let ns = support::namespace("roll-mode").await;
    seed(&ns, 2, 300).await;
    let img = images("6.0");
    assert_eq!(
        run(&action_env(
            &ns,
            &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v6")]
        ))
        .await
        .code,
        0
    );
    let r = run(&action_env(&ns, &[("INPUT_MODE", "rollback")])).await;
    assert_eq!(r.code, 0, "rollback succeeds");
    assert_eq!(rc_names(&ns).await, vec!["api-rc".to_string()]);
    let pods = ready_pods(&ns, "name=api-pods").await;
    assert_eq!(pods.len(), 2);
    assert!(pods
        .iter()
        .all(|p| p["node-api-container"] == "registry.local/node-api:1.0"));
}

#[tokio::test]
async fn sigterm_stops_scaling_leaves_a_resumable_state_and_reports_it() {
    let ns = support::namespace("roll-term").await;
    seed(&ns, 3, 2000).await;
    let img = images("7.0");
    let env = action_env(&ns, &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v7")]);
    let child = tokio::process::Command::new(BIN)
        .env_clear()
        .envs(&env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Cancel the job as the runner does once the new RC took its first step (chosen by the cluster's state).
    let stepped = support::wait_for(Duration::from_secs(60), || async {
        spec_replicas(&ns, "api-rc-v7").await.unwrap_or_default() > 0
    })
    .await;
    let (code, text) = cancel_run(child).await;
    assert!(stepped.is_some(), "api-rc-v7 never took a step");
    assert!(
        spec_replicas(&ns, "api-rc").await.unwrap_or_default() > 0,
        "cancelled mid-update, with the old RC still serving"
    );
    assert_eq!(code, Some(4), "cancelled exits 4");
    assert!(text.contains("re-run"), "says how to resume");
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let old = rcs.get("api-rc").await.unwrap();
    let ann = old.metadata.annotations.unwrap_or_default();
    assert_eq!(
        ann.get("rolling-update.github.io/next-controller")
            .map(String::as_str),
        Some("api-rc-v7"),
        "resume marks kept"
    );
    assert!(rcs.get_opt("api-rc-v7").await.unwrap().is_some());
    // The next run resumes and finishes.
    let r = run(&env).await;
    assert_eq!(r.code, 0);
    assert!(r
        .out
        .contains("Continuing update with existing controller api-rc-v7"));
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v7".to_string()]);
}

#[tokio::test]
async fn an_interrupted_update_to_another_version_is_rolled_back_first() {
    let ns = support::namespace("roll-switch").await;
    seed(&ns, 3, 1500).await;
    let watch = FloorWatch::start_at(&ns, 3).await;
    let a = images("8.0");
    let env_a = action_env(&ns, &[("INPUT_IMAGES", &a), ("INPUT_VERSION", "v8")]);
    let mut child = tokio::process::Command::new(BIN)
        .env_clear()
        .envs(&env_a)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The kill lands mid-way, chosen by the cluster's state: a new pod ready while the old RC still serves.
    kill_mid_update(&ns, &mut child, "api-rc-v8").await;

    let b = images("9.0");
    let r = run(&action_env(
        &ns,
        &[("INPUT_IMAGES", &b), ("INPUT_VERSION", "v9")],
    ))
    .await;
    assert_eq!(r.code, 0);
    assert!(r.out.contains("interrupted update"), "says what it found");
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v9".to_string()]);
    let pods = ready_pods(&ns, "version=v9").await;
    assert_eq!(pods.len(), 3);
    assert!(pods
        .iter()
        .all(|p| p["node-api-container"] == "registry.local/node-api:9.0"));
    assert!(watch.watched().min_ready_endpoints.unwrap() >= 3);
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_changes_nothing() {
    let ns = support::namespace("roll-dry").await;
    seed(&ns, 3, 300).await;
    let rcs: Api<ReplicationController> = Api::namespaced(ns.client.clone(), &ns.name);
    let before = serde_json::to_string(&rcs.get("api-rc").await.unwrap()).unwrap();
    let img = images("10.0");
    let r = run(&action_env(
        &ns,
        &[
            ("INPUT_IMAGES", &img),
            ("INPUT_VERSION", "v10"),
            ("INPUT_DRY_RUN", "true"),
        ],
    ))
    .await;
    assert_eq!(r.code, 0);
    assert!(r.out.contains("name: api-rc-v10"), "prints the new RC");
    assert!(
        r.out.contains("keep 3 pods available, don't exceed 4 pods"),
        "prints the plan"
    );
    assert_eq!(
        serde_json::to_string(&rcs.get("api-rc").await.unwrap()).unwrap(),
        before,
        "old RC untouched"
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc".to_string()]);
}

async fn put_lease(ns: &TestNs, holder: &str, renewed_secs_ago: i64) {
    put_lease_of(ns, "api-rc", holder, renewed_secs_ago).await;
}

/// The run's output says it waited for a lock whose holder stopped renewing it.
pub(crate) fn assert_waited_for_a_silent_lock(out: &str) {
    assert!(
        out.contains("has not renewed it while we watched; waiting up to"),
        "the wait is printed: {out}"
    );
}

/// Puts the lock of base name `rc` in another run's hands, last renewed `renewed_secs_ago` by its clock.
pub(crate) async fn put_lease_of(ns: &TestNs, rc: &str, holder: &str, renewed_secs_ago: i64) {
    use k8s_openapi::api::coordination::v1::Lease;
    let leases: Api<Lease> = Api::namespaced(ns.client.clone(), &ns.name);
    let renewed = k8s_openapi::jiff::Timestamp::now()
        - k8s_openapi::jiff::SignedDuration::from_secs(renewed_secs_ago);
    let name = format!("rolling-update-{rc}");
    let lease: Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30,
                 "renewTime": renewed.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}
    }))
    .unwrap();
    let _ = leases.delete(&name, &Default::default()).await;
    leases.create(&Default::default(), &lease).await.unwrap();
}

/// Renews the Lease every second as a live holder on another runner does, until dropped.
fn keep_renewing(ns: &TestNs) -> tokio::task::JoinHandle<()> {
    use k8s_openapi::api::coordination::v1::Lease;
    let leases: Api<Lease> = Api::namespaced(ns.client.clone(), &ns.name);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if let Ok(mut lease) = leases.get("rolling-update-api-rc").await {
                let now = k8s_openapi::jiff::Timestamp::now();
                lease.spec.as_mut().unwrap().renew_time = Some(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(now),
                );
                let _ = leases
                    .replace("rolling-update-api-rc", &Default::default(), &lease)
                    .await;
            }
        }
    })
}

/// Issue 12, case 4: a holder seen renewing is alive (exit 5, named); one that does not renew while we watch (a
/// cancelled job's leftover) is waited for, the wait printed, and taken over after one lease duration by our
/// clock, whatever its `renewTime` says.
#[tokio::test]
async fn a_live_lock_on_another_runner_refuses_and_a_silent_one_is_waited_for() {
    let ns = support::namespace("roll-lease").await;
    seed(&ns, 2, 300).await;
    let img = images("11.0");
    let env = action_env(&ns, &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v11")]);

    put_lease(&ns, "octo/api run 77 on runner-elsewhere pid 4242", 1).await;
    let renewing = keep_renewing(&ns);
    let r = run(&env).await;
    renewing.abort();
    assert_eq!(r.code, 5, "locked: {}", r.out);
    assert!(
        r.out.contains("octo/api run 77 on runner-elsewhere"),
        "names the holder"
    );
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc".to_string()],
        "nothing changed"
    );

    // Renewed "just now" by the holder's clock, but never again: a cancelled job's Lease.
    put_lease(&ns, "octo/api run 78 on runner-elsewhere pid 4243", 0).await;
    let began = std::time::Instant::now();
    let r = run(&env).await;
    assert_eq!(r.code, 0, "a silent holder's lock is taken over: {}", r.out);
    assert_waited_for_a_silent_lock(&r.out);
    assert!(
        began.elapsed() >= std::time::Duration::from_secs(30),
        "taken over only after a full lease duration by our clock"
    );
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v11".to_string()]);
}

#[tokio::test]
async fn the_overall_timeout_is_its_own_failure_and_keep_leaves_both_rcs() {
    let ns = support::namespace("roll-timeout").await;
    seed(&ns, 3, 2500).await;
    let img = images("12.0");
    let r = run(&action_env(
        &ns,
        &[
            ("INPUT_IMAGES", &img),
            ("INPUT_VERSION", "v12"),
            ("INPUT_TIMEOUT", "4s"),
            ("INPUT_ON_FAILURE", "keep"),
        ],
    ))
    .await;
    assert_eq!(r.code, 1);
    assert!(
        r.out
            .contains("timeout 4s exceeded while still progressing"),
        "a timeout, not a stall"
    );
    assert!(
        !r.out.contains("progress deadline"),
        "distinct from the progress deadline"
    );
    assert!(
        r.out.contains("Re-run the workflow to resume"),
        "keep says how to resume or roll back"
    );
    assert_eq!(
        rc_names(&ns).await,
        vec!["api-rc".to_string(), "api-rc-v12".to_string()],
        "both kept"
    );
    // And a re-run with a normal timeout resumes and finishes.
    let r = run(&action_env(
        &ns,
        &[("INPUT_IMAGES", &img), ("INPUT_VERSION", "v12")],
    ))
    .await;
    assert_eq!(r.code, 0);
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v12".to_string()]);
}

/// Spec replicas of RC `name` (None when it does not exist).
async fn spec_replicas(ns: &TestNs, name: &str) -> Option<i32> {
    Api::<ReplicationController>::namespaced(ns.client.clone(), &ns.name)
        .get_opt(name)
        .await
        .unwrap()
        .map(|rc| rc.spec.and_then(|s| s.replicas).unwrap_or_default())
}

/// SIGKILLs `child` once `new_rc` has a ready pod while `api-rc` still has replicas, and proves it landed there.
async fn kill_mid_update(ns: &TestNs, child: &mut tokio::process::Child, new_rc: &str) {
    let version = new_rc.rsplit('-').next().unwrap().to_string();
    let mid = support::wait_for(Duration::from_secs(60), || {
        let version = version.clone();
        async move {
            !ready_pods(ns, &format!("version={version}"))
                .await
                .is_empty()
                && spec_replicas(ns, "api-rc").await.unwrap_or_default() > 0
        }
    })
    .await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    assert!(mid.is_some(), "{new_rc} never got a ready pod");
    let (old, new) = (
        spec_replicas(ns, "api-rc").await.unwrap_or_default(),
        spec_replicas(ns, new_rc).await.unwrap_or_default(),
    );
    assert!(
        old > 0 && new > 0,
        "the kill landed mid-update: api-rc at {old}, {new_rc} at {new}"
    );
}

/// A cancel (the runner's SIGTERM) while the run rolls back an interrupted update before its own is a
/// cancellation: exit 4, nothing of its own version created, and the next run finishes both steps.
#[tokio::test]
async fn cancelling_the_rollback_of_an_interrupted_update_exits_4_and_resumes() {
    let ns = support::namespace("roll-cancel-back").await;
    seed(&ns, 3, 1500).await;
    let env_a = action_env(
        &ns,
        &[("INPUT_IMAGES", &images("11.0")), ("INPUT_VERSION", "v11")],
    );
    let mut child = tokio::process::Command::new(BIN)
        .env_clear()
        .envs(&env_a)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_mid_update(&ns, &mut child, "api-rc-v11").await;
    let old_at_kill = spec_replicas(&ns, "api-rc").await.unwrap();

    let env_b = action_env(
        &ns,
        &[("INPUT_IMAGES", &images("12.0")), ("INPUT_VERSION", "v12")],
    );
    let child = tokio::process::Command::new(BIN)
        .env_clear()
        .envs(&env_b)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The moment: the old RC scaled back up (the interrupted update is being rolled back), v11 not yet gone.
    let rolling_back = support::wait_for(Duration::from_secs(60), || async {
        spec_replicas(&ns, "api-rc").await.unwrap_or_default() > old_at_kill
            && spec_replicas(&ns, "api-rc-v11").await.unwrap_or_default() > 0
    })
    .await;
    let (code, text) = cancel_run(child).await;
    assert!(
        rolling_back.is_some(),
        "the rollback of the interrupted update never started"
    );
    assert!(
        spec_replicas(&ns, "api-rc-v11").await.is_some(),
        "cancelled before the interrupted update was rolled back"
    );
    assert_eq!(code, Some(4), "a cancellation exits 4: {text}");
    assert!(text.contains("re-run"), "says how to resume: {text}");
    assert_eq!(
        spec_replicas(&ns, "api-rc-v12").await,
        None,
        "nothing of v12 was created"
    );

    let r = run(&env_b).await;
    assert_eq!(r.code, 0, "the next run finishes: {}", r.out);
    assert_eq!(rc_names(&ns).await, vec!["api-rc-v12".to_string()]);
    assert_eq!(ready_pods(&ns, "version=v12").await.len(), 3);
}

/// Cancels `child` as the runner does (SIGTERM) and waits for it: its exit code and its output.
async fn cancel_run(child: tokio::process::Child) -> (Option<i32>, String) {
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success(), "SIGTERM sent");
    let out = child.wait_with_output().await.unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    (out.status.code(), text)
}
