//! `build`: settings + what the cluster holds -> the plan, or the reason it would break something.
//! The order is the order of the questions: which RC serves, what replaces it, and is that safe.

use super::autoscalers;
use super::current;
use super::error::{PlanError, Result};
use super::naming::versioned_name;
use super::selectors::{self, template_labels};
use super::services;
use super::spec::{self, Source, Target};
use super::{Limits, Observed, Plan};
use crate::inputs::Settings;

/// Plans the update of `settings.rc` in `namespace`. Pure: `observed` holds everything read from the cluster.
pub fn build(settings: &Settings, namespace: &str, observed: &Observed) -> Result<Plan> {
    let new_name = versioned_name(&settings.rc, &settings.version)?;
    let found = current::find(&settings.rc, &new_name, &observed.rcs)?;
    let current = found.current.as_ref();
    let existing_new = found.existing_new.as_ref();
    let manifest = observed.manifest.as_ref();
    let mut warnings = vec![];

    if let Some(m) = manifest {
        if let Some(ns) = m
            .metadata
            .namespace
            .as_deref()
            .filter(|ns| *ns != namespace)
        {
            return Err(PlanError::ManifestNamespace {
                manifest: ns.to_string(),
                namespace: namespace.to_string(),
            });
        }
        if let Some(n) = m
            .metadata
            .name
            .as_deref()
            .filter(|n| *n != settings.rc && *n != new_name)
        {
            warnings.push(format!(
                "the manifest names the RC `{n}`, but this action names it `{new_name}` (input `rc` `{}` plus the version)",
                settings.rc
            ));
        }
    }
    let source = match (manifest, current.or(existing_new)) {
        (Some(m), _) => Source::Manifest(m),
        (None, Some(c)) => Source::Current(c),
        (None, None) => {
            return Err(PlanError::NoSource {
                rc: settings.rc.clone(),
                namespace: namespace.to_string(),
            });
        }
    };

    let desired = spec::desired_replicas(settings, current, existing_new, manifest);
    let target = Target {
        name: &new_name,
        namespace,
        desired,
        current,
    };
    let (new_rc, images) = spec::new_rc(settings, source, &target)?;
    if let Some(existing) = existing_new {
        spec::check_same_images(existing, &new_rc, &settings.version)?;
    }

    selectors::check_template(&new_rc)?;
    let migration =
        current.and_then(|c| selectors::migration(c, &settings.version_label, &settings.version));
    let mut skip: Vec<&str> = vec![];
    if let Some(c) = current {
        let old_name = c.metadata.name.as_deref().unwrap_or_default();
        let old_selector = selectors::selector_after(c, migration.as_ref());
        selectors::check_differ(old_name, &old_selector, &new_rc, &settings.version_label)?;
        skip.push(old_name);
        // The target of an interrupted update is rolled back and deleted before this update starts.
        if let Some(next) = c
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(super::annotations::NEXT))
        {
            skip.push(next);
        }
    }
    selectors::check_others(&observed.rcs, &skip, current, &new_rc)?;
    if let Some(c) = current {
        autoscalers::check(&observed.autoscalers, c)?;
    }

    let old_labels = current.map(template_labels);
    warnings.extend(services::check(
        &observed.services,
        namespace,
        old_labels.as_ref(),
        &template_labels(&new_rc),
    )?);

    Ok(Plan {
        namespace: namespace.to_string(),
        found,
        new_rc,
        limits: Limits::resolve(
            desired,
            settings.pace.max_surge,
            settings.pace.max_unavailable,
        ),
        migration,
        images,
        warnings,
        abort_interrupted: false,
        mode: settings.mode,
    })
}
