//! The cluster every test of this process uses.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// The kubeconfig of the test cluster: `ROLLING_UPDATE_KUBECONFIG` if set, else the one printed by
/// `scripts/local-cluster.sh up` (run once per test process; it reuses a running cluster) when the control plane
/// is built. Without one, a plain `cargo test` must not apt-install and build Kubernetes for half an hour: this
/// suite then says so and ends (see [`no_control_plane`]); `scripts/test.sh` always gives it a cluster.
pub fn kubeconfig() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("ROLLING_UPDATE_KUBECONFIG").filter(|p| !p.is_empty())
        {
            return PathBuf::from(path);
        }
        let cached = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/build-control-plane.sh"
            ))
            .arg("--cached")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !cached {
            no_control_plane();
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local-cluster.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("up")
            .env("FAKE_KUBELET_BIN", fake_kubelet_bin())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("failed to run scripts/local-cluster.sh");
        assert!(
            out.status.success(),
            "scripts/local-cluster.sh up failed ({}); see its messages above",
            out.status
        );
        let path = String::from_utf8(out.stdout).expect("a UTF-8 path");
        PathBuf::from(path.trim())
    })
    .clone()
}

/// No control plane on this machine and none given: the whole suite is skipped, loudly, and the process ends
/// with success so that `cargo test` goes on to the pure suites. `ROLLING_UPDATE_REQUIRE_CLUSTER=1` (set by
/// scripts/test.sh, hence CI) turns this into a failure: there, a skipped suite would be a lie.
#[expect(
    clippy::exit,
    reason = "the harness has no suite-level skip: ending the process is how this suite skips itself, loudly"
)]
fn no_control_plane() -> ! {
    let message = "integration: SKIPPED, every test of this suite: they run on a local Kubernetes 1.20 control \
                   plane, which is not built on this machine and ROLLING_UPDATE_KUBECONFIG is not set. Run \
                   `bash scripts/test.sh` (it builds the control plane once, about 13 min, then runs every suite), \
                   or set ROLLING_UPDATE_KUBECONFIG to a cluster's kubeconfig.";
    if std::env::var_os("ROLLING_UPDATE_REQUIRE_CLUSTER").is_some_and(|v| v == "1") {
        panic!("{message} (ROLLING_UPDATE_REQUIRE_CLUSTER=1: a skip is a failure here)");
    }
    // Straight to the file descriptors: the test harness captures `println!` of a test, and exit drops it.
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "\n{message}\n");
    let _ = writeln!(std::io::stderr(), "\n{message}\n");
    std::process::exit(0);
}

/// The fake kubelet of this build (`target/<profile>/fake-kubelet`, beside this test binary's `deps/`). It is its
/// own crate, so cargo gives no `CARGO_BIN_EXE_` for it; a plain `cargo test` (its default members) builds it with
/// this binary. Never a nested cargo: it would wait for the build lock `cargo test` holds while tests run.
fn fake_kubelet_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FAKE_KUBELET_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test binary in target/<profile>/deps")
        .join("fake-kubelet");
    assert!(
        bin.is_file(),
        "no fake kubelet at {}: run `cargo test` or `cargo build -p fake-kubelet` first",
        bin.display()
    );
    bin
}

/// A new client for the calling test's runtime (clients must not be shared across tokio runtimes).
pub async fn client() -> kube::Client {
    let kubeconfig =
        Kubeconfig::read_from(kubeconfig()).expect("failed to read the test kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("failed to load the test kubeconfig");
    kube::Client::try_from(config).expect("failed to build a client")
}
