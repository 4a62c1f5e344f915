//! Test support for the integration tests: one real control plane per test run (started by
//! `scripts/local-cluster.sh up`, or reused through `ROLLING_UPDATE_KUBECONFIG`), a namespace per test that dumps pod
//! statuses and events when the test fails, dedicated fake nodes for capacity tests, and small helpers.
//!
//! Tests run in parallel on separate tokio runtimes: every helper that talks to the cluster takes the test's own
//! client (from [`client`]), never a shared one.
#![allow(dead_code, unused_imports)]

mod action;
mod cluster;
mod namespace;
mod node;
mod wait;
mod yaml;

pub use action::{run_action, ActionRun, ACTION_BIN};
pub use cluster::{client, kubeconfig};
pub use namespace::{namespace, TestNs};
pub use node::{dedicated_node, DEDICATED_LABEL};
pub use wait::{wait_for, Waited};
pub use yaml::apply_yaml;
