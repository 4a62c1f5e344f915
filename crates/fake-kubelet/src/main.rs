//! A fake kubelet for the integration tests and the benchmark: it makes pods bound to fake nodes behave as they would
//! on real nodes, as far as the API server can tell, without running any container.
//!
//! The control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) is real; only the node agent is
//! simulated. It registers the nodes named in `FAKE_KUBELET_NODES` (label `rolling-update.test/fake=true`), serves
//! every node with that label (tests add their own), keeps their Ready condition fresh and removes the
//! `node.kubernetes.io/not-ready` / `unreachable` taints that nothing else would remove here.
//!
//! For each pod bound to such a node it sets hostIP, a unique podIP (10.244.x.y), phase, startTime, container
//! statuses and the Initialized / ContainersReady / Ready conditions through the status subresource, and records
//! the events a kubelet records (source component `kubelet`, host = the node): Pulling, Pulled, Created, Started,
//! Killing, BackOff, Failed, Unhealthy, folding repeats into one event with a growing `count`. A pod with a
//! deletionTimestamp gets Killing events for its running containers and is deleted with grace 0 after
//! `FAKE_KUBELET_DELETE_DELAY_MS` (default 200); pods of a node that no longer exists are finished too.
//!
//! Timing (environment, milliseconds): `FAKE_KUBELET_READY_DELAY_MS` (1000, from first sight to Ready; the pod
//! annotation `fake-kubelet.rolling-update.github.io/ready-delay-ms` overrides it per pod),
//! `FAKE_KUBELET_PULL_DELAY_MS` (100), `FAKE_KUBELET_CRASH_AFTER_MS` (300), `FAKE_KUBELET_BACKOFF_MS` (1000: the
//! fake wait for the kubelet's 10 s back-off; later back-offs double, capped at 8x), `FAKE_KUBELET_PROBE_PERIOD_MS`
//! (1000), `FAKE_KUBELET_HEARTBEAT_MS` (10000). Messages quote the real back-off values (10s, 20s, ... 5m0s).
//!
//! # Failure simulations, chosen by the container's image reference (name or tag, case-insensitive)
//!
//! | image contains | container status | events |
//! |---|---|---|
//! | `unpullable` | waiting `ErrImagePull` (message `rpc error: code = NotFound desc = failed to pull and unpack image "<image>": ... not found: manifest unknown: manifest unknown`), then `ImagePullBackOff` (`Back-off pulling image "<image>"`), repeating; pod stays Pending | Pulling; Failed `Failed to pull image ...`; Failed `Error: ErrImagePull`; BackOff `Back-off pulling image ...`; Failed `Error: ImagePullBackOff` |
//! | `crashloop` | runs 300 ms, terminates exit code 1 reason `Error`, then waiting `CrashLoopBackOff` (`back-off 10s restarting failed container=<c> pod=<pod>_<ns>(<uid>)`), lastState terminated, restartCount growing | Pulled, Created, Started (each restart: Pulled `already present on machine`); BackOff `Back-off restarting failed container` |
//! | `never-ready` | running, started, ready=false forever | Unhealthy `Readiness probe failed: HTTP probe failed with statuscode: 503` every probe period (tcpSocket probe: `dial tcp <podIP>:<port>: connect: connection refused`; exec probe: `command "<cmd>" exited with status 1`) |
//! | `configerror` | waiting `CreateContainerConfigError` (`configmap "app-config" not found`); pod stays Pending | Pulled; Failed `Error: configmap "app-config" not found`, repeating |
//! | anything else | running, ready after the ready delay | Pulling, Pulled, Created, Started |
//!
//! Each container of a multi-container pod follows its own image; the pod is Ready only when all are.
//!
//! Logs: like a kubelet, it serves `GET /containerLogs/{namespace}/{pod}/{container}` over HTTPS on
//! `FAKE_KUBELET_PORT` (10250) with `FAKE_KUBELET_TLS_CERT` / `FAKE_KUBELET_TLS_KEY`, and every fake node registers
//! that port and the address 127.0.0.1, so the API server's `pods/{name}/log` (and `kubectl logs`) reach it
//! ([`logs`]). A container's log lines come from the pod annotation `fake-kubelet.rolling-update.github.io/log`
//! (or `...log.<container>`), else a built-in crash log for crashing images. A pod annotation
//! `fake-kubelet.rolling-update.github.io/termination-message` becomes the `message` of every termination of its
//! crashing containers (what a real container writes to /dev/termination-log).

mod config;
mod container;
mod events;
mod ip_pool;
mod logs;
mod nodes;
mod pod_status;
mod pod_worker;
mod pods;
mod scenario;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

/// The HTTP status of an API error, if the API server answered.
pub fn code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cfg = Arc::new(config::Config::from_env()?);
    let kube_config = kube::Config::infer()
        .await
        .context("failed to load a kubeconfig (set KUBECONFIG)")?;
    let client =
        kube::Client::try_from(kube_config).context("failed to build the Kubernetes client")?;
    // The log endpoint listens before any node advertises it.
    match &cfg.tls {
        Some((cert, key)) => {
            let tls = logs::acceptor(cert, key)?;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
                .await
                .with_context(|| format!("failed to listen on 127.0.0.1:{} (FAKE_KUBELET_PORT)", cfg.port))?;
            tokio::spawn(logs::serve(client.clone(), listener, tls));
        }
        None => eprintln!(
            "fake-kubelet: no FAKE_KUBELET_TLS_CERT/FAKE_KUBELET_TLS_KEY: serving no logs (log requests will fail)"
        ),
    }
    let mut attempts = 0;
    while let Err(e) = nodes::register(&client, &cfg).await {
        attempts += 1;
        if attempts > 60 {
            return Err(e).context("failed to register the fake nodes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "fake-kubelet: serving nodes labelled {}=true (registered {:?}), logs on 127.0.0.1:{}",
        nodes::FAKE_LABEL,
        cfg.nodes,
        cfg.port
    );
    let node_set = nodes::NodeSet::default();
    tokio::spawn(nodes::watch(client.clone(), node_set.clone(), cfg.port));
    tokio::spawn(nodes::heartbeats(
        client.clone(),
        node_set.clone(),
        cfg.heartbeat,
    ));
    pods::Pods::new(client, cfg, node_set).run().await;
    Ok(())
}
