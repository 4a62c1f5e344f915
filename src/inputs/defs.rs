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

const fn optional(name: &'static str, default: &'static str, description: &'static str) -> Doc {
    Doc {
        name,
        default,
        required: false,
        secret: false,
        description,
    }
}

fn text(_: &'static str, s: &str) -> Result<String, Problem> {
    Ok(s.to_string())
}

fn path(_: &'static str, s: &str) -> Result<PathBuf, Problem> {
    Ok(PathBuf::from(s))
}

pub const KUBECONFIG: Input<SecretString> = Input {
    doc: Doc {
        secret: true,
        ..optional(
            "kubeconfig",
            "",
            "Kubeconfig content, raw YAML or base64 (pass it from a secret). Empty: KUBECONFIG, then ~/.kube/config, then the in-cluster service account.",
        )
    },
    parser: |_, s| values::kubeconfig(s).map(SecretString::from),
};

pub const CONTEXT: Input<String> = Input {
    doc: optional(
        "context",
        "",
        "Kubeconfig context to use. Empty: the kubeconfig's current context.",
    ),
    parser: text,
};

pub const NAMESPACE: Input<String> = Input {
    doc: optional(
        "namespace",
        "",
        "Namespace of the ReplicationController. Empty: the context's namespace, else `default`.",
    ),
    parser: |name, ns| match names::dns_label_problem(ns) {
        Some(p) => Err(Problem::input(name, format!("`{ns}` {p}"))),
        None => Ok(ns.to_string()),
    },
};

pub const RC: Input<Vec<String>> = Input {
    doc: Doc {
        required: true,
        ..optional(
            "rc",
            "",
            "Base name of the ReplicationController, e.g. `api-rc`. The new RC is named `<rc>-<version>`. Several RCs (one per line or comma-separated) roll in one step, all or nothing, with one report.",
        )
    },
    parser: |_, s| values::rc_names(s),
};

pub const MANIFEST: Input<Vec<PathBuf>> = Input {
    doc: optional(
        "manifest",
        "",
        "Path to a ReplicationController manifest (YAML or JSON, one or many containers) to roll to. Empty: the current RC with the `images` overrides. With several RCs, one path per line, each file naming its RC in `metadata.name`.",
    ),
    parser: |_, s| Ok(values::lines(s).into_iter().map(PathBuf::from).collect()),
};

pub const SERVICE_MANIFEST: Input<PathBuf> = Input {
    doc: optional(
        "service_manifest",
        "",
        "Path to a Service manifest for `mode: preview`. Empty: derived from the production Service.",
    ),
    parser: path,
};

pub const IMAGES: Input<Vec<ImageOverride>> = Input {
    doc: optional(
        "images",
        "",
        "New images, one `container=image` per line or separated by commas; a bare `image` when the pod has one container. With several RCs, `container=image` applies to every RC with that container and `<rc>:<container>=<image>` to one RC.",
    ),
    parser: |_, s| values::images(s),
};

pub const VERSION: Input<String> = Input {
    doc: optional(
        "version",
        "",
        "Explicit version for the new RC's name and version label. Empty: computed from `version_from`.",
    ),
    parser: text,
};

pub const VERSION_FROM: Input<VersionFrom> = Input {
    doc: optional(
        "version_from",
        "sha",
        "Where the version comes from when `version` is empty: `sha` (short commit SHA), `timestamp` (unix seconds) or `tag` (the pushed tag, e.g. `v1.0.1` gives `api-rc-v1.0.1`).",
    ),
    parser: |name, s| {
        values::one_of(
            name,
            s,
            &[
                ("sha", VersionFrom::Sha),
                ("timestamp", VersionFrom::Timestamp),
                ("tag", VersionFrom::Tag),
            ],
        )
    },
};

pub const VERSION_LABEL: Input<String> = Input {
    doc: optional(
        "version_label",
        "version",
        "Label key added to the new RC's selector and pod template with the version as its value.",
    ),
    parser: |name, key| match names::label_key_problem(key) {
        Some(p) => Err(Problem::input(
            name,
            format!("`{key}` is not a valid label key: {p}; use something like `version`"),
        )),
        None => Ok(key.to_string()),
    },
};

pub const REPLICAS: Input<i32> = Input {
    doc: optional(
        "replicas",
        "",
        "Desired replica count. Empty: the current RC's count, else the manifest's.",
    ),
    parser: |_, s| values::replicas(s),
};

pub const MAX_SURGE: Input<IntOrPercent> = Input {
    doc: optional(
        "max_surge",
        "1",
        "Pods allowed above the desired count during the update, an integer or a percentage (`25%`).",
    ),
    parser: |name, s| values::int_or_percent(name, s, None),
};

pub const MAX_UNAVAILABLE: Input<IntOrPercent> = Input {
    doc: optional(
        "max_unavailable",
        "0",
        "Pods allowed below the desired count during the update, an integer or a percentage.",
    ),
    parser: |name, s| values::int_or_percent(name, s, Some(100)),
};

pub const MIN_READY_SECONDS: Input<u32> = Input {
    doc: optional(
        "min_ready_seconds",
        "",
        "Seconds a new pod must be Ready before it counts as available. Unset, the RC's own `spec.minReadySeconds` applies (inherited by the new RC); a value here, 0 included, overrides it.",
    ),
    parser: |_, s| values::min_ready_seconds(s),
};

pub const PROGRESS_DEADLINE: Input<Duration> = Input {
    doc: optional(
        "progress_deadline",
        "5m",
        "Fail when no new pod becomes available for this long (e.g. `90s`, `5m`).",
    ),
    parser: values::duration,
};

pub const TIMEOUT: Input<Duration> = Input {
    doc: optional(
        "timeout",
        "30m",
        "Fail when the whole rollout takes longer than this.",
    ),
    parser: values::duration,
};

pub const ON_FAILURE: Input<OnFailure> = Input {
    doc: optional(
        "on_failure",
        "rollback",
        "What to do when the rollout fails: `rollback` (restore the old RC, delete the new one) or `keep` (leave both, resumable by a re-run).",
    ),
    parser: |name, s| {
        values::one_of(
            name,
            s,
            &[("rollback", OnFailure::Rollback), ("keep", OnFailure::Keep)],
        )
    },
};

pub const DRY_RUN: Input<bool> = Input {
    doc: optional(
        "dry_run",
        "false",
        "`true`: print the new RC and the scaling plan, and change nothing.",
    ),
    parser: values::boolean,
};

pub const MODE: Input<Mode> = Input {
    doc: optional(
        "mode",
        "deploy",
        "`deploy` (roll to the new version), `preview` (a separate RC and Service per pull request that production Services never select), `cleanup` (delete the pull request's preview) or `rollback` (return to the previous RC).",
    ),
    parser: |name, s| {
        values::one_of(
            name,
            s,
            &[
                ("deploy", Mode::Deploy),
                ("preview", Mode::Preview),
                ("cleanup", Mode::Cleanup),
                ("rollback", Mode::Rollback),
            ],
        )
    },
};

pub const GITHUB_TOKEN: Input<SecretString> = Input {
    doc: Doc {
        secret: true,
        ..optional(
            "github_token",
            "${{ github.token }}",
            "Token for the commit status, the pull request comment and the GitHub Deployment. Needs `statuses: write`, `pull-requests: write` and `deployments: write`; reporting degrades to a warning without them.",
        )
    },
    parser: |_, s| Ok(SecretString::from(s)),
};

pub const STATUS_CONTEXT: Input<String> = Input {
    doc: optional(
        "status_context",
        "",
        "Context of the commit status. Empty: derived from the namespace and `rc`.",
    ),
    parser: text,
};

pub const COMMENT: Input<CommentMode> = Input {
    doc: optional(
        "comment",
        "auto",
        "Pull request comment: `auto` (on pull_request events), `always` (also on the pull requests of the commit for push and workflow_dispatch) or `never`.",
    ),
    parser: |name, s| {
        values::one_of(
            name,
            s,
            &[
                ("auto", CommentMode::Auto),
                ("always", CommentMode::Always),
                ("never", CommentMode::Never),
            ],
        )
    },
};

pub const ENVIRONMENT: Input<String> = Input {
    doc: optional(
        "environment",
        "",
        "GitHub Deployment environment: each run that rolls out is a Deployment there (in progress, then success, failure or error; a success marks the previous one inactive). Empty: `production`, and `pr-<N>` for previews.",
    ),
    parser: |name, env| {
        if env.chars().count() > 255 || env.chars().any(char::is_control) {
            return Err(Problem::input(
                name,
                "must be one line of at most 255 characters, the name of a GitHub environment such as `production` or `staging`",
            ));
        }
        Ok(env.to_string())
    },
};

pub const ORDER: Input<Order> = Input {
    doc: optional(
        "order",
        "parallel",
        "With several RCs: `parallel` (all at once, each with its own floor) or `sequential` (in the order of `rc`; a failure stops the rest).",
    ),
    parser: |_, s| values::order(s),
};

/// Every input, in the order action.yml and the docs list them.
pub const INPUTS: [Doc; 24] = [
    KUBECONFIG.doc,
    CONTEXT.doc,
    NAMESPACE.doc,
    RC.doc,
    MANIFEST.doc,
    SERVICE_MANIFEST.doc,
    IMAGES.doc,
    VERSION.doc,
    VERSION_FROM.doc,
    VERSION_LABEL.doc,
    REPLICAS.doc,
    MAX_SURGE.doc,
    MAX_UNAVAILABLE.doc,
    MIN_READY_SECONDS.doc,
    PROGRESS_DEADLINE.doc,
    TIMEOUT.doc,
    ON_FAILURE.doc,
    DRY_RUN.doc,
    MODE.doc,
    GITHUB_TOKEN.doc,
    STATUS_CONTEXT.doc,
    COMMENT.doc,
    ENVIRONMENT.doc,
    ORDER.doc,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_only_rc_is_required() {
        let mut seen = std::collections::BTreeSet::new();
        for doc in &INPUTS {
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
        fn check<T>(input: &Input<T>) {
            if let Some(d) = input.doc.fallback() {
                assert!(input.parse(d).is_ok(), "default of `{}`", input.doc.name);
            }
        }
        check(&VERSION_FROM);
        check(&VERSION_LABEL);
        check(&MAX_SURGE);
        check(&MAX_UNAVAILABLE);
        check(&PROGRESS_DEADLINE);
        check(&TIMEOUT);
        check(&ON_FAILURE);
        check(&DRY_RUN);
        check(&MODE);
        check(&COMMENT);
        check(&ORDER);
        assert_eq!(
            GITHUB_TOKEN.doc.fallback(),
            None,
            "an expression is the runner's"
        );
    }
}
