//! Previews per pull request and their cleanup, as steps of the run: scope the settings to the preview's base
//! name, turn the production RC into an isolated source, put the preview Service in place, remove it all when
//! the PR closes, and mark the GitHub Deployments of environment `pr-<N>` inactive then.

use std::time::Instant;

use k8s_openapi::api::core::v1::Service;

use super::Stop;
use crate::cluster::Cluster;
use crate::inputs::{Mode, Settings};
use crate::outcome::{Outcome, ResultKind};
use crate::plan::{self, preview, Observed, Plan};
use crate::report::actions;
use crate::report::github::{ReportError, Reporter};
use crate::rollout;

/// A pull request's preview: its number and the production RC it copies.
pub struct Scope {
    pub pr: u64,
    pub production_rc: String,
}

/// Previews and their cleanup work under the preview's own base name `<rc>-pr-<N>`: their own lock, their
/// own sticky comment and status context, never the production RC's.
pub fn preview_scope(
    mut settings: Settings,
) -> Result<(Settings, Option<Scope>), preview::PreviewError> {
    let mode = match settings.mode {
        Mode::Preview => "preview",
        Mode::Cleanup => "cleanup",
        _ => return Ok((settings, None)),
    };
    let pr = settings.github.event.pull_request.number.ok_or_else(|| {
        preview::PreviewError::NotAPullRequest {
            mode,
            event: settings.github.event.name.clone(),
        }
    })?;
    let production_rc = std::mem::take(&mut settings.rc);
    settings.rc = preview::base_name(&production_rc, pr);
    Ok((settings, Some(Scope { pr, production_rc })))
}

use crate::k8s::template_labels;
pub use crate::k8s::Labels;

/// Turns the production RC (or the manifest) into the preview's source, isolated from production Services.
/// Returns the production pods' labels, from which the preview Service is derived.
pub fn prepare_preview(
    settings: &Settings,
    scope: &Scope,
    observed: &mut Observed,
) -> Result<Labels, Stop> {
    let production = plan::current::find(&scope.production_rc, "", &observed.rcs)
        .map_err(|e| Stop::BadInput(e.to_string()))?
        .current;
    let has_preview = observed.rcs.iter().any(|rc| {
        rc.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(plan::annotations::PREVIEW_PR_LABEL))
            == Some(&scope.pr.to_string())
    });
    let source = match (observed.manifest.take(), has_preview) {
        (Some(manifest), _) => Some(manifest),
        (None, false) => Some(production.clone().ok_or_else(|| {
            Stop::BadInput(
                preview::PreviewError::NoSource {
                    rc: scope.production_rc.clone(),
                }
                .to_string(),
            )
        })?),
        (None, true) => None,
    };
    let production_labels = production
        .as_ref()
        .or(source.as_ref())
        .map(template_labels)
        .unwrap_or_default();
    if let Some(source) = source {
        let replicas = settings.replicas.unwrap_or(1);
        let isolated = preview::isolate(
            &source,
            &observed.services,
            &scope.production_rc,
            scope.pr,
            &settings.version_label,
            replicas,
        )
        .map_err(|e| Stop::BadInput(e.to_string()))?;
        observed.manifest = Some(isolated);
    }
    Ok(production_labels)
}

/// Checks the planned pods against the live production Services and derives the preview Service (None for pods
/// production serves without one). Pure but for reading `service_manifest`: nothing is written yet, so several
/// RCs' previews are all checked before any is created.
pub fn plan_service(
    settings: &Settings,
    scope: &Scope,
    observed: &Observed,
    plan: &Plan,
    production_labels: &Labels,
) -> Result<Option<Service>, Stop> {
    let labels = template_labels(&plan.new_rc);
    preview::check_isolated(&labels, &observed.services)
        .map_err(|e| Stop::BadInput(e.to_string()))?;
    let manifest = match &settings.service_manifest {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Stop::BadInput(format!(
                    "input `service_manifest`: cannot read {}: {e}; check the path",
                    path.display()
                ))
            })?;
            Some(crate::yaml::from_str(&text).map_err(|e| {
                Stop::BadInput(format!(
                    "input `service_manifest`: {} is not a Service manifest: {e}",
                    path.display()
                ))
            })?)
        }
        None => None,
    };
    preview::service(
        production_labels,
        &labels,
        &observed.services,
        manifest,
        &scope.production_rc,
        scope.pr,
    )
    .map_err(|e| Stop::BadInput(e.to_string()))
}

/// Creates or updates the planned preview Service (not on a dry run); returns the preview's URL.
pub async fn put_service(
    settings: &Settings,
    cluster: &Cluster,
    service: &Service,
) -> Result<String, Stop> {
    if settings.dry_run {
        return Ok(preview::environment_url(service, &cluster.namespace));
    }
    let service =
        rollout::preview::ensure_service(&cluster.client, &cluster.namespace, service).await?;
    let url = preview::environment_url(&service, &cluster.namespace);
    actions::print_untrusted(&format!(
        "preview Service {} -> {url}",
        service.metadata.name.as_deref().unwrap_or_default()
    ));
    Ok(url)
}

/// `mode: cleanup`: removes the PR's preview.
pub async fn clean_up(
    settings: &Settings,
    scope: &Scope,
    cluster: &Cluster,
    started: Instant,
) -> Result<Outcome, Stop> {
    actions::group("Removing the preview");
    let removed = rollout::preview::cleanup(
        &cluster.client,
        &cluster.namespace,
        scope.pr,
        settings.dry_run,
    )
    .await?;
    actions::end_group();
    let summary = format!(
        "{}preview of PR #{} {}: {} RC(s) ({}), {} pod(s), {} Service(s) ({})",
        if settings.dry_run { "dry run: " } else { "" },
        scope.pr,
        if settings.dry_run {
            "would be removed (nothing changed)"
        } else {
            "removed"
        },
        removed.rcs.len(),
        removed.rcs.join(", "),
        removed.pods,
        removed.services.len(),
        removed.services.join(", ")
    );
    actions::print_untrusted(&summary);
    let result = if settings.dry_run {
        ResultKind::DryRun
    } else {
        ResultKind::Success
    };
    let mut outcome = Outcome::bare(
        result,
        &cluster.namespace,
        &settings.rc,
        &settings.version,
        summary,
        started.elapsed(),
    );
    outcome.previous_rc_name = removed.rcs.first().cloned();
    Ok(outcome)
}

/// `mode: cleanup`: every Deployment to the preview's environment `pr-<N>` goes inactive. (A preview's own
/// Deployment is made like any run's, by the reporter: see [`Reporter::start`].)
pub async fn deactivate_preview(
    reporter: &Reporter,
    settings: &Settings,
    outcome: &Outcome,
) -> Result<(), ReportError> {
    if settings.mode == Mode::Cleanup && outcome.result == ResultKind::Success {
        reporter
            .deactivate_environment(&reporter.config().environment.name)
            .await?;
    }
    Ok(())
}
