//! action.yml is the contract between a user's workflow and the binary: the runner turns every input into
//! `INPUT_<NAME>` and reads the outputs back from `$GITHUB_OUTPUT`. Nothing checks that contract at compile time, so
//! this test does. The inputs are defined once, in src/inputs/defs.rs (name, default, description, parser), and the
//! outputs once, in `OUTPUTS` of src/report/actions.rs; from those this test generates action.yml's `inputs:` and
//! `outputs:` sections and docs/inputs.md (scripts/render-readme.py pastes its tables into the README), and fails
//! when any of them is stale. It also checks that the defaults are values the binary accepts and gives the
//! documented meaning, and that the image is built from what the Docker build context contains.
//!
//! `UPDATE_DOCS=1 cargo test --test action_metadata` regenerates action.yml's inputs and outputs and docs/inputs.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rolling_update_action::inputs::defs::INPUTS;
use rolling_update_action::inputs::{
    CommentMode, IntOrPercent, Mode, OnFailure, RawInputs, Settings,
};
use rolling_update_action::report::actions::OUTPUTS;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path))
        .unwrap_or_else(|e| panic!("failed to read {path}: {e}"))
}

/// One input or output of action.yml, in file order.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    description: String,
    /// `None`: no `default` key at all.
    default: Option<String>,
    required: bool,
}

struct Action {
    doc: Value,
    inputs: Vec<Entry>,
    outputs: Vec<Entry>,
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A YAML mapping in file order (serde_json's map is sorted by key).
struct InOrder(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for InOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = InOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<InOrder, A::Error> {
                let mut entries = vec![];
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(InOrder(entries))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// The sections of action.yml whose order the docs keep.
#[derive(serde::Deserialize)]
struct Sections {
    inputs: InOrder,
    outputs: InOrder,
}

fn entries(section: InOrder) -> Vec<Entry> {
    section
        .0
        .into_iter()
        .map(|(name, body)| {
            let get = |key: &str| body.get(key);
            Entry {
                description: get("description").and_then(scalar).unwrap_or_default(),
                default: get("default").map(|v| scalar(v).unwrap_or_default()),
                required: get("required").and_then(Value::as_bool).unwrap_or(false),
                name,
            }
        })
        .collect()
}

fn action() -> Action {
    let text = read("action.yml");
    let doc: Value = serde_saphyr::from_str(&text).expect("action.yml is valid YAML");
    let sections: Sections =
        serde_saphyr::from_str(&text).expect("action.yml has inputs and outputs");
    Action {
        inputs: entries(sections.inputs),
        outputs: entries(sections.outputs),
        doc,
    }
}

#[test]
fn every_input_has_a_description_and_a_default() {
    let action = action();
    assert!(!action.inputs.is_empty());
    for input in &action.inputs {
        assert!(
            !input.description.trim().is_empty(),
            "input `{}` has no description",
            input.name
        );
        assert!(
            input.default.is_some(),
            "input `{}` has no `default` key (use \"\" for none)",
            input.name
        );
        // The runner names the variable INPUT_<NAME upper-cased>; envy maps it back only for snake_case names.
        assert!(
            input
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase())
                && input
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "input `{}` is not snake_case",
            input.name
        );
    }
    let required: Vec<&str> = action
        .inputs
        .iter()
        .filter(|i| i.required)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(required, ["rc"], "only `rc` is required");
}

#[test]
fn inputs_are_exactly_the_defined_ones() {
    let action = action();
    let declared: Vec<&str> = action.inputs.iter().map(|i| i.name.as_str()).collect();
    let defined: Vec<&str> = INPUTS.iter().map(|d| d.name).collect();
    assert_eq!(
        declared, defined,
        "action.yml's inputs differ from src/inputs/defs.rs; run `UPDATE_DOCS=1 cargo test --test action_metadata`"
    );
}

fn is_secret(name: &str) -> bool {
    INPUTS.iter().any(|d| d.name == name && d.secret)
}

#[test]
fn the_runner_variable_of_every_input_reaches_raw_inputs() {
    let inputs = action().inputs;
    let probe = |name: &str| format!("probe-value-of-{name}");
    let vars = inputs
        .iter()
        .map(|i| (format!("INPUT_{}", i.name.to_uppercase()), probe(&i.name)));
    let raw = RawInputs::from_vars(vars);
    let shown = format!("{raw:?}");
    for input in &inputs {
        if is_secret(&input.name) {
            assert!(
                !shown.contains(&probe(&input.name)),
                "Debug of RawInputs shows the secret input `{}`",
                input.name
            );
        } else {
            assert!(
                shown.contains(&format!("{:?}", probe(&input.name))),
                "INPUT_{} did not reach RawInputs: {shown}",
                input.name.to_uppercase()
            );
        }
    }
    assert_eq!(
        shown.matches("<redacted>").count(),
        INPUTS.iter().filter(|d| d.secret).count(),
        "both secret inputs are read (and redacted): {shown}"
    );
}

/// The environment the runner gives the container when the workflow sets only `rc` and `images`: every other
/// input at its action.yml default, `${{ github.token }}` evaluated to a token.
fn runner_env_with_defaults(event_path: &Path) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = action()
        .inputs
        .iter()
        .map(|i| {
            let value = match i.name.as_str() {
                "rc" => "api-rc".to_string(),
                "images" => "node-api-container=registry.example.com/node-api:2".to_string(),
                "github_token" => {
                    assert_eq!(i.default.as_deref(), Some("${{ github.token }}"));
                    "ghs_test-token".to_string()
                }
                _ => i.default.clone().unwrap_or_default(),
            };
            (format!("INPUT_{}", i.name.to_uppercase()), value)
        })
        .collect();
    for (k, v) in [
        ("GITHUB_SHA", "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REPOSITORY", "owner/app"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_API_URL", "https://api.github.com"),
        ("GITHUB_RUN_ID", "42"),
    ] {
        vars.push((k.to_string(), v.to_string()));
    }
    vars.push((
        "GITHUB_EVENT_PATH".to_string(),
        event_path.display().to_string(),
    ));
    vars
}

#[test]
fn action_yml_defaults_are_valid_and_mean_what_the_docs_say() {
    let event =
        std::env::temp_dir().join(format!("action-metadata-push-{}.json", std::process::id()));
    std::fs::write(
        &event,
        r#"{"ref":"refs/heads/main","after":"1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"}"#,
    )
    .unwrap();
    let result = Settings::from_env_at(runner_env_with_defaults(&event), 1_700_000_000);
    let _ = std::fs::remove_file(&event);
    let settings = result.unwrap_or_else(|e| panic!("action.yml's defaults are refused: {e}"));

    assert_eq!(settings.rc, "api-rc");
    assert_eq!(
        settings.version, "1a2b3c4",
        "version_from: sha gives the short SHA"
    );
    assert_eq!(settings.version_label, "version");
    assert_eq!(settings.pace.max_surge, IntOrPercent::Int(1));
    assert_eq!(settings.pace.max_unavailable, IntOrPercent::Int(0));
    assert_eq!(settings.pace.min_ready_seconds, None);
    assert_eq!(
        settings.deadlines.progress_deadline,
        Duration::from_secs(5 * 60)
    );
    assert_eq!(settings.deadlines.timeout, Duration::from_secs(30 * 60));
    assert_eq!(settings.deadlines.on_failure, OnFailure::Rollback);
    assert!(!settings.dry_run);
    assert_eq!(settings.mode, Mode::Deploy);
    assert_eq!(settings.reporting.comment, CommentMode::Auto);
    // Empty defaults mean "not set".
    assert!(settings.kubeconfig.is_none());
    assert!(settings.context.is_none());
    assert!(settings.namespace.is_none());
    assert!(settings.manifest.is_none());
    assert!(settings.service_manifest.is_none());
    assert!(settings.replicas.is_none());
    assert!(settings.reporting.status_context.is_none());
    assert!(settings.github.token.is_some());
}

#[test]
fn outputs_are_the_seven_the_report_writes() {
    let action = action();
    let names: Vec<&str> = action.outputs.iter().map(|o| o.name.as_str()).collect();
    // `outputs()` in src/report/actions.rs writes exactly the names of `OUTPUTS`, by construction.
    let written: Vec<&str> = OUTPUTS.iter().map(|o| o.name).collect();
    assert_eq!(names, written);
    assert_eq!(names.len(), 7);
    for output in &action.outputs {
        assert!(
            !output.description.trim().is_empty(),
            "output `{}` has no description",
            output.name
        );
    }
}

#[test]
fn runs_as_a_docker_action_built_from_the_dockerfile() {
    let action = action();
    let runs = action.doc.get("runs").expect("action.yml has `runs`");
    assert_eq!(runs.get("using").and_then(Value::as_str), Some("docker"));
    let image = runs
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // The development branch builds the Dockerfile; release commits point at the published image.
    assert!(
        image == "Dockerfile" || image.starts_with("docker://ghcr.io/"),
        "runs.image is {image:?}"
    );
    let branding = action.doc.get("branding").expect("branding");
    assert!(branding.get("icon").and_then(Value::as_str).is_some());
    assert!(branding.get("color").and_then(Value::as_str).is_some());

    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(
        !instructions.iter().any(|l| l.starts_with("USER ")),
        "GitHub requires docker actions to run as the image's default user (root): no USER line"
    );
    // The action alone (`-p`): the workspace's default members include the test bed.
    assert!(dockerfile
        .contains("cargo build --release --locked -p rolling-update-action --bin rolling-update"));
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/rolling-update\"]"));
    assert!(
        instructions
            .iter()
            .filter(|l| l.starts_with("FROM "))
            .count()
            >= 2,
        "multi-stage build"
    );
    let cargo = read("Cargo.toml");
    assert!(
        cargo.contains("name = \"rolling-update\""),
        "Cargo.toml declares the rolling-update binary"
    );
}

#[test]
fn the_docker_build_context_holds_every_file_the_build_reads() {
    // .dockerignore sends only Cargo.toml, Cargo.lock and src/ (the Dockerfile copies nothing else). Every target
    // Cargo.toml declares by path is stubbed for the dependency layer; the binary and the library must then be
    // replaced by real files from src/.
    let ignore = read(".dockerignore");
    for kept in ["!Cargo.toml", "!Cargo.lock", "!src"] {
        assert!(
            ignore.lines().any(|l| l.trim() == kept),
            ".dockerignore lacks {kept}"
        );
    }
    // The other workspace member's manifest (cargo loads the whole workspace), and nothing else of it.
    let dockerfile = read("Dockerfile");
    let member = "crates/fake-kubelet";
    assert!(
        read("Cargo.toml").contains(&format!("\"{member}\"")),
        "{member} is no longer a workspace member: update this test"
    );
    let manifest = format!("{member}/Cargo.toml");
    assert!(
        ignore.lines().any(|l| l.trim() == format!("!{manifest}")),
        ".dockerignore lacks !{manifest}"
    );
    assert!(
        dockerfile.contains(&format!("COPY {manifest} ")),
        "the Dockerfile does not copy {manifest}"
    );
    assert!(
        !ignore.lines().any(|l| l.trim() == format!("!{member}")),
        "{member}'s sources are in the build context"
    );
    // A build script would be outside the context too.
    assert!(
        !root().join("build.rs").exists() || ignore.lines().any(|l| l.trim() == "!build.rs"),
        "build.rs exists: add `!build.rs` to .dockerignore and COPY it in the Dockerfile"
    );
    // Test and bench targets stay stubs in the image, which is fine: only the binary and the library are built.
    let mut table = String::new();
    for line in read("Cargo.toml").lines().map(str::trim) {
        if line.starts_with('[') {
            table = line.to_string();
        } else if let Some(path) = line.strip_prefix("path = \"") {
            let path = path.trim_end_matches('"');
            if table == "[[bin]]" || table == "[lib]" {
                assert!(
                    path.starts_with("src/"),
                    "Cargo.toml {table} path {path} is outside src/, which the Docker build does not copy"
                );
            }
        }
    }
    // A file included at compile time from outside src/ would be missing in the image build.
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for macro_name in ["include_str!(\"", "include_bytes!(\""] {
                for rest in text.split(macro_name).skip(1) {
                    let relative = rest.split('"').next().unwrap();
                    let target = path.parent().unwrap().join(relative);
                    let target = normalize(&target);
                    assert!(
                        target.starts_with(root().join("src")),
                        "{} includes {relative}, outside src/: the Docker build would not find it",
                        path.display()
                    );
                }
            }
        }
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

// ---- the documentation tables ----

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn code(text: &str) -> String {
    if text.is_empty() {
        "`\"\"`".to_string()
    } else {
        format!("`{text}`")
    }
}

/// docs/inputs.md as generated from the definitions.
fn render_docs() -> String {
    let mut md = String::from(
        "<!-- Generated from src/inputs/defs.rs and OUTPUTS in src/report/actions.rs by tests/action_metadata.rs: \
         run `UPDATE_DOCS=1 cargo test --test action_metadata` after changing them. -->\n\
         # Inputs and outputs\n\n\
         The runner passes each input to the action's container as `INPUT_<NAME>` (upper-cased). An empty default \
         means \"not set\".\n\n\
         ## Inputs\n\n\
         | Input | Required | Default | Description |\n\
         | --- | --- | --- | --- |\n",
    );
    for input in INPUTS {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            input.name,
            if input.required { "yes" } else { "no" },
            code(input.default),
            cell(input.description)
        ));
    }
    md.push_str("\n## Outputs\n\n| Output | Description |\n| --- | --- |\n");
    for output in &OUTPUTS {
        md.push_str(&format!(
            "| `{}` | {} |\n",
            output.name,
            cell(output.description)
        ));
    }
    md
}

/// `text` as a folded block scalar (`>-`) under a key at `indent`, wrapped at 118 columns.
fn folded(indent: usize, text: &str) -> String {
    let pad = " ".repeat(indent + 2);
    let mut out = String::from(">-\n");
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && pad.len() + line.len() + 1 + word.len() > 118 {
            out.push_str(&format!("{pad}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&format!("{pad}{line}\n"));
    out
}

/// action.yml's `inputs:` and `outputs:` sections (with the comment above them) as generated from the definitions.
fn render_action_sections() -> String {
    let mut yml = String::from(
        "# Generated from src/inputs/defs.rs and OUTPUTS in src/report/actions.rs by tests/action_metadata.rs: run\n\
         # `UPDATE_DOCS=1 cargo test --test action_metadata` after changing them. Every input reaches the binary as\n\
         # INPUT_<NAME upper-cased> (e.g. INPUT_MAX_SURGE). An empty string means \"not set\".\n\
         inputs:\n",
    );
    for input in INPUTS {
        yml.push_str(&format!(
            "  {}:\n    description: {}    required: {}\n    default: {}\n",
            input.name,
            folded(4, input.description),
            input.required,
            serde_json::to_string(input.default).unwrap()
        ));
    }
    yml.push_str("outputs:\n");
    for output in &OUTPUTS {
        yml.push_str(&format!(
            "  {}:\n    description: {}",
            output.name,
            folded(4, output.description)
        ));
    }
    yml.push('\n');
    yml
}

/// The byte range of action.yml that [`render_action_sections`] owns: from the comment lines right above
/// `inputs:` to `runs:`.
fn generated_span(text: &str) -> std::ops::Range<usize> {
    let inputs = text.find("\ninputs:\n").expect("action.yml has `inputs:`") + 1;
    let mut start = inputs;
    while let Some(prev) = text[..start - 1].rfind('\n') {
        if !text[prev + 1..start].starts_with('#') {
            break;
        }
        start = prev + 1;
    }
    let end = text
        .find("\nruns:\n")
        .expect("action.yml has `runs:` after `outputs:`")
        + 1;
    assert!(
        start < end,
        "action.yml: `runs:` must follow `inputs:` and `outputs:`"
    );
    start..end
}

#[test]
fn action_yml_inputs_and_outputs_are_generated_from_the_definitions() {
    let path = root().join("action.yml");
    let text = read("action.yml");
    let span = generated_span(&text);
    let expected = render_action_sections();
    if std::env::var_os("UPDATE_DOCS").is_some() && text[span.clone()] != expected {
        let mut updated = text.clone();
        updated.replace_range(span.clone(), &expected);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        text[span] == expected,
        "action.yml's inputs or outputs are out of date with src/inputs/defs.rs and OUTPUTS in \
         src/report/actions.rs; run `UPDATE_DOCS=1 cargo test --test action_metadata`"
    );
}

#[test]
fn docs_inputs_md_is_generated_from_the_definitions() {
    let expected = render_docs();
    let path = root().join("docs/inputs.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/inputs.md is out of date with src/inputs/defs.rs; run `UPDATE_DOCS=1 cargo test --test action_metadata`"
    );
    // The generated tables also pass the same check as the README's.
    let tables = markdown_tables(&actual);
    check_tables("docs/inputs.md", &tables, &action()).expect("docs/inputs.md tables");
}

/// Every markdown table in `md`: header cells and rows of cells, cells trimmed.
fn markdown_tables(md: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let split = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        let mut cells = vec![];
        let mut current = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    current.push('|');
                    chars.next();
                }
                '|' => cells.push(std::mem::take(&mut current).trim().to_string()),
                _ => current.push(c),
            }
        }
        cells.push(current.trim().to_string());
        cells
    };
    let lines: Vec<&str> = md.lines().collect();
    let mut tables = vec![];
    let mut i = 0;
    while i + 1 < lines.len() {
        let is_row = |l: &str| l.trim_start().starts_with('|');
        let is_rule = |l: &str| is_row(l) && l.chars().all(|c| "|-: ".contains(c));
        if is_row(lines[i]) && is_rule(lines[i + 1]) {
            let header = split(lines[i]);
            let mut rows = vec![];
            i += 2;
            while i < lines.len() && is_row(lines[i]) {
                rows.push(split(lines[i]));
                i += 1;
            }
            tables.push((header, rows));
        } else {
            i += 1;
        }
    }
    tables
}

/// `` `x` `` -> `x`; `` `""` ``, empty, "none" and dashes mean the empty default.
fn plain(cell: &str) -> String {
    let text = cell.trim().trim_matches('`').trim();
    match text {
        "\"\"" | "" | "-" | "—" | "none" | "(none)" => String::new(),
        _ => text.to_string(),
    }
}

/// The inputs table (first header cell "Input") and outputs table (first header cell "Output"), if present.
#[allow(clippy::type_complexity)]
fn find_tables(
    tables: &[(Vec<String>, Vec<Vec<String>>)],
) -> (
    Option<&(Vec<String>, Vec<Vec<String>>)>,
    Option<&(Vec<String>, Vec<Vec<String>>)>,
) {
    let first_is = |t: &&(Vec<String>, Vec<Vec<String>>), word: &str| {
        t.0.first().is_some_and(|h| h.eq_ignore_ascii_case(word))
    };
    (
        tables.iter().find(|t| first_is(t, "input")),
        tables.iter().find(|t| first_is(t, "output")),
    )
}

/// Checks that `tables` hold an inputs table with the same names and defaults as action.yml and an outputs table
/// with the same names. `Ok(false)` when there is no inputs table at all.
fn check_tables(
    what: &str,
    tables: &[(Vec<String>, Vec<Vec<String>>)],
    action: &Action,
) -> Result<bool, String> {
    let (Some(inputs), outputs) = find_tables(tables) else {
        return Ok(false);
    };
    let default_col = inputs
        .0
        .iter()
        .position(|h| h.eq_ignore_ascii_case("default"))
        .ok_or_else(|| format!("{what}: the inputs table has no Default column"))?;
    let documented: BTreeMap<String, String> = inputs
        .1
        .iter()
        .map(|row| {
            (
                plain(&row[0]),
                row.get(default_col).map(|c| plain(c)).unwrap_or_default(),
            )
        })
        .collect();
    let declared: BTreeMap<String, String> = action
        .inputs
        .iter()
        .map(|i| (i.name.clone(), i.default.clone().unwrap_or_default()))
        .collect();
    if documented != declared {
        let only_docs: Vec<_> = documented
            .iter()
            .filter(|(k, v)| declared.get(*k) != Some(v))
            .collect();
        let only_yml: Vec<_> = declared
            .iter()
            .filter(|(k, v)| documented.get(*k) != Some(v))
            .collect();
        return Err(format!(
            "{what}: inputs table differs from action.yml: documented {only_docs:?}, action.yml {only_yml:?}"
        ));
    }
    let outputs =
        outputs.ok_or_else(|| format!("{what}: no outputs table (first header cell `Output`)"))?;
    let documented: BTreeSet<String> = outputs.1.iter().map(|row| plain(&row[0])).collect();
    let declared: BTreeSet<String> = action.outputs.iter().map(|o| o.name.clone()).collect();
    if documented != declared {
        return Err(format!(
            "{what}: outputs table lists {documented:?}, action.yml declares {declared:?}"
        ));
    }
    Ok(true)
}

#[test]
fn readme_tables_match_action_yml() {
    let Ok(readme) = std::fs::read_to_string(root().join("README.md")) else {
        println!("note: no README.md yet; the tables are checked in docs/inputs.md only");
        return;
    };
    match check_tables("README.md", &markdown_tables(&readme), &action()) {
        Ok(true) => {}
        Ok(false) => println!(
            "note: README.md has no inputs table (first header cell `Input`) yet; \
             checked docs/inputs.md only: paste its tables into the README"
        ),
        Err(problem) => panic!("{problem}"),
    }
}

#[test]
fn readme_rows_are_the_generated_ones() {
    // Names and defaults are checked above; this catches a stale description too, as a test (CI also runs
    // `python3 scripts/render-readme.py --check`).
    let readme = read("README.md");
    let stale: Vec<String> = render_docs()
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter(|row| !readme.lines().any(|l| l == *row))
        .map(str::to_string)
        .collect();
    assert!(
        stale.is_empty(),
        "README.md's tables are stale (run `UPDATE_DOCS=1 cargo test --test action_metadata`, then \
         `python3 scripts/render-readme.py`); missing rows: {stale:#?}"
    );
}

#[test]
fn table_checks_catch_a_wrong_default_and_a_missing_output() {
    // The README check must be able to fail: feed it tables that disagree with action.yml.
    let action = action();
    let good = render_docs();
    assert_eq!(
        check_tables("good", &markdown_tables(&good), &action),
        Ok(true)
    );

    let wrong_default = good.replace("| `max_surge` | no | `1` |", "| `max_surge` | no | `2` |");
    assert_ne!(wrong_default, good, "the fixture edit applied");
    let err = check_tables("wrong", &markdown_tables(&wrong_default), &action).unwrap_err();
    assert!(err.contains("max_surge"), "{err}");

    let missing_output: String = good
        .lines()
        .filter(|l| !l.starts_with("| `comment_url`"))
        .map(|l| format!("{l}\n"))
        .collect();
    let err = check_tables("missing", &markdown_tables(&missing_output), &action).unwrap_err();
    assert!(err.contains("comment_url"), "{err}");

    assert_eq!(
        check_tables("none", &markdown_tables("# no tables\n"), &action),
        Ok(false)
    );
}

#[test]
fn workflows_and_examples_pass_only_declared_inputs_to_the_action() {
    // actionlint checks `with:` against an action's inputs only when it can read the action; it cannot read ours
    // from examples (a remote `owner/rolling-update-action@v1`), so this does it.
    let action = action();
    let declared: BTreeSet<&str> = action.inputs.iter().map(|i| i.name.as_str()).collect();
    let mut files: Vec<PathBuf> = vec![];
    for dir in ["examples", ".github/workflows"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                files.push(path);
            }
        }
    }
    let mut uses_found = 0;
    for path in &files {
        let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let jobs = doc
            .get("jobs")
            .and_then(Value::as_object)
            .into_iter()
            .flatten();
        for (job_id, job) in jobs {
            let steps = job
                .get("steps")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            for step in steps {
                let uses = step.get("uses").and_then(Value::as_str).unwrap_or_default();
                if uses != "./" && !uses.starts_with("owner/rolling-update-action@") {
                    continue;
                }
                uses_found += 1;
                let with = step.get("with").and_then(Value::as_object);
                let keys: BTreeSet<&str> = with
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.as_str())
                    .collect();
                let unknown: Vec<_> = keys.difference(&declared).collect();
                assert!(
                    unknown.is_empty(),
                    "{} job {job_id:?}: unknown inputs {unknown:?}",
                    path.display()
                );
                assert!(
                    keys.contains("rc"),
                    "{} job {job_id:?}: the required input `rc` is missing",
                    path.display()
                );
            }
        }
    }
    // three examples (deploy, preview + cleanup, deploy + rollback) and the e2e workflow's two runs
    assert!(
        uses_found >= 7,
        "found only {uses_found} uses of the action"
    );
}
