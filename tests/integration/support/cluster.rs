//! The cluster every test of this process uses.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// The kubeconfig of the test cluster: `ROLLING_UPDATE_KUBECONFIG` if set, else the one printed by
/// `scripts/local-cluster.sh up` (run once per test process; it reuses a running cluster).
pub fn kubeconfig() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("ROLLING_UPDATE_KUBECONFIG").filter(|p| !p.is_empty())
        {
            return PathBuf::from(path);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/local-cluster.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("up")
            // The test binary's own build of the fake kubelet: no nested cargo while cargo test runs.
            .env("FAKE_KUBELET_BIN", env!("CARGO_BIN_EXE_fake-kubelet"))
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

/// A new client for the calling test's runtime (clients must not be shared across tokio runtimes).
pub async fn client() -> kube::Client {
    let kubeconfig =
        Kubeconfig::read_from(kubeconfig()).expect("failed to read the test kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("failed to load the test kubeconfig");
    kube::Client::try_from(config).expect("failed to build a client")
}
