//! The version: explicit, or from the commit, the clock or the tag. It becomes a label value and part of the
//! RC's name, so it is checked as a label value here; the plan makes the name fit.

use super::error::Problem;
use super::names::label_value_problem;
use super::{GithubContext, VersionFrom};

/// Resolves the version. `now_unix` is the clock for `version_from: timestamp` (a parameter, so tests are exact).
pub fn resolve(
    explicit: Option<&str>,
    from: VersionFrom,
    github: &GithubContext,
    now_unix: u64,
) -> Result<String, Problem> {
    if let Some(v) = explicit {
        return match label_value_problem(v) {
            None => Ok(v.to_string()),
            Some(p) => Err(Problem::input(
                "version",
                format!("`{v}` {p}; the version becomes a label value: use something like `1.4.2` or `2024-06-01.3`"),
            )),
        };
    }
    let version = match from {
        VersionFrom::Sha => {
            if github.event.status_sha.is_empty() {
                return Err(Problem::env(
                    "GITHUB_SHA",
                    "is not set, so `version_from: sha` has no commit; set the `version` input, or run inside a workflow",
                ));
            }
            github.event.status_sha.chars().take(7).collect::<String>()
        }
        VersionFrom::Timestamp => now_unix.to_string(),
        VersionFrom::Tag => match github.event.git_ref.strip_prefix("refs/tags/") {
            Some(tag) if !tag.is_empty() => tag.to_string(),
            _ => {
                let got = if github.event.git_ref.is_empty() {
                    "not set".to_string()
                } else {
                    format!("`{}`", github.event.git_ref)
                };
                return Err(Problem::input(
                    "version_from",
                    format!("`tag` needs a tag ref, but GITHUB_REF is {got}; run the workflow on tag pushes (`on: push: tags: ['v*']`), or use `version_from: sha` or an explicit `version`"),
                ));
            }
        },
    };
    match label_value_problem(&version) {
        None => Ok(version),
        Some(p) => {
            let what = match from {
                VersionFrom::Tag => "the tag",
                VersionFrom::Sha => "the commit SHA",
                VersionFrom::Timestamp => "the timestamp",
            };
            Err(Problem::input(
                "version_from",
                format!("{what} `{version}` {p}; the version becomes a label value: rename the tag or set an explicit `version`"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::GithubEvent;

    fn ctx(sha: &str, git_ref: &str) -> GithubContext {
        GithubContext {
            event: GithubEvent {
                status_sha: sha.into(),
                git_ref: git_ref.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn explicit_version_wins_and_is_checked() {
        assert_eq!(
            resolve(Some("v1.0.1"), VersionFrom::Tag, &ctx("", ""), 0).unwrap(),
            "v1.0.1"
        );
        let e = resolve(
            Some("feature/login page"),
            VersionFrom::Sha,
            &ctx("abc", ""),
            0,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("input `version`: `feature/login page` contains `/`, ` `"),
            "{e}"
        );
    }

    #[test]
    fn sha_is_seven_characters_of_the_status_commit() {
        let v = resolve(
            None,
            VersionFrom::Sha,
            &ctx("ec26c3e57ca3a959ca5aad62de7213c562f8c821", ""),
            0,
        )
        .unwrap();
        assert_eq!(v, "ec26c3e");
        let e = resolve(None, VersionFrom::Sha, &ctx("", ""), 0)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("environment variable `GITHUB_SHA`"), "{e}");
    }

    #[test]
    fn timestamp_is_unix_seconds() {
        assert_eq!(
            resolve(None, VersionFrom::Timestamp, &ctx("", ""), 1_717_171_717).unwrap(),
            "1717171717"
        );
    }

    #[test]
    fn tag_comes_from_a_tag_ref_only() {
        assert_eq!(
            resolve(None, VersionFrom::Tag, &ctx("", "refs/tags/v1.0.1"), 0).unwrap(),
            "v1.0.1"
        );
        let e = resolve(None, VersionFrom::Tag, &ctx("", "refs/heads/main"), 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "input `version_from`: `tag` needs a tag ref, but GITHUB_REF is `refs/heads/main`"
            ),
            "{e}"
        );
        let e = resolve(None, VersionFrom::Tag, &ctx("", "refs/tags/release/1.0"), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the tag `release/1.0` contains `/`"), "{e}");
        assert!(resolve(None, VersionFrom::Tag, &ctx("", ""), 0)
            .unwrap_err()
            .to_string()
            .contains("not set"));
    }
}
