//! Every input of the action, defined once: its name, action.yml default, whether it is required or secret, the
//! description users read, and the parser that turns its string into a typed value (with the validation that
//! needs no other input).
//!
//! Why one list: an input used to be spelled in five places (action.yml, `RawInputs`, the validation, the docs
//! table, the README) that only a test parsing Rust source kept in step. Like ripgrep's `flags/defs.rs`, the
//! definition is now the source: `RawInputs` reads the names listed in [`INPUTS`], validation calls each
//! definition's parser and falls back to its default, and tests/action_metadata.rs generates action.yml's
//! `inputs:` section, docs/inputs.md and (through scripts/render-readme.py) the README's table from it.
//!
//! What stays in `Settings::from_env` is only what spans inputs (`max_surge` with `max_unavailable`, `images`
//! with `manifest` and `mode`, `version` with the GitHub context), in the order problems are reported.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::error::Problem;
use super::{
    names, values, CommentMode, ImageOverride, IntOrPercent, Mode, OnFailure, Order, VersionFrom,
};

/// What action.yml and the docs say about one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doc {
    /// snake_case: the runner passes it as `INPUT_<NAME upper-cased>`, which envy maps back.
    pub name: &'static str,
    /// action.yml's `default`; `""` means unset. An expression (`${{ ... }}`) is evaluated by the runner, so
    /// the binary never uses it as a value.
    pub default: &'static str,
    pub required: bool,
    /// Never shown by `Debug` nor quoted in a message.
    pub secret: bool,
    /// The doc comment of the input's definition, its lines joined.
    pub description: &'static str,
}

impl Doc {
    /// The default the binary falls back to when the workflow leaves the input empty (`None`: unset).
    pub fn fallback(&self) -> Option<&'static str> {
        Some(self.default).filter(|d| !d.is_empty() && !d.starts_with("${{"))
    }
}

/// One input: its [`Doc`] and the parser of its trimmed, non-empty value.
pub struct Input<T: 'static> {
    pub doc: Doc,
    parser: fn(&'static str, &str) -> Result<T, Problem>,
}

impl<T> Input<T> {
    /// Parses `value` as this input (the error names the input).
    pub fn parse(&self, value: &str) -> Result<T, Problem> {
        (self.parser)(self.doc.name, value)
    }
}

const fn optional(name: &'static str, default: &'static str) -> Doc {
    Doc {
        name,
        default,
        required: false,
        secret: false,
        description: "",
    }
}

const fn required(name: &'static str, default: &'static str) -> Doc {
    Doc {
        required: true,
        ..optional(name, default)
    }
}

const fn secret(name: &'static str, default: &'static str) -> Doc {
    Doc {
        secret: true,
        ..optional(name, default)
    }
}

/// `CONST: Type = kind(name, default), parser;` under its doc comment, which is the input's description (each
/// `///` line starts with a space, so the lines concatenate into one text).
macro_rules! inputs {
    ($($(#[doc = $doc:literal])+ $input:ident: $ty:ty = $kind:ident($name:literal, $default:literal), $parser:expr;)+) => {
        $(
            $(#[doc = $doc])+
            pub const $input: Input<$ty> = Input {
                doc: Doc { description: concat!($($doc),+).trim_ascii(), ..$kind($name, $default) },
                parser: $parser,
            };
        )+

        /// Every input, in the order action.yml and the docs list them.
        pub const INPUTS: &[Doc] = &[$($input.doc),+];

        /// Every input's default through the input's own parser (an unset or runner-evaluated one passes).
        #[cfg(test)]
        fn defaults_parsed() -> Vec<(&'static str, Result<(), Problem>)> {
            vec![$(($name, $input.doc.fallback().map_or(Ok(()), |d| $input.parse(d).map(drop)))),+]
        }
    };
}

inputs! {
    /// Kubeconfig content, raw YAML or base64 (pass it from a secret). Empty: KUBECONFIG, then ~/.kube/config, then
    /// the in-cluster service account.
    KUBECONFIG: SecretString = secret("kubeconfig", ""), |_, s| values::kubeconfig(s).map(SecretString::from);
    /// Kubeconfig context to use. Empty: the kubeconfig's current context.
    CONTEXT: String = optional("context", ""), text;
    /// Namespace of the ReplicationController. Empty: the context's namespace, else `default`.
    NAMESPACE: String = optional("namespace", ""), dns_label;
    /// Base name of the ReplicationController, e.g. `api-rc`. The new RC is named `<rc>-<version>`. Several RCs
    /// (one per line or comma-separated) roll in one step, all or nothing, with one report.
    RC: Vec<String> = required("rc", ""), |_, s| values::rc_names(s);
    /// Path to a ReplicationController manifest (YAML or JSON, one or many containers) to roll to. Empty: the current
    /// RC with the `images` overrides. With several RCs, one path per line, each file naming its RC in
    /// `metadata.name`.
    MANIFEST: Vec<PathBuf> = optional("manifest", ""), |_, s| Ok(values::lines(s).into_iter().map(PathBuf::from).collect());
    /// Path to a Service manifest for `mode: preview`. Empty: derived from the production Service.
    SERVICE_MANIFEST: PathBuf = optional("service_manifest", ""), |_, s| Ok(PathBuf::from(s));
    /// New images, one `container=image` per line or separated by commas; a bare `image` when the pod has one
    /// container. With several RCs, `container=image` applies to every RC with that container and
    /// `<rc>:<container>=<image>` to one RC.
    IMAGES: Vec<ImageOverride> = optional("images", ""), |_, s| values::images(s);
    /// Explicit version for the new RC's name and version label. Empty: computed from `version_from`.
    VERSION: String = optional("version", ""), text;
    /// Where the version comes from when `version` is empty: `sha` (short commit SHA), `timestamp` (unix seconds) or
    /// `tag` (the pushed tag, e.g. `v1.0.1` gives `api-rc-v1.0.1`).
    VERSION_FROM: VersionFrom = optional("version_from", "sha"), |n, s| values::one_of(n, s, VERSION_SOURCES);
    /// Label key added to the new RC's selector and pod template with the version as its value.
    VERSION_LABEL: String = optional("version_label", "version"), label_key;
    /// Desired replica count. Empty: the current RC's count, else the manifest's.
    REPLICAS: i32 = optional("replicas", ""), |_, s| values::replicas(s);
    /// Pods allowed above the desired count during the update, an integer or a percentage (`25%`).
    MAX_SURGE: IntOrPercent = optional("max_surge", "1"), |n, s| values::int_or_percent(n, s, None);
    /// Pods allowed below the desired count during the update, an integer or a percentage.
    MAX_UNAVAILABLE: IntOrPercent = optional("max_unavailable", "0"), |n, s| values::int_or_percent(n, s, Some(100));
    /// Seconds a new pod must be Ready before it counts as available. Unset, the RC's own `spec.minReadySeconds`
    /// applies (inherited by the new RC); a value here, 0 included, overrides it.
    MIN_READY_SECONDS: u32 = optional("min_ready_seconds", ""), |_, s| values::min_ready_seconds(s);
    /// Fail when no new pod becomes available for this long (e.g. `90s`, `5m`).
    PROGRESS_DEADLINE: Duration = optional("progress_deadline", "5m"), values::duration;
    /// Fail when the whole rollout takes longer than this.
    TIMEOUT: Duration = optional("timeout", "30m"), values::duration;
    /// What to do when the rollout fails: `rollback` (restore the old RC, delete the new one) or `keep` (leave both,
    /// resumable by a re-run).
    ON_FAILURE: OnFailure = optional("on_failure", "rollback"), |n, s| values::one_of(n, s, ON_FAILURES);
    /// `true`: print the new RC and the scaling plan, and change nothing.
    DRY_RUN: bool = optional("dry_run", "false"), values::boolean;
    /// `deploy` (roll to the new version), `preview` (a separate RC and Service per pull request that production
    /// Services never select), `cleanup` (delete the pull request's preview) or `rollback` (return to the previous RC).
    MODE: Mode = optional("mode", "deploy"), |n, s| values::one_of(n, s, MODES);
    /// Token for the commit status, the pull request comment and the GitHub Deployment. Needs `statuses: write`,
    /// `pull-requests: write` and `deployments: write`; reporting degrades to a warning without them.
    GITHUB_TOKEN: SecretString = secret("github_token", "${{ github.token }}"), |_, s| Ok(SecretString::from(s));
    /// Context of the commit status. Empty: derived from the namespace and `rc`.
    STATUS_CONTEXT: String = optional("status_context", ""), text;
    /// Pull request comment: `auto` (on pull_request events), `always` (also on the pull requests of the commit for
    /// push and workflow_dispatch) or `never`.
    COMMENT: CommentMode = optional("comment", "auto"), |n, s| values::one_of(n, s, COMMENT_MODES);
    /// GitHub Deployment environment: each run that rolls out is a Deployment there (in progress, then success,
    /// failure or error; a success marks the previous one inactive). Empty: `production`, and `pr-<N>` for previews.
    ENVIRONMENT: String = optional("environment", ""), environment;
    /// With several RCs: `parallel` (all at once, each with its own floor) or `sequential` (in the order of `rc`; a
    /// failure stops the rest).
    ORDER: Order = optional("order", "parallel"), |_, s| values::order(s);
}

const VERSION_SOURCES: &[(&str, VersionFrom)] = &[
    ("sha", VersionFrom::Sha),
    ("timestamp", VersionFrom::Timestamp),
    ("tag", VersionFrom::Tag),
];
const ON_FAILURES: &[(&str, OnFailure)] =
    &[("rollback", OnFailure::Rollback), ("keep", OnFailure::Keep)];
/// The word of each `mode`, as the input takes it (and as the run says which it ran).
pub const MODES: &[(&str, Mode)] = &[
    ("deploy", Mode::Deploy),
    ("preview", Mode::Preview),
    ("cleanup", Mode::Cleanup),
    ("rollback", Mode::Rollback),
];
const COMMENT_MODES: &[(&str, CommentMode)] = &[
    ("auto", CommentMode::Auto),
    ("always", CommentMode::Always),
    ("never", CommentMode::Never),
];

fn text(_: &'static str, s: &str) -> Result<String, Problem> {
    Ok(s.to_string())
}

fn dns_label(name: &'static str, value: &str) -> Result<String, Problem> {
    match names::dns_label_problem(value) {
        Some(p) => Err(Problem::input(name, format!("`{value}` {p}"))),
        None => Ok(value.to_string()),
    }
}

fn label_key(name: &'static str, key: &str) -> Result<String, Problem> {
    match names::label_key_problem(key) {
        Some(p) => Err(Problem::input(
            name,
            format!("`{key}` is not a valid label key: {p}; use something like `version`"),
        )),
        None => Ok(key.to_string()),
    }
}

fn environment(name: &'static str, env: &str) -> Result<String, Problem> {
    if env.chars().count() > 255 || env.chars().any(char::is_control) {
        return Err(Problem::input(
            name,
            "must be one line of at most 255 characters, the name of a GitHub environment such as `production` or `staging`",
        ));
    }
    Ok(env.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_only_rc_is_required() {
        let mut seen = std::collections::BTreeSet::new();
        for doc in INPUTS {
            assert!(seen.insert(doc.name), "`{}` is defined twice", doc.name);
            assert!(
                doc.name.starts_with(|c: char| c.is_ascii_lowercase())
                    && doc
                        .name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "`{}` is not snake_case: the runner's INPUT_<NAME> would not map back",
                doc.name
            );
            assert!(!doc.description.trim().is_empty(), "`{}`", doc.name);
        }
        let required: Vec<_> = INPUTS
            .iter()
            .filter(|d| d.required)
            .map(|d| d.name)
            .collect();
        assert_eq!(required, ["rc"]);
    }

    #[test]
    fn every_default_parses() {
        let parsed = defaults_parsed();
        assert_eq!(parsed.len(), INPUTS.len());
        for (name, result) in parsed {
            assert!(result.is_ok(), "the default of `{name}`: {result:?}");
        }
        assert_eq!(
            GITHUB_TOKEN.doc.fallback(),
            None,
            "an expression is the runner's"
        );
    }
}
