//! A small stateful stand-in for GitHub's REST API, for what Prism cannot show: state across runs (the second
//! run must update the first run's comment), comment authors, forced failures (403 from a read-only token, 500)
//! and scripted answers (a 502 once, a 429 with `Retry-After`, a secondary rate limit). It records every request
//! so tests assert what was sent, and answers only the routes the reporter uses; anything else is a 404 the test
//! will see as a warning.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as received (with any GHES prefix).
    pub path: String,
    pub body: String,
    pub authorization: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
    /// The `user.login` GitHub shows.
    pub author: String,
}

/// A Deployment and its statuses, oldest first.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: u64,
    pub environment: String,
    pub git_ref: String,
    /// The request body as sent.
    pub request: Value,
    pub states: Vec<String>,
}

/// An answer given instead of the route's, to the next `times` requests matching `method` and `path_contains`.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub method: &'static str,
    pub path_contains: String,
    pub times: usize,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct State {
    pub comments: Vec<Comment>,
    pub requests: Vec<Recorded>,
    /// Answer 403 "Resource not accessible by integration" to statuses / comment writes.
    pub forbid_statuses: bool,
    pub forbid_comments: bool,
    /// Answer 500 to everything.
    pub fail_all: bool,
    /// Open PRs returned for `GET /commits/{sha}/pulls`.
    pub associated_prs: Vec<u64>,
    /// The token's user for `GET /user`; `None` answers 403 as GitHub does for the workflow's token, whose
    /// comments are then by `github-actions[bot]`.
    pub token_login: Option<String>,
    /// Answers that take precedence over the routes, used up in order.
    pub scripted: Vec<Scripted>,
    /// A comment by the same author that "another run" posts just before ours is created (a race).
    pub racing_comment: Option<String>,
    pub deployments: Vec<Deployment>,
    next_id: u64,
}

impl State {
    /// Who the comments made with the token are by.
    pub fn token_author(&self) -> String {
        self.token_login
            .clone()
            .unwrap_or_else(|| "github-actions[bot]".into())
    }

    fn take_scripted(&mut self, method: &str, path: &str) -> Option<Scripted> {
        let i = self.scripted.iter().position(|s| {
            s.times > 0 && s.method == method && path.contains(s.path_contains.as_str())
        })?;
        self.scripted[i].times -= 1;
        Some(self.scripted[i].clone())
    }

    fn push_comment(&mut self, issue: u64, body: &str, author: &str) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.comments.push(Comment {
            id,
            issue,
            body: body.to_string(),
            author: author.to_string(),
        });
        id
    }
}

pub struct FakeGithub {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeGithub {
    pub fn start() -> FakeGithub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, state));
            }
        });
        FakeGithub { url, state }
    }

    /// Adds a comment someone else (`octocat`) wrote.
    pub fn add_comment(&self, issue: u64, body: &str) {
        self.add_comment_by(issue, body, "octocat");
    }

    /// Adds a comment by `author`.
    pub fn add_comment_by(&self, issue: u64, body: &str, author: &str) -> u64 {
        self.state.lock().unwrap().push_comment(issue, body, author)
    }

    /// Answers the next `times` requests `method` to a path containing `path_contains` with `status`,
    /// `headers` and `body` instead of the route.
    pub fn script(
        &self,
        method: &'static str,
        path_contains: &str,
        times: usize,
        status: u16,
        headers: &[(&str, &str)],
        body: Value,
    ) {
        self.state.lock().unwrap().scripted.push(Scripted {
            method,
            path_contains: path_contains.to_string(),
            times,
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body,
        });
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn deployments(&self) -> Vec<Deployment> {
        self.state.lock().unwrap().deployments.clone()
    }

    pub fn comments_on(&self, issue: u64) -> Vec<Comment> {
        let s = self.state.lock().unwrap();
        s.comments
            .iter()
            .filter(|c| c.issue == issue)
            .cloned()
            .collect()
    }
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut content_length = 0;
        let mut authorization = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => content_length = v.trim().parse().unwrap_or(0),
                    "authorization" => authorization = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).to_string();
        let (status, headers, answer) = {
            let mut s = state.lock().unwrap();
            s.requests.push(Recorded {
                method: method.clone(),
                path: path.clone(),
                body: body.clone(),
                authorization,
            });
            match s.take_scripted(&method, &path) {
                Some(scripted) => (scripted.status, scripted.headers, scripted.body),
                None => {
                    let (status, answer) = route(&mut s, &method, &path, &body);
                    (status, vec![], answer)
                }
            }
        };
        let reason = match status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            403 => "Forbidden",
            404 => "Not Found",
            429 => "Too Many Requests",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Error",
        };
        let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let response = if status == 204 {
            format!("{head}\r\n")
        } else {
            let text = answer.to_string();
            format!(
                "{head}content-type: application/json\r\ncontent-length: {}\r\n\r\n{text}",
                text.len()
            )
        };
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn forbidden() -> (u16, Value) {
    (
        403,
        json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest"}),
    )
}

fn route(s: &mut State, method: &str, full_path: &str, body: &str) -> (u16, Value) {
    if s.fail_all {
        return (500, json!({"message": "Server Error"}));
    }
    let (path, query) = full_path.split_once('?').unwrap_or((full_path, ""));
    let path = path.strip_prefix("/api/v3").unwrap_or(path);
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match (method, seg.as_slice()) {
        ("POST", ["repos", o, r, "statuses", sha]) => {
            if s.forbid_statuses {
                return forbidden();
            }
            (
                201,
                json!({"id": 1, "state": body["state"], "url": format!("/repos/{o}/{r}/statuses/{sha}")}),
            )
        }
        ("GET", ["repos", _, _, "commits", _, "pulls"]) => (
            200,
            Value::Array(
                s.associated_prs
                    .iter()
                    .map(|n| json!({"number": n, "state": "open"}))
                    .collect(),
            ),
        ),
        ("GET", ["repos", _, _, "issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let per_page = param("per_page").unwrap_or(30);
            let page = param("page").unwrap_or(1).max(1);
            let list: Vec<Value> = s
                .comments
                .iter()
                .filter(|c| c.issue == n)
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|c| json!({"id": c.id, "body": c.body, "user": {"login": c.author}}))
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["repos", o, r, "issues", n, "comments"]) => {
            if s.forbid_comments {
                return forbidden();
            }
            let issue = n.parse().unwrap_or(0);
            let author = s.token_author();
            if let Some(racing) = s.racing_comment.take() {
                s.push_comment(issue, &racing, &author);
            }
            let id = s.push_comment(issue, body["body"].as_str().unwrap_or_default(), &author);
            (
                201,
                json!({"id": id, "html_url": format!("https://github.com/{o}/{r}/pull/{issue}#issuecomment-{id}")}),
            )
        }
        ("PATCH", ["repos", o, r, "issues", "comments", id]) => {
            if s.forbid_comments {
                return forbidden();
            }
            let id: u64 = id.parse().unwrap_or(0);
            match s.comments.iter_mut().find(|c| c.id == id) {
                Some(c) => {
                    c.body = body["body"].as_str().unwrap_or_default().to_string();
                    let issue = c.issue;
                    (
                        200,
                        json!({"id": id, "html_url": format!("https://github.com/{o}/{r}/pull/{issue}#issuecomment-{id}")}),
                    )
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("DELETE", ["repos", _, _, "issues", "comments", id]) => {
            if s.forbid_comments {
                return forbidden();
            }
            let id: u64 = id.parse().unwrap_or(0);
            let before = s.comments.len();
            s.comments.retain(|c| c.id != id);
            if s.comments.len() < before {
                (204, Value::Null)
            } else {
                (404, json!({"message": "Not Found"}))
            }
        }
        ("POST", ["repos", _, _, "deployments"]) => {
            s.next_id += 1;
            let id = s.next_id;
            s.deployments.push(Deployment {
                id,
                environment: body["environment"]
                    .as_str()
                    .unwrap_or("production")
                    .to_string(),
                git_ref: body["ref"].as_str().unwrap_or_default().to_string(),
                request: body.clone(),
                states: vec![],
            });
            (201, json!({"id": id, "environment": body["environment"]}))
        }
        ("GET", ["repos", _, _, "deployments"]) => {
            let environment = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("environment="))
                .unwrap_or_default()
                .to_string();
            let per_page = param("per_page").unwrap_or(30);
            let page = param("page").unwrap_or(1).max(1);
            // Newest first, as GitHub lists them.
            let list: Vec<Value> = s
                .deployments
                .iter()
                .rev()
                .filter(|d| environment.is_empty() || d.environment == environment)
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|d| json!({"id": d.id, "environment": d.environment}))
                .collect();
            (200, Value::Array(list))
        }
        ("POST", ["repos", _, _, "deployments", id, "statuses"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match s.deployments.iter_mut().find(|d| d.id == id) {
                Some(d) => {
                    d.states
                        .push(body["state"].as_str().unwrap_or_default().to_string());
                    (201, json!({"id": 1, "state": body["state"]}))
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["repos", _, _, "deployments", id, "statuses"]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match s.deployments.iter().find(|d| d.id == id) {
                Some(d) => (
                    200,
                    Value::Array(
                        d.states
                            .iter()
                            .rev()
                            .map(|st| json!({"state": st}))
                            .collect(),
                    ),
                ),
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["user"]) => match &s.token_login {
            Some(login) => (200, json!({"login": login, "type": "User"})),
            None => forbidden(),
        },
        _ => (404, json!({"message": "Not Found"})),
    }
}
