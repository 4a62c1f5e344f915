//! The commit status: one per run and context, on the commit the user pushed (the pull request's head on
//! `pull_request` events, where GITHUB_SHA is a merge commit no one sees). `pending` while the rollout runs, the
//! outcome's state at the end; the newest status of a context wins, so posting it again is safe.

use serde_json::json;

use super::client::{Permission, Result, Verb};
use super::{short_sha, Reporter};
use crate::outcome::ResultKind;
use crate::report::markdown;

/// `rolling-update/<namespace>/<rc>`: stable across runs, so each run replaces the last status.
pub fn default_status_context(namespace: &str, rc: &str) -> String {
    format!("rolling-update/{namespace}/{rc}")
}

/// The commit status state for an outcome.
pub fn status_state(result: ResultKind) -> &'static str {
    match result {
        ResultKind::Success | ResultKind::NoOp | ResultKind::DryRun => "success",
        ResultKind::Failure => "failure",
        ResultKind::Error | ResultKind::Cancelled => "error",
    }
}

impl Reporter {
    /// Posts the `pending` status when the rollout starts.
    pub async fn pending(&self, description: &str) -> Result<()> {
        self.post_status("pending", description).await
    }

    /// `POST /repos/{owner}/{repo}/statuses/{sha}` on the status SHA (the PR head on `pull_request`).
    pub async fn post_status(&self, state: &str, description: &str) -> Result<()> {
        let mut body = json!({
            "state": state,
            "context": self.config.status_context,
            // GitHub keeps 140 characters of a status description; several RCs' names can make it longer.
            "description": markdown::truncate_plain(description, 140),
        });
        if let Some(url) = &self.run_url {
            body["target_url"] = json!(url);
        }
        let sha = &self.github.event.status_sha;
        self.request(
            Verb::PostIdempotent,
            &format!("/repos/{}/statuses/{sha}", self.repository),
            Some(&body),
            &format!("post the commit status to {}", short_sha(sha)),
            Permission::Statuses,
        )
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_for_results() {
        assert_eq!(status_state(ResultKind::NoOp), "success");
        assert_eq!(status_state(ResultKind::DryRun), "success");
        assert_eq!(status_state(ResultKind::Failure), "failure");
        assert_eq!(status_state(ResultKind::Cancelled), "error");
    }
}
