//! Settings from the environment (the cluster script sets them; tests may override them when starting their own).

use std::path::PathBuf;
use std::time::Duration;

use crate::container::Timing;

#[derive(Debug, Clone)]
pub struct Config {
    pub timing: Timing,
    /// From deletionTimestamp to the pod being removed.
    pub delete_delay: Duration,
    pub heartbeat: Duration,
    /// Nodes to register at start (created if missing), e.g. "node-1,node-2,node-3".
    pub nodes: Vec<String>,
    pub node_cpu: String,
    pub node_memory: String,
    pub node_pods: String,
    /// The port of the kubelet log endpoint every fake node registers (`daemonEndpoints.kubeletEndpoint.port`).
    pub port: u16,
    /// PEM certificate and key of the log endpoint; without them no endpoint is served (log requests then fail).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Per-pod override of the ready delay, in milliseconds.
pub const READY_DELAY_ANNOTATION: &str = "fake-kubelet.rolling-update.github.io/ready-delay-ms";

/// Per-pod termination message of crashing containers (a real container writes it to /dev/termination-log).
pub const TERMINATION_MESSAGE_ANNOTATION: &str =
    "fake-kubelet.rolling-update.github.io/termination-message";

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Config {
            timing: Timing {
                pull: millis("FAKE_KUBELET_PULL_DELAY_MS", 100)?,
                ready: millis("FAKE_KUBELET_READY_DELAY_MS", 1000)?,
                run_before_crash: millis("FAKE_KUBELET_CRASH_AFTER_MS", 300)?,
                backoff_base: millis("FAKE_KUBELET_BACKOFF_MS", 1000)?,
                probe_period: millis("FAKE_KUBELET_PROBE_PERIOD_MS", 1000)?,
            },
            delete_delay: millis("FAKE_KUBELET_DELETE_DELAY_MS", 200)?,
            heartbeat: millis("FAKE_KUBELET_HEARTBEAT_MS", 10_000)?,
            nodes: std::env::var("FAKE_KUBELET_NODES")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(String::from)
                .collect(),
            node_cpu: text("FAKE_KUBELET_NODE_CPU", "2"),
            node_memory: text("FAKE_KUBELET_NODE_MEMORY", "4Gi"),
            node_pods: text("FAKE_KUBELET_NODE_PODS", "110"),
            port: text("FAKE_KUBELET_PORT", "10250").parse().map_err(|_| {
                anyhow::anyhow!(
                    "FAKE_KUBELET_PORT must be a port number, got {:?}",
                    text("FAKE_KUBELET_PORT", "")
                )
            })?,
            tls: match (
                std::env::var_os("FAKE_KUBELET_TLS_CERT"),
                std::env::var_os("FAKE_KUBELET_TLS_KEY"),
            ) {
                (Some(cert), Some(key)) if !cert.is_empty() && !key.is_empty() => {
                    Some((cert.into(), key.into()))
                }
                _ => None,
            },
        })
    }
}

fn text(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn millis(name: &str, default: u64) -> anyhow::Result<Duration> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| anyhow::anyhow!("{name} must be a number of milliseconds, got {v:?}")),
        _ => Ok(Duration::from_millis(default)),
    }
}
