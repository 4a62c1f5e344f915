//! The annotations this action writes, in one place. They make an interrupted update resumable by a re-run
//! and let `mode: rollback` find the previous version after the old RC is gone.

/// Prefix of every annotation and label we own.
pub const PREFIX: &str = "rolling-update.github.io/";

/// On the new RC: `<old rc name>:<old rc uid>` (kubectl's update-source-id).
pub const SOURCE: &str = "rolling-update.github.io/source";
/// On the new RC: the replica count it must reach.
pub const DESIRED_REPLICAS: &str = "rolling-update.github.io/desired-replicas";
/// On the new RC: the version, the commit and the run that created it.
pub const VERSION: &str = "rolling-update.github.io/version";
pub const COMMIT: &str = "rolling-update.github.io/commit";
pub const RUN: &str = "rolling-update.github.io/run";
/// On the new RC: the base name (`rc` input) it belongs to.
pub const BASE: &str = "rolling-update.github.io/base";
/// On the old RC while an update is in progress: its replica count before the update.
pub const ORIGINAL_REPLICAS: &str = "rolling-update.github.io/original-replicas";
/// On the old RC while an update is in progress: the RC it is being replaced by.
pub const NEXT: &str = "rolling-update.github.io/next-controller";
/// On the new RC after success: the previous RC's name and pod template (JSON), for `mode: rollback`.
pub const PREVIOUS_NAME: &str = "rolling-update.github.io/previous-name";
pub const PREVIOUS_TEMPLATE: &str = "rolling-update.github.io/previous-template";
pub const PREVIOUS_SELECTOR: &str = "rolling-update.github.io/previous-selector";
/// Label on preview pods/RCs/Services: the pull request number.
pub const PREVIEW_PR_LABEL: &str = "rolling-update.github.io/pr";

/// Annotations that mark an update in progress; removed on success.
pub const IN_PROGRESS: &[&str] = &[SOURCE, DESIRED_REPLICAS, ORIGINAL_REPLICAS, NEXT];
