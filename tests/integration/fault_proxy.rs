//! A fault-injecting HTTP proxy on loopback between the action and the real apiserver.
//!
//! Why a proxy and not a mock: the action must survive the faults a real network and a busy apiserver produce
//! (5xx, 429 with Retry-After, 409 on writes, watch streams cut mid-way, slow answers, connections refused)
//! while everything else is the real control plane. The action talks plain HTTP to the proxy (its kubeconfig
//! points at `http://127.0.0.1:<port>` with the same bearer token); the proxy forwards over TLS with its own
//! admin client (`kube::Client::send`: TLS and auth come from the test kubeconfig, no TLS code here).
//!
//! Faults are drawn per request from a seeded generator, so a failing run can be replayed with the same seed.
//! [`Mode::Refuse`] closes the listening socket (connections are refused, as with a stopped apiserver) and drops
//! every open connection, watches included.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt as _, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// What the proxy does to each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything untouched.
    Pass,
    /// Inject a fault into `percent` of the requests (kinds drawn at random, see [`Fault`]).
    Faults { percent: u32 },
    /// Answer every request with 503 (a fault that persists).
    AlwaysUnavailable,
    /// Close the listening socket and every open connection: the apiserver is gone.
    Refuse,
}

/// The faults the proxy injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Forwarded (a write lands), but the answer is replaced by a 500: the client can't know it landed.
    ServerErrorAfterForward,
    /// 503 without forwarding.
    Unavailable,
    /// 429 with `Retry-After: 1`, without forwarding.
    TooManyRequests,
    /// 409 Conflict on a write, without forwarding.
    Conflict,
    /// Forwarded after a delay of 0.3-1.5 s.
    Slow,
    /// A watch forwarded, then cut after 0.2-2 s (in [`Mode::Faults`], every watch that got no other fault).
    CutWatch,
}

/// Counts of requests and injected faults.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub requests: u64,
    pub injected: BTreeMap<Fault, u64>,
    /// Faults drawn from the `percent` share (every kind, cut watches included), not the extra cut of every watch.
    pub share: u64,
    pub refused_or_dropped: u64,
    /// Every request as `METHOD /path?query`, in arrival order (what a cost test counts).
    pub lines: Vec<String>,
}

impl Stats {
    pub fn total_injected(&self) -> u64 {
        self.injected.values().sum()
    }
}

struct Shared {
    upstream: kube::Client,
    mode: watch::Sender<Mode>,
    rng: AtomicU64,
    counter: AtomicU64,
    faults: AtomicU64,
    /// How many of each kind the share of faulty requests got.
    share_kinds: Mutex<std::collections::BTreeMap<Fault, u64>>,
    phase: u64,
    stats: Mutex<Stats>,
}

impl Shared {
    /// xorshift64*: deterministic for a seed, good enough for picking faults.
    fn next(&self) -> u64 {
        let mut x = self.rng.load(Ordering::Relaxed);
        loop {
            let mut y = x;
            y ^= y >> 12;
            y ^= y << 25;
            y ^= y >> 27;
            match self
                .rng
                .compare_exchange(x, y, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return y.wrapping_mul(0x2545_f491_4f6c_dd1d),
                Err(actual) => x = actual,
            }
        }
    }

    fn below(&self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to the test cluster in `mode`, faults drawn from `seed`.
    pub async fn start(mode: Mode, seed: u64) -> FaultProxy {
        let kubeconfig = Kubeconfig::read_from(crate::support::kubeconfig())
            .expect("failed to read the test kubeconfig");
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("failed to load the test kubeconfig");
        // Transparent: the proxy must not retry what it forwards.
        config.default_retry = false;
        let upstream = kube::Client::try_from(config).expect("failed to build the upstream client");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("failed to bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode_tx, _) = watch::channel(mode);
        let shared = Arc::new(Shared {
            upstream,
            mode: mode_tx,
            rng: AtomicU64::new(seed.max(1)),
            counter: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            share_kinds: Mutex::default(),
            phase: seed % 100,
            stats: Mutex::new(Stats::default()),
        });
        let task = tokio::spawn(accept_loop(listener, addr, shared.clone()));
        FaultProxy { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats.lock().unwrap().clone()
    }

    /// The test kubeconfig, pointed at the proxy (plain HTTP, same bearer token).
    pub fn kubeconfig(&self) -> String {
        let text = std::fs::read_to_string(crate::support::kubeconfig())
            .expect("failed to read the test kubeconfig");
        let mut doc: serde_json::Value =
            serde_saphyr::from_str(&text).expect("the test kubeconfig is YAML");
        for cluster in doc["clusters"].as_array_mut().expect("clusters") {
            let c = cluster["cluster"].as_object_mut().expect("cluster");
            c.insert("server".into(), self.url().into());
            c.remove("certificate-authority-data");
        }
        serde_saphyr::to_string(&doc).expect("a kubeconfig")
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.mode.send_replace(Mode::Refuse);
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut listener = Some(listener);
    let mut modes = shared.mode.subscribe();
    loop {
        let refusing = *modes.borrow_and_update() == Mode::Refuse;
        if refusing {
            // Close the socket: new connections are refused, like a stopped apiserver.
            listener = None;
            if modes.changed().await.is_err() {
                return;
            }
            continue;
        }
        let current = match &listener {
            Some(l) => l,
            None => {
                // Reopen on the same port (SO_REUSEADDR lets us rebind at once).
                let mut reopened = None;
                for _ in 0..100 {
                    match TcpListener::bind(addr).await {
                        Ok(l) => {
                            reopened = Some(l);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                listener = Some(reopened.expect("failed to reopen the proxy's port"));
                continue;
            }
        };
        tokio::select! {
            accepted = current.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(serve_connection(stream, shared));
            }
            changed = modes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let mut modes = shared.mode.subscribe();
    let service = {
        let shared = shared.clone();
        hyper::service::service_fn(move |req| handle(req, shared.clone()))
    };
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let refused = async {
        loop {
            if *modes.borrow_and_update() == Mode::Refuse {
                return;
            }
            if modes.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = conn => {}
        _ = refused => {
            // Dropping the connection cuts it, open watches included.
            shared.stats.lock().unwrap().refused_or_dropped += 1;
        }
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if code == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert("retry-after", "1".parse().unwrap());
    }
    response
}

fn full(text: String) -> ProxyBody {
    Full::new(Bytes::from(text))
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn pick_fault(shared: &Shared, method: &Method, is_watch: bool) -> Option<Fault> {
    let mode = *shared.mode.borrow();
    let percent = match mode {
        Mode::Pass | Mode::Refuse => return None,
        Mode::AlwaysUnavailable => return Some(Fault::Unavailable),
        Mode::Faults { percent } => percent,
    };
    // Exactly `percent` of the requests, evenly spread (a random draw can leave a short rollout untouched); the
    // starting phase and the kinds come from the seed.
    let n = shared.counter.fetch_add(1, Ordering::Relaxed) + shared.phase;
    let percent = u64::from(percent);
    if (n + 1) * percent / 100 == n * percent / 100 {
        return None;
    }
    let is_write = !matches!(*method, Method::GET | Method::HEAD);
    let mut kinds = vec![
        Fault::ServerErrorAfterForward,
        Fault::Unavailable,
        Fault::TooManyRequests,
        Fault::Slow,
    ];
    if is_write {
        kinds.push(Fault::Conflict);
    }
    if is_watch {
        kinds.push(Fault::CutWatch);
    }
    // The kind this request can take that the share has injected least so far, ties broken by a rotation from a
    // seeded start: a short run sees every kind however its writes and watches fall among the faulted requests
    // (a plain rotation left out whichever kinds fell on requests that could not take them).
    let k = shared.faults.fetch_add(1, Ordering::Relaxed) + shared.phase;
    let len = kinds.len() as u64;
    kinds.rotate_left((k % len) as usize);
    let mut given = shared.share_kinds.lock().unwrap();
    let kind = *kinds
        .iter()
        .min_by_key(|kind| given.get(kind).copied().unwrap_or(0))
        .expect("every request can take a fault");
    *given.entry(kind).or_default() += 1;
    Some(kind)
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<ProxyBody>, Infallible> {
    let is_watch = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let mut fault = pick_fault(&shared, req.method(), is_watch);
    let from_share = fault.is_some();
    // Besides the share of faulty requests, every watch that gets through is cut after a while (as load balancers
    // and apiserver restarts do), a slow one too, so a short rollout still has to resume its watches.
    let cut = is_watch
        && matches!(*shared.mode.borrow(), Mode::Faults { .. })
        && matches!(fault, None | Some(Fault::Slow) | Some(Fault::CutWatch));
    if fault.is_none() && cut {
        fault = Some(Fault::CutWatch);
    }
    {
        let mut stats = shared.stats.lock().unwrap();
        stats.requests += 1;
        let line = format!(
            "{} {}",
            req.method(),
            req.uri().path_and_query().map_or("", |p| p.as_str())
        );
        stats.lines.push(line);
        if from_share {
            stats.share += 1;
        }
        if let Some(f) = fault {
            *stats.injected.entry(f).or_default() += 1;
        }
        if cut && fault != Some(Fault::CutWatch) {
            *stats.injected.entry(Fault::CutWatch).or_default() += 1;
        }
    }
    match fault {
        Some(Fault::Unavailable) => {
            return Ok(status(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "injected fault: unavailable"))
        }
        Some(Fault::TooManyRequests) => {
            return Ok(status(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "injected fault: too many requests"))
        }
        Some(Fault::Conflict) => {
            return Ok(status(
                StatusCode::CONFLICT,
                "Conflict",
                "injected fault: Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
            ))
        }
        Some(Fault::Slow) => tokio::time::sleep(Duration::from_millis(300 + shared.below(1200))).await,
        _ => {}
    }
    let response = match forward(req, &shared).await {
        Ok(r) => r,
        Err(e) => {
            return Ok(status(
                StatusCode::BAD_GATEWAY,
                "InternalError",
                &format!("proxy: upstream failed: {e}"),
            ))
        }
    };
    if fault == Some(Fault::ServerErrorAfterForward) {
        return Ok(status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "injected fault: internal error",
        ));
    }
    let (parts, body) = response.into_parts();
    let body = if cut {
        let cut_after = Duration::from_millis(200 + shared.below(1800));
        let deadline = tokio::time::Instant::now() + cut_after;
        // Ends the stream (cleanly, as an apiserver restart or a load balancer timeout would) at the deadline.
        let frames = body
            .into_data_stream()
            .take_until(tokio::time::sleep_until(deadline));
        let frames = frames.map(|chunk| {
            chunk
                .map(Frame::data)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
        });
        StreamBody::new(frames).boxed_unsync()
    } else {
        body.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
            .boxed_unsync()
    };
    Ok(Response::from_parts(parts, body))
}

async fn forward(
    req: Request<Incoming>,
    shared: &Shared,
) -> Result<Response<kube::client::Body>, String> {
    let (mut parts, body) = req.into_parts();
    let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    // The upstream client adds its own credentials; keep only the path and query of the URI.
    parts.headers.remove("authorization");
    parts.headers.remove("host");
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = path
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let request = Request::from_parts(parts, kube::client::Body::from(bytes.to_vec()));
    shared
        .upstream
        .send(request)
        .await
        .map_err(|e| e.to_string())
}
