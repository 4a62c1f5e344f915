//! GitHub Deployments: each run that rolls out is a Deployment to its environment (`in_progress`, then the
//! outcome's state), so the repository's environments page shows what runs where and since when. After a success
//! the environment's previous live Deployment goes inactive; a closed PR's preview environment goes inactive as a
//! whole. Creating a Deployment is not retried (it could create two); its statuses are (the newest wins).

use serde_json::json;

use super::client::{query_escape, Permission, ReportError, Result, Verb};
use super::Reporter;
use crate::outcome::{Outcome, ResultKind};
use crate::report::markdown;

id! {
    /// A GitHub Deployment's id.
    DeploymentId
}

/// A deployment status state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentState {
    Queued,
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
}

impl DeploymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Queued => "queued",
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
            DeploymentState::Error => "error",
            DeploymentState::Inactive => "inactive",
        }
    }

    /// The final deployment state for an outcome.
    pub fn for_result(result: ResultKind) -> Self {
        match result {
            ResultKind::Success | ResultKind::NoOp | ResultKind::DryRun => DeploymentState::Success,
            ResultKind::Failure => DeploymentState::Failure,
            ResultKind::Error | ResultKind::Cancelled => DeploymentState::Error,
        }
    }
}

impl Reporter {
    /// The Deployment's final state; after a success, the environment's previous Deployment goes inactive.
    pub(super) async fn finish_deployment(
        &self,
        id: DeploymentId,
        outcome: &Outcome,
    ) -> Result<()> {
        let state = DeploymentState::for_result(outcome.result);
        let description = markdown::status_description(outcome);
        self.deployment_status(id, state, outcome.environment_url.as_deref(), &description)
            .await?;
        if state == DeploymentState::Success {
            self.deactivate_previous(&self.config.environment.name, id)
                .await?;
        }
        Ok(())
    }

    /// Marks inactive the environment's Deployments older than `current` (among the 100 newest) that are still
    /// live (success, or a run that never finished), newest first, stopping at the first one already inactive
    /// (earlier runs took care of those before it). Failed ones are left as they are. Returns how many.
    pub async fn deactivate_previous(
        &self,
        environment: &str,
        current: DeploymentId,
    ) -> Result<usize> {
        // GitHub lists the newest first; the first page (100) reaches back past any still active.
        let mut older = self.deployment_ids(environment, false).await?;
        older.retain(|&id| id < current);
        older.sort_unstable_by(|a, b| b.cmp(a));
        let mut deactivated = 0;
        for id in older {
            let statuses = self
                .request(
                    Verb::Get,
                    &format!(
                        "/repos/{}/deployments/{id}/statuses?per_page=1",
                        self.repository
                    ),
                    None,
                    &format!("read the state of deployment {id}"),
                    Permission::Deployments,
                )
                .await?;
            let latest = statuses
                .as_array()
                .and_then(|s| s.first())
                .and_then(|s| s["state"].as_str())
                .unwrap_or_default()
                .to_string();
            if latest == DeploymentState::Inactive.as_str() {
                break;
            }
            // A failed release was never live: it keeps its state, so the environment's history shows it.
            if latest == DeploymentState::Failure.as_str()
                || latest == DeploymentState::Error.as_str()
            {
                continue;
            }
            self.deployment_status(
                id,
                DeploymentState::Inactive,
                None,
                &format!("replaced by deployment {current}"),
            )
            .await?;
            deactivated += 1;
        }
        Ok(deactivated)
    }

    /// `POST /repos/{owner}/{repo}/deployments` (transient and not production for a preview). Returns its id.
    pub async fn create_deployment(
        &self,
        environment: &str,
        git_ref: &str,
        description: &str,
        preview: bool,
    ) -> Result<DeploymentId> {
        let action = format!("create a deployment to {environment:?}");
        let mut body = json!({
            "ref": git_ref,
            "environment": environment,
            "description": markdown::truncate_plain(description, 140),
            "auto_merge": false,
            "required_contexts": [],
        });
        if preview {
            // Otherwise GitHub's defaults: not transient, production when the environment is `production`.
            body["transient_environment"] = json!(true);
            body["production_environment"] = json!(false);
        }
        let created = self
            .request(
                Verb::Post,
                &format!("/repos/{}/deployments", self.repository),
                Some(&body),
                &action,
                Permission::Deployments,
            )
            .await?;
        created["id"]
            .as_u64()
            .map(DeploymentId)
            .ok_or_else(|| ReportError::Rejected {
                action,
                status: 202,
                attempts: 1,
                message: created["message"]
                    .as_str()
                    .unwrap_or("no deployment id in the answer")
                    .to_string(),
            })
    }

    /// `POST /repos/{owner}/{repo}/deployments/{id}/statuses`.
    pub async fn deployment_status(
        &self,
        id: DeploymentId,
        state: DeploymentState,
        environment_url: Option<&str>,
        description: &str,
    ) -> Result<()> {
        let mut body = json!({
            "state": state.as_str(),
            "description": markdown::truncate_plain(description, 140),
        });
        if let Some(url) = environment_url {
            body["environment_url"] = json!(url);
        }
        if let Some(url) = &self.run_url {
            body["log_url"] = json!(url);
        }
        self.request(
            Verb::PostIdempotent,
            &format!("/repos/{}/deployments/{id}/statuses", self.repository),
            Some(&body),
            &format!("set deployment {id} to {}", state.as_str()),
            Permission::Deployments,
        )
        .await
        .map(drop)
    }

    /// Marks every deployment to `environment` inactive (the preview's PR closed). Returns how many.
    pub async fn deactivate_environment(&self, environment: &str) -> Result<usize> {
        let ids = self.deployment_ids(environment, true).await?;
        for &id in &ids {
            self.deployment_status(id, DeploymentState::Inactive, None, "preview removed")
                .await?;
        }
        Ok(ids.len())
    }

    /// `GET /repos/{owner}/{repo}/deployments?environment=…`: the ids, newest first; the first page only
    /// unless `all_pages`.
    async fn deployment_ids(
        &self,
        environment: &str,
        all_pages: bool,
    ) -> Result<Vec<DeploymentId>> {
        let action = format!("list the deployments to {environment:?}");
        let path = format!(
            "/repos/{}/deployments?environment={}",
            self.repository,
            query_escape(environment)
        );
        let mut ids = vec![];
        self.find_in_pages(&path, &action, Permission::Deployments, |items| {
            ids.extend(
                items
                    .iter()
                    .filter_map(|d| d["id"].as_u64().map(DeploymentId)),
            );
            (!all_pages).then_some(())
        })
        .await?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_for_results() {
        assert_eq!(
            DeploymentState::for_result(ResultKind::Failure).as_str(),
            "failure"
        );
    }
}
