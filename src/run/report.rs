//! The end of every run: the log's diagnosis and result line, then the job summary, the step outputs and
//! GitHub (status, sticky comment, preview Deployment). Nothing here changes the exit code.

use super::preview::{deactivate_preview, Scope};
use crate::inputs::Settings;
use crate::outcome::Outcome;
use crate::report::github::{status_state, Reporter};
use crate::report::{actions, log, markdown};

/// Log, job summary, outputs, GitHub. Never changes the exit code.
pub async fn report(
    settings: &Settings,
    scope: Option<&Scope>,
    reporter: Option<&Reporter>,
    outcome: &Outcome,
) {
    actions::print_inert(&log::closing(outcome));
    let ctx = markdown::RenderContext::new(
        &outcome.namespace,
        &settings.rc,
        markdown::run_url(&settings.github),
    );
    let body = markdown::render(outcome, &ctx);
    let mut summary = body.clone();
    let mut comment_url = None;
    if let Some(reporter) = reporter {
        let result = reporter.finish(outcome, &body).await;
        for w in &result.warnings {
            if result.status_error.as_ref() == Some(w) {
                actions::warning(&format!(
                    "the final commit status was not posted; the commit may still show an earlier state: {w}"
                ));
            } else {
                actions::warning(w);
            }
        }
        if let Some(error) = &result.status_error {
            summary.push_str(&markdown::status_not_posted(
                &reporter.config().status_context,
                status_state(outcome.result),
                error,
            ));
        }
        comment_url = result.comment_url;
        if scope.is_some() {
            if let Err(e) = deactivate_preview(reporter, settings, outcome).await {
                actions::warning(&e.warning());
            }
        }
    }
    if let Err(e) = actions::append_summary(&summary) {
        actions::warning(&format!("could not write the job summary: {e}"));
    }
    if let Err(e) = actions::write_outputs(outcome, comment_url.as_deref()) {
        actions::warning(&format!("could not write the step outputs: {e}"));
    }
    if std::env::var_os("ROLLING_UPDATE_PRINT_REPORT").is_some() {
        actions::print_untrusted(&format!(
            "\n----- report (as posted to the pull request) -----\n{body}"
        ));
    }
}
