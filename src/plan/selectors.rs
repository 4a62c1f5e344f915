//! Selector rules, checked before anything changes.
//!
//! An RC owns the pods its selector matches. If two RCs' selectors can match the same pod, each deletes the
//! pods it thinks are extra and the rollout fights itself; kubectl's rule against that was "some selector key
//! exists in both with non-equal values". The version label is that key. A legacy RC without it (the seeds'
//! `name=api-pods`) is migrated as kubectl did: its template, pods and selector get `<key>=<hash>-orig` first.

use k8s_openapi::api::core::v1::ReplicationController;

use super::error::{PlanError, Result};
use super::spec::template_of;
use crate::k8s::{label_selector as show, selector_matches, Labels};
pub use crate::k8s::{rc_selector as selector, template_labels};

/// A legacy RC whose selector lacks the version key: label its pods and selector first (as kubectl did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The label added to the old RC's selector, template and pods: `<version_label>=<value>`.
    pub key: String,
    pub value: String,
}

/// The migration a legacy current RC needs: its selector lacks `version_label`. A value its template already
/// carries is reused (a migration interrupted after the template patch); otherwise `<hash>-orig`, kubectl's form.
pub fn migration(
    current: &ReplicationController,
    version_label: &str,
    new_version: &str,
) -> Option<Migration> {
    if selector(current).contains_key(version_label) {
        return None;
    }
    let value = match template_labels(current).get(version_label) {
        Some(v) if v != new_version => v.clone(),
        _ => {
            let template = serde_json::to_string(&template_of(current)).unwrap_or_default();
            let hash = format!("{:x}", md5::compute(template.as_bytes()));
            format!("{}-orig", &hash[..10])
        }
    };
    Some(Migration {
        key: version_label.to_string(),
        value,
    })
}

/// The current RC's selector once the migration (if any) is applied.
pub fn selector_after(current: &ReplicationController, migration: Option<&Migration>) -> Labels {
    let mut s = selector(current);
    if let Some(m) = migration {
        s.insert(m.key.clone(), m.value.clone());
    }
    s
}

/// The new RC's template labels contain its selector (else the API refuses it, or it never sees its pods).
pub fn check_template(new: &ReplicationController) -> Result<()> {
    let selector = selector(new);
    let labels = template_labels(new);
    let missing: Vec<String> = selector
        .iter()
        .filter(|(k, v)| labels.get(*k) != Some(*v))
        .map(|(k, v)| match labels.get(k) {
            Some(other) => format!("the selector has `{k}={v}` but the template has `{k}={other}`"),
            None => format!("the selector has `{k}={v}` but the template has no `{k}` label"),
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(PlanError::TemplateMismatch {
        rc: new.metadata.name.clone().unwrap_or_default(),
        detail: missing.join("; "),
    })
}

/// kubectl's rule: some key is in both selectors with different values, so no pod matches both.
pub fn check_differ(
    old_name: &str,
    old_selector: &Labels,
    new: &ReplicationController,
    version_label: &str,
) -> Result<()> {
    let new_selector = selector(new);
    let differs = new_selector
        .iter()
        .any(|(k, v)| old_selector.get(k).is_some_and(|o| o != v));
    if differs {
        return Ok(());
    }
    let shared: Labels = new_selector
        .iter()
        .filter(|(k, _)| old_selector.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let detail = if shared.is_empty() {
        format!(
            "the selectors `{}` and `{}` share no key",
            show(old_selector),
            show(&new_selector)
        )
    } else {
        format!("both select `{}`", show(&shared))
    };
    let label = format!(
        "{version_label}={}",
        old_selector
            .get(version_label)
            .map(String::as_str)
            .unwrap_or("?")
    );
    Err(PlanError::NoDifferingKey {
        old: old_name.to_string(),
        new: new.metadata.name.clone().unwrap_or_default(),
        label,
        detail,
    })
}

/// No other RC of the namespace may select the new pods, and the new RC may not select another RC's pods.
pub fn check_others(
    rcs: &[ReplicationController],
    skip: &[&str],
    old: Option<&ReplicationController>,
    new: &ReplicationController,
) -> Result<()> {
    let new_name = new.metadata.name.clone().unwrap_or_default();
    let new_selector = selector(new);
    let new_labels = template_labels(new);
    let old_labels = old.map(template_labels);
    for other in rcs {
        let other_name = other.metadata.name.as_deref().unwrap_or_default();
        if skip.contains(&other_name) || other_name == new_name {
            continue;
        }
        let other_selector = selector(other);
        let detail = if selector_matches(&other_selector, &new_labels) {
            format!("it matches the new pods' labels `{}`", show(&new_labels))
        } else if selector_matches(&new_selector, &template_labels(other)) {
            format!(
                "the new selector `{}` matches its pods",
                show(&new_selector)
            )
        } else if let Some(old_labels) = old_labels
            .as_ref()
            .filter(|l| selector_matches(&other_selector, *l))
        {
            // Another controller that selects the pods this run scales down would fight over them.
            format!(
                "it matches the labels of the pods this run replaces `{}`",
                show(old_labels)
            )
        } else {
            continue;
        };
        return Err(PlanError::SelectorOverlap {
            other: other_name.to_string(),
            new: new_name,
            selector: show(&other_selector),
            detail,
        });
    }
    Ok(())
}
