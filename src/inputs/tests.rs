//! Settings from whole environments, as the runner sets them.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

const NOW: u64 = 1_717_171_717;
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = vec![
        ("GITHUB_SHA".into(), SHA.into()),
        ("GITHUB_EVENT_NAME".into(), "push".into()),
        ("GITHUB_REF".into(), "refs/heads/main".into()),
        ("INPUT_RC".into(), "api-rc".into()),
        (
            "INPUT_IMAGES".into(),
            "node-api-container=node-api:1.1".into(),
        ),
    ];
    for (k, v) in pairs {
        vars.retain(|(key, _)| key != k);
        vars.push((k.to_string(), v.to_string()));
    }
    vars
}

fn settings(pairs: &[(&str, &str)]) -> Settings {
    Settings::from_env_at(env(pairs), NOW).unwrap_or_else(|e| panic!("{e}"))
}

fn error(pairs: &[(&str, &str)]) -> InputError {
    match Settings::from_env_at(env(pairs), NOW) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e,
    }
}

fn event(name: &str) -> String {
    format!(
        "{}/tests/fixtures/events/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn defaults() {
    let s = settings(&[]);
    assert_eq!(s.rc, "api-rc");
    assert_eq!(s.version, "0123456");
    assert_eq!(s.version_label, "version");
    assert_eq!(s.pace.max_surge, IntOrPercent::Int(1));
    assert_eq!(s.pace.max_unavailable, IntOrPercent::Int(0));
    assert_eq!(
        s.pace.min_ready_seconds, None,
        "unset keeps the RC's own value"
    );
    assert_eq!(s.deadlines.progress_deadline, Duration::from_secs(300));
    assert_eq!(s.deadlines.timeout, Duration::from_secs(1800));
    assert_eq!(s.deadlines.on_failure, OnFailure::Rollback);
    assert!(!s.dry_run);
    assert_eq!(s.mode, Mode::Deploy);
    assert_eq!(s.reporting.comment, CommentMode::Auto);
    assert_eq!(s.replicas, None);
    assert!(
        s.kubeconfig.is_none()
            && s.namespace.is_none()
            && s.context.is_none()
            && s.manifest.is_none()
    );
    assert_eq!(
        s.images,
        vec![ImageOverride {
            rc: None,
            container: Some("node-api-container".into()),
            image: "node-api:1.1".into()
        }]
    );
    assert_eq!(s.github.event.status_sha, SHA);
}

#[test]
fn every_input_set() {
    let kubeconfig = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n";
    let s = settings(&[
        ("INPUT_KUBECONFIG", kubeconfig),
        ("INPUT_CONTEXT", "ci"),
        ("INPUT_NAMESPACE", "shop"),
        ("INPUT_MANIFEST", "k8s/api-rc.yaml"),
        ("INPUT_SERVICE_MANIFEST", "k8s/api-srv.yaml"),
        (
            "INPUT_IMAGES",
            "node-api-container=node-api:1.1\nfluentd=fluent/fluentd:v1.17",
        ),
        ("INPUT_VERSION", "v2.0.0"),
        ("INPUT_VERSION_LABEL", "example.com/release"),
        ("INPUT_REPLICAS", "5"),
        ("INPUT_MAX_SURGE", "25%"),
        ("INPUT_MAX_UNAVAILABLE", "1"),
        ("INPUT_MIN_READY_SECONDS", "10"),
        ("INPUT_PROGRESS_DEADLINE", "90s"),
        ("INPUT_TIMEOUT", "1h30m"),
        ("INPUT_ON_FAILURE", "keep"),
        ("INPUT_DRY_RUN", "true"),
        ("INPUT_MODE", "preview"),
        ("INPUT_GITHUB_TOKEN", "ghs_secret"),
        ("INPUT_STATUS_CONTEXT", "deploy/api"),
        ("INPUT_COMMENT", "always"),
        ("GITHUB_REPOSITORY", "octo/shop"),
        ("GITHUB_RUN_ID", "99"),
    ]);
    assert_eq!(
        s.kubeconfig
            .as_ref()
            .map(|k| k.expose_secret().to_string())
            .as_deref(),
        Some(kubeconfig.trim())
    );
    assert_eq!(s.context.as_deref(), Some("ci"));
    assert_eq!(s.namespace.as_deref(), Some("shop"));
    assert_eq!(s.manifest, Some(PathBuf::from("k8s/api-rc.yaml")));
    assert_eq!(s.service_manifest, Some(PathBuf::from("k8s/api-srv.yaml")));
    assert_eq!(s.images.len(), 2);
    assert_eq!(s.version, "v2.0.0");
    assert_eq!(s.version_label, "example.com/release");
    assert_eq!(s.replicas, Some(5));
    assert_eq!(s.pace.max_surge, IntOrPercent::Percent(25));
    assert_eq!(s.pace.max_unavailable, IntOrPercent::Int(1));
    assert_eq!(s.pace.min_ready_seconds, Some(10));
    assert_eq!(s.deadlines.progress_deadline, Duration::from_secs(90));
    assert_eq!(s.deadlines.timeout, Duration::from_secs(5400));
    assert_eq!(s.deadlines.on_failure, OnFailure::Keep);
    assert!(s.dry_run);
    assert_eq!(s.mode, Mode::Preview);
    assert_eq!(
        s.github
            .token
            .as_ref()
            .map(|t| t.expose_secret().to_string())
            .as_deref(),
        Some("ghs_secret")
    );
    assert_eq!(s.reporting.status_context.as_deref(), Some("deploy/api"));
    assert_eq!(s.reporting.comment, CommentMode::Always);
    assert_eq!(s.github.repository.as_deref(), Some("octo/shop"));
    assert_eq!(s.github.run_id.as_deref(), Some("99"));
    assert!(
        !format!("{s:?}").contains("ghs_secret"),
        "token in Debug output"
    );
}

#[test]
fn empty_strings_are_unset() {
    let s = settings(&[
        ("INPUT_MAX_SURGE", ""),
        ("INPUT_MODE", "  "),
        ("INPUT_KUBECONFIG", ""),
        ("INPUT_REPLICAS", ""),
        ("INPUT_VERSION", ""),
        ("INPUT_VERSION_FROM", ""),
    ]);
    assert_eq!(s.pace.max_surge, IntOrPercent::Int(1));
    assert_eq!(s.mode, Mode::Deploy);
    assert!(s.kubeconfig.is_none());
    assert_eq!(s.replicas, None);
    assert_eq!(s.version, "0123456");
}

#[test]
fn every_bad_input_is_reported_at_once() {
    let e = error(&[
        ("INPUT_MODE", "destroy"),
        ("INPUT_MAX_SURGE", "lots"),
        ("INPUT_TIMEOUT", "soon"),
        ("INPUT_REPLICAS", "-2"),
        ("INPUT_KUBECONFIG", "bm90IGEga3ViZWNvbmZpZw=="),
        ("INPUT_COMMENT", "maybe"),
    ]);
    let names: Vec<&str> = e.problems().iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        [
            "kubeconfig",
            "mode",
            "replicas",
            "max_surge",
            "timeout",
            "comment"
        ]
    );
    let text = e.to_string();
    assert!(text.starts_with("6 inputs are invalid:"), "{text}");
    assert!(
        text.contains("- input `mode`: unknown value `destroy`"),
        "{text}"
    );
    assert!(
        text.contains("- input `replicas`: `-2` is negative"),
        "{text}"
    );
    assert!(
        !text.contains("bm90IGEga3ViZWNvbmZpZw"),
        "kubeconfig echoed: {text}"
    );
}

#[test]
fn rc_is_required_and_must_be_a_name() {
    let e = error(&[("INPUT_RC", "")]);
    assert_eq!(e.problems()[0].name(), "rc");
    assert!(e.to_string().contains("is required"), "{e}");
    let e = error(&[("INPUT_RC", "API_rc")]);
    assert!(
        e.to_string()
            .starts_with("input `rc`: `API_rc` contains `A`"),
        "{e}"
    );
}

#[test]
fn namespace_and_version_label_are_checked() {
    assert!(error(&[("INPUT_NAMESPACE", "My Namespace")]).mentions("namespace"));
    let e = error(&[("INPUT_VERSION_LABEL", "release version")]);
    assert!(
        e.to_string()
            .starts_with("input `version_label`: `release version` is not a valid label key"),
        "{e}"
    );
}

#[test]
fn empty_images_need_a_manifest_or_a_mode_without_new_images() {
    let e = error(&[("INPUT_IMAGES", "")]);
    assert!(
        e.to_string()
            .starts_with("input `images`: is empty and no `manifest` is given"),
        "{e}"
    );
    assert!(error(&[("INPUT_IMAGES", ""), ("INPUT_MODE", "preview")]).mentions("images"));
    assert!(
        settings(&[("INPUT_IMAGES", ""), ("INPUT_MANIFEST", "rc.yaml")])
            .images
            .is_empty()
    );
    assert!(
        settings(&[("INPUT_IMAGES", ""), ("INPUT_MODE", "rollback")])
            .images
            .is_empty()
    );
    assert!(settings(&[("INPUT_IMAGES", ""), ("INPUT_MODE", "cleanup")])
        .images
        .is_empty());
}

#[test]
fn bare_image_form() {
    let s = settings(&[("INPUT_IMAGES", "node-api:1.1")]);
    assert_eq!(
        s.images,
        vec![ImageOverride {
            rc: None,
            container: None,
            image: "node-api:1.1".into()
        }]
    );
}

#[test]
fn surge_and_unavailable_both_zero_is_refused() {
    let e = error(&[("INPUT_MAX_SURGE", "0"), ("INPUT_MAX_UNAVAILABLE", "0%")]);
    assert!(
        e.to_string()
            .starts_with("input `max_surge`: and `max_unavailable` are both 0"),
        "{e}"
    );
    let s = settings(&[("INPUT_MAX_SURGE", "0"), ("INPUT_MAX_UNAVAILABLE", "1")]);
    assert_eq!(
        (s.pace.max_surge, s.pace.max_unavailable),
        (IntOrPercent::Int(0), IntOrPercent::Int(1))
    );
    assert!(error(&[("INPUT_MAX_UNAVAILABLE", "120%")])
        .to_string()
        .contains("more than 100%"));
}

#[test]
fn version_from_timestamp_and_tag() {
    assert_eq!(
        settings(&[("INPUT_VERSION_FROM", "timestamp")]).version,
        NOW.to_string()
    );
    let s = settings(&[
        ("INPUT_VERSION_FROM", "tag"),
        ("GITHUB_REF", "refs/tags/v1.0.1"),
    ]);
    assert_eq!(s.version, "v1.0.1");
    let e = error(&[("INPUT_VERSION_FROM", "tag")]);
    assert!(
        e.to_string().contains("GITHUB_REF is `refs/heads/main`"),
        "{e}"
    );
    assert!(error(&[("INPUT_VERSION_FROM", "branch")]).mentions("version_from"));
    let e = error(&[("INPUT_VERSION", "feature/x")]);
    assert!(
        e.to_string()
            .starts_with("input `version`: `feature/x` contains `/`"),
        "{e}"
    );
}

#[test]
fn pull_request_version_is_the_pushed_commit() {
    let s = settings(&[
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", &event("pull_request.opened.json")),
        ("GITHUB_REF", "refs/pull/2/merge"),
    ]);
    assert_eq!(s.version, "ec26c3e");
    assert_eq!(
        s.github.event.status_sha,
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    );
    assert_eq!(s.github.event.sha, SHA);
    assert_eq!(s.github.event.pull_request.number, Some(2));
}

#[test]
fn pull_request_without_event_file_names_the_variable() {
    let e = error(&[("GITHUB_EVENT_NAME", "pull_request")]);
    assert_eq!(e.problems().len(), 1, "no cascade into `version`: {e}");
    assert!(
        e.to_string()
            .starts_with("environment variable `GITHUB_EVENT_PATH`"),
        "{e}"
    );
}

#[test]
fn tag_push_event_fixture() {
    let s = settings(&[
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_EVENT_PATH", &event("push.tag.json")),
        ("GITHUB_REF", "refs/tags/simple-tag"),
        ("INPUT_VERSION_FROM", "tag"),
    ]);
    assert_eq!(s.version, "simple-tag");
    assert_eq!(s.github.event.pull_request.number, None);
}

#[test]
fn environment_is_one_line_of_at_most_255_characters() {
    assert_eq!(settings(&[]).reporting.environment, None);
    assert_eq!(
        settings(&[("INPUT_ENVIRONMENT", " staging ")])
            .reporting
            .environment
            .as_deref(),
        Some("staging")
    );
    for bad in ["prod\n::add-mask::x".to_string(), "e".repeat(256)] {
        let message = error(&[("INPUT_ENVIRONMENT", bad.as_str())]).to_string();
        assert!(message.contains("environment"), "{message}");
        assert!(message.contains("255 characters"), "{message}");
    }
}
