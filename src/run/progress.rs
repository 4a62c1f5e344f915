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

/// The description to post for each ready count read, when there is news. Several RCs (one release) are one
/// description: their total, then each RC's count.
#[derive(Debug)]
pub struct Progress {
    targets: Vec<(String, i32)>,
    last: Option<Vec<i32>>,
}

impl Progress {
    /// `targets`: each new RC's name and desired replicas.
    pub fn new(targets: Vec<(String, i32)>) -> Self {
        Progress {
            targets,
            last: None,
        }
    }

    /// `Some(description)` when `ready` (one count per target) differs from the last counts (the first all-0
    /// is no news: the `pending` status already says the rollout started).
    pub fn update(&mut self, ready: &[i32], elapsed: Duration) -> Option<String> {
        let previous = self.last.replace(ready.to_vec());
        if previous.as_deref() == Some(ready)
            || (previous.is_none() && ready.iter().all(|r| *r == 0))
        {
            return None;
        }
        let text = match self.targets.as_slice() {
            [(rc, desired)] => format!(
                "rolling {rc}: {}/{desired} new pods ready · {} s",
                ready.first().copied().unwrap_or_default(),
                elapsed.as_secs()
            ),
            targets => {
                let each: Vec<String> = targets
                    .iter()
                    .zip(ready)
                    .map(|((rc, desired), ready)| format!("{rc} {ready}/{desired}"))
                    .collect();
                format!(
                    "rolling: {}/{} new pods ready ({}) · {} s",
                    ready.iter().sum::<i32>(),
                    targets.iter().map(|(_, d)| d).sum::<i32>(),
                    each.join(", "),
                    elapsed.as_secs()
                )
            }
        };
        Some(markdown::truncate_plain(&text, 140))
    }
}

/// Reads the new RCs every [`INTERVAL`] and posts their progress; never returns (the caller drops it when the
/// rollout ends).
pub async fn watch(
    reporter: &Reporter,
    client: kube::Client,
    namespace: &str,
    targets: Vec<(String, i32)>,
) -> Infallible {
    let api: Api<ReplicationController> = Api::namespaced(client, namespace);
    let names: Vec<String> = targets.iter().map(|(rc, _)| rc.clone()).collect();
    let mut progress = Progress::new(targets);
    let began = std::time::Instant::now();
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    'tick: loop {
        ticks.tick().await;
        let mut ready = vec![];
        for rc in &names {
            let Ok(Some(current)) = api.get_opt(rc).await else {
                continue 'tick;
            };
            ready.push(
                current
                    .status
                    .and_then(|s| s.ready_replicas)
                    .unwrap_or_default(),
            );
        }
        if let Some(description) = progress.update(&ready, began.elapsed()) {
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
        let mut p = Progress::new(vec![("api-rc-v2".into(), 3)]);
        assert_eq!(
            p.update(&[0], s(10)),
            None,
            "the pending status already says it started"
        );
        assert_eq!(
            p.update(&[1], s(20)).as_deref(),
            Some("rolling api-rc-v2: 1/3 new pods ready · 20 s")
        );
        assert_eq!(p.update(&[1], s(30)), None);
        assert_eq!(
            p.update(&[3], s(40)).as_deref(),
            Some("rolling api-rc-v2: 3/3 new pods ready · 40 s")
        );
        // A pod lost is news too.
        assert_eq!(
            p.update(&[2], s(50)).as_deref(),
            Some("rolling api-rc-v2: 2/3 new pods ready · 50 s")
        );
        assert_eq!(
            Progress::new(vec![("x".into(), 2)])
                .update(&[1], s(10))
                .as_deref(),
            Some("rolling x: 1/2 new pods ready · 10 s")
        );
    }

    #[test]
    fn several_rcs_are_one_line_with_each_count() {
        let s = Duration::from_secs;
        let mut p = Progress::new(vec![("api-rc-v2".into(), 3), ("worker-rc-v2".into(), 2)]);
        assert_eq!(p.update(&[0, 0], s(10)), None);
        assert_eq!(
            p.update(&[2, 0], s(20)).as_deref(),
            Some("rolling: 2/5 new pods ready (api-rc-v2 2/3, worker-rc-v2 0/2) · 20 s")
        );
        assert_eq!(p.update(&[2, 0], s(30)), None);
        assert_eq!(
            p.update(&[2, 1], s(40)).as_deref(),
            Some("rolling: 3/5 new pods ready (api-rc-v2 2/3, worker-rc-v2 1/2) · 40 s"),
            "one RC's news is news"
        );
        let long: Vec<(String, i32)> = (0..20).map(|i| (format!("service-{i}-rc-v2"), 3)).collect();
        let text = Progress::new(long).update(&[1; 20], s(5)).unwrap();
        assert!(text.chars().count() <= 140, "{text}");
    }
}
