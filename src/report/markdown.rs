//! The report as markdown: one pure function from an [`Outcome`] to the text that goes to the PR comment and
//! the job summary, and the one-line commit status description.
//!
//! Everything the cluster said (logs, events, image names) is untrusted and goes through [`super::escape`].
//! GitHub refuses a comment over 65,536 characters, and a crash-looping container can print far more than
//! that, so the renderer fits the report under a cap by trimming the least useful text first: old log lines
//! (the last ones explain the crash), then evidence lines, and it says what it trimmed.

use std::fmt::Write as _;
use std::time::Duration;

use super::escape;
use crate::diagnosis::{CapacityRow, Diagnosis, Finding};
use crate::inputs::GithubContext;
use crate::outcome::{AfterFailure, Outcome, ResultKind};

/// GitHub's limit is 65,536 characters; bytes are counted here (never fewer than characters) with a margin.
pub const DEFAULT_MAX_LEN: usize = 60_000;

/// A log or evidence line longer than this is cut: one minified stack trace must not crowd out the rest.
const MAX_LINE_CHARS: usize = 1_000;

/// Where the report belongs and how long it may be.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// Namespace of the RC; part of the marker.
    pub namespace: String,
    /// The base RC name (the `rc` input, not the versioned name); part of the marker.
    pub rc: String,
    /// The Actions run page, when known.
    pub run_url: Option<String>,
    /// The cap in bytes.
    pub max_len: usize,
}

impl RenderContext {
    pub fn new(namespace: &str, rc: &str, run_url: Option<String>) -> Self {
        RenderContext {
            namespace: namespace.to_string(),
            rc: rc.to_string(),
            run_url,
            max_len: DEFAULT_MAX_LEN,
        }
    }

    /// The hidden first line by which the sticky comment is found again.
    pub fn marker(&self) -> String {
        marker(&self.namespace, &self.rc)
    }
}

/// `<!-- rolling-update: <namespace>/<rc> -->`: one sticky comment per namespace and base RC.
/// The sticky comment while a rollout runs: the marker (so the final report replaces it) and one line of progress.
/// `description` is ours (RC name, counts, seconds), escaped all the same.
pub fn progress_comment(marker: &str, description: &str) -> String {
    format!(
        "{marker}\n### ⏳ Rolling out\n\n{}\n\n_Updated as pods become ready; the report replaces this comment when the rollout ends._\n",
        crate::report::escape::inline(description)
    )
}

pub fn marker(namespace: &str, rc: &str) -> String {
    format!(
        "<!-- rolling-update: {}/{} -->",
        escape::html_comment(namespace),
        escape::html_comment(rc)
    )
}

/// `<server_url>/<repository>/actions/runs/<run_id>`, when the run is known.
pub fn run_url(github: &GithubContext) -> Option<String> {
    let repository = github.repository.as_deref()?;
    let run_id = github.run_id.as_deref()?;
    let server = if github.urls.server.is_empty() {
        "https://github.com"
    } else {
        github.urls.server.trim_end_matches('/')
    };
    Some(format!("{server}/{repository}/actions/runs/{run_id}"))
}

/// How much of the untrusted text to show; lowered step by step until the report fits.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Log lines kept per finding (the last ones).
    log_lines: usize,
    /// Evidence lines kept per finding (the first ones).
    evidence_lines: usize,
}

/// Renders the report, at most `ctx.max_len` bytes long.
pub fn render(outcome: &Outcome, ctx: &RenderContext) -> String {
    let (max_logs, max_evidence) = outcome
        .failure
        .diagnosis
        .as_ref()
        .map(|d| {
            let logs = d.findings.iter().map(|f| f.logs.len()).max().unwrap_or(0);
            let evidence = d
                .findings
                .iter()
                .map(|f| f.evidence.len())
                .max()
                .unwrap_or(0);
            (logs, evidence)
        })
        .unwrap_or((0, 0));
    let full = Limits {
        log_lines: max_logs,
        evidence_lines: max_evidence,
    };
    let text = render_with(outcome, ctx, full);
    if text.len() <= ctx.max_len {
        return text;
    }
    // Logs first: keep as many of the last lines as fit.
    let fits = |limits: Limits| render_with(outcome, ctx, limits).len() <= ctx.max_len;
    let no_logs = Limits {
        log_lines: 0,
        ..full
    };
    if fits(no_logs) {
        let n = largest_fitting(max_logs, |n| {
            fits(Limits {
                log_lines: n,
                ..full
            })
        });
        return render_with(
            outcome,
            ctx,
            Limits {
                log_lines: n,
                ..full
            },
        );
    }
    // Then evidence.
    let bare = Limits {
        log_lines: 0,
        evidence_lines: 0,
    };
    if fits(bare) {
        let n = largest_fitting(max_evidence, |n| {
            fits(Limits {
                log_lines: 0,
                evidence_lines: n,
            })
        });
        return render_with(
            outcome,
            ctx,
            Limits {
                log_lines: 0,
                evidence_lines: n,
            },
        );
    }
    // Still too long (thousands of findings or timeline entries): cut at a line boundary and say so.
    hard_truncate(&render_with(outcome, ctx, bare), ctx.max_len)
}

/// The largest `n` in `0..=max` for which `fits(n)` holds, given `fits(0)`; `fits` is monotone.
fn largest_fitting(max: usize, fits: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, max);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

fn hard_truncate(text: &str, max_len: usize) -> String {
    const NOTE: &str =
        "\n\n… report truncated to fit GitHub's size limit; the job log has the rest.\n";
    let budget = max_len.saturating_sub(NOTE.len());
    let mut cut = budget.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = text[..cut].rfind('\n').unwrap_or(cut);
    format!("{}{NOTE}", &text[..cut])
}

fn render_with(outcome: &Outcome, ctx: &RenderContext, limits: Limits) -> String {
    let mut out = String::new();
    out.push_str(&ctx.marker());
    out.push('\n');
    headline(&mut out, outcome);
    // Why it failed and what state it left come first: that is what the reader of a red run looks for.
    if let Some(diagnosis) = &outcome.failure.diagnosis {
        diagnosis_section(&mut out, diagnosis, limits);
    }
    after_failure(&mut out, outcome);
    images(&mut out, outcome);
    readiness(&mut out, outcome);
    timeline(&mut out, outcome);
    if let Some(url) = &ctx.run_url {
        let _ = writeln!(out, "\n[View the run]({})", link_target(url));
    }
    out
}

fn result_label(result: ResultKind) -> (&'static str, &'static str) {
    match result {
        ResultKind::Success => ("✅", "Success"),
        ResultKind::NoOp => ("✅", "No-op"),
        ResultKind::DryRun => ("📝", "Dry run"),
        ResultKind::Failure => ("❌", "Failed"),
        ResultKind::Error => ("⚠️", "Error"),
        ResultKind::Cancelled => ("⏹️", "Cancelled"),
    }
}

fn headline(out: &mut String, outcome: &Outcome) {
    let (icon, label) = result_label(outcome.result);
    let to = escape::code(&outcome.rc_name);
    let _ = match &outcome.previous_rc_name {
        Some(from) => writeln!(out, "## {icon} {label}: {} → {to}", escape::code(from)),
        None => writeln!(out, "## {icon} {label}: {to}"),
    };
    let _ = writeln!(
        out,
        "\nNamespace {} · version {} · {}",
        escape::code(&outcome.namespace),
        escape::code(&outcome.version),
        format_duration(outcome.timeline.duration)
    );
    if !outcome.summary.is_empty() {
        let _ = writeln!(out, "\n**{}**", escape::inline(&outcome.summary));
    }
    if let Some(url) = &outcome.environment_url {
        let _ = writeln!(out, "\nPreview: {}", link_target(url));
    }
}

fn images(out: &mut String, outcome: &Outcome) {
    if outcome.images.is_empty() {
        return;
    }
    out.push_str("\n### Images\n\n| Container | Old | New |\n| --- | --- | --- |\n");
    for change in &outcome.images {
        let old = change
            .old
            .as_deref()
            .map(escape::code)
            .unwrap_or_else(|| "—".to_string());
        let new = if change.old.as_deref() == Some(change.new.as_str()) {
            "unchanged".to_string()
        } else {
            escape::code(&change.new)
        };
        let _ = writeln!(
            out,
            "| {} | {old} | {new} |",
            escape::inline(&change.container)
        );
    }
}

fn readiness(out: &mut String, outcome: &Outcome) {
    if matches!(outcome.result, ResultKind::DryRun) {
        return;
    }
    let _ = writeln!(
        out,
        "\n### Pods\n\n{}/{} new pods ready",
        outcome.replicas.ready, outcome.replicas.desired
    );
}

fn timeline(out: &mut String, outcome: &Outcome) {
    if outcome.timeline.entries.is_empty() {
        return;
    }
    out.push_str("\n### Timeline\n\n| Time | Step |\n| ---: | --- |\n");
    for entry in &outcome.timeline.entries {
        let _ = writeln!(
            out,
            "| +{:.1}s | {} |",
            entry.at.as_secs_f64(),
            escape::inline(&entry.message)
        );
    }
}

fn diagnosis_section(out: &mut String, diagnosis: &Diagnosis, limits: Limits) {
    if diagnosis.findings.is_empty() && diagnosis.unreadable.is_empty() {
        return;
    }
    out.push_str("\n### Diagnosis\n");
    for (i, finding) in diagnosis.findings.iter().enumerate() {
        finding_section(out, i + 1, finding, limits);
    }
    if !diagnosis.unreadable.is_empty() {
        out.push_str("\n_Partial diagnosis: could not read_\n\n");
        for item in &diagnosis.unreadable {
            let _ = writeln!(out, "- {}", escape::inline(item));
        }
    }
}

fn finding_section(out: &mut String, n: usize, finding: &Finding, limits: Limits) {
    let _ = writeln!(out, "\n#### {n}. {}", escape::prose(&finding.summary));
    if !finding.evidence.is_empty() {
        let shown = finding.evidence.len().min(limits.evidence_lines);
        out.push_str("\nEvidence:\n\n");
        if shown > 0 {
            let lines: Vec<String> = finding.evidence[..shown]
                .iter()
                .map(|l| cap_line(l))
                .collect();
            out.push_str(&escape::code_block(&lines.join("\n"), "text"));
        }
        let trimmed = finding.evidence.len() - shown;
        if trimmed > 0 {
            let _ = writeln!(
                out,
                "\n… {} evidence lines trimmed to fit GitHub's size limit",
                thousands(trimmed)
            );
        }
    }
    if !finding.capacity.is_empty() {
        capacity_table(out, &finding.capacity);
    }
    if !finding.fixes.is_empty() {
        out.push_str("\n**Fixes**\n\n");
        for fix in &finding.fixes {
            out.push_str(&fix_item(fix));
        }
    }
    if !finding.logs.is_empty() {
        let total = finding.logs.len();
        let shown = total.min(limits.log_lines);
        let trimmed = total - shown;
        let summary = if trimmed > 0 {
            format!(
                "Logs: last {} of {} lines",
                thousands(shown),
                thousands(total)
            )
        } else {
            format!("Logs: {} lines", thousands(total))
        };
        let _ = writeln!(out, "\n<details><summary>{summary}</summary>\n");
        if trimmed > 0 {
            let _ = writeln!(out, "… {} log lines trimmed\n", thousands(trimmed));
        }
        if shown > 0 {
            let lines: Vec<String> = finding.logs[total - shown..]
                .iter()
                .map(|l| cap_line(l))
                .collect();
            out.push_str(&escape::code_block(&lines.join("\n"), "text"));
        }
        out.push_str("\n</details>\n");
    }
}

/// A fix as a list item: its first line as prose, the lines after it (a toleration to paste, commands to run)
/// as a fenced code block inside the item, so they can be copied as they are. Escaped as prose, a YAML
/// snippet would lose its line breaks and indentation, and with them its meaning.
fn fix_item(fix: &str) -> String {
    let (head, rest) = fix.split_once('\n').unwrap_or((fix, ""));
    let mut item = format!("- {}\n", escape::prose(head));
    let snippet = rest.trim_end();
    if snippet.trim().is_empty() {
        return item;
    }
    item.push('\n');
    // Indented to the item's content column, the block stays inside the item; GFM strips that indentation.
    for line in escape::code_block(snippet, snippet_language(snippet)).lines() {
        if !line.is_empty() {
            item.push_str("  ");
        }
        item.push_str(line);
        item.push('\n');
    }
    item
}

/// The info string for a fix's snippet: `sh` for commands, `yaml` for manifest fragments, else `text`.
fn snippet_language(snippet: &str) -> &'static str {
    let first = snippet
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    if first.starts_with("kubectl ") || first.starts_with("$ ") {
        "sh"
    } else if first.ends_with(':') || first.contains(": ") || first.starts_with("- ") {
        "yaml"
    } else {
        "text"
    }
}

fn capacity_table(out: &mut String, rows: &[CapacityRow]) {
    out.push_str(
        "\n| Node | Resource | Allocatable | Requested | Free | Needed | Fits |\n\
         | --- | --- | ---: | ---: | ---: | ---: | :---: |\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            escape::inline(&row.node),
            escape::inline(&row.resource),
            escape::inline(&row.allocatable),
            escape::inline(&row.requested),
            escape::inline(&row.free),
            escape::inline(&row.needed),
            if row.fits { "yes" } else { "**no**" }
        );
    }
}

fn after_failure(out: &mut String, outcome: &Outcome) {
    let Some(after) = &outcome.failure.after else {
        return;
    };
    out.push_str("\n### After the failure\n\n");
    let _ = match after {
        AfterFailure::RolledBack { restored_replicas } => writeln!(
            out,
            "Rolled back: {} restored to {restored_replicas} replicas and {} deleted.",
            outcome
                .previous_rc_name
                .as_deref()
                .map(escape::code)
                .unwrap_or_else(|| "the previous RC".to_string()),
            escape::code(&outcome.rc_name)
        ),
        AfterFailure::Kept { hint } => {
            writeln!(
                out,
                "Both RCs were kept as they are. {}",
                escape::prose(hint)
            )
        }
        AfterFailure::RollbackFailed { message } => {
            writeln!(out, "**Rollback failed:** {}", escape::inline(message))
        }
    };
}

/// A URL in link position: parentheses and spaces would end it, angle brackets would open HTML.
fn link_target(url: &str) -> String {
    url.chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .map(|c| match c {
            '(' => "%28".to_string(),
            ')' => "%29".to_string(),
            '<' => "%3C".to_string(),
            '>' => "%3E".to_string(),
            '"' => "%22".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn cap_line(line: &str) -> String {
    if line.chars().count() <= MAX_LINE_CHARS {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(MAX_LINE_CHARS).collect();
    cut.push_str(" …");
    cut
}

/// `41s`, `2m 05s`, `1h 02m`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// `9980` -> `9,980`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The job summary's note when the final commit status could not be posted: the commit may go on showing
/// `pending` (or an earlier run's state), and the reader of the summary should not trust it.
pub fn status_not_posted(context: &str, state: &str, error: &str) -> String {
    format!(
        "\n> [!WARNING]\n> The commit status {} could not be set to {}: the commit may still show an earlier state. {}\n",
        escape::code(context),
        escape::code(state),
        escape::inline(error)
    )
}

/// The commit status description: at most 140 characters, plain text, the gist of the outcome.
pub fn status_description(outcome: &Outcome) -> String {
    let headline = outcome
        .failure
        .diagnosis
        .as_ref()
        .and_then(|d| d.headline())
        .filter(|h| !h.is_empty());
    let text = match outcome.result {
        ResultKind::Success => format!(
            "{}: {}/{} ready in {}",
            outcome.rc_name,
            outcome.replicas.ready,
            outcome.replicas.desired,
            format_duration(outcome.timeline.duration)
        ),
        ResultKind::NoOp => format!(
            "{}: already deployed, {}/{} ready",
            outcome.rc_name, outcome.replicas.ready, outcome.replicas.desired
        ),
        ResultKind::DryRun => match &outcome.previous_rc_name {
            Some(from) => format!("dry run: {from} -> {}, nothing changed", outcome.rc_name),
            None => format!("dry run: would create {}, nothing changed", outcome.rc_name),
        },
        ResultKind::Failure => match headline {
            Some(h) => h.to_string(),
            None => format!("{}: {}", outcome.rc_name, outcome.summary),
        },
        ResultKind::Error => format!("error: {}", headline.unwrap_or(&outcome.summary)),
        ResultKind::Cancelled => format!("cancelled: {}", outcome.summary),
    };
    truncate_plain(&text, 140)
}

/// One line of plain text, at most `max` characters, ending in `…` when cut.
pub(crate) fn truncate_plain(text: &str, max: usize) -> String {
    let flat: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::FindingKind;
    use crate::inputs::GithubUrls;
    use crate::outcome::{Failure, ImageChange, Replicas, Timeline, TimelineEntry};

    fn ctx() -> RenderContext {
        RenderContext::new(
            "prod",
            "api-rc",
            Some("https://github.com/acme/api/actions/runs/42".into()),
        )
    }

    fn outcome(result: ResultKind) -> Outcome {
        Outcome {
            previous_rc_name: Some("api-rc-0f0f0f0".into()),
            images: vec![ImageChange {
                container: "api".into(),
                old: Some("registry.example.com/api:0f0f0f0".into()),
                new: "registry.example.com/api:1a2b3c4".into(),
            }],
            replicas: Replicas {
                desired: 3,
                ready: 3,
            },
            timeline: Timeline {
                duration: Duration::from_secs(41),
                entries: vec![
                    TimelineEntry {
                        at: Duration::from_millis(0),
                        message: "Created api-rc-1a2b3c4 with 0 replicas".into(),
                    },
                    TimelineEntry {
                        at: Duration::from_millis(12_300),
                        message: "Scaling api-rc-1a2b3c4 up to 1".into(),
                    },
                ],
            },
            ..Outcome::bare(
                result,
                "prod",
                "api-rc-1a2b3c4",
                "1a2b3c4",
                "3/3 ready in 41s".into(),
                Duration::from_secs(41),
            )
        }
    }

    fn capacity_finding() -> Finding {
        Finding {
            kind: FindingKind::InsufficientResources,
            summary: "Insufficient cpu: a new pod needs 100m, the most free on any node is 30m"
                .into(),
            evidence: vec!["0/1 nodes are available: 1 Insufficient cpu.".into()],
            logs: vec![],
            capacity: vec![CapacityRow {
                node: "node-1".into(),
                resource: "cpu".into(),
                allocatable: "1000m".into(),
                requested: "970m".into(),
                free: "30m".into(),
                needed: "100m".into(),
                fits: false,
            }],
            fixes: vec!["Lower the pod's cpu request to 30m or less".into()],
            fatal: true,
        }
    }

    fn failed(findings: Vec<Finding>) -> Outcome {
        Outcome {
            result: ResultKind::Failure,
            replicas: Replicas {
                desired: 3,
                ready: 0,
            },
            summary: "stalled: no new pod became ready".into(),
            failure: Failure {
                diagnosis: Some(Diagnosis {
                    findings,
                    unreadable: vec![],
                }),
                after: Some(AfterFailure::RolledBack {
                    restored_replicas: 3,
                }),
            },
            ..outcome(ResultKind::Failure)
        }
    }

    #[test]
    fn success_report_has_marker_headline_images_timeline_and_link() {
        let md = render(&outcome(ResultKind::Success), &ctx());
        assert!(
            md.starts_with("<!-- rolling-update: prod/api-rc -->\n"),
            "{md}"
        );
        assert!(
            md.contains("Success: `api-rc-0f0f0f0` → `api-rc-1a2b3c4`"),
            "{md}"
        );
        assert!(md.contains(
            "| api | `registry.example.com/api:0f0f0f0` | `registry.example.com/api:1a2b3c4` |"
        ));
        assert!(
            md.contains("| +12.3s | Scaling api\\-rc\\-1a2b3c4 up to 1 |")
                || md.contains("| +12.3s | Scaling api-rc-1a2b3c4 up to 1 |"),
            "{md}"
        );
        assert!(md.contains("3/3 new pods ready"));
        assert!(md.contains("[View the run](https://github.com/acme/api/actions/runs/42)"));
        assert!(!md.contains("Diagnosis"));
    }

    #[test]
    fn each_result_has_its_label() {
        for (kind, label) in [
            (ResultKind::Failure, "Failed"),
            (ResultKind::Error, "Error"),
            (ResultKind::Cancelled, "Cancelled"),
            (ResultKind::NoOp, "No-op"),
            (ResultKind::DryRun, "Dry run"),
        ] {
            let md = render(&outcome(kind), &ctx());
            assert!(md.lines().nth(1).unwrap().contains(label), "{kind:?}: {md}");
        }
    }

    #[test]
    fn capacity_failure_shows_table_fixes_and_rollback() {
        let md = render(&failed(vec![capacity_finding()]), &ctx());
        assert!(md.contains("### Diagnosis"));
        assert!(md.contains("#### 1. Insufficient cpu"));
        assert!(
            md.contains("| node\\-1 | cpu | 1000m | 970m | 30m | 100m | **no** |")
                || md.contains("| node-1 | cpu | 1000m | 970m | 30m | 100m | **no** |"),
            "{md}"
        );
        assert!(
            md.contains("- Lower the pod's cpu request") || md.contains("- Lower the pod\\'s"),
            "{md}"
        );
        assert!(md.contains(
            "Rolled back: `api-rc-0f0f0f0` restored to 3 replicas and `api-rc-1a2b3c4` deleted."
        ));
        assert!(md.contains("0/1 nodes are available: 1 Insufficient cpu."));
    }

    #[test]
    fn ten_thousand_log_lines_are_trimmed_under_the_cap() {
        let mut finding = capacity_finding();
        finding.kind = FindingKind::CrashLoop;
        finding.logs = (0..10_000)
            .map(|i| {
                format!(
                    "2024-05-01T12:00:00Z ERROR line {i}: connection refused to db:5432, retrying"
                )
            })
            .collect();
        let md = render(&failed(vec![finding]), &ctx());
        assert!(md.len() <= DEFAULT_MAX_LEN, "{} bytes", md.len());
        assert!(md.chars().count() < 65_536);
        // The last lines are kept, the first ones dropped, and the reader is told.
        assert!(md.contains("line 9999: connection refused"));
        assert!(!md.contains("line 0: connection refused"));
        let shown = md.matches("connection refused").count();
        assert!(shown > 100, "kept only {shown} lines");
        let trimmed = 10_000 - shown;
        assert!(
            md.contains(&format!("… {} log lines trimmed", thousands(trimmed))),
            "{md:.2000}"
        );
        // The rest of the report survived.
        assert!(md.contains("| node"));
        assert!(md.contains("[View the run]"));
    }

    #[test]
    fn evidence_is_trimmed_after_logs() {
        let mut finding = capacity_finding();
        finding.evidence = (0..5_000)
            .map(|i| format!("event {i}: {}", "x".repeat(60)))
            .collect();
        finding.logs = vec!["log".into(); 10];
        let md = render(&failed(vec![finding]), &ctx());
        assert!(md.len() <= DEFAULT_MAX_LEN);
        assert!(md.contains("evidence lines trimmed"));
        assert!(md.contains("… 10 log lines trimmed"));
        assert!(md.contains("event 0: "));
    }

    #[test]
    fn huge_reports_are_cut_as_a_last_resort() {
        let mut o = outcome(ResultKind::Success);
        o.timeline.entries = (0..5_000)
            .map(|i| TimelineEntry {
                at: Duration::from_secs(i),
                message: format!("step {i} {}", "y".repeat(40)),
            })
            .collect();
        let md = render(&o, &ctx());
        assert!(md.len() <= DEFAULT_MAX_LEN);
        assert!(md.contains("report truncated"));
    }

    #[test]
    fn injection_attempts_are_neutralised() {
        let mut finding = capacity_finding();
        finding.summary = "<script>alert(1)</script> @octocat | pipes |".into();
        finding.evidence = vec!["```\n<img src=x onerror=alert(1)> @octocat".into()];
        finding.logs = vec!["```".into(), "</details><h1>owned</h1> @here".into()];
        finding.fixes = vec!["[click](https://evil.example) @org/team".into()];
        finding.capacity[0].node = "node|x<b>".into();
        let mut o = failed(vec![finding]);
        o.images[0].new = "evil`image|x\n## heading".into();
        o.timeline.entries.push(TimelineEntry {
            at: Duration::from_secs(1),
            message: "@octocat <b>x</b>\n| a | b |".into(),
        });
        let md = render(&o, &ctx());
        assert!(!md.contains("<script>"));
        assert!(!md.contains("<b>x</b>"));
        // No live mention anywhere outside code blocks.
        for line in prose_lines(&md) {
            assert!(!line.contains("@octocat"), "mention in {line:?}");
            assert!(!line.contains("@org"), "mention in {line:?}");
            assert!(!line.contains("[click]"), "link in {line:?}");
        }
        // Every table row has exactly its columns: pipes from untrusted text are escaped.
        for line in md.lines().filter(|l| l.starts_with('|')) {
            let cells = line.replace("\\|", "").matches('|').count();
            assert!(
                cells == 4 || cells == 3 || cells == 8,
                "broken row {line:?}"
            );
        }
        // Code fences outgrow the backticks in the content, so the logs cannot close them.
        assert!(
            md.contains("````text\n```\n</details><h1>owned</h1> @here\n````"),
            "{md}"
        );
        // The image name cannot start a heading.
        assert!(!md.lines().any(|l| l.starts_with("## heading")));
    }

    /// Lines outside fenced code blocks.
    fn prose_lines(md: &str) -> Vec<&str> {
        let mut fence: Option<usize> = None;
        let mut out = vec![];
        for line in md.lines() {
            let ticks = line.chars().take_while(|&c| c == '`').count();
            match fence {
                Some(n) if ticks >= n && line.trim_start_matches('`').is_empty() => fence = None,
                Some(_) => {}
                None if ticks >= 3 => fence = Some(ticks),
                None => out.push(line),
            }
        }
        out
    }

    #[test]
    fn status_description_success() {
        assert_eq!(
            status_description(&outcome(ResultKind::Success)),
            "api-rc-1a2b3c4: 3/3 ready in 41s"
        );
    }

    #[test]
    fn status_description_failure_uses_diagnosis_headline() {
        assert_eq!(
            status_description(&failed(vec![capacity_finding()])),
            "Insufficient cpu: a new pod needs 100m, the most free on any node is 30m"
        );
        let mut no_diag = failed(vec![]);
        no_diag.failure.diagnosis = None;
        assert_eq!(
            status_description(&no_diag),
            "api-rc-1a2b3c4: stalled: no new pod became ready"
        );
    }

    #[test]
    fn status_description_is_cut_at_140_chars() {
        let mut finding = capacity_finding();
        finding.summary = format!("Insufficient memory\non {}", "node-a, ".repeat(40));
        let d = status_description(&failed(vec![finding]));
        assert_eq!(d.chars().count(), 140);
        assert!(d.ends_with('…'));
        assert!(!d.contains('\n'));
        assert!(d.starts_with("Insufficient memory on node-a"));
    }

    #[test]
    fn marker_is_per_namespace_and_rc() {
        assert_eq!(
            marker("prod", "api-rc"),
            "<!-- rolling-update: prod/api-rc -->"
        );
        assert_ne!(marker("staging", "api-rc"), marker("prod", "api-rc"));
    }

    #[test]
    fn run_url_from_context() {
        let github = GithubContext {
            repository: Some("acme/api".into()),
            urls: GithubUrls {
                server: "https://ghe.example.com/".into(),
                ..Default::default()
            },
            run_id: Some("7".into()),
            ..Default::default()
        };
        assert_eq!(
            run_url(&github).as_deref(),
            Some("https://ghe.example.com/acme/api/actions/runs/7")
        );
        assert_eq!(run_url(&GithubContext::default()), None);
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(thousands(9_980), "9,980");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m 05s");
        assert_eq!(format_duration(Duration::from_secs(3725)), "1h 02m");
    }

    #[test]
    fn multi_line_fixes_are_code_blocks_inside_their_list_item() {
        let mut finding = capacity_finding();
        finding.fixes = vec![
            "if the pods may run on node-1, add this toleration to the pod template:\ntolerations:\n- key: \"dedicated\"\n  operator: \"Equal\"\n  value: \"gpu```\"\n  effect: \"NoSchedule\"\n".into(),
            "or run, then roll again:\nkubectl taint nodes node-1 dedicated-\n\nkubectl get nodes".into(),
            "Set `max_surge: 0`".into(),
        ];
        let md = render(&failed(vec![finding]), &ctx());
        let expected_yaml = "- if the pods may run on node-1, add this toleration to the pod template:\n\n  \
                             ````yaml\n  tolerations:\n  - key: \"dedicated\"\n    operator: \"Equal\"\n    \
                             value: \"gpu```\"\n    effect: \"NoSchedule\"\n  ````\n";
        assert!(md.contains(expected_yaml), "{md}");
        assert!(
            md.contains("- or run, then roll again:\n\n  ```sh\n  kubectl taint nodes node-1 dedicated-\n\n  kubectl get nodes\n  ```\n"),
            "{md}"
        );
        // One-line fixes stay one list item with their code span.
        assert!(md.contains("\n- Set `max_surge: 0`\n"), "{md}");
    }

    #[test]
    fn snippet_languages() {
        assert_eq!(snippet_language("tolerations:\n- key: a"), "yaml");
        assert_eq!(snippet_language("\n  kubectl get pods"), "sh");
        assert_eq!(snippet_language("see the log"), "text");
    }
}
