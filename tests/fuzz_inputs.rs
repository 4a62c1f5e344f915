//! Fuzzing the parsers the user's text goes through (issue 9): `Settings::from_env` (every INPUT_* and GITHUB_*
//! value, the event file) and `plan::parse_manifest` (then `plan::build` on whatever parses). Whatever a workflow
//! author types must end in a message, never a panic, and a secret must never be echoed back in an error.
//!
//! proptest with a bounded number of cases (PROPTEST_CASES overrides), so this runs in CI in a few seconds.

use proptest::prelude::*;
use rolling_update_action::inputs::Settings;
use rolling_update_action::plan::{self, Observed};

const INPUTS: &[&str] = &[
    "KUBECONFIG",
    "CONTEXT",
    "NAMESPACE",
    "RC",
    "MANIFEST",
    "SERVICE_MANIFEST",
    "IMAGES",
    "VERSION",
    "VERSION_FROM",
    "VERSION_LABEL",
    "REPLICAS",
    "MAX_SURGE",
    "MAX_UNAVAILABLE",
    "MIN_READY_SECONDS",
    "PROGRESS_DEADLINE",
    "TIMEOUT",
    "ON_FAILURE",
    "DRY_RUN",
    "MODE",
    "GITHUB_TOKEN",
    "STATUS_CONTEXT",
    "COMMENT",
];

const GITHUB: &[&str] = &[
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_EVENT_NAME",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_API_URL",
    "GITHUB_SERVER_URL",
];

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Values that look like what people type: numbers, percentages, durations, booleans, images, names, and noise.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "-?[0-9]{1,12}%?",
        "[0-9]{0,6}(ms|s|m|h|d|)",
        "(true|false|yes|no|TRUE|1|0|)",
        "(deploy|preview|cleanup|rollback|Deploy|)",
        "([a-z-]{1,10}=)?[a-z.]{1,12}(/[a-z]{1,8}){0,2}(:[ -~]{0,12})?(\n[a-z]{1,5}=[a-z:.0-9]{1,10}){0,3}",
        "[a-z0-9.-]{0,300}",
        "(sha|timestamp|tag|)",
    ]
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("push".to_string()),
        Just("pull_request".to_string()),
        Just("pull_request_target".to_string()),
        Just("workflow_dispatch".to_string()),
        "[a-z_]{0,20}",
    ]
}

/// Event payloads: garbage, JSON of the wrong shape, and almost-right pull_request payloads.
fn event_file() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        any::<String>().prop_map(Some),
        "\\{\"pull_request\": \\{\"number\": -?[0-9]{1,20}, \"head\": \\{\"sha\": \"[0-9a-f]{0,40}\"\\}\\}\\}".prop_map(Some),
        "\\{\"pull_request\": (null|1|\"x\"|\\[\\]|\\{\\})\\}".prop_map(Some),
        Just(Some("[]".to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn settings_from_env_never_panics_and_never_echoes_a_secret(
        inputs in proptest::collection::vec((proptest::sample::select(INPUTS), value()), 0..12),
        github in proptest::collection::vec((proptest::sample::select(GITHUB), value()), 0..6),
        event in event_name(),
        payload in event_file(),
        secret in "[A-Za-z0-9]{24}",
        kubeconfig_form in 0u8..4,
        noise in "[ -~]{0,10}",
    ) {
        let mut vars: Vec<(String, String)> = inputs
            .into_iter()
            .filter(|(k, _)| !matches!(*k, "KUBECONFIG" | "GITHUB_TOKEN"))
            .map(|(k, v)| (format!("INPUT_{k}"), v))
            .collect();
        vars.extend(github.into_iter().map(|(k, v)| (k.to_string(), v)));
        vars.push(("GITHUB_EVENT_NAME".into(), event));
        let dir = std::env::temp_dir().join(format!("fuzz-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(payload) = payload {
            let path = dir.join("event.json");
            std::fs::write(&path, payload).unwrap();
            vars.push(("GITHUB_EVENT_PATH".into(), path.display().to_string()));
        }
        // The secrets: a kubeconfig whose token is `secret`, garbled or not, and a GitHub token.
        use base64::Engine as _;
        let garbled = format!("users:\n- name: x\n  user:\n    token: KUBE{secret}\n  {secret}: [");
        let kubeconfig = match kubeconfig_form {
            0 => garbled,
            1 => base64::engine::general_purpose::STANDARD.encode(garbled),
            2 => format!("{secret}{noise}"),
            _ => format!("apiVersion: v1\nclusters: {secret}\n"),
        };
        vars.push(("INPUT_KUBECONFIG".into(), kubeconfig));
        vars.push(("INPUT_GITHUB_TOKEN".into(), format!("ghs_{secret}")));
        match Settings::from_env(vars) {
            Ok(_) => {}
            Err(e) => {
                let text = format!("{e} {e:?}");
                prop_assert!(!text.contains(&secret), "an input error echoed a secret: {text}");
                prop_assert!(text.contains("input `") || text.contains("environment variable `"), "names the input: {text}");
            }
        }
    }

    #[test]
    fn parse_manifest_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = plan::parse_manifest(&text);
    }
}

/// YAML-ish manifests: mostly-valid RCs with one thing wrong, assembled from fragments.
fn manifest() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        Just("ReplicationController"),
        Just("Deployment"),
        Just("Pod"),
        Just(""),
        Just("[]")
    ];
    let api = prop_oneof![Just("v1"), Just("apps/v1"), Just("\"\""), Just("7")];
    let replicas = prop_oneof![
        Just("3".to_string()),
        Just("-1".to_string()),
        Just("x".to_string()),
        (-5i64..100000).prop_map(|n| n.to_string()),
        Just("null".to_string())
    ];
    let name = "[a-zA-Z0-9._-]{0,70}";
    let label = "[a-zA-Z0-9._/-]{0,70}";
    let container = (
        "[a-z0-9-]{0,10}",
        "[a-z0-9./:@-]{0,30}",
        prop_oneof![
            Just(""),
            Just("\n        ports:\n        - containerPort: 80"),
            Just("\n        resources: {requests: {cpu: lots}}")
        ],
    );
    let containers = proptest::collection::vec(container, 0..4);
    let noise = prop_oneof![
        Just(String::new()),
        Just("\n  extra: [".to_string()),
        Just("\n\t- bad".to_string()),
        Just("\n---\nkind: Service".to_string()),
        "[ -~\n]{0,20}",
    ];
    (kind, api, replicas, name, label, containers, noise).prop_map(|(kind, api, replicas, name, label, containers, noise)| {
        let containers: String = containers
            .into_iter()
            .map(|(n, i, extra)| format!("\n      - name: {n}\n        image: {i}{extra}"))
            .collect();
        let containers = if containers.is_empty() { " []".to_string() } else { containers };
        format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    app: {label}\n  template:\n    metadata:\n      labels:\n        app: {label}\n    spec:\n      containers:{containers}{noise}\n"
        )
    })
}

fn base_settings() -> Settings {
    let vars = [
        ("INPUT_RC", "api-rc"),
        ("INPUT_MANIFEST", "rc.yaml"),
        ("INPUT_VERSION", "v2"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_EVENT_NAME", "push"),
    ];
    Settings::from_env(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .expect("valid base settings")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn yamlish_manifests_parse_or_explain_and_plan_without_panic(text in manifest()) {
        match plan::parse_manifest(&text) {
            Ok(rc) => {
                let observed = Observed { rcs: vec![], services: vec![], manifest: Some(rc), autoscalers: vec![] };
                if let Err(e) = plan::build(&base_settings(), "default", &observed) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty(), "an empty error for {text:?}"),
        }
    }
}
