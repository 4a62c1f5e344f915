//! The kubelet's log endpoint, so that `kubectl logs` and the product read logs exactly as on a real cluster:
//! the client asks the API server for `pods/{name}/log`, the API server finds the pod's node, takes its
//! `status.daemonEndpoints.kubeletEndpoint.port` and preferred address (InternalIP 127.0.0.1 here; the cluster
//! script sets `--kubelet-preferred-address-types=InternalIP`) and proxies the request to
//! `GET https://<address>:<port>/containerLogs/{namespace}/{pod}/{container}?tailLines=N&previous=true`.
//!
//! Served over HTTPS with the certificate the cluster script makes (`FAKE_KUBELET_TLS_CERT` / `_KEY`); the API
//! server does not verify it because it has no `--kubelet-certificate-authority`, and it presents no client
//! certificate because it has no `--kubelet-client-certificate`, so none is asked for.
//!
//! What a container "printed" is a test-bed input read only here: the pod annotation
//! `fake-kubelet.rolling-update.github.io/log.<container>`, else `...log`, else for a crashing image a built-in
//! crash log, else nothing. Which run's log exists follows the kubelet's rules (`validateContainerLogStatus`): a
//! `previous` log only after a termination; a container waiting with no earlier run has none ("is waiting to
//! start"); refusals are 400 with the kubelet's wording, an unknown pod or container 404.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::Api;
use tokio::net::TcpListener;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::scenario::Behaviour;

/// A container's log lines, set on the pod (from its template) by a test; `...log.<container>` for one container.
pub const LOG_ANNOTATION: &str = "fake-kubelet.rolling-update.github.io/log";

/// What a crashing container "printed" before it exited, when no annotation says otherwise.
pub const CRASH_LOG: &str = "> api@2.0.0 start /app\n> node server.js\n\n\
Error: connect ECONNREFUSED 10.0.0.5:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (net.js:1141:16)";

/// The TLS side of the endpoint, from PEM files (certificate chain, then private key).
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("failed to read the certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("failed to read the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("failed to set up TLS")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("failed to use the certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Answers log requests on `listener` until the process ends.
pub async fn serve(client: kube::Client, listener: TcpListener, tls: TlsAcceptor) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                eprintln!("fake-kubelet: failed to accept a log connection: {e}");
                continue;
            }
        };
        let (tls, client) = (tls.clone(), client.clone());
        tokio::spawn(async move {
            let stream = match tls.accept(tcp).await {
                Ok(stream) => stream,
                Err(e) => return eprintln!("fake-kubelet: TLS handshake failed: {e}"),
            };
            let service = service_fn(move |request| {
                let client = client.clone();
                async move { Ok::<_, Infallible>(handle(&client, request).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("fake-kubelet: log connection failed: {e}");
            }
        });
    }
}

async fn handle(client: &kube::Client, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match parse(request.method(), request.uri()) {
        Err(refusal) => refusal,
        Ok(query) => {
            let api: Api<Pod> = Api::namespaced(client.clone(), &query.namespace);
            match api.get_opt(&query.pod).await {
                Ok(pod) => answer(pod.as_ref(), &query),
                Err(e) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("failed to get pod {}/{}: {e}\n", query.namespace, query.pod),
                ),
            }
        }
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// One log request: `/containerLogs/{namespace}/{pod}/{container}` and the query the API server passes on.
#[derive(Debug, PartialEq, Eq)]
pub struct Query {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub options: LogOptions,
}

/// The query string: which run of the container and how much of its log. Each is optional, so the default is
/// what a request without a query string gets: the current run's whole log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub previous: bool,
    pub tail_lines: Option<usize>,
    pub limit_bytes: Option<usize>,
}

type Answer = (StatusCode, String);

fn parse(method: &Method, uri: &hyper::Uri) -> Result<Query, Answer> {
    let not_found = || (StatusCode::NOT_FOUND, "404 page not found\n".to_string());
    if method != Method::GET {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET serves logs\n".into(),
        ));
    }
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let ["containerLogs", namespace, pod, container] = parts[..] else {
        return Err(not_found());
    };
    let mut query = Query {
        namespace: namespace.into(),
        pod: pod.into(),
        container: container.into(),
        options: LogOptions::default(),
    };
    for pair in uri.query().unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Negative numbers mean "no limit" to the kubelet, as an absent parameter does.
        match key {
            "previous" => query.options.previous = matches!(value, "true" | "1"),
            "tailLines" => query.options.tail_lines = value.parse().ok(),
            "limitBytes" => query.options.limit_bytes = value.parse().ok(),
            _ => {}
        }
    }
    Ok(query)
}

/// The kubelet's answer for `pod` (None: not found), given what the pod's status says ran.
pub fn answer(pod: Option<&Pod>, query: &Query) -> Answer {
    let (name, container) = (&query.pod, &query.container);
    let Some(pod) = pod else {
        return (
            StatusCode::NOT_FOUND,
            format!("pod \"{name}\" does not exist\n"),
        );
    };
    // Init containers have logs too (a crashing one is the cause to quote).
    let Some(spec) = pod.spec.as_ref().and_then(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .find(|c| &c.name == container)
    }) else {
        return (
            StatusCode::NOT_FOUND,
            format!("container \"{container}\" not found in pod \"{name}\"\n"),
        );
    };
    let status = pod.status.as_ref().and_then(|s| {
        s.container_statuses
            .iter()
            .flatten()
            .chain(s.init_container_statuses.iter().flatten())
            .find(|c| &c.name == container)
    });
    if let Err(why) = has_log(status, query.options.previous) {
        let why = format!(
            "{} in pod \"{name}\" {why}\n",
            quoted_container(container, query.options.previous)
        );
        return (StatusCode::BAD_REQUEST, why);
    }
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let text = annotations
        .get(&format!("{LOG_ANNOTATION}.{container}"))
        .or_else(|| annotations.get(LOG_ANNOTATION))
        .map(String::as_str)
        .unwrap_or_else(|| {
            let image = spec.image.as_deref().unwrap_or_default();
            match Behaviour::from_image(image) {
                Behaviour::CrashLoop => CRASH_LOG,
                _ => "",
            }
        });
    (
        StatusCode::OK,
        tail(text, query.options.tail_lines, query.options.limit_bytes),
    )
}

fn quoted_container(container: &str, previous: bool) -> String {
    if previous {
        format!("previous terminated container \"{container}\"")
    } else {
        format!("container \"{container}\"")
    }
}

/// Whether the container has the log asked for (the kubelet's `validateContainerLogStatus`), else why not.
fn has_log(status: Option<&ContainerStatus>, previous: bool) -> Result<(), String> {
    let Some(status) = status else {
        return Err("is not available".into());
    };
    let last_terminated = status
        .last_state
        .as_ref()
        .is_some_and(|s| s.terminated.is_some());
    if previous {
        return if last_terminated {
            Ok(())
        } else {
            Err("not found".into())
        };
    }
    let state = status.state.clone().unwrap_or_default();
    if state.running.is_some() || state.terminated.is_some() || last_terminated {
        return Ok(());
    }
    match state.waiting.and_then(|w| w.reason) {
        Some(r) if r == "ErrImagePull" => Err("is waiting to start: image can't be pulled".into()),
        Some(r) if r == "ImagePullBackOff" => {
            Err("is waiting to start: trying and failing to pull image".into())
        }
        Some(r) => Err(format!("is waiting to start: {r}")),
        None => Err("is waiting to start - no logs yet".into()),
    }
}

/// The last `lines` lines (all when None), each ending in a newline, cut to `limit_bytes`.
fn tail(text: &str, lines: Option<usize>, limit_bytes: Option<usize>) -> String {
    let all: Vec<&str> = text.lines().collect();
    let keep = lines.unwrap_or(all.len()).min(all.len());
    let mut out: String = all[all.len() - keep..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(limit) = limit_bytes {
        let mut cut = limit.min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(image: &str, status: serde_json::Value, annotations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "api-1", "namespace": "ns", "annotations": annotations},
            "spec": {"containers": [{"name": "app", "image": image}]},
            "status": {"containerStatuses": [status]},
        }))
        .unwrap()
    }

    fn crashed() -> serde_json::Value {
        json!({"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 2,
               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}})
    }

    fn query(uri: &str) -> Query {
        parse(&Method::GET, &uri.parse().unwrap()).unwrap()
    }

    #[test]
    fn parses_the_path_and_query_the_api_server_sends() {
        assert_eq!(
            query("/containerLogs/ns/api-1/app?previous=true&tailLines=20"),
            Query {
                namespace: "ns".into(),
                pod: "api-1".into(),
                container: "app".into(),
                options: LogOptions {
                    previous: true,
                    tail_lines: Some(20),
                    limit_bytes: None,
                },
            }
        );
        let q = query("/containerLogs/ns/api-1/app?tailLines=-1&limitBytes=5");
        assert_eq!(
            q.options,
            LogOptions {
                limit_bytes: Some(5),
                ..LogOptions::default()
            }
        );
        let other = parse(&Method::GET, &"/pods".parse().unwrap());
        assert_eq!(other.unwrap_err().0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_crashed_container_shows_the_built_in_crash_log_or_its_annotation() {
        let q = query("/containerLogs/ns/api-1/app?previous=true&tailLines=2");
        let (status, body) = answer(Some(&pod("api:crashloop", crashed(), json!({}))), &q);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            "Error: connect ECONNREFUSED 10.0.0.5:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (net.js:1141:16)\n"
        );
        let annotated = pod(
            "api:crashloop",
            crashed(),
            json!({LOG_ANNOTATION: "pod-wide", format!("{LOG_ANNOTATION}.app"): "one\ntwo\nthree"}),
        );
        assert_eq!(answer(Some(&annotated), &q).1, "two\nthree\n");
    }

    #[test]
    fn refusals_use_the_kubelets_wording() {
        let running = json!({"name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
                             "state": {"running": {}}});
        let q = query("/containerLogs/ns/api-1/app?previous=true");
        assert_eq!(
            answer(Some(&pod("api:1", running.clone(), json!({}))), &q),
            (
                StatusCode::BAD_REQUEST,
                "previous terminated container \"app\" in pod \"api-1\" not found\n".into()
            )
        );
        let current = query("/containerLogs/ns/api-1/app");
        assert_eq!(
            answer(Some(&pod("api:1", running, json!({}))), &current),
            (StatusCode::OK, String::new())
        );
        let pulling = json!({"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                             "state": {"waiting": {"reason": "ImagePullBackOff"}}});
        assert_eq!(
            answer(Some(&pod("api:unpullable", pulling, json!({}))), &current).1,
            "container \"app\" in pod \"api-1\" is waiting to start: trying and failing to pull image\n"
        );
        assert_eq!(answer(None, &current).0, StatusCode::NOT_FOUND);
        let sidecar = query("/containerLogs/ns/api-1/sidecar");
        assert_eq!(
            answer(Some(&pod("api:1", crashed(), json!({}))), &sidecar).1,
            "container \"sidecar\" not found in pod \"api-1\"\n"
        );
    }

    #[test]
    fn tail_keeps_the_last_lines_and_cuts_at_a_character_boundary() {
        assert_eq!(tail("a\nb\nc", Some(2), None), "b\nc\n");
        assert_eq!(tail("a\nb", Some(10), None), "a\nb\n");
        assert_eq!(tail("a\nb", None, None), "a\nb\n");
        assert_eq!(tail("é\n", None, Some(1)), "");
    }
}
