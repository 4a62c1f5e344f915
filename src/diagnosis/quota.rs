//! Pods the RC cannot even create: a ResourceQuota is full, or admission forbids them.
//!
//! The RC controller records this only as a ReplicaFailure condition and FailedCreate events; no pod ever
//! exists, so pod-based tools see nothing at all. The apiserver's message has the numbers
//! ("requested: requests.cpu=500m, used: requests.cpu=1, limited: requests.cpu=1"); we take them apart, add
//! the quota's status, and say whether rolling without surge would make room (it frees an old pod's usage first).
//!
//! An admission webhook (a policy engine, a mesh injector) refuses in its own words, or cannot be called at all;
//! either way every pod the RC tries is refused the same way, so the finding is fatal and names the webhook, the
//! one party that can say what the policy wants.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodSpec;

use super::events;
use super::quantity::{format, parse_milli};
use super::resources;
use super::{Finding, FindingKind, Snapshot};

/// "exceeded quota: compute, requested: ..., used: ..., limited: ..." taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    pub quota: String,
    /// resource -> (requested, used, limited), as written.
    pub resources: BTreeMap<String, (String, String, String)>,
}

fn pairs(list: &str) -> BTreeMap<String, String> {
    list.split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Parses the apiserver's quota admission message; `None` if the message is about something else.
pub fn parse_exceeded(message: &str) -> Option<QuotaExceeded> {
    let at = message.find("exceeded quota: ")?;
    let rest = &message[at + "exceeded quota: ".len()..];
    let (quota, rest) = rest.split_once(", requested: ")?;
    let (requested, rest) = rest.split_once(", used: ")?;
    let (used, limited) = rest.split_once(", limited: ")?;
    let (requested, used, limited) = (
        pairs(requested),
        pairs(used),
        pairs(limited.trim_end_matches('.')),
    );
    let resources = requested
        .iter()
        .map(|(k, r)| {
            let u = used.get(k).cloned().unwrap_or_default();
            let l = limited.get(k).cloned().unwrap_or_default();
            (k.clone(), (r.clone(), u, l))
        })
        .collect();
    Some(QuotaExceeded {
        quota: quota.trim().to_string(),
        resources,
    })
}

/// An admission webhook's refusal of a pod, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRefusal {
    pub webhook: String,
    /// The webhook's reason, or why it could not be called; empty when it gave none.
    pub reason: String,
    /// True when the apiserver could not call the webhook (and its failurePolicy is Fail).
    pub unreachable: bool,
}

/// Parses the apiserver's webhook messages, as the RC controller records them ("Error creating: %v",
/// pkg/controller/controller_utils.go): `admission webhook "X" denied the request: <reason>` (or `... without
/// explanation`, staging/src/k8s.io/apiserver/pkg/admission/plugin/webhook/errors/statuserror.go) and
/// `Internal error occurred: failed calling webhook "X": <reason>` (staging/src/k8s.io/apiserver/pkg/util/webhook
/// /error.go, wrapped in an internal error by the dispatcher).
pub fn parse_webhook(message: &str) -> Option<WebhookRefusal> {
    for (needle, unreachable) in [
        ("admission webhook \"", false),
        ("failed calling webhook \"", true),
    ] {
        let Some(at) = message.find(needle) else {
            continue;
        };
        let (webhook, rest) = message[at + needle.len()..].split_once('"')?;
        if webhook.trim().is_empty() {
            return None;
        }
        let rest = if unreachable {
            rest
        } else {
            rest.strip_prefix(" denied the request")?
        };
        let reason = match rest.strip_prefix(':') {
            Some(reason) => reason.trim(),
            // "... without explanation", "...; no further details available"
            None => "",
        };
        return Some(WebhookRefusal {
            webhook: webhook.to_string(),
            reason: reason.to_string(),
            unreachable,
        });
    }
    None
}

fn webhook_finding(w: &WebhookRefusal, message: &str) -> Finding {
    let said = match w.reason.lines().next().map(str::trim) {
        Some(line) if !line.is_empty() => format!("\"{line}\""),
        _ => "no reason given".into(),
    };
    let (what, fix) = if w.unreachable {
        (
            "cannot be called",
            format!("ask the owner of webhook {}: the apiserver cannot reach it and its failurePolicy refuses every pod it covers until it answers", w.webhook),
        )
    } else {
        (
            "denied them",
            format!(
                "change the pod template so the policy admits it, or ask the owner of webhook {}",
                w.webhook
            ),
        )
    };
    let mut f = base(
        format!(
            "The new pods cannot be created: admission webhook {} {what}: {said}",
            w.webhook
        ),
        message,
    );
    f.fixes.push(fix);
    f
}

/// The FailedCreate messages for the new RC: its ReplicaFailure condition and its events.
fn failed_create(snapshot: &Snapshot) -> Vec<String> {
    let mut out = vec![];
    if let Some(rc) = &snapshot.new_rc {
        for c in rc
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
        {
            if c.type_ == "ReplicaFailure" && c.status == "True" {
                if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                    out.push(m.to_string());
                }
            }
        }
    }
    let mut evs: Vec<_> = snapshot
        .events
        .iter()
        .filter(|e| events::reason(e) == "FailedCreate" && events::about_new_rc(snapshot, e))
        .collect();
    evs.sort_by_key(|e| events::last_seen(e));
    for e in evs.into_iter().rev() {
        out.push(events::message(e).to_string());
    }
    out
}

/// ResourceQuota status lines: "compute: requests.cpu 1/1, pods 3/10".
fn quota_status(snapshot: &Snapshot, name: &str) -> Option<String> {
    let q = snapshot
        .quotas
        .iter()
        .find(|q| q.metadata.name.as_deref() == Some(name))?;
    let st = q.status.as_ref()?;
    let hard = st.hard.as_ref()?;
    let used = st.used.clone().unwrap_or_default();
    let parts: Vec<String> = hard
        .iter()
        .map(|(k, h)| {
            format!(
                "{k} {}/{}",
                used.get(k).map(|u| u.0.as_str()).unwrap_or("0"),
                h.0
            )
        })
        .collect();
    Some(format!(
        "ResourceQuota {name} (used/hard): {}",
        parts.join(", ")
    ))
}

fn new_pod_spec(snapshot: &Snapshot) -> Option<&PodSpec> {
    snapshot
        .new_rc
        .as_ref()?
        .spec
        .as_ref()?
        .template
        .as_ref()?
        .spec
        .as_ref()
}

/// Quota findings: which quota, which resource, requested/used/limited, and the fixes that would work.
pub fn findings(snapshot: &Snapshot) -> Vec<Finding> {
    let messages = failed_create(snapshot);
    let mut out: Vec<Finding> = vec![];
    let mut webhooks: Vec<String> = vec![];
    for message in &messages {
        if let Some(w) = parse_webhook(message) {
            if !webhooks.contains(&w.webhook) {
                out.push(webhook_finding(&w, message));
                webhooks.push(w.webhook);
            }
        } else if let Some(q) = parse_exceeded(message) {
            if out.iter().any(|f| {
                f.kind == FindingKind::Quota
                    && f.summary.contains(&format!("ResourceQuota {} ", q.quota))
            }) {
                continue;
            }
            out.push(exceeded_finding(snapshot, &q, message));
        } else if message.contains("failed quota:") {
            if out.iter().any(|f| f.evidence.first() == Some(message)) {
                continue;
            }
            let mut f = base(
                format!(
                    "The new pods cannot be created: {}",
                    after_forbidden(message)
                ),
                message,
            );
            f.kind = FindingKind::Quota;
            f.fixes.push("set requests and limits for every resource the quota covers in each container of the pod template".into());
            out.push(f);
        } else if message.contains("forbidden")
            && !out.iter().any(|f| f.evidence.first() == Some(message))
        {
            let f = base(
                format!(
                    "The new pods cannot be created: {}",
                    after_forbidden(message)
                ),
                message,
            );
            out.push(f);
        }
    }
    out
}

fn after_forbidden(message: &str) -> &str {
    message
        .split_once("forbidden: ")
        .map(|(_, r)| r)
        .unwrap_or(message)
}

fn base(summary: String, message: &str) -> Finding {
    Finding {
        kind: FindingKind::Other,
        summary,
        evidence: vec![message.to_string()],
        logs: vec![],
        capacity: vec![],
        fixes: vec![],
        fatal: true,
    }
}

fn exceeded_finding(snapshot: &Snapshot, q: &QuotaExceeded, message: &str) -> Finding {
    let over: Vec<String> = q
        .resources
        .iter()
        .map(|(k, (r, u, l))| format!("{k}: a new pod requests {r}, {u} of {l} is used"))
        .collect();
    let mut f = base(
        format!("ResourceQuota {} is full: {}", q.quota, over.join("; ")),
        message,
    );
    f.kind = FindingKind::Quota;
    if let Some(s) = quota_status(snapshot, &q.quota) {
        f.evidence.push(s);
    }
    for (k, (r, u, _)) in &q.resources {
        if let (Some(r), Some(u)) = (parse_milli(r), parse_milli(u)) {
            let unit = k.rsplit('.').next().unwrap_or(k);
            f.fixes.push(format!(
                "raise {k} in ResourceQuota {} to at least {}",
                q.quota,
                format(unit, r + u)
            ));
        }
    }
    // Rolling without surge deletes an old pod before creating a new one: it works when an old pod's usage
    // covers what a new pod asks for on every exceeded resource.
    if snapshot.max_surge > 0 {
        let spec = new_pod_spec(snapshot);
        let old = snapshot
            .old_pods
            .iter()
            .filter(|p| !resources::is_terminated(p) && !resources::is_terminating(p))
            .find(|p| {
                let Some(old_spec) = p.spec.as_ref() else { return false };
                q.resources.iter().all(|(k, (r, _, _))| {
                    let needed = spec.and_then(|s| resources::quota_usage(s, k)).or_else(|| parse_milli(r));
                    matches!((resources::quota_usage(old_spec, k), needed), (Some(o), Some(n)) if o >= n)
                })
            });
        if let Some(old) = old {
            let desired = snapshot.desired();
            f.fixes.push(format!(
                "roll with max_surge: 0 and max_unavailable: 1: deleting an old pod first (e.g. {}) returns its quota to the new one; the cost is one pod of headroom (at least {} of {desired} pods available during the rollout)",
                resources::name(old),
                (desired - 1).max(0)
            ));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_apiserver_message() {
        let q = parse_exceeded(
            "Error creating: pods \"web-abc\" is forbidden: exceeded quota: compute, requested: requests.cpu=500m,requests.memory=1Gi, used: requests.cpu=1,requests.memory=1Gi, limited: requests.cpu=1,requests.memory=2Gi",
        )
        .unwrap();
        assert_eq!(q.quota, "compute");
        assert_eq!(
            q.resources["requests.cpu"],
            ("500m".into(), "1".into(), "1".into())
        );
        assert_eq!(
            q.resources["requests.memory"],
            ("1Gi".into(), "1Gi".into(), "2Gi".into())
        );
        assert_eq!(
            parse_exceeded("pods \"x\" is forbidden: unable to validate"),
            None
        );
    }

    #[test]
    fn parses_webhook_refusals() {
        assert_eq!(
            parse_webhook(
                "Error creating: admission webhook \"a.example.com\" denied the request: no"
            ),
            Some(WebhookRefusal {
                webhook: "a.example.com".into(),
                reason: "no".into(),
                unreachable: false
            })
        );
        assert_eq!(
            parse_webhook("failed calling webhook \"b.example.com\"; no further details available"),
            Some(WebhookRefusal {
                webhook: "b.example.com".into(),
                reason: String::new(),
                unreachable: true
            })
        );
        assert_eq!(
            parse_webhook("admission webhook \"\" denied the request: no"),
            None
        );
        assert_eq!(parse_webhook("admission webhook \"a\" says hello"), None);
        assert_eq!(
            parse_webhook("pods \"x\" is forbidden: exceeded quota: q"),
            None
        );
    }
}
