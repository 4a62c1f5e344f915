//! Which RC serves now. After a successful update there is one: `rc` itself (never updated by us yet) or
//! `<rc>-<version>` made by this action (annotation BASE). An RC is never taken as ours by its name or selector
//! alone: a hand-made `api-rc-canary` selecting `version=canary` looks like a version of `api-rc`, and taking it
//! meant scaling it to 0 and deleting it (issue 12, case 2). The action touches only what it made or what the
//! user named exactly. After an interrupted update there are two, and the old one carries NEXT pointing at the
//! other: that one is the source, because its pods are the ones known to work.

use k8s_openapi::api::core::v1::ReplicationController;

use super::annotations as ann;
use super::error::{PlanError, Result};
use crate::k8s::{annotation, name};
use crate::text::quoted;

/// The RCs that matter for this run.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The RC serving now; `None` on a first deploy.
    pub current: Option<ReplicationController>,
    /// Why that RC was picked (several candidates after an interrupted update).
    pub reason: Option<String>,
    /// The RC already named like the new one.
    pub existing_new: Option<ReplicationController>,
}

/// Why `rc` belongs to `base`, if it does: it is named exactly `base`, or this action made it for `base`.
fn belongs(rc: &ReplicationController, base: &str) -> Option<String> {
    let n = name(rc);
    if n == base {
        return Some(format!("`{n}` is the RC named by input `rc`"));
    }
    (annotation(rc, ann::BASE) == Some(base)).then(|| {
        format!(
            "`{n}` was made by this action for `{base}`, or handed over to it (annotation {}={base})",
            ann::BASE
        )
    })
}

/// Sorts the namespace's RCs into current and existing-new for base name `base` and new name `new_name`.
pub fn find(base: &str, new_name: &str, rcs: &[ReplicationController]) -> Result<Found> {
    let existing_new = rcs.iter().find(|rc| name(rc) == new_name).cloned();
    let candidates: Vec<(&ReplicationController, String)> = rcs
        .iter()
        .filter(|rc| name(rc) != new_name)
        .filter_map(|rc| belongs(rc, base).map(|why| (rc, why)))
        .collect();
    let (current, reason) = match candidates.as_slice() {
        [] => (None, None),
        [(rc, why)] => {
            let why = match annotation(rc, ann::NEXT) {
                Some(next) => format!("{why}; an update from it to `{next}` was interrupted"),
                None => why.clone(),
            };
            (Some((*rc).clone()), Some(why))
        }
        several => {
            let targets: Vec<&str> = several
                .iter()
                .map(|(rc, _)| name(rc))
                .chain([new_name])
                .collect();
            let sources: Vec<&(&ReplicationController, String)> = several
                .iter()
                .filter(|(rc, _)| {
                    annotation(rc, ann::NEXT).is_some_and(|next| targets.contains(&next))
                })
                .collect();
            match sources.as_slice() {
                [(rc, why)] => {
                    let next = annotation(rc, ann::NEXT).unwrap_or_default();
                    let others = quoted(
                        several
                            .iter()
                            .map(|(r, _)| name(r))
                            .filter(|n| *n != name(rc)),
                    );
                    let reason = format!(
                        "{why}; it is the source of an interrupted update to `{next}` (annotation {}), so it is current and {others} {} the unfinished side",
                        ann::NEXT,
                        if several.len() > 2 { "are on" } else { "is" }
                    );
                    (Some((*rc).clone()), Some(reason))
                }
                _ => {
                    let names = quoted(several.iter().map(|(rc, _)| name(rc)));
                    return Err(PlanError::AmbiguousCurrent {
                        rc: base.to_string(),
                        names,
                    });
                }
            }
        }
    };
    Ok(Found {
        current,
        reason,
        existing_new,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ReplicationControllerSpec;
    use kube::api::ObjectMeta;

    use super::*;

    /// `<base>-<version>` as this action makes it: annotation BASE, selector `version=<version>`.
    fn made_for(base: &str, version: &str) -> ReplicationController {
        let name = format!("{base}-{version}");
        rc(&name, &[(ann::BASE, base)], &[("version", version)])
    }

    fn rc(
        name: &str,
        annotations: &[(&str, &str)],
        selector: &[(&str, &str)],
    ) -> ReplicationController {
        let map = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        ReplicationController {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: (!annotations.is_empty()).then(|| map(annotations)),
                ..Default::default()
            },
            spec: Some(ReplicationControllerSpec {
                selector: Some(map(selector)),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn first_deploy_has_no_current() {
        let f = find("api-rc", "api-rc-abc1234", &[rc("billing", &[], &[])]).unwrap();
        assert!(f.current.is_none() && f.existing_new.is_none() && f.reason.is_none());
    }

    #[test]
    fn the_rc_named_rc_is_current() {
        let f = find(
            "api-rc",
            "api-rc-abc1234",
            &[rc("api-rc", &[], &[("name", "api-pods")])],
        )
        .unwrap();
        assert_eq!(f.current.as_ref().map(name), Some("api-rc"));
        assert!(f.reason.unwrap().contains("named by input `rc`"));
    }

    #[test]
    fn our_versioned_rc_is_current_and_another_base_is_not() {
        let ours = made_for("api-rc", "1111111");
        let canary = rc(
            "api-rc-canary",
            &[(ann::BASE, "api-rc-canary")],
            &[("version", "canary")],
        );
        let f = find("api-rc", "api-rc-2222222", &[canary, ours]).unwrap();
        assert_eq!(f.current.as_ref().map(name), Some("api-rc-1111111"));
        assert!(f.reason.unwrap().contains("made by this action"));
        assert!(
            find(
                "api-rc",
                "api-rc-2222222",
                &[rc("api-rc-9", &[], &[("version", "9")])]
            )
            .unwrap()
            .current
            .is_none(),
            "no annotation, not ours"
        );
    }

    /// Issue 12, case 2: a hand-made `api-rc-canary` selecting `version=canary` is not ours, however much its
    /// name and selector look like a version of `api-rc`.
    #[test]
    fn a_hand_made_rc_that_looks_versioned_is_not_ours() {
        let canary = rc(
            "api-rc-canary",
            &[],
            &[("app", "api"), ("version", "canary")],
        );
        let hand = rc(
            "api-rc-abc1234",
            &[],
            &[("name", "api-pods"), ("version", "abc1234")],
        );
        let f = find("api-rc", "api-rc-def5678", &[canary, hand]).unwrap();
        assert!(f.current.is_none(), "{:?}", f.reason);
    }

    #[test]
    fn an_rc_with_the_new_name_is_existing_new() {
        let same = made_for("api-rc", "abc1234");
        let f = find("api-rc", "api-rc-abc1234", &[same]).unwrap();
        assert!(f.current.is_none());
        assert_eq!(f.existing_new.as_ref().map(name), Some("api-rc-abc1234"));
    }

    #[test]
    fn interrupted_update_picks_the_source_and_says_why() {
        let old = rc(
            "api-rc",
            &[(ann::NEXT, "api-rc-1111111"), (ann::ORIGINAL_REPLICAS, "3")],
            &[("name", "api-pods")],
        );
        let half = rc(
            "api-rc-1111111",
            &[(ann::BASE, "api-rc"), (ann::SOURCE, "api-rc:uid")],
            &[("version", "1111111")],
        );
        let f = find("api-rc", "api-rc-2222222", &[half, old]).unwrap();
        assert_eq!(f.current.as_ref().map(name), Some("api-rc"));
        let reason = f.reason.unwrap();
        for says in [
            "interrupted update to `api-rc-1111111`",
            "`api-rc-1111111` is the unfinished side",
        ] {
            assert!(reason.contains(says), "{reason}");
        }
    }

    #[test]
    fn resuming_the_same_update_gives_current_and_existing_new() {
        let old = rc(
            "api-rc",
            &[(ann::NEXT, "api-rc-1111111")],
            &[("name", "api-pods")],
        );
        let half = made_for("api-rc", "1111111");
        let f = find("api-rc", "api-rc-1111111", &[half, old]).unwrap();
        assert_eq!(f.current.as_ref().map(name), Some("api-rc"));
        assert_eq!(f.existing_new.as_ref().map(name), Some("api-rc-1111111"));
        assert!(f.reason.unwrap().contains("was interrupted"));
    }

    #[test]
    fn two_candidates_without_a_mark_are_ambiguous() {
        let a = rc("api-rc", &[], &[("name", "api-pods")]);
        let b = made_for("api-rc", "1111111");
        let e = find("api-rc", "api-rc-2222222", &[a, b]).unwrap_err();
        assert!(
            matches!(&e, PlanError::AmbiguousCurrent { names, .. } if names == "`api-rc`, `api-rc-1111111`"),
            "{e}"
        );
    }
}
