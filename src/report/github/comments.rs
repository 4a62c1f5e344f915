//! The sticky pull request comment: one per PR and RC, updated in place on every run.
//!
//! It is found by its marker *and* its author: anyone can paste the marker into a comment, and the action must
//! never overwrite someone else's words. Two runs racing to create it both re-read the list after creating: the
//! oldest comment stays, newer ones are deleted. Creating is never retried (it could post twice); updating is.

use serde_json::{json, Value};

use super::client::{Permission, ReportError, Result, Verb};
use super::{short_sha, Reporter};
use crate::inputs::CommentMode;

/// The author of comments made with the workflow's own token.
pub const WORKFLOW_BOT: &str = "github-actions[bot]";

id! {
    /// A comment's id.
    CommentId
}

id! {
    /// A pull request's number.
    PullNumber
}

/// A comment of ours: it starts with the marker and `login` wrote it (anyone can paste the marker).
fn is_ours(comment: &Value, marker: &str, login: &str) -> bool {
    comment["body"]
        .as_str()
        .is_some_and(|b| b.trim_start().starts_with(marker))
        && comment["user"]["login"]
            .as_str()
            .is_some_and(|author| author.eq_ignore_ascii_case(login))
}

impl Reporter {
    /// The PRs to comment on: the event's PR on `pull_request`, the commit's open PRs with `comment: always`.
    pub async fn comment_targets(&self) -> Result<Vec<PullNumber>> {
        if self.config.comment == CommentMode::Never {
            return Ok(vec![]);
        }
        let is_pr_event = matches!(
            self.github.event.name.as_str(),
            "pull_request" | "pull_request_target"
        );
        if is_pr_event {
            return Ok(self
                .github
                .event
                .pull_request
                .number
                .map(PullNumber)
                .into_iter()
                .collect());
        }
        if self.config.comment == CommentMode::Always {
            return self.associated_prs(&self.github.event.status_sha).await;
        }
        Ok(vec![])
    }

    /// `GET /repos/{owner}/{repo}/commits/{sha}/pulls`: the open PRs that contain the commit.
    pub async fn associated_prs(&self, sha: &str) -> Result<Vec<PullNumber>> {
        let action = format!("list the pull requests of {}", short_sha(sha));
        let path = format!("/repos/{}/commits/{sha}/pulls", self.repository);
        let mut numbers = vec![];
        self.find_in_pages(&path, &action, Permission::PullRequestsRead, |items| {
            numbers.extend(
                items
                    .iter()
                    .filter(|pr| pr["state"].as_str().unwrap_or("open") == "open")
                    .filter_map(|pr| pr["number"].as_u64().map(PullNumber)),
            );
            None::<()>
        })
        .await?;
        numbers.sort_unstable();
        numbers.dedup();
        Ok(numbers)
    }

    /// Updates our comment on the PR (found by the marker and its author) or creates it. Returns its `html_url`.
    pub async fn upsert_comment(&self, pr: PullNumber, body: &str) -> Result<Option<String>> {
        let login = self.own_login().await?;
        if let Some(&id) = self.our_comments(pr, &login, true).await?.first() {
            return self.update_comment(id, body).await;
        }
        let (created, url) = self.create_comment(pr, body).await?;
        // Another run may have created one at the same time: the oldest stays, the newer ones go.
        let ours = self.our_comments(pr, &login, false).await?;
        let Some(&oldest) = ours.iter().min() else {
            return Ok(url);
        };
        for &id in ours.iter().filter(|&&id| id != oldest) {
            self.delete_comment(id).await?;
        }
        if oldest == created {
            Ok(url)
        } else {
            self.update_comment(oldest, body).await
        }
    }

    /// The login whose comments are ours: the token's user (`GET /user`), or `github-actions[bot]` when the
    /// token may not read it (the workflow's own token is an installation token: 403). Looked up once.
    pub async fn own_login(&self) -> Result<String> {
        self.login
            .get_or_try_init(|| async {
                let user = self
                    .request(
                        Verb::Get,
                        "/user",
                        None,
                        "look up the token's user",
                        Permission::PullRequestsRead,
                    )
                    .await;
                match user {
                    Ok(user) => Ok(user["login"]
                        .as_str()
                        .filter(|l| !l.is_empty())
                        .unwrap_or(WORKFLOW_BOT)
                        .to_string()),
                    Err(ReportError::Forbidden { .. }) => Ok(WORKFLOW_BOT.to_string()),
                    Err(e) if e.status() == Some(404) => Ok(WORKFLOW_BOT.to_string()),
                    Err(e) => Err(e),
                }
            })
            .await
            .cloned()
    }

    /// The ids of the PR's comments that start with the marker and were written by `login`, oldest first;
    /// with `first_only`, stops at the first page that has one.
    pub async fn our_comments(
        &self,
        pr: PullNumber,
        login: &str,
        first_only: bool,
    ) -> Result<Vec<CommentId>> {
        let action = format!("list the comments of pull request #{pr}");
        let path = format!("/repos/{}/issues/{pr}/comments", self.repository);
        let marker = &self.config.marker;
        let mut ids = vec![];
        self.find_in_pages(&path, &action, Permission::PullRequestsRead, |items| {
            ids.extend(
                items
                    .iter()
                    .filter(|c| is_ours(c, marker, login))
                    .filter_map(|c| c["id"].as_u64().map(CommentId)),
            );
            (first_only && !ids.is_empty()).then_some(())
        })
        .await?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// `POST /repos/{owner}/{repo}/issues/{pr}/comments`. Returns the new comment's id and `html_url`.
    pub async fn create_comment(
        &self,
        pr: PullNumber,
        body: &str,
    ) -> Result<(CommentId, Option<String>)> {
        let action = format!("comment on pull request #{pr}");
        let created = self
            .request(
                Verb::Post,
                &format!("/repos/{}/issues/{pr}/comments", self.repository),
                Some(&json!({ "body": body })),
                &action,
                Permission::PullRequestsWrite,
            )
            .await?;
        let id = created["id"]
            .as_u64()
            .map(CommentId)
            .ok_or_else(|| ReportError::Rejected {
                action,
                status: 201,
                message: "no comment id in the answer".into(),
                attempts: 1,
            })?;
        Ok((id, created["html_url"].as_str().map(str::to_string)))
    }

    /// `DELETE /repos/{owner}/{repo}/issues/comments/{id}`; one already gone (the other run deleted it) is fine.
    pub async fn delete_comment(&self, id: CommentId) -> Result<()> {
        let deleted = self
            .request(
                Verb::Delete,
                &format!("/repos/{}/issues/comments/{id}", self.repository),
                None,
                &format!("delete duplicate comment {id}"),
                Permission::PullRequestsWrite,
            )
            .await;
        match deleted {
            Err(e) if e.status() == Some(404) => Ok(()),
            other => other.map(drop),
        }
    }

    /// `PATCH /repos/{owner}/{repo}/issues/comments/{id}`.
    pub async fn update_comment(&self, id: CommentId, body: &str) -> Result<Option<String>> {
        let updated = self
            .request(
                Verb::Patch,
                &format!("/repos/{}/issues/comments/{id}", self.repository),
                Some(&json!({ "body": body })),
                &format!("update comment {id}"),
                Permission::PullRequestsWrite,
            )
            .await?;
        Ok(updated["html_url"].as_str().map(str::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::markdown;

    #[test]
    fn only_the_markers_author_owns_the_comment() {
        let marker = markdown::marker("prod", "api-rc");
        let comment =
            |body: &str, login: &str| json!({"id": 1, "body": body, "user": {"login": login}});
        let ours = format!("{marker}\nreport");
        assert!(is_ours(
            &comment(&ours, "github-actions[bot]"),
            &marker,
            WORKFLOW_BOT
        ));
        assert!(!is_ours(&comment(&ours, "mallory"), &marker, WORKFLOW_BOT));
        assert!(!is_ours(
            &comment("LGTM", WORKFLOW_BOT),
            &marker,
            WORKFLOW_BOT
        ));
        assert!(!is_ours(
            &json!({"id": 1, "body": ours}),
            &marker,
            WORKFLOW_BOT
        ));
    }
}
