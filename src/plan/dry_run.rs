//! `dry_run`: what would happen, in the words the engine would log, and the new RC exactly as it would be
//! created, so it can be reviewed (or applied by hand) before anything changes.

use std::fmt::Write as _;

use super::Plan;

fn replicas(rc: &k8s_openapi::api::core::v1::ReplicationController) -> i32 {
    rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// The plan as text: current RC, migration, images, scaling plan, warnings, then the new RC as YAML.
pub fn render_dry_run(plan: &Plan) -> String {
    let new_name = plan.new_rc.metadata.name.as_deref().unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Dry run: nothing in namespace `{}` was changed.",
        plan.namespace
    );
    let _ = writeln!(out);
    match &plan.found.current {
        Some(c) => {
            let name = c.metadata.name.as_deref().unwrap_or_default();
            let why = plan
                .found
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let _ = writeln!(out, "Current RC: {name}, {} replicas{why}", replicas(c));
        }
        None => {
            let _ = writeln!(out, "Current RC: none (first deploy)");
        }
    }
    if let (Some(m), Some(c)) = (&plan.migration, &plan.found.current) {
        let name = c.metadata.name.as_deref().unwrap_or_default();
        let _ = writeln!(
            out,
            "Migration: {name}'s selector has no `{}` key; {}={} is added to its template, its pods and then its selector, so the old and new selectors never overlap",
            m.key, m.key, m.value
        );
    }
    let _ = writeln!(out, "Images:");
    for i in &plan.images {
        let change = match &i.old {
            Some(old) if *old == i.new => format!("{old} (unchanged)"),
            Some(old) => format!("{old} -> {}", i.new),
            None => format!("{} (new)", i.new),
        };
        let _ = writeln!(out, "  {}: {change}", i.container);
    }
    let from = plan.found.existing_new.as_ref().map(replicas).unwrap_or(0);
    if let Some(existing) = &plan.found.existing_new {
        let name = existing.metadata.name.as_deref().unwrap_or_default();
        let _ = writeln!(
            out,
            "Continuing update with existing controller {name} (at {from} replicas)."
        );
    }
    match &plan.found.current {
        Some(c) => {
            let _ = writeln!(
                out,
                "Scaling up {new_name} from {from} to {}, scaling down {} from {} to 0 ({})",
                plan.desired(),
                c.metadata.name.as_deref().unwrap_or_default(),
                replicas(c),
                plan.limits.describe()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Scaling up {new_name} from {from} to {} (no RC to scale down)",
                plan.desired()
            );
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "Warning: {w}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "New ReplicationController:");
    let yaml = crate::yaml::to_string(&plan.new_rc)
        .unwrap_or_else(|e| format!("# failed to render as YAML: {e}\n"));
    let _ = write!(out, "---\n{yaml}");
    out
}
