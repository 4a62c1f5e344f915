//! The end of every run: the log's diagnosis and result line, then the job summary, the step outputs and
//! GitHub (status, sticky comment, preview Deployment). Nothing here changes the exit code.

use super::preview::{deployment, Scope};
use crate::diagnosis;
use crate::inputs::Settings;
use crate::outcome::{Outcome, ResultKind};
use crate::report::github::Reporter;
use crate::report::{actions, markdown};

/// Log, job summary, outputs, GitHub. Never changes the exit code.
pub async fn report(
    settings: &Settings,
    scope: Option<&Scope>,
    reporter: Option<&Reporter>,
    outcome: &Outcome,
) {
    if let Some(d) = &outcome.diagnosis {
        if !d.findings.is_empty() {
            println!("\nDiagnosis:\n{}", diagnosis::text::render_text(d));
        }
    }
    match outcome.result {
        ResultKind::Failure => actions::error(&format!("rollout failed: {}", outcome.summary)),
        ResultKind::Cancelled => actions::warning(&outcome.summary),
        ResultKind::Error => {}
        _ => actions::notice(&outcome.summary),
    }
    println!(
        "Result: {} ({})",
        outcome.result.as_str().to_uppercase(),
        outcome.summary
    );
    let ctx = markdown::RenderContext::new(
        &outcome.namespace,
        &settings.rc,
        markdown::run_url(&settings.github),
    );
    let body = markdown::render(outcome, &ctx);
    let mut comment_url = None;
    if let Some(reporter) = reporter {
        let result = reporter.finish(outcome, &body).await;
        for w in &result.warnings {
            actions::warning(w);
        }
        comment_url = result.comment_url;
        if let Some(scope) = scope {
            if let Err(e) = deployment(reporter, settings, scope, outcome).await {
                actions::warning(&e.warning());
            }
        }
    }
    if let Err(e) = actions::append_summary(&body) {
        actions::warning(&format!("could not write the job summary: {e}"));
    }
    if let Err(e) = actions::write_outputs(outcome, comment_url.as_deref()) {
        actions::warning(&format!("could not write the step outputs: {e}"));
    }
    if std::env::var_os("ROLLING_UPDATE_PRINT_REPORT").is_some() {
        println!("\n----- report (as posted to the pull request) -----\n{body}");
    }
}
