//! The annotations this action writes, in one place. They make an interrupted update resumable by a re-run
//! and let `mode: rollback` find the previous version after the old RC is gone.

/// The prefix, as a literal `concat!` can use.
macro_rules! prefix {
    () => {
        "rolling-update.github.io/"
    };
}

/// Prefix of every annotation and label we own.
pub const PREFIX: &str = prefix!();

/// `NAME = "suffix";` under its doc comment: `pub const NAME` is `rolling-update.github.io/suffix`.
macro_rules! owned {
    ($($(#[doc = $doc:literal])* $name:ident = $suffix:literal;)+) => {
        $($(#[doc = $doc])* pub const $name: &str = concat!(prefix!(), $suffix);)+
    };
}

// While an update is in progress: what makes it resumable (see IN_PROGRESS).
owned! {
    /// On the new RC: `<old rc name>:<old rc uid>` (kubectl's update-source-id).
    SOURCE = "source";
    /// On the new RC: the replica count it must reach.
    DESIRED_REPLICAS = "desired-replicas";
    /// On the old RC while an update is in progress: its replica count before the update.
    ORIGINAL_REPLICAS = "original-replicas";
    /// On the old RC while an update is in progress: the RC it is being replaced by.
    NEXT = "next-controller";
}

/// Annotations that mark an update in progress; removed on success.
pub const IN_PROGRESS: &[&str] = &[SOURCE, DESIRED_REPLICAS, ORIGINAL_REPLICAS, NEXT];

// For as long as the new RC lives: where it came from.
owned! {
    /// On the new RC: the version, the commit and the run that created it.
    VERSION = "version";
    /// On the new RC: the commit that created it.
    COMMIT = "commit";
    /// On the new RC: the run that created it.
    RUN = "run";
    /// On the new RC: the base name (`rc` input) it belongs to.
    BASE = "base";
}

// After success: the previous version, for `mode: rollback`; and the label that marks a preview.
owned! {
    /// On the new RC after success: the previous RC's name, for `mode: rollback`.
    PREVIOUS_NAME = "previous-name";
    /// On the new RC after success: the previous RC's pod template (JSON), for `mode: rollback`.
    PREVIOUS_TEMPLATE = "previous-template";
    /// On the new RC after success: the previous RC's selector (JSON), for `mode: rollback`.
    PREVIOUS_SELECTOR = "previous-selector";
    /// Label on preview pods/RCs/Services: the pull request number.
    PREVIEW_PR_LABEL = "pr";
}
