//! Live progress: while the rollout runs, the commit status, the run's Deployment and (where a comment is due)
//! the sticky comment say how many new pods are ready and for how long it has run, so whoever watches the pull
//! request sees "2/3 new pods ready · 14 s" rather than a bare "pending" for the minutes a rollout can take.
//!
//! It only reads the new RC, every [`INTERVAL`], and posts only when the ready count changed, so at most one
//! update per 10 s and at most one per new pod: each is a status, a Deployment status and, on a pull request, a
//! comment lookup and update (4 GitHub requests). A commit allows 1,000 statuses per context, and a slow
//! rollout must not spend them. It never affects the rollout, and a post
//! that fails is dropped: the final report says what could not be posted, and a warning every few seconds
//! would only bury it.

use std::convert::Infallible;
use std::time::Duration;

use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::Api;

use crate::report::github::Reporter;
use crate::report::markdown;

/// How often the new RC is read.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// The description to post for each ready count read, when there is news.
#[derive(Debug)]
pub struct Progress {
    rc: String,
    desired: i32,
    last: Option<i32>,
}

impl Progress {
    pub fn new(rc: &str, desired: i32) -> Self {
        Progress {
            rc: rc.to_string(),
            desired,
            last: None,
        }
    }

    /// `Some(description)` when `ready` differs from the last count (the first 0 is no news: the `pending`
    /// status already says the rollout started).
    pub fn update(&mut self, ready: i32, elapsed: Duration) -> Option<String> {
        let previous = self.last.replace(ready);
        if previous == Some(ready) || (previous.is_none() && ready == 0) {
            return None;
        }
        Some(markdown::truncate_plain(
            &format!(
                "rolling {}: {ready}/{} new pods ready · {} s",
                self.rc,
                self.desired,
                elapsed.as_secs()
            ),
            140,
        ))
    }
}

/// Reads the new RC every [`INTERVAL`] and posts its progress; never returns (the caller drops it when the
/// rollout ends).
pub async fn watch(
    reporter: &Reporter,
    client: kube::Client,
    namespace: &str,
    rc: &str,
    desired: i32,
) -> Infallible {
    let api: Api<ReplicationController> = Api::namespaced(client, namespace);
    let mut progress = Progress::new(rc, desired);
    let began = std::time::Instant::now();
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Ok(Some(current)) = api.get_opt(rc).await else {
            continue;
        };
        let ready = current
            .status
            .and_then(|s| s.ready_replicas)
            .unwrap_or_default();
        if let Some(description) = progress.update(ready, began.elapsed()) {
            let _ = reporter.progress(&description).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_only_news() {
        let s = Duration::from_secs;
        let mut p = Progress::new("api-rc-v2", 3);
        assert_eq!(
            p.update(0, s(10)),
            None,
            "the pending status already says it started"
        );
        assert_eq!(
            p.update(1, s(20)).as_deref(),
            Some("rolling api-rc-v2: 1/3 new pods ready · 20 s")
        );
        assert_eq!(p.update(1, s(30)), None);
        assert_eq!(
            p.update(3, s(40)).as_deref(),
            Some("rolling api-rc-v2: 3/3 new pods ready · 40 s")
        );
        // A pod lost is news too.
        assert_eq!(
            p.update(2, s(50)).as_deref(),
            Some("rolling api-rc-v2: 2/3 new pods ready · 50 s")
        );
        assert_eq!(
            Progress::new("x", 2).update(1, s(10)).as_deref(),
            Some("rolling x: 1/2 new pods ready · 10 s")
        );
    }
}
