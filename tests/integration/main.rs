//! The integration tests: every behaviour against a real Kubernetes control plane (see `support`).

mod control_plane;
mod support;
