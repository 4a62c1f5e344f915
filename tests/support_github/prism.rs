//! One Prism per test binary: GitHub's REST API mocked from its official OpenAPI description, on loopback.
//!
//! Prism answers any request the description does not allow with a 4xx (422 naming the field, 405 for a wrong
//! method, 404 for a wrong path), so a test that asserts "no warnings" fails on every request GitHub would
//! reject. Loading the 13 MB description takes 10-30 s, hence one instance shared by all tests (or an
//! already-running one given as `PRISM_URL`, see scripts/prism.sh). The instance is tied to the test process by
//! a pipe: when the process exits the pipe closes and the wrapper shell kills Prism.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static PRISM: OnceLock<String> = OnceLock::new();
/// Kept for the life of the process: dropping the child's stdin would stop Prism.
static CHILD: Mutex<Option<Child>> = Mutex::new(None);

/// The base URL of a ready Prism.
pub fn url() -> String {
    if let Ok(url) = std::env::var("PRISM_URL") {
        if !url.trim().is_empty() {
            return url.trim().trim_end_matches('/').to_string();
        }
    }
    PRISM.get_or_init(start).clone()
}

fn start() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let prism = root.join("node_modules/.bin/prism");
    let spec = root.join("node_modules/@octokit/openapi/generated/api.github.com.json");
    assert!(
        prism.exists() && spec.exists(),
        "Prism or GitHub's OpenAPI description is missing: run `npm ci` in {}",
        root.display()
    );
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().unwrap().port()
    };
    let log = std::env::temp_dir().join(format!("prism-{}-{port}.log", std::process::id()));
    let script = r#"prism="$1"; spec="$2"; port="$3"; log="$4"
"$prism" mock -h 127.0.0.1 -p "$port" "$spec" >"$log" 2>&1 &
pid=$!
cat >/dev/null
kill "$pid" 2>/dev/null"#;
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("prism-wrapper")
        .arg(&prism)
        .arg(&spec)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start Prism");
    *CHILD.lock().unwrap() = Some(child);

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&log) {
            let _ = f.read_to_string(&mut text);
        }
        if text.contains("Prism is listening") {
            return format!("http://127.0.0.1:{port}");
        }
        if let Some(status) = CHILD.lock().unwrap().as_mut().unwrap().try_wait().unwrap() {
            panic!("Prism exited ({status}) before it was ready:\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "Prism was not ready within 180 s; log {}:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
