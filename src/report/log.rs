//! The end of the job log: the diagnosis, the annotation and the result line, as text, so what the runner will
//! read can be tested without running anything.
//!
//! The diagnosis quotes the cluster: log lines, termination and event messages, object names. A container that
//! prints `::add-mask::…` or `##[error]…` must not get the runner to mask, annotate or set anything, so every
//! quoted block goes through [`actions::inert`], and the one annotation is a command of ours whose message is
//! escaped by [`actions::format_command`].

use super::actions;
use crate::diagnosis;
use crate::outcome::{Outcome, ResultKind};

/// The lines printed after the rollout: the diagnosis (if any), the annotation for the result, `Result: …`.
pub fn closing(outcome: &Outcome) -> String {
    let mut out = String::new();
    if let Some(d) = &outcome.failure.diagnosis {
        if !d.findings.is_empty() {
            out.push_str(&actions::inert(&format!(
                "\nDiagnosis:\n{}",
                diagnosis::text::render_text(d)
            )));
        }
    }
    let annotation = match outcome.result {
        ResultKind::Failure => Some(actions::format_command(
            "error",
            &[],
            &format!("rollout failed: {}", outcome.summary),
        )),
        ResultKind::Cancelled => Some(actions::format_command("warning", &[], &outcome.summary)),
        ResultKind::Error => None,
        _ => Some(actions::format_command("notice", &[], &outcome.summary)),
    };
    if let Some(line) = annotation {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&actions::inert(&format!(
        "Result: {} ({})",
        outcome.result.as_str().to_uppercase(),
        outcome.summary
    )));
    out
}
