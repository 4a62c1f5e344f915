//! The Actions runner protocol: step outputs, the job summary, and workflow commands on stdout.
//!
//! The runner reads outputs from the file named by `$GITHUB_OUTPUT`, markdown from `$GITHUB_STEP_SUMMARY`, and
//! commands (`::error::`, `::group::`, `::add-mask::`) from stdout. Each has its own escaping, and getting it
//! wrong lets a value end early or inject another output or command, so the formatting lives here, pure and
//! tested, and the functions that touch the environment are thin. Without those variables (a local run)
//! outputs are printed and the summary is skipped.
//!
//! Text from the cluster (logs, termination and event messages, object names) is printed only through
//! [`print_untrusted`]: the runner would otherwise run a crashing container's `::add-mask::…` or `##[error]…`
//! lines as if the action had written them.

use std::collections::hash_map::RandomState;
use std::fs::OpenOptions;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::Path;

use crate::outcome::Outcome;

/// The runner rejects a step summary over 1 MiB.
pub const SUMMARY_MAX_BYTES: usize = 1024 * 1024;

/// One output of the action, defined once: action.yml's `outputs:` section and the docs are generated from
/// [`OUTPUTS`] (tests/action_metadata.rs), and [`outputs`] writes exactly these names.
pub struct Output {
    pub name: &'static str,
    pub description: &'static str,
    value: fn(&Outcome, Option<&str>) -> String,
}

/// The action's outputs, in the order of action.yml. One entry a line pair, unformatted, to read as a table.
#[rustfmt::skip]
pub const OUTPUTS: [Output; 7] = [
    Output { name: "rc_name", value: |o, _| o.rc_name.clone(),
        description: "The ReplicationController that serves the new version, e.g. `api-rc-1a2b3c4`." },
    Output { name: "previous_rc_name", value: |o, _| o.previous_rc_name.clone().unwrap_or_default(),
        description: "The ReplicationController that was replaced; empty on a first deploy." },
    Output { name: "version", value: |o, _| o.version.clone(),
        description: "The version that was rolled out (the new RC's version label value)." },
    Output { name: "result", value: |o, _| o.result.as_str().to_string(),
        description: "How the run ended: success, no_op, dry_run, failure, error or cancelled." },
    Output { name: "duration_seconds", value: |o, _| o.timeline.duration.as_secs_f64().round().to_string(),
        description: "Wall-clock seconds the rollout took." },
    Output { name: "comment_url", value: |_, url| url.unwrap_or_default().to_string(),
        description: "URL of the sticky pull request comment; empty when no comment was posted." },
    Output { name: "rollouts", value: |o, _| serde_json::to_string(&o.rollouts).unwrap_or_default(),
        description: "A JSON array with one object per RC: `rc`, `rc_name`, `previous_rc_name`, `version`, `result`, `duration_seconds`." },
];

/// Every output's name and value for `outcome`, in the order of [`OUTPUTS`].
pub fn outputs(outcome: &Outcome, comment_url: Option<&str>) -> Vec<(&'static str, String)> {
    OUTPUTS
        .iter()
        .map(|o| (o.name, (o.value)(outcome, comment_url)))
        .collect()
}

/// Writes the outputs to `$GITHUB_OUTPUT`, or prints `name=value` lines when it is not set (a local run).
pub fn write_outputs(outcome: &Outcome, comment_url: Option<&str>) -> io::Result<()> {
    let pairs = outputs(outcome, comment_url);
    match std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        Some(path) => write_outputs_to(Path::new(&path), &pairs),
        None => {
            for (name, value) in &pairs {
                print_untrusted(&format!("{name}={}", value.replace(['\r', '\n'], " ")));
            }
            Ok(())
        }
    }
}

/// Appends the outputs to `path` in the runner's multi-line syntax.
pub fn write_outputs_to(path: &Path, pairs: &[(&str, String)]) -> io::Result<()> {
    let mut text = String::new();
    for (name, value) in pairs {
        text.push_str(&format_output(name, value));
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// `name<<DELIM\nvalue\nDELIM\n` with a random delimiter that does not occur in the value, so a value can
/// hold newlines and cannot end early or smuggle in another output.
pub fn format_output(name: &str, value: &str) -> String {
    let delimiter = loop {
        let candidate = format!("ghadelimiter_{:016x}{:016x}", random_u64(), random_u64());
        if !value.contains(&candidate) && !name.contains(&candidate) {
            break candidate;
        }
    };
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// Randomness without a dependency: std's `RandomState` is seeded from the OS per instance.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish()
}

/// Appends the markdown to `$GITHUB_STEP_SUMMARY`. Returns `false` (and writes nothing) when it is not set.
pub fn append_summary(markdown: &str) -> io::Result<bool> {
    match std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        Some(path) => append_summary_to(Path::new(&path), markdown).map(|()| true),
        None => Ok(false),
    }
}

/// Appends to `path`, keeping the whole file within [`SUMMARY_MAX_BYTES`] (the runner drops a larger summary
/// entirely).
pub fn append_summary_to(path: &Path, markdown: &str) -> io::Result<()> {
    let existing = std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let budget = SUMMARY_MAX_BYTES.saturating_sub(existing);
    let mut text = String::with_capacity(markdown.len() + 1);
    text.push_str(markdown);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if text.len() > budget {
        const NOTE: &str = "\n… truncated: the job summary is limited to 1 MiB\n";
        let mut cut = budget.saturating_sub(NOTE.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        if budget >= NOTE.len() {
            text.push_str(NOTE);
        }
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())
}

/// A workflow command: `::name key=value,...::message`, escaped as the runner unescapes it.
pub fn format_command(name: &str, properties: &[(&str, &str)], message: &str) -> String {
    let mut out = format!("::{name}");
    for (i, (key, value)) in properties.iter().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        out.push_str(key);
        out.push('=');
        out.push_str(&escape_property(value));
    }
    out.push_str("::");
    out.push_str(&escape_data(message));
    out
}

/// Message escaping: `%`, CR and LF.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Property escaping: as data, plus `:` and `,`, which separate properties.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Starts a collapsible group in the log.
pub fn group(title: &str) {
    println!("{}", format_command("group", &[], title));
}

/// Ends the current group.
pub fn end_group() {
    println!("::endgroup::");
}

/// An error annotation.
pub fn error(message: &str) {
    println!("{}", format_command("error", &[], message));
}

/// An error annotation with a title.
pub fn error_titled(title: &str, message: &str) {
    println!("{}", format_command("error", &[("title", title)], message));
}

/// A warning annotation.
pub fn warning(message: &str) {
    println!("{}", format_command("warning", &[], message));
}

/// A notice annotation.
pub fn notice(message: &str) {
    println!("{}", format_command("notice", &[], message));
}

/// The `::add-mask::` lines for a secret: one per line, because the runner masks line by line.
pub fn mask_commands(secret: &str) -> Vec<String> {
    secret
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| format_command("add-mask", &[], line))
        .collect()
}

/// Masks a secret in all later log output.
pub fn add_mask(secret: &str) {
    for line in mask_commands(secret) {
        println!("{line}");
    }
}

/// Whether the runner could read a workflow command somewhere in `text`. The runner trims each line and
/// runs it when it starts with `::`, and reads the legacy `##[name]` form anywhere in a line; the runner splits
/// lines on `\r` too, and trims what .NET calls white space. Rather than mimic all that, any `::` or `##[`
/// anywhere counts: a false alarm only costs a stop-commands region.
pub fn could_hold_commands(text: &str) -> bool {
    text.contains("::") || text.contains("##[")
}

/// A `::stop-commands::` token: 128 bits from the OS-seeded hasher, drawn afresh for every region, never
/// derived from the text it guards, and never one that occurs in it (it would end the region early).
fn stop_token(text: &str) -> String {
    loop {
        let token = format!("{:016x}{:016x}", random_u64(), random_u64());
        if !text.contains(&token) {
            return token;
        }
    }
}

/// Untrusted text (pod logs, termination and event messages, object names) as lines the runner will not run:
/// unchanged when nothing in it could be read as a command, else between `::stop-commands::<token>` and
/// `::<token>::` with a fresh random token. Always ends with a newline.
pub fn inert(text: &str) -> String {
    let mut body = text.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    if !could_hold_commands(text) {
        return body;
    }
    let token = stop_token(text);
    format!("::stop-commands::{token}\n{body}::{token}::\n")
}

/// Prints untrusted text to stdout through [`inert`], in one write so that no other line of ours can land
/// inside the stop-commands region (and be ignored) or between the region's lines.
pub fn print_untrusted(text: &str) {
    print_inert(&inert(text));
}

/// Prints lines already made safe ([`inert`] blocks, [`format_command`] lines) as they are, in one write.
pub fn print_inert(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Like [`print_untrusted`], to stderr: the runner reads commands from both streams.
pub fn eprint_untrusted(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(inert(text).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Replicas, ResultKind};
    use std::time::Duration;

    fn temp_file(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rolling-update-actions-{}-{}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// Parses the runner's output file format, as the runner does.
    fn parse_outputs(text: &str) -> Vec<(String, String)> {
        let mut out = vec![];
        let mut lines = text.split('\n');
        while let Some(line) = lines.next() {
            if line.is_empty() {
                continue;
            }
            let (name, delim) = line.split_once("<<").expect("multi-line syntax");
            let mut value = vec![];
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.push((name.to_string(), value.join("\n")));
        }
        out
    }

    fn outcome() -> Outcome {
        Outcome {
            replicas: Replicas {
                desired: 3,
                ready: 1,
            },
            ..Outcome::bare(
                ResultKind::Failure,
                "prod",
                "api-rc-1a2b3c4",
                "1a2b3c4",
                String::new(),
                Duration::from_millis(40_600),
            )
        }
    }

    #[test]
    fn outputs_round_trip_through_the_runner_syntax() {
        let path = temp_file("output");
        std::fs::write(&path, "earlier=1\n").unwrap();
        let mut pairs = outputs(
            &outcome(),
            Some("https://github.com/acme/api/pull/7#issuecomment-1"),
        );
        pairs.push(("tricky", "line1\nEOF\nfake=injected\nghadelimiter_".into()));
        write_outputs_to(&path, &pairs).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier=1\n"), "appends");
        let parsed = parse_outputs(&text["earlier=1\n".len()..]);
        let get = |n: &str| parsed.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("rc_name"), Some("api-rc-1a2b3c4"));
        assert_eq!(get("previous_rc_name"), Some(""));
        assert_eq!(get("version"), Some("1a2b3c4"));
        assert_eq!(get("result"), Some("failure"));
        assert_eq!(get("duration_seconds"), Some("41"));
        assert_eq!(
            get("comment_url"),
            Some("https://github.com/acme/api/pull/7#issuecomment-1")
        );
        assert_eq!(
            get("tricky"),
            Some("line1\nEOF\nfake=injected\nghadelimiter_")
        );
        assert_eq!(get("fake"), None);
        assert_eq!(parsed.len(), 8);
        assert_eq!(get("rollouts"), Some("[]"));
    }

    #[test]
    fn delimiters_differ_between_calls() {
        let a = format_output("x", "v");
        let b = format_output("x", "v");
        assert_ne!(a, b);
    }

    #[test]
    fn summary_appends_and_stays_under_one_mebibyte() {
        let path = temp_file("summary.md");
        append_summary_to(&path, "# first").unwrap();
        append_summary_to(&path, "second\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# first\nsecond\n");

        let big = "é".repeat(SUMMARY_MAX_BYTES);
        append_summary_to(&path, &big).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() <= SUMMARY_MAX_BYTES, "{}", text.len());
        assert!(text.ends_with("limited to 1 MiB\n"));
        assert!(text.starts_with("# first\nsecond\né"));
    }

    #[test]
    fn command_messages_and_properties_are_escaped() {
        assert_eq!(
            format_command("error", &[], "50% done\r\nnext line"),
            "::error::50%25 done%0D%0Anext line"
        );
        assert_eq!(
            format_command(
                "warning",
                &[("title", "a:b,c"), ("file", "x%.rs")],
                "::add-mask::x"
            ),
            "::warning title=a%3Ab%2Cc,file=x%25.rs::::add-mask::x"
        );
        assert_eq!(format_command("group", &[], "Plan"), "::group::Plan");
    }

    #[test]
    fn multi_line_secrets_are_masked_line_by_line() {
        assert_eq!(
            mask_commands("apiVersion: v1\n  token: abc%\n\n"),
            vec![
                "::add-mask::apiVersion: v1".to_string(),
                "::add-mask::token: abc%25".to_string()
            ]
        );
    }

    #[test]
    fn untrusted_text_is_fenced_by_a_fresh_token_only_when_needed() {
        assert_eq!(inert("Scaling api-rc up to 1"), "Scaling api-rc up to 1\n");
        assert_eq!(inert("two\nlines\n"), "two\nlines\n");
        let text = "Error: boom\n::add-mask::x\n  ##[error]y";
        let a = inert(text);
        let b = inert(text);
        let lines: Vec<&str> = a.lines().collect();
        assert_eq!(lines.len(), 5, "{a}");
        let token = lines[0]
            .strip_prefix("::stop-commands::")
            .expect("a stop line");
        assert_eq!(token.len(), 32);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            &lines[1..4],
            &["Error: boom", "::add-mask::x", "  ##[error]y"]
        );
        assert_eq!(lines[4], format!("::{token}::"));
        assert_ne!(a, b, "a new token for every region");
        for inner in ["a::b", "x ##[warning]y", "::"] {
            assert!(inert(inner).starts_with("::stop-commands::"), "{inner}");
        }
    }

    #[test]
    fn the_token_never_occurs_in_the_text() {
        // The text cannot hold every token, but a text holding a token of ours must not get it again.
        let first = inert("::a");
        let token = first.lines().next().unwrap()["::stop-commands::".len()..].to_string();
        let hostile = format!("::{token}::\n::add-mask::x");
        let second = inert(&hostile);
        assert!(!second.starts_with(&format!("::stop-commands::{token}\n")));
        assert_eq!(stop_token(&hostile).len(), 32);
    }
}
