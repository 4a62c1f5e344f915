//! The transport under every GitHub call: one request, its retries, and what an error answer means.
//!
//! Why apart from the domains: statuses, comments and deployments differ in what they post, not in how a request
//! goes. Requests are made with octocrab's raw methods so each status code can be told apart; octocrab's own
//! retries are off, because they would retry any `POST` on a 5xx and could post a comment twice. Here only what is
//! safe to repeat (lookups, the commit status and deployment statuses, where the newest wins, and the comment
//! `PATCH`) is retried, on 5xx, 429 and rate limits, up to three times, waiting as GitHub's `Retry-After` or
//! `x-ratelimit-reset` says (capped), else with exponential backoff. A 403 names the `permissions:` entry the
//! workflow needs.

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;

use super::Reporter;

/// GitHub's page size limit; also what the comment and deployment lists ask for.
const PER_PAGE: usize = 100;
/// At most this many pages are read (10,000 comments); past that the marker search gives up and posts anew.
const MAX_PAGES: usize = 100;

/// How often and how long to retry a request that is safe to repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The first backoff when GitHub does not say how long to wait; doubled for each retry.
    pub base_delay: Duration,
    /// The longest wait before a retry. When GitHub asks for longer (a primary rate limit resets within the
    /// hour), the request is given up at once rather than holding the job for it.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            base_delay: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Why a response may be worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transient {
    Server,
    TooManyRequests,
    SecondaryRateLimit,
    PrimaryRateLimit,
}

/// Classifies an error response: 5xx, 429, or a 403 that is a rate limit (GitHub answers 403 for both the
/// secondary limit, naming it in the message, and an exhausted primary limit, `x-ratelimit-remaining: 0`).
fn transient(status: StatusCode, headers: &http::HeaderMap, message: &str) -> Option<Transient> {
    let exhausted = headers
        .get("x-ratelimit-remaining")
        .is_some_and(|v| v.as_bytes() == b"0");
    if message
        .to_ascii_lowercase()
        .contains("secondary rate limit")
    {
        return Some(Transient::SecondaryRateLimit);
    }
    match status.as_u16() {
        429 => Some(Transient::TooManyRequests),
        403 if exhausted => Some(Transient::PrimaryRateLimit),
        500..=599 => Some(Transient::Server),
        _ => None,
    }
}

/// How long GitHub asks us to wait: `Retry-After` (seconds), else, with no requests left, until
/// `x-ratelimit-reset` (epoch seconds, `now` likewise). `None` when it does not say.
fn requested_wait(headers: &http::HeaderMap, now_epoch_secs: u64) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(secs) = number("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    let exhausted = number("x-ratelimit-remaining") == Some(0);
    match number("x-ratelimit-reset") {
        Some(reset) if exhausted => Some(Duration::from_secs(reset.saturating_sub(now_epoch_secs))),
        _ => None,
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), or `None` to give up: no retries left, or GitHub asks
    /// for longer than `max_wait`. Secondary rate limits without a `Retry-After` wait at least a minute, as
    /// GitHub's guidance says, capped by `max_wait`.
    fn wait(&self, retry: u32, kind: Transient, requested: Option<Duration>) -> Option<Duration> {
        if retry > self.retries {
            return None;
        }
        let backoff = self.base_delay.saturating_mul(1 << (retry - 1).min(16));
        let wait = match (requested, kind) {
            (Some(asked), _) => asked,
            (None, Transient::SecondaryRateLimit) => Duration::from_secs(60).max(backoff),
            (None, _) => backoff,
        };
        if requested.is_some_and(|asked| asked > self.max_wait) {
            return None;
        }
        Some(wait.min(self.max_wait))
    }
}

/// Which permission an operation needs, for the 403 hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Statuses,
    PullRequestsRead,
    PullRequestsWrite,
    Deployments,
}

impl Permission {
    /// The line to add under `permissions:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Statuses => "statuses: write",
            Permission::PullRequestsRead => "pull-requests: read",
            Permission::PullRequestsWrite => "pull-requests: write",
            Permission::Deployments => "deployments: write",
        }
    }
}

/// A GitHub call that did not work. Its message is the warning shown to the user; it never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "failed to {action}: the token lacks `{}` (add it under `permissions:` in the workflow; on pull requests from forks the token is read-only): {message}",
        permission.as_str()
    )]
    Forbidden {
        action: String,
        permission: Permission,
        message: String,
    },
    #[error("failed to {action}: GitHub answered {status}{}: {message}", tries(*attempts))]
    Rejected {
        action: String,
        status: u16,
        message: String,
        /// Requests made, retries included.
        attempts: u32,
    },
    /// A 429, a 403 naming the secondary rate limit, or a 403 with no requests left: not a missing permission.
    #[error("failed to {action}: GitHub's {kind}{}: {message}", tries(*attempts))]
    RateLimited {
        action: String,
        /// Which limit: "secondary rate limit", "primary rate limit (no requests left)", "rate limit (429)".
        kind: &'static str,
        status: u16,
        message: String,
        attempts: u32,
    },
    #[error("failed to {action}: could not reach GitHub")]
    Transport {
        action: String,
        #[source]
        source: octocrab::Error,
    },
    #[error("failed to {action}: unexpected response from GitHub")]
    Decode {
        action: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// ` (4 attempts)` when a request was retried.
fn tries(attempts: u32) -> String {
    if attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    }
}

impl ReportError {
    /// The message with its causes, one line, for a `::warning::`.
    pub fn warning(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// The HTTP status GitHub answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ReportError::Forbidden { .. } => Some(403),
            ReportError::Rejected { status, .. } => Some(*status),
            ReportError::RateLimited { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl Reporter {
    /// GETs `path` a page at a time (PER_PAGE items, MAX_PAGES pages at most) and hands each page to `visit`
    /// until it returns `Some` or the pages run out.
    pub(super) async fn find_in_pages<T>(
        &self,
        path: &str,
        action: &str,
        permission: Permission,
        mut visit: impl FnMut(&[Value]) -> Option<T>,
    ) -> Result<Option<T>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        for page in 1..=MAX_PAGES {
            let url = format!("{path}{separator}per_page={PER_PAGE}&page={page}");
            let list = self
                .request(Verb::Get, &url, None, action, permission)
                .await?;
            let items = as_array(list, action)?;
            if let Some(found) = visit(&items) {
                return Ok(Some(found));
            }
            if items.len() < PER_PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// One request, retried by the policy when `verb` is safe to repeat (see [`Verb::idempotent`]).
    pub(super) async fn request(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        action: &str,
        permission: Permission,
    ) -> Result<Value> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failed = match self.attempt(verb, path, body, action).await? {
                Ok(value) => return Ok(value),
                Err(failed) => failed,
            };
            let wait = match (failed.transient, verb.idempotent()) {
                (Some(kind), true) => self.retry.wait(attempts, kind, failed.requested_wait),
                _ => None,
            };
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(failed.into_error(action, permission, attempts)),
            }
        }
    }

    /// Sends the request once. The outer error is final (transport, decoding); the inner one is GitHub's answer.
    async fn attempt(
        &self,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        action: &str,
    ) -> Result<std::result::Result<Value, Failed>> {
        let transport = |source| ReportError::Transport {
            action: action.to_string(),
            source,
        };
        let response = match verb {
            Verb::Get => self.client._get(path).await,
            Verb::Post | Verb::PostIdempotent => self.client._post(path, body).await,
            Verb::Patch => self.client._patch(path, body).await,
            Verb::Delete => self.client._delete(path, body).await,
        }
        .map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = self
            .client
            .body_to_string(response)
            .await
            .map_err(transport)?;
        if status.is_success() {
            if text.trim().is_empty() {
                return Ok(Ok(Value::Null));
            }
            return serde_json::from_str(&text)
                .map(Ok)
                .map_err(|source| ReportError::Decode {
                    action: action.to_string(),
                    source,
                });
        }
        let message = error_message(&text, &headers);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        Ok(Err(Failed {
            status,
            transient: transient(status, &headers, &message),
            requested_wait: requested_wait(&headers, now),
            message,
        }))
    }
}

/// An error answer from GitHub, before deciding whether to retry it.
struct Failed {
    status: StatusCode,
    transient: Option<Transient>,
    requested_wait: Option<Duration>,
    message: String,
}

impl Failed {
    fn into_error(self, action: &str, permission: Permission, attempts: u32) -> ReportError {
        let action = action.to_string();
        let status = self.status.as_u16();
        let message = self.message;
        match self.transient {
            Some(
                limit @ (Transient::SecondaryRateLimit
                | Transient::PrimaryRateLimit
                | Transient::TooManyRequests),
            ) => ReportError::RateLimited {
                action,
                kind: match limit {
                    Transient::SecondaryRateLimit => "secondary rate limit",
                    Transient::PrimaryRateLimit => "primary rate limit (no requests left)",
                    _ => "rate limit (429 Too Many Requests)",
                },
                status,
                message,
                attempts,
            },
            _ if status == 403 => ReportError::Forbidden {
                action,
                permission,
                message,
            },
            _ => ReportError::Rejected {
                action,
                status,
                message,
                attempts,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Get,
    /// A `POST` that creates something: never retried (a retry could create it twice).
    Post,
    /// A `POST` whose repetition changes nothing: a commit status or deployment status (the newest wins).
    PostIdempotent,
    Patch,
    Delete,
}

impl Verb {
    fn idempotent(self) -> bool {
        !matches!(self, Verb::Post)
    }
}

/// GitHub's `message` (and validation `errors`), or a problem+json `detail`, or the start of the body.
fn error_message(body: &str, headers: &http::HeaderMap) -> String {
    let mut message = match serde_json::from_str::<Value>(body) {
        Ok(v) => {
            let mut parts = vec![];
            for key in ["message", "title", "detail"] {
                if let Some(s) = v[key].as_str() {
                    parts.push(s.to_string());
                }
            }
            if let Some(errors) = v.get("errors").or_else(|| v.get("validation")) {
                parts.push(errors.to_string());
            }
            parts.join(": ")
        }
        Err(_) => body.chars().take(300).collect(),
    };
    // Prism puts request validation failures here when the spec has its own 422 body.
    if let Some(v) = headers.get("sl-violations").and_then(|v| v.to_str().ok()) {
        message.push_str(" (");
        message.push_str(v);
        message.push(')');
    }
    if message.chars().count() > 600 {
        message = message.chars().take(600).collect::<String>() + "…";
    }
    if message.is_empty() {
        "no message".to_string()
    } else {
        message
    }
}

fn as_array(value: Value, action: &str) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(ReportError::Rejected {
            action: action.to_string(),
            status: 200,
            attempts: 1,
            message: format!("expected a list, got {}", kind_of(&other)),
        }),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub(super) fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_the_permission() {
        let e = ReportError::Forbidden {
            action: "post the commit status to abc1234".into(),
            permission: Permission::Statuses,
            message: "Resource not accessible by integration".into(),
        };
        let w = e.warning();
        assert!(w.starts_with("failed to post the commit status"));
        assert!(w.contains("`statuses: write`"));
        assert!(w.contains("Resource not accessible by integration"));
    }

    #[test]
    fn error_messages_from_github_and_prism() {
        let empty = http::HeaderMap::new();
        assert_eq!(
            error_message(
                r#"{"message":"Validation Failed","errors":[{"field":"state"}]}"#,
                &empty
            ),
            r#"Validation Failed: [{"field":"state"}]"#
        );
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "sl-violations",
            "body.state must be equal to one of".parse().unwrap(),
        );
        assert!(error_message("", &headers).contains("body.state must be"));
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("pr-7 preview&x"), "pr-7%20preview%26x");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn what_is_worth_retrying() {
        let none = http::HeaderMap::new();
        let code = |c: u16| StatusCode::from_u16(c).unwrap();
        assert_eq!(transient(code(502), &none, "x"), Some(Transient::Server));
        assert_eq!(
            transient(code(429), &none, "x"),
            Some(Transient::TooManyRequests)
        );
        assert_eq!(
            transient(code(403), &none, "You have exceeded a Secondary Rate Limit"),
            Some(Transient::SecondaryRateLimit)
        );
        let exhausted = headers(&[("x-ratelimit-remaining", "0")]);
        assert_eq!(
            transient(code(403), &exhausted, "API rate limit exceeded"),
            Some(Transient::PrimaryRateLimit)
        );
        assert_eq!(
            transient(code(403), &none, "Resource not accessible by integration"),
            None
        );
        assert_eq!(transient(code(422), &none, "Validation Failed"), None);
        assert_eq!(transient(code(404), &none, "Not Found"), None);
    }

    #[test]
    fn github_says_how_long_to_wait() {
        assert_eq!(
            requested_wait(&headers(&[("retry-after", "7")]), 1_000),
            Some(Duration::from_secs(7))
        );
        let reset = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1030"),
        ]);
        assert_eq!(requested_wait(&reset, 1_000), Some(Duration::from_secs(30)));
        assert_eq!(requested_wait(&reset, 2_000), Some(Duration::ZERO));
        // A reset with requests left is only information.
        let left = headers(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1030"),
        ]);
        assert_eq!(requested_wait(&left, 1_000), None);
    }

    #[test]
    fn backoff_doubles_is_capped_and_stops_after_three_retries() {
        let policy = RetryPolicy::default();
        let s = Duration::from_secs;
        let waits: Vec<_> = (1..=4)
            .map(|n| policy.wait(n, Transient::Server, None))
            .collect();
        assert_eq!(waits, [Some(s(1)), Some(s(2)), Some(s(4)), None]);
        assert_eq!(
            policy.wait(1, Transient::TooManyRequests, Some(s(20))),
            Some(s(20))
        );
        assert_eq!(
            policy.wait(1, Transient::PrimaryRateLimit, Some(s(600))),
            None
        );
        assert_eq!(
            policy.wait(1, Transient::SecondaryRateLimit, None),
            Some(s(60))
        );
        let short = RetryPolicy {
            max_wait: s(5),
            ..policy
        };
        assert_eq!(
            short.wait(1, Transient::SecondaryRateLimit, None),
            Some(s(5))
        );
    }

    #[test]
    fn rate_limits_are_not_missing_permissions() {
        let e = Failed {
            status: StatusCode::FORBIDDEN,
            transient: Some(Transient::SecondaryRateLimit),
            requested_wait: None,
            message: "You have exceeded a secondary rate limit".into(),
        }
        .into_error("post the commit status to abc1234", Permission::Statuses, 4);
        let w = e.warning();
        assert_eq!(e.status(), Some(403));
        assert!(
            w.contains("GitHub's secondary rate limit (4 attempts)"),
            "{w}"
        );
        assert!(!w.contains("statuses: write"), "{w}");
    }
}
