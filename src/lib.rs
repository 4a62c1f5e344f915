//! rolling-update: a GitHub container Action that rolls Kubernetes ReplicationControllers to new images.
//!
//! The crate is laid out as the pipeline it runs, top to bottom:
//! [`inputs`] (environment -> validated [`inputs::Settings`]) -> [`plan`] (pure: the new versioned RC and the
//! scaling plan) -> [`rollout`] (the engine that talks to the cluster) -> [`diagnosis`] (pure: why a rollout
//! could not finish) -> [`report`] (pure markdown, then GitHub, job summary, outputs and annotations).
//! Under them all, [`k8s`] reads Kubernetes objects one way (names, selectors, template labels, owner
//! references) and imports nothing of the crate; [`text`] quotes the names a message lists.
//!
//! A failed rollout is an [`outcome::Outcome`], not an `Err`: it is diagnosed and reported like a success.
//! `Err` is kept for infrastructure faults (cluster unreachable, bad input), which end the run with exit code
//! [`exit::ERROR`] or [`exit::BAD_INPUT`].

pub mod cluster;
pub mod diagnosis;
pub mod exit;
pub mod inputs;
pub mod k8s;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod rollout;
pub mod run;
pub mod text;
pub mod yaml;
