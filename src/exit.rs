//! Exit codes, documented in the README and action.yml. A user's workflow can branch on them.

/// The rollout (or dry run, or no-op) succeeded.
pub const SUCCESS: i32 = 0;
/// The rollout ran and failed (stalled, deadline, doomed pods); the cluster is in the state the report describes.
pub const ROLLOUT_FAILED: i32 = 1;
/// An input was invalid; nothing in the cluster was changed.
pub const BAD_INPUT: i32 = 2;
/// An infrastructure fault (cluster unreachable, forbidden, conflict that did not resolve); the report says whether
/// a re-run resumes.
pub const ERROR: i32 = 3;
/// The run was cancelled (SIGTERM/SIGINT); the update is left resumable.
pub const CANCELLED: i32 = 4;
/// Another run holds the lock on this RC.
pub const LOCKED: i32 = 5;
