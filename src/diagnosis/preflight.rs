//! Warnings before any change: will the surge pods fit, does the quota have room for them?
//!
//! A rollout that cannot place its first surge pod is doomed before it starts; saying so before touching the
//! cluster costs one list call and saves the user a failed deploy and a rollback. These are warnings, not
//! errors: the cluster may change (an autoscaler, other deploys finishing) before the pods are created.

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::capacity::Capacity;
use super::quantity::{format, parse_milli};
use super::resources;
use super::Snapshot;

fn pods(n: i32) -> String {
    if n == 1 {
        "the 1 surge pod".into()
    } else {
        format!("the {n} surge pods")
    }
}

/// Warnings about the surge pods of a rollout to `template`, computed from the snapshot before any change.
pub fn preflight(snapshot: &Snapshot, template: &PodTemplateSpec) -> Vec<String> {
    let Some(spec) = template.spec.as_ref() else {
        return vec![];
    };
    let surge = snapshot.max_surge;
    let mut warnings = vec![];
    if surge <= 0 {
        return warnings;
    }
    let cap = Capacity::build(snapshot, spec);
    let needs: Vec<String> = cap
        .resources()
        .iter()
        .filter(|r| cap.need(r) > 0 && r.as_str() != "pods")
        .map(|r| format!("{} {r}", format(r, cap.need(r))))
        .collect();
    let each = if needs.is_empty() {
        String::new()
    } else {
        format!(" ({} each)", needs.join(", "))
    };
    if snapshot.nodes.is_empty() {
        if let Some(why) = snapshot.unreadable.iter().find(|u| u.starts_with("nodes")) {
            warnings.push(format!(
                "could not check the capacity for {}: {why}",
                pods(surge)
            ));
        }
    } else {
        let fit: i128 = cap
            .candidates()
            .map(|n| super::capacity::NodeFit::how_many(&cap.need, |r| n.free(r)))
            .sum();
        if cap.candidates().next().is_none() {
            warnings.push(format!(
                "{}{each} cannot be placed: no node accepts them (cordoned, nodeSelector or untolerated taints)",
                pods(surge)
            ));
        } else if fit == 0 {
            let short = cap.short_everywhere();
            let detail: Vec<String> = short
                .iter()
                .filter_map(|r| {
                    let n = cap.most_free(r)?;
                    Some(format!(
                        "the most free {r} on any node is {} ({}: {} of {} requested)",
                        format(r, n.free(r).max(0)),
                        n.name,
                        format(r, n.requested(r)),
                        format(r, n.allocatable(r))
                    ))
                })
                .collect();
            let detail = if detail.is_empty() {
                "no node has all of it free at once".to_string()
            } else {
                detail.join("; ")
            };
            warnings.push(format!(
                "{}{each} cannot fit on any node: {detail}; consider max_surge: 0 and max_unavailable: 1, or add capacity",
                pods(surge)
            ));
        } else if fit < i128::from(surge) {
            warnings.push(format!(
                "only {fit} of {}{each} fit on the nodes now; the rest wait until old pods are removed",
                pods(surge).trim_start_matches("the ")
            ));
        }
    }
    for q in &snapshot.quotas {
        let Some(status) = q.status.as_ref() else {
            continue;
        };
        let used = resources::parse_map(status.used.as_ref());
        let name = q.metadata.name.as_deref().unwrap_or("");
        let mut full = vec![];
        for (key, hard) in status.hard.iter().flatten() {
            let (Some(per_pod), Some(hard)) =
                (resources::quota_usage(spec, key), parse_milli(&hard.0))
            else {
                continue;
            };
            let used = used.get(key).copied().unwrap_or(0);
            if per_pod > 0 && used + per_pod * i128::from(surge) > hard {
                let unit = key.rsplit('.').next().unwrap_or(key);
                full.push(format!(
                    "{key} used {} of {}, each new pod needs {}",
                    format(unit, used),
                    format(unit, hard),
                    format(unit, per_pod)
                ));
            }
        }
        if !full.is_empty() {
            warnings.push(format!(
                "ResourceQuota {name} has no room for {}: {}",
                pods(surge),
                full.join("; ")
            ));
        }
    }
    warnings
}
