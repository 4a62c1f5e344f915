//! The GitHub context of the run: GITHUB_* variables and the event payload.
//!
//! On `pull_request` events GITHUB_SHA is the merge commit GitHub made, not a commit the user pushed: a status
//! posted to it never shows on the pull request, and a version named after it matches nothing in `git log`.
//! So the commit we speak about is `pull_request.head.sha`, read from the event file.

use std::collections::HashMap;

use secrecy::SecretString;

use super::error::Problem;
use super::{GithubContext, GithubEvent, GithubUrls, PullRequestEvent};

/// Events whose payload carries `pull_request`.
pub fn is_pull_request_event(event_name: &str) -> bool {
    matches!(event_name, "pull_request" | "pull_request_target")
}

/// What we read from the event payload.
#[derive(Debug, Default, PartialEq, Eq)]
struct PullRequest {
    number: Option<u64>,
    action: Option<String>,
    head_sha: Option<String>,
}

fn read_event(path: &str) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read the event file `{path}`: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("the event file `{path}` is not JSON: {e}"))
}

fn pull_request_of(event: &serde_json::Value) -> PullRequest {
    let pr = &event["pull_request"];
    PullRequest {
        number: pr["number"].as_u64().or_else(|| event["number"].as_u64()),
        action: event["action"].as_str().map(str::to_string),
        head_sha: pr["head"]["sha"].as_str().map(str::to_string),
    }
}

fn non_empty(vars: &HashMap<String, String>, key: &str) -> Option<String> {
    vars.get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Builds the context. On pull request events the event file must be readable and hold
/// `pull_request.head.sha`; on other events it is read when present and otherwise ignored.
pub fn context(
    vars: &HashMap<String, String>,
    token: Option<SecretString>,
) -> Result<GithubContext, Problem> {
    let event_name = non_empty(vars, "GITHUB_EVENT_NAME").unwrap_or_default();
    let sha = non_empty(vars, "GITHUB_SHA").unwrap_or_default();
    let is_pr = is_pull_request_event(&event_name);
    let pr = match non_empty(vars, "GITHUB_EVENT_PATH") {
        Some(path) => match read_event(&path) {
            Ok(event) => pull_request_of(&event),
            Err(e) if is_pr => {
                return Err(Problem::env(
                    "GITHUB_EVENT_PATH",
                    format!("{e}; on `{event_name}` events the action needs the event payload to find the pull request's head commit (run it as a step of a workflow job, where the runner provides it)"),
                ))
            }
            Err(_) => PullRequest::default(),
        },
        None if is_pr => {
            return Err(Problem::env(
                "GITHUB_EVENT_PATH",
                format!("is not set; on `{event_name}` events the action needs the event payload to find the pull request's head commit (run it as a step of a workflow job, where the runner provides it)"),
            ))
        }
        None => PullRequest::default(),
    };
    let status_sha = if is_pr {
        match pr.head_sha.clone() {
            Some(head) => head,
            None => {
                return Err(Problem::env(
                    "GITHUB_EVENT_PATH",
                    format!("the `{event_name}` event payload has no `pull_request.head.sha`; the action needs it to report on the pushed commit"),
                ))
            }
        }
    } else {
        sha.clone()
    };
    Ok(GithubContext {
        token,
        repository: non_empty(vars, "GITHUB_REPOSITORY"),
        urls: GithubUrls {
            api: non_empty(vars, "GITHUB_API_URL")
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| "https://api.github.com".into()),
            server: non_empty(vars, "GITHUB_SERVER_URL")
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| "https://github.com".into()),
        },
        run_id: non_empty(vars, "GITHUB_RUN_ID"),
        event: GithubEvent {
            name: event_name,
            sha,
            status_sha,
            git_ref: non_empty(vars, "GITHUB_REF").unwrap_or_default(),
            pull_request: if is_pr {
                PullRequestEvent {
                    number: pr.number,
                    action: pr.action,
                }
            } else {
                PullRequestEvent::default()
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!(
            "{}/tests/fixtures/events/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    /// The context from these variables, without a token.
    fn run(pairs: &[(&str, &str)]) -> Result<GithubContext, Problem> {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        context(&vars, None)
    }

    /// The context of a run on event `name` whose payload is the fixture `file`, with the variables `more`.
    fn event(name: &str, file: &str, more: &[(&str, &str)]) -> Result<GithubContext, Problem> {
        let path = fixture(file);
        let mut pairs = vec![("GITHUB_EVENT_NAME", name), ("GITHUB_EVENT_PATH", &path)];
        pairs.extend_from_slice(more);
        run(&pairs)
    }

    #[test]
    fn pull_request_opened_reports_on_the_head_commit() {
        let ctx = event(
            "pull_request",
            "pull_request.opened.json",
            &[
                ("GITHUB_SHA", "1111111111111111111111111111111111111111"),
                ("GITHUB_REPOSITORY", "Codertocat/Hello-World"),
                ("GITHUB_RUN_ID", "42"),
            ],
        )
        .unwrap();
        assert_eq!(
            ctx.event.status_sha,
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
        );
        assert_eq!(ctx.event.sha, "1111111111111111111111111111111111111111");
        assert_eq!(ctx.event.pull_request.number, Some(2));
        assert_eq!(ctx.event.pull_request.action.as_deref(), Some("opened"));
        assert_eq!(ctx.urls.api, "https://api.github.com");
        assert_eq!(ctx.urls.server, "https://github.com");
        assert_eq!(ctx.repository.as_deref(), Some("Codertocat/Hello-World"));
        assert_eq!(ctx.run_id.as_deref(), Some("42"));
    }

    #[test]
    fn pull_request_closed_and_target_events() {
        for name in ["pull_request", "pull_request_target"] {
            let ctx = event(name, "pull_request.closed.json", &[]).unwrap();
            assert_eq!(ctx.event.pull_request.action.as_deref(), Some("closed"));
            assert_eq!(ctx.event.pull_request.number, Some(2));
        }
    }

    #[test]
    fn push_uses_github_sha_and_custom_urls() {
        let ctx = event(
            "push",
            "push.tag.json",
            &[
                ("GITHUB_SHA", "6113728f27ae82c7b1a177c8d03f9e96e0adf246"),
                ("GITHUB_REF", "refs/tags/simple-tag"),
                ("GITHUB_API_URL", "https://ghe.example.com/api/v3/"),
                ("GITHUB_SERVER_URL", "https://ghe.example.com"),
            ],
        )
        .unwrap();
        assert_eq!(
            ctx.event.status_sha,
            "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
        );
        assert_eq!(ctx.event.pull_request.number, None);
        assert_eq!(ctx.event.git_ref, "refs/tags/simple-tag");
        assert_eq!(ctx.urls.api, "https://ghe.example.com/api/v3");
        assert_eq!(ctx.urls.server, "https://ghe.example.com");
    }

    #[test]
    fn workflow_dispatch_without_event_file_is_fine() {
        let ctx = run(&[
            ("GITHUB_EVENT_NAME", "workflow_dispatch"),
            ("GITHUB_SHA", "abc"),
        ])
        .unwrap();
        assert_eq!(ctx.event.status_sha, "abc");
        let ctx = event(
            "workflow_dispatch",
            "workflow_dispatch.json",
            &[("GITHUB_SHA", "abc")],
        )
        .unwrap();
        assert_eq!(
            (ctx.event.status_sha.as_str(), ctx.event.pull_request.number),
            ("abc", None)
        );
    }

    #[test]
    fn pull_request_without_a_usable_event_file_is_an_error() {
        let missing = run(&[("GITHUB_EVENT_NAME", "pull_request")]).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("environment variable `GITHUB_EVENT_PATH`: is not set"),
            "{missing}"
        );
        let nowhere = run(&[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", "/nonexistent/event.json"),
        ])
        .unwrap_err();
        assert!(
            nowhere
                .to_string()
                .contains("could not read the event file"),
            "{nowhere}"
        );
        let garbage =
            std::env::temp_dir().join(format!("garbage-event-{}.json", std::process::id()));
        std::fs::write(&garbage, "{not json").unwrap();
        let e = run(&[
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_EVENT_PATH", garbage.to_str().unwrap()),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("is not JSON"), "{e}");
        // A push payload given to a pull_request run has no head sha.
        let e = event("pull_request", "push.branch.json", &[]).unwrap_err();
        assert!(e.to_string().contains("pull_request.head.sha"), "{e}");
        std::fs::remove_file(garbage).ok();
    }

    #[test]
    fn garbage_event_file_on_a_push_is_ignored() {
        let ctx = run(&[
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_EVENT_PATH", "/nonexistent/event.json"),
            ("GITHUB_SHA", "abc"),
        ])
        .unwrap();
        assert_eq!(ctx.event.status_sha, "abc");
    }
}
