//! The integration tests: every behaviour against a real Kubernetes control plane (see `support`).

mod bad_input;
mod control_plane;
mod diagnosis;
mod fault_proxy;
mod faults;
mod rbac;
mod real_clusters;
mod reporting;
mod rollout;
mod secrets;
mod seeds;
mod several;
mod stand_in;
mod support;
mod transport;
mod untrusted;
mod workflows;
