//! docs/report-example.md is the report an actual run printed (scripts/screenshot-report.sh captures it from
//! the demo and screenshots it into docs/report-example.png, the README's picture). This test keeps the picture
//! honest without a cluster: the captured report must have the structure the markdown renderer emits today for
//! a capacity failure, so a change of the report's format fails here until the script is run again.
//!
//! Structure, not values: each line becomes its shape (headings and table headers as they are, code spans,
//! links, numbers and free text blanked, runs of table rows, list items and code lines folded into one), and
//! the shapes of the captured report and of a report rendered now from an outcome like the demo's must be equal.

use std::time::Duration;

use rolling_update_action::diagnosis::{CapacityRow, Diagnosis, Finding, FindingKind};
use rolling_update_action::outcome::{
    AfterFailure, Failure, ImageChange, Outcome, Replicas, ResultKind, Timeline, TimelineEntry,
};
use rolling_update_action::report::markdown::{self, RenderContext};

const CAPTURED: &str = include_str!("../docs/report-example.md");

/// An outcome shaped like the demo's capacity failure: one finding with evidence, a capacity table and fixes;
/// rolled back; one image changed and one unchanged; a timeline; a run link. The values are placeholders.
fn capacity_failure() -> (Outcome, RenderContext) {
    let row = |resource: &str, fits: bool| CapacityRow {
        node: "node-a".into(),
        resource: resource.into(),
        allocatable: "1".into(),
        requested: "1".into(),
        free: "0".into(),
        needed: "1".into(),
        fits,
    };
    let at = |ms: u64, message: &str| TimelineEntry {
        at: Duration::from_millis(ms),
        message: message.into(),
    };
    let outcome = Outcome {
        result: ResultKind::Failure,
        namespace: "ns".into(),
        rc_name: "web-1a2b3c4".into(),
        previous_rc_name: Some("web".into()),
        version: "1a2b3c4".into(),
        images: vec![
            ImageChange {
                container: "app".into(),
                old: Some("app:1".into()),
                new: "app:2".into(),
            },
            ImageChange {
                container: "sidecar".into(),
                old: Some("sidecar:1".into()),
                new: "sidecar:1".into(),
            },
        ],
        replicas: Replicas {
            desired: 3,
            ready: 0,
        },
        timeline: Timeline {
            duration: Duration::from_secs(9),
            entries: vec![at(0, "Created web-1a2b3c4"), at(9_000, "Rolled back")],
        },
        summary: "stalled: no room".into(),
        failure: Failure {
            diagnosis: Some(Diagnosis {
                findings: vec![Finding {
                    kind: FindingKind::InsufficientResources,
                    summary: "Insufficient cpu".into(),
                    evidence: vec!["0/1 nodes are available".into(), "1 pending".into()],
                    logs: vec![],
                    capacity: vec![row("cpu", false), row("memory", true)],
                    fixes: vec!["roll with max_surge: 0".into(), "add a node".into()],
                    fatal: true,
                }],
                unreadable: vec![],
            }),
            after: Some(AfterFailure::RolledBack {
                restored_replicas: 3,
            }),
        },
        environment_url: None,
        rollouts: vec![],
    };
    let ctx = RenderContext::new(
        "ns",
        "web",
        Some("https://github.com/o/r/actions/runs/1".into()),
    );
    (outcome, ctx)
}

/// `text` with code spans, link targets and numbers blanked.
fn blank_values(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                }
                out.push_str("`…`");
            }
            '(' if out.ends_with(']') => {
                for c in chars.by_ref() {
                    if c == ')' {
                        break;
                    }
                }
                out.push_str("(…)");
            }
            c if c.is_ascii_digit() => {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.')
                {
                    chars.next();
                }
                out.push('9');
            }
            c => out.push(c),
        }
    }
    out
}

/// The report's structure, one shape per line, runs of equal shapes folded into one.
fn shape(md: &str) -> Vec<String> {
    let lines: Vec<&str> = md.lines().collect();
    let mut shapes: Vec<String> = Vec::new();
    let mut in_code = false;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let shape = if trimmed.starts_with("```") {
            in_code = !in_code;
            line.to_string() // the fence with its indentation and language
        } else if in_code {
            "<code line>".to_string()
        } else if line.starts_with("<!-- rolling-update: ") && line.ends_with(" -->") {
            "<!-- rolling-update: … -->".to_string()
        } else if let Some(rest) = line.strip_prefix("## ") {
            // "## ❌ Failed: `a` → `b`"
            format!("## {}", blank_values(rest))
        } else if line.starts_with("### ") {
            line.to_string()
        } else if let Some(rest) = line.strip_prefix("#### ") {
            format!("#### {}", rest.split(' ').next().unwrap_or_default())
        } else if line.starts_with('|') {
            let is_header = lines
                .get(i + 1)
                .is_some_and(|next| next.starts_with("| ---") || next.starts_with("| :--"));
            if is_header || line.starts_with("| ---") || line.starts_with("| :--") {
                line.to_string()
            } else {
                format!("<table row of {} cells>", line.matches(" | ").count() + 1)
            }
        } else if line.starts_with("- ") {
            "<list item>".to_string()
        } else if line.starts_with("**") && line.ends_with("**") && line != &"**Fixes**" {
            "**…**".to_string()
        } else if line.starts_with("  ") && !trimmed.is_empty() {
            "<list item continued>".to_string()
        } else {
            blank_values(line)
        };
        if shapes.last() != Some(&shape) {
            shapes.push(shape);
        }
    }
    shapes
}

#[test]
fn captured_report_has_the_structure_the_renderer_emits_today() {
    let (outcome, ctx) = capacity_failure();
    let rendered = markdown::render(&outcome, &ctx);
    assert_eq!(
        shape(CAPTURED),
        shape(&rendered),
        "docs/report-example.md no longer matches the report format: run scripts/screenshot-report.sh \
         (it re-captures the report from the demo and redraws docs/report-example.png).\n\
         Rendered now:\n{rendered}"
    );
}

#[test]
fn captured_report_is_the_demos_capacity_failure() {
    assert!(CAPTURED.starts_with(
        "<!-- rolling-update: demo-capacity/small-rc -->\n## ❌ Failed: `small-rc` → `small-rc-"
    ));
    assert!(CAPTURED.contains("970m of 1000m requested"), "{CAPTURED}");
    assert!(CAPTURED.contains("| demo-small | cpu | 1000m | 970m | 30m | 100m | **no** |"));
    assert!(CAPTURED.contains("Rolled back: `small-rc` restored to 3 replicas"));
}

#[test]
fn the_shape_sees_a_format_change() {
    let (outcome, ctx) = capacity_failure();
    let rendered = markdown::render(&outcome, &ctx);
    let changed = [
        rendered.replace("### Images", "### Image changes"),
        rendered.replace("| Needed |", "| Need |"),
        rendered.replace("**Fixes**", "**Suggested fixes**"),
        rendered.replace("\n```text\n", "\n```\n"),
        rendered.replace(" · version ", " at version "),
    ];
    for md in changed {
        assert_ne!(shape(&md), shape(&rendered), "{md}");
    }
    // Values are not structure.
    let other = rendered
        .replace("node-a", "node-b")
        .replace("1a2b3c4", "9f9f9f9");
    assert_eq!(shape(&other), shape(&rendered));
}
