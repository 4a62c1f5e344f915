//! The Service check: whatever routes traffic to the old pods must route it to the new ones.
//!
//! A Service that selects `version` (or any label the update changes) would lose every endpoint as the old
//! pods go: a zero-downtime rollout with downtime. That is refused before anything changes, naming the
//! Service and the label. No Service at all is allowed (a worker RC), but said, since it is often a typo.

use k8s_openapi::api::core::v1::Service;

use super::error::{PlanError, Result};
use crate::k8s::{label_selector, name, selector_matches, service_selector as selector, Labels};

/// Checks every Service against the old pods' labels (`None` on a first deploy) and the new pods' labels.
/// Returns warnings; a Service that would stop matching is an error.
pub fn check(
    services: &[Service],
    namespace: &str,
    old_labels: Option<&Labels>,
    new_labels: &Labels,
) -> Result<Vec<String>> {
    for service in services {
        let sel = selector(service);
        let serves_old = old_labels.is_some_and(|old| selector_matches(&sel, old));
        if !serves_old || selector_matches(&sel, new_labels) {
            continue;
        }
        let broken: Vec<(&String, &String)> = sel
            .iter()
            .filter(|(k, v)| new_labels.get(*k) != Some(*v))
            .collect();
        let keys = crate::text::quoted(broken.iter().map(|(k, _)| k));
        let detail = broken
            .iter()
            .map(|(k, v)| match new_labels.get(*k) {
                Some(new) => format!("it selects `{k}={v}` but the new pods have `{k}={new}`"),
                None => format!("it selects `{k}={v}` but the new pods have no `{k}` label"),
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(PlanError::ServiceBreaks {
            service: name(service).to_string(),
            keys,
            detail,
        });
    }
    let serving: Vec<&str> = services
        .iter()
        .filter(|s| selector_matches(&selector(s), new_labels))
        .map(name)
        .collect();
    if serving.is_empty() {
        let labels = label_selector(new_labels);
        return Ok(vec![format!(
            "no Service in namespace `{namespace}` selects the new pods (labels `{labels}`): nothing will route traffic to them; if they should serve, check the Service's selector"
        )]);
    }
    Ok(vec![])
}
