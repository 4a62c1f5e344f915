//! The plan from the seeds' fixtures: the must-show cases of issue 3.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ReplicationController, Service};

use super::annotations as ann;
use super::*;
use crate::inputs::names::{dns_subdomain_problem, label_value_problem};
use crate::inputs::Settings;
use crate::k8s::annotation;
use crate::k8s::selector_matches;

const SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn rc(path: &str) -> ReplicationController {
    serde_saphyr::from_str(&fixture(&format!("rcs/{path}"))).unwrap()
}

fn service(path: &str) -> Service {
    serde_saphyr::from_str(&fixture(&format!("services/{path}"))).unwrap()
}

/// Settings as the runner would give them: the seeds' RC, a push of commit SHA, plus `inputs`.
fn settings(inputs: &[(&str, &str)]) -> Settings {
    let mut vars: Vec<(String, String)> = vec![
        ("GITHUB_SHA".into(), SHA.into()),
        ("GITHUB_EVENT_NAME".into(), "push".into()),
        ("GITHUB_REPOSITORY".into(), "octo/shop".into()),
        ("GITHUB_RUN_ID".into(), "77".into()),
        ("INPUT_RC".into(), "api-rc".into()),
    ];
    for (k, v) in inputs {
        vars.push((format!("INPUT_{}", k.to_uppercase()), v.to_string()));
    }
    Settings::from_env_at(vars, 0).unwrap_or_else(|e| panic!("{e}"))
}

fn observed(rcs: &[&str], services: &[&str]) -> Observed {
    Observed {
        rcs: rcs.iter().map(|p| rc(p)).collect(),
        services: services.iter().map(|p| service(p)).collect(),
        manifest: None,
        autoscalers: vec![],
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn images(rc: &ReplicationController) -> Vec<(String, String)> {
    spec::template_of(rc)
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn seeds_multi_container_rc_gets_a_versioned_copy_with_the_new_image() {
    let s = settings(&[("images", "node-api-container=node-api:1.1")]);
    let plan = build(
        &s,
        "default",
        &observed(&["api-rc.legacy.yaml"], &["api-srv.yaml"]),
    )
    .unwrap();
    let new = &plan.new_rc;
    assert_eq!(new.metadata.name.as_deref(), Some("api-rc-1a2b3c4"));
    assert_eq!(new.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        images(new),
        [
            ("node-api-container".into(), "node-api:1.1".into()),
            ("fluentd".into(), "fluent/fluentd:v1.16".into())
        ]
    );
    let version = labels(&[("name", "api-pods"), ("version", "1a2b3c4")]);
    assert_eq!(selectors::selector(new), version);
    assert_eq!(selectors::template_labels(new), version);
    // Everything else of the pod is copied as it was (ports, policies).
    let node = &spec::template_of(new)
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    assert_eq!(node.ports.as_ref().unwrap()[0].container_port, 3000);
    assert_eq!(node.image_pull_policy.as_deref(), Some("IfNotPresent"));

    let spec = new.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(0), "the engine scales it up");
    assert_eq!(plan.desired(), 3);
    assert_eq!(
        plan.limits.describe(),
        "keep 3 pods available, don't exceed 4 pods"
    );
    assert_eq!(
        plan.found
            .current
            .as_ref()
            .and_then(|c| c.metadata.name.as_deref()),
        Some("api-rc")
    );
    assert!(plan.found.existing_new.is_none());
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);

    assert_eq!(annotation(new, ann::BASE), Some("api-rc"));
    assert_eq!(annotation(new, ann::VERSION), Some("1a2b3c4"));
    assert_eq!(annotation(new, ann::COMMIT), Some(SHA));
    assert_eq!(
        annotation(new, ann::RUN),
        Some("https://github.com/octo/shop/actions/runs/77")
    );
    assert_eq!(annotation(new, ann::DESIRED_REPLICAS), Some("3"));
    assert_eq!(
        annotation(new, ann::SOURCE),
        Some("api-rc:5f1c2a7e-3b0d-4c61-9a55-0d6f3c2b9e11")
    );

    // What the server owns is not copied.
    let m = &new.metadata;
    assert!(m.uid.is_none() && m.resource_version.is_none() && m.creation_timestamp.is_none());
    assert!(m.managed_fields.is_none() && m.generation.is_none() && new.status.is_none());

    let changes: Vec<(&str, Option<&str>, &str)> = plan
        .images
        .iter()
        .map(|i| (i.container.as_str(), i.old.as_deref(), i.new.as_str()))
        .collect();
    assert_eq!(
        changes,
        [
            ("node-api-container", Some("node-api:1.0"), "node-api:1.1"),
            (
                "fluentd",
                Some("fluent/fluentd:v1.16"),
                "fluent/fluentd:v1.16"
            )
        ]
    );
}

#[test]
fn legacy_rc_is_migrated_not_refused_and_the_service_keeps_both() {
    let s = settings(&[("images", "node-api-container=node-api:1.1")]);
    let plan = build(
        &s,
        "default",
        &observed(&["api-rc.legacy.yaml"], &["api-srv.yaml"]),
    )
    .unwrap();
    let m = plan
        .migration
        .clone()
        .expect("legacy selector name=api-pods needs the version key");
    assert_eq!(m.key, "version");
    assert!(m.value.ends_with("-orig"), "{}", m.value);
    assert_eq!(label_value_problem(&m.value), None);
    // After the migration the old selector and the new one differ by `version` and never select the same pod,
    // while the Service still selects the old pods (relabelled) and the new ones.
    let old = plan.found.current.as_ref().unwrap();
    let old_selector = selectors::selector_after(old, Some(&m));
    assert_eq!(
        old_selector,
        labels(&[("name", "api-pods"), ("version", &m.value)])
    );
    let mut old_pod = selectors::template_labels(old);
    old_pod.insert(m.key.clone(), m.value.clone());
    let new_pod = selectors::template_labels(&plan.new_rc);
    assert!(
        !selector_matches(&old_selector, &new_pod)
            && !selector_matches(&selectors::selector(&plan.new_rc), &old_pod)
    );
    let srv = service("api-srv.yaml").spec.unwrap().selector.unwrap();
    assert!(selector_matches(&srv, &old_pod) && selector_matches(&srv, &new_pod));
    // Planning twice gives the same value (a re-run after a crash labels pods the same way).
    assert_eq!(
        build(
            &s,
            "default",
            &observed(&["api-rc.legacy.yaml"], &["api-srv.yaml"])
        )
        .unwrap()
        .migration,
        Some(m)
    );
}

#[test]
fn a_half_migrated_rc_reuses_its_template_value() {
    let mut legacy = rc("api-rc.legacy.yaml");
    let template = legacy.spec.as_mut().unwrap().template.as_mut().unwrap();
    template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert("version".into(), "0ld-orig".into());
    let m = selectors::migration(&legacy, "version", "1a2b3c4").unwrap();
    assert_eq!(m.value, "0ld-orig");
}

#[test]
fn single_container_bare_image() {
    let mut s = settings(&[("images", "nginx:1.27")]);
    s.rc = "web".into();
    let plan = build(&s, "default", &observed(&["web-single.yaml"], &[])).unwrap();
    assert_eq!(plan.new_rc.metadata.name.as_deref(), Some("web-1a2b3c4"));
    assert_eq!(
        images(&plan.new_rc),
        [("nginx".into(), "nginx:1.27".into())]
    );
    assert_eq!(
        selectors::selector(&plan.new_rc),
        labels(&[("app", "web"), ("version", "1a2b3c4")])
    );
    assert!(plan.migration.is_none(), "already versioned");
    assert_eq!(plan.desired(), 2);
    assert!(plan.found.reason.unwrap().contains("made by this action"));
    // Our annotations of the old RC are not carried over as if they described the new one.
    assert_eq!(annotation(&plan.new_rc, ann::VERSION), Some("1a2b3c4"));
    assert_eq!(plan.warnings.len(), 1);
    assert!(
        plan.warnings[0].starts_with("no Service in namespace `default` selects the new pods"),
        "{:?}",
        plan.warnings
    );
}

#[test]
fn bare_image_on_a_multi_container_pod_lists_the_containers() {
    let s = settings(&[("images", "node-api:1.1")]);
    let e = build(
        &s,
        "default",
        &observed(&["api-rc.legacy.yaml"], &["api-srv.yaml"]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "input `images`: the bare image `node-api:1.1` needs a pod with one container, but the pod of `api-rc` has 2: `node-api-container`, `fluentd`. Name the container: `node-api-container=node-api:1.1`"
    );
}

#[test]
fn unknown_container_lists_the_pods_containers() {
    let s = settings(&[("images", "node-api=node-api:1.1")]);
    let e = build(
        &s,
        "default",
        &observed(&["api-rc.legacy.yaml"], &["api-srv.yaml"]),
    )
    .unwrap_err();
    assert!(matches!(&e, PlanError::UnknownContainer { container, .. } if container == "node-api"));
    let text = e.to_string();
    assert!(text.starts_with("input `images`: the pod of `api-rc` has no container `node-api`; its containers are `node-api-container`, `fluentd`"), "{text}");
}

#[test]
fn manifest_in_yaml_and_json_give_the_same_plan() {
    let s = settings(&[("manifest", "api-rc.yaml")]);
    let plan_of = |file: &str| {
        let mut o = observed(&[], &["api-srv.yaml"]);
        o.manifest = Some(parse_manifest(&fixture(&format!("manifests/{file}"))).unwrap());
        build(&s, "default", &o).unwrap()
    };
    let yaml = plan_of("api-rc.yaml");
    let json = plan_of("api-rc.json");
    assert_eq!(yaml.new_rc, json.new_rc);
    assert_eq!(yaml.new_rc.metadata.name.as_deref(), Some("api-rc-1a2b3c4"));
    assert_eq!(
        images(&yaml.new_rc)[0],
        ("node-api-container".into(), "node-api:2.0".into())
    );
    assert_eq!(yaml.desired(), 4, "first deploy: the manifest's count");
    assert!(yaml.found.current.is_none() && yaml.migration.is_none());
    assert_eq!(annotation(&yaml.new_rc, ann::SOURCE), None);
    assert_eq!(yaml.images[0].old, None);
}

#[test]
fn manifest_over_a_running_rc_keeps_its_replica_count() {
    let s = settings(&[("manifest", "api-rc.yaml")]);
    let mut o = observed(&["api-rc.legacy.yaml"], &["api-srv.yaml"]);
    o.manifest = Some(parse_manifest(&fixture("manifests/api-rc.yaml")).unwrap());
    let plan = build(&s, "default", &o).unwrap();
    assert_eq!(plan.desired(), 3);
    assert_eq!(plan.images[0].old.as_deref(), Some("node-api:1.0"));
    assert_eq!(plan.images[0].new, "node-api:2.0");
    assert!(plan.migration.is_some());
    let s = settings(&[("manifest", "api-rc.yaml"), ("replicas", "5")]);
    assert_eq!(build(&s, "default", &o).unwrap().desired(), 5);
}

#[test]
fn manifest_for_another_namespace_is_refused() {
    let s = settings(&[("manifest", "api-rc.yaml")]);
    let mut o = observed(&[], &[]);
    let mut m = parse_manifest(&fixture("manifests/api-rc.yaml")).unwrap();
    m.metadata.namespace = Some("prod".into());
    o.manifest = Some(m);
    let e = build(&s, "staging", &o).unwrap_err();
    assert!(
        e.to_string()
            .contains("`metadata.namespace` is `prod` but this run deploys to namespace `staging`"),
        "{e}"
    );
}

#[test]
fn seeds_error_same_name_becomes_an_explanation() {
    // `api-rc-abc1234` runs node-api:1.1; this run reuses version abc1234 for another image.
    let s = settings(&[
        ("images", "node-api-container=node-api:1.2"),
        ("version", "abc1234"),
    ]);
    let e = build(
        &s,
        "default",
        &observed(&["api-rc-abc1234.yaml"], &["api-srv.yaml"]),
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(
            "cannot have the same name as the existing ReplicationController `api-rc-abc1234`"
        ),
        "{text}"
    );
    assert!(
        text.contains("node-api-container=node-api:1.1")
            && text.contains("node-api-container=node-api:1.2"),
        "{text}"
    );
    assert!(text.contains("give this build a new `version`"), "{text}");
    assert_eq!(e.input(), Some("version"));
}

#[test]
fn the_same_version_again_is_a_resume_not_an_error() {
    let s = settings(&[
        ("images", "node-api-container=node-api:1.1"),
        ("version", "abc1234"),
    ]);
    let plan = build(
        &s,
        "default",
        &observed(&["api-rc-abc1234.yaml"], &["api-srv.yaml"]),
    )
    .unwrap();
    assert!(plan.found.current.is_none());
    assert_eq!(
        plan.found
            .existing_new
            .as_ref()
            .and_then(|r| r.metadata.name.as_deref()),
        Some("api-rc-abc1234")
    );
    assert_eq!(plan.desired(), 3);
}

#[test]
fn seeds_error_no_differing_key_becomes_an_explanation() {
    // A hand-made `api-rc` already selecting version=abc1234, and a run deploying abc1234 again under a new name.
    let mut old = rc("api-rc.legacy.yaml");
    let spec = old.spec.as_mut().unwrap();
    spec.selector
        .as_mut()
        .unwrap()
        .insert("version".into(), "abc1234".into());
    let template_labels = spec
        .template
        .as_mut()
        .unwrap()
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap();
    template_labels.insert("version".into(), "abc1234".into());
    let s = settings(&[
        ("images", "node-api-container=node-api:1.1"),
        ("version", "abc1234"),
    ]);
    let o = Observed {
        rcs: vec![old],
        services: vec![service("api-srv.yaml")],
        manifest: None,
        autoscalers: vec![],
    };
    let e = build(&s, "default", &o).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("`api-rc-abc1234` must specify a matching key with non-equal value in Selector for `api-rc`"), "{text}");
    assert!(
        text.contains("both select `name=api-pods,version=abc1234`"),
        "{text}"
    );
    assert!(text.contains("Deploy a version that differs from the running one (`api-rc` already runs `version=abc1234`)"), "{text}");
}

#[test]
fn a_service_selecting_version_is_refused_naming_it() {
    let s = settings(&[("images", "node-api-container=node-api:1.2")]);
    let o = observed(
        &["api-rc-abc1234.yaml"],
        &["api-srv.yaml", "api-srv-pinned.yaml", "other.yaml"],
    );
    let e = build(&s, "default", &o).unwrap_err();
    assert!(
        matches!(&e, PlanError::ServiceBreaks { service, keys, .. } if service == "api-srv-pinned" && keys == "`version`"),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.starts_with("Service `api-srv-pinned` selects the current pods but would not select the new ones: it selects `version=abc1234` but the new pods have `version=1a2b3c4`"), "{text}");
    assert!(
        text.contains("remove `version` from the selector of `api-srv-pinned`"),
        "{text}"
    );
}

#[test]
fn an_unrelated_service_is_not_a_match() {
    let s = settings(&[("images", "node-api-container=node-api:1.2")]);
    let plan = build(
        &s,
        "default",
        &observed(&["api-rc-abc1234.yaml"], &["other.yaml"]),
    )
    .unwrap();
    assert_eq!(
        plan.warnings.len(),
        1,
        "billing does not select our pods: {:?}",
        plan.warnings
    );
    assert!(plan.migration.is_none());
    assert_eq!(
        plan.found
            .reason
            .as_deref()
            .map(|r| r.contains("annotation rolling-update.github.io/base")),
        Some(true)
    );
}

#[test]
fn another_rc_selecting_the_new_pods_is_refused() {
    let mut other = rc("api-rc.legacy.yaml");
    other.metadata.name = Some("stray-rc".into());
    other.metadata.uid = Some("u2".into());
    let s = settings(&[("images", "node-api-container=node-api:1.2")]);
    let o = Observed {
        rcs: vec![rc("api-rc-abc1234.yaml"), other],
        services: vec![service("api-srv.yaml")],
        manifest: None,
        autoscalers: vec![],
    };
    let e = build(&s, "default", &o).unwrap_err();
    assert!(
        matches!(&e, PlanError::SelectorOverlap { other, .. } if other == "stray-rc"),
        "{e}"
    );
}

#[test]
fn long_versions_are_shortened_validly() {
    let long = format!("2024.06.01-build-{}", "7".repeat(40));
    assert!(long.len() <= 63);
    let s = settings(&[
        ("images", "node-api-container=node-api:1.1"),
        ("version", &long),
    ]);
    let plan = build(
        &s,
        "default",
        &observed(&["api-rc.legacy.yaml"], &["api-srv.yaml"]),
    )
    .unwrap();
    let name = plan.new_rc.metadata.name.clone().unwrap();
    assert!(name.len() <= 63, "{name}");
    assert_eq!(dns_subdomain_problem(&name, 63), None, "{name}");
    assert!(
        name.starts_with("api-rc-2024.06.01-build-"),
        "the base is kept whole: {name}"
    );
    // The label keeps the full version; only the name is shortened.
    assert_eq!(
        selectors::selector(&plan.new_rc).get("version"),
        Some(&long)
    );
    assert_eq!(annotation(&plan.new_rc, ann::VERSION), Some(long.as_str()));
}

#[test]
fn nothing_to_build_from() {
    let s = settings(&[("images", "node-api-container=node-api:1.1")]);
    let e = build(&s, "shop", &observed(&[], &[])).unwrap_err();
    assert!(
        e.to_string()
            .contains("namespace `shop` has no ReplicationController `api-rc`"),
        "{e}"
    );
}

#[test]
fn interrupted_update_plans_from_the_source() {
    let mut old = rc("api-rc.legacy.yaml");
    old.metadata.annotations = Some(labels(&[
        (ann::NEXT, "api-rc-0000000"),
        (ann::ORIGINAL_REPLICAS, "3"),
    ]));
    old.spec.as_mut().unwrap().replicas = Some(2);
    let mut half = rc("api-rc-abc1234.yaml");
    half.metadata.name = Some("api-rc-0000000".into());
    half.metadata.annotations = Some(labels(&[(ann::BASE, "api-rc")]));
    let selector = half.spec.as_mut().unwrap().selector.as_mut().unwrap();
    selector.insert("version".into(), "0000000".into());
    let t = half.spec.as_mut().unwrap().template.as_mut().unwrap();
    t.metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert("version".into(), "0000000".into());
    let s = settings(&[("images", "node-api-container=node-api:1.3")]);
    let o = Observed {
        rcs: vec![half, old],
        services: vec![service("api-srv.yaml")],
        manifest: None,
        autoscalers: vec![],
    };
    let plan = build(&s, "default", &o).unwrap();
    assert_eq!(
        plan.found
            .current
            .as_ref()
            .and_then(|c| c.metadata.name.as_deref()),
        Some("api-rc")
    );
    assert!(plan
        .found
        .reason
        .as_deref()
        .unwrap()
        .contains("interrupted update to `api-rc-0000000`"));
    assert_eq!(
        plan.desired(),
        3,
        "the count before the interrupted update, not the 2 it was left at"
    );
    // Our in-progress marks on the old RC are not copied to the new one.
    assert_eq!(annotation(&plan.new_rc, ann::NEXT), None);
    assert_eq!(annotation(&plan.new_rc, ann::ORIGINAL_REPLICAS), None);
}

#[test]
fn dry_run_shows_the_rc_and_the_scaling_plan() {
    let s = settings(&[("images", "node-api-container=node-api:1.1")]);
    let plan = build(
        &s,
        "default",
        &observed(&["api-rc.legacy.yaml"], &["api-srv.yaml"]),
    )
    .unwrap();
    let text = render_dry_run(&plan);
    assert!(text.contains(
        "Scaling up api-rc-1a2b3c4 from 0 to 3, scaling down api-rc from 3 to 0 (keep 3 pods available, don't exceed 4 pods)"
    ), "{text}");
    assert!(
        text.contains("node-api-container: node-api:1.0 -> node-api:1.1"),
        "{text}"
    );
    assert!(
        text.contains("fluentd: fluent/fluentd:v1.16 (unchanged)"),
        "{text}"
    );
    assert!(
        text.contains("Migration: api-rc's selector has no `version` key"),
        "{text}"
    );
    // The YAML part is the new RC exactly.
    let yaml = text.split("\n---\n").nth(1).unwrap();
    let back: ReplicationController = serde_saphyr::from_str(yaml).unwrap();
    assert_eq!(back, plan.new_rc);
    assert!(yaml.contains("kind: ReplicationController"), "{yaml}");
}

#[test]
fn dry_run_of_a_first_deploy() {
    let s = settings(&[("manifest", "api-rc.yaml")]);
    let mut o = observed(&[], &[]);
    o.manifest = Some(parse_manifest(&fixture("manifests/api-rc.yaml")).unwrap());
    let text = render_dry_run(&build(&s, "default", &o).unwrap());
    assert!(text.contains("Current RC: none (first deploy)"), "{text}");
    assert!(
        text.contains("Scaling up api-rc-1a2b3c4 from 0 to 4 (no RC to scale down)"),
        "{text}"
    );
    assert!(
        text.contains("Warning: no Service in namespace `default` selects the new pods"),
        "{text}"
    );
}

/// Issue 12, item 7: `mode: rollback` on an update in progress. When the update is itself a rollback (heading to
/// the version its source recorded as previous), the next `mode: rollback` finishes it; any other update in
/// progress (a kept or interrupted deploy) is rolled back.
#[test]
fn mode_rollback_finishes_an_interrupted_rollback_and_aborts_an_interrupted_deploy() {
    let mut current = rc("api-rc-abc1234.yaml");
    let marks = current
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    marks.insert(ann::PREVIOUS_NAME.into(), "api-rc".into());
    marks.insert(
        ann::PREVIOUS_TEMPLATE.into(),
        serde_json::to_string(&current.spec.as_ref().unwrap().template).unwrap(),
    );
    let s = settings(&[("mode", "rollback")]);

    // A killed `mode: rollback`: the current RC heads to its recorded previous version.
    let mut killed = current.clone();
    let m = killed.metadata.annotations.as_mut().unwrap();
    m.insert(ann::NEXT.into(), "api-rc".into());
    m.insert(ann::ORIGINAL_REPLICAS.into(), "3".into());
    let o = Observed {
        rcs: vec![killed],
        ..Observed::default()
    };
    let plan = rollback::build(&s, "default", &o).unwrap();
    assert!(
        !plan.abort_interrupted,
        "the interrupted rollback is finished"
    );
    assert_eq!(plan.new_rc.metadata.name.as_deref(), Some("api-rc"));

    // A kept deploy: the current RC heads to a new version; `mode: rollback` rolls that back.
    let mut kept = current.clone();
    let m = kept.metadata.annotations.as_mut().unwrap();
    m.insert(ann::NEXT.into(), "api-rc-def5678".into());
    m.insert(ann::ORIGINAL_REPLICAS.into(), "3".into());
    let o = Observed {
        rcs: vec![kept],
        ..Observed::default()
    };
    let plan = rollback::build(&s, "default", &o).unwrap();
    assert!(plan.abort_interrupted, "the kept deploy is rolled back");
    assert_eq!(plan.desired(), 3, "back to the count it had");
    assert!(plan
        .found
        .reason
        .unwrap()
        .contains("api-rc-def5678 removed"));
}
