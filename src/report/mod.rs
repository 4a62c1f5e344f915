//! Reporting: pure markdown and log rendering, then the edges that post it (GitHub, job summary, outputs, log
//! annotations). Reporting never decides the deploy: a failure to report is a warning.

pub mod actions;
pub mod escape;
pub mod github;
pub mod log;
pub mod markdown;
