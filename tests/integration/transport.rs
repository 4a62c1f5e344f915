//! The action's connection to the apiserver (src/cluster/transport.rs): one TLS connection carries the whole run,
//! every request and every watch, over HTTP/2. kube's own client (HTTP/1.1) held one connection per open watch
//! and per request in flight: four or more at any moment of a rollout, each opened with its own TLS handshake.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::faults::{rc, replicas, seed};
use crate::seeds::action_env;
use crate::support;

/// Established TCP connections process `pid` holds to `port`: its socket descriptors, matched by inode in the
/// network namespace's /proc/net/tcp and tcp6 (the test shares the action's network namespace).
fn connections_to(pid: u32, port: u16) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let inodes: BTreeSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_str()?.to_string();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 {
                continue;
            }
            let remote_port = fields[2]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let established = fields[3] == "01";
            if remote_port == Some(port) && established && inodes.contains(fields[9]) {
                count += 1;
            }
        }
    }
    count
}

/// The apiserver's port, from the test kubeconfig's `server:`.
fn apiserver_port() -> u16 {
    let kubeconfig = std::fs::read_to_string(support::kubeconfig()).expect("kubeconfig");
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .expect("a server in the kubeconfig")
        .trim();
    let port = server.rsplit(':').next().expect("a port in the server URL");
    port.trim_end_matches('/').parse().expect("a numeric port")
}

/// Sampled all through a rollout (every 50 ms from the new RC's first step to the process's exit), the action
/// holds exactly one connection to the apiserver: the pod watch, the cluster cache's two watches, the lease
/// renewals and every scale step share it.
#[tokio::test]
async fn one_connection_carries_the_whole_run() {
    let ns = support::namespace("one-conn").await;
    seed(&ns, 3, 1500).await;
    let port = apiserver_port();
    let env = action_env(
        &ns,
        &[
            (
                "INPUT_IMAGES",
                "node-api-container=registry.local/node-api:2.0",
            ),
            ("INPUT_VERSION", "v2"),
        ],
    );
    let mut child = tokio::process::Command::new(support::ACTION_BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the action");
    let pid = child.id().expect("the action's pid");
    let deadline = Instant::now() + Duration::from_secs(90);
    // Samples taken while the rollout was under way: the new RC scaled, the old one not yet gone.
    let mut samples = Vec::new();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        let connections = connections_to(pid, port);
        let (old, new) = (
            rc(&ns, "api-rc").await.map(|r| replicas(&r)),
            rc(&ns, "api-rc-v2").await.map(|r| replicas(&r)),
        );
        if old.is_some() && new.is_some_and(|n| n >= 1) && child.try_wait().unwrap().is_none() {
            samples.push((connections, old, new));
        }
        assert!(Instant::now() < deadline, "the run did not end in 90 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(code, Some(0), "the rollout succeeds");
    println!("connections to :{port} during the rollout (connections, old, new): {samples:?}");
    assert!(
        samples.len() >= 20,
        "the rollout was sampled mid-way at least 20 times: {samples:?}"
    );
    assert!(
        samples.iter().all(|(connections, _, _)| *connections == 1),
        "one connection to the apiserver all through the rollout: {samples:?}"
    );
}
