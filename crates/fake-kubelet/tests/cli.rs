//! The binary as the cluster script starts it. Having an integration test also makes `cargo test` (workspace)
//! build `target/<profile>/fake-kubelet`, the binary the action's integration tests hand to the cluster script.

use std::process::Command;

#[test]
fn a_bad_timing_setting_is_refused_before_anything_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_fake-kubelet"))
        .env("FAKE_KUBELET_READY_DELAY_MS", "soon")
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("the fake kubelet runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("FAKE_KUBELET_READY_DELAY_MS must be a number of milliseconds, got \"soon\""),
        "{stderr}"
    );
}
