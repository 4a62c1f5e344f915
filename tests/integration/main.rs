//! The integration tests: every behaviour against a real Kubernetes control plane (see `support`).

mod control_plane;
mod diagnosis;
mod fault_proxy;
mod faults;
mod rollout;
mod seeds;
mod support;
mod workflows;
