//! The connection to the apiserver: HTTP/2, one TLS connection for every request and watch of the run.
//!
//! Why not kube's own client: it speaks HTTP/1.1 only (kube-rs/kube#1923), so every request in flight and every
//! open watch needs a connection of its own, each with its own TLS handshake. A run starts with about ten
//! requests and watches at once (the lock, the observation, the pod watch, the cluster cache): measured on the
//! bench's control plane, seven handshakes at once kept the first answer 45 ms away from the first connect, most
//! of the time from process start to the first scale-up. client-go has spoken HTTP/2 to the apiserver since
//! Kubernetes 1.6, and this does the same: ALPN offers `h2` and `http/1.1`, so a server or load balancer that
//! does not speak HTTP/2 is still served, over HTTP/1.1.
//!
//! A dead connection is found by HTTP/2 PINGs (every 30 s, 15 s to answer: client-go's `ReadIdleTimeout` and
//! `PingTimeout`), not by kube's read timeout on the socket, which on a shared connection would cut every
//! stream at once. kube's own stack is kept for what this does not cover: a proxy in the kubeconfig, a server
//! over plain http (the tests' fault proxy), a `tls-server-name` override.

use std::time::Duration;

use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ClientBuilder, ConfigExt as _};
use tower::{BoxError, ServiceBuilder};

/// Interval between HTTP/2 PINGs on the connection, and how long an answer may take.
const PING_EVERY: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// Which stack a kubeconfig gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One TLS connection, HTTP/2 when the server offers it.
    Multiplexed,
    /// kube's client: a proxy, plain http, or a TLS server name override.
    KubeDefault,
}

impl Transport {
    pub fn for_config(config: &kube::Config) -> Transport {
        let https = config.cluster_url.scheme_str() == Some("https");
        if https && config.proxy_url.is_none() && config.tls_server_name.is_none() {
            Transport::Multiplexed
        } else {
            Transport::KubeDefault
        }
    }
}

/// The client for `config`, over HTTP/2 where [`Transport::for_config`] allows it, with its connection open.
///
/// Opening it takes one small request (`GET /version`, readable by every user) before the run's burst: until a
/// connection has said `h2` in ALPN, every request started at once would open (and handshake) a connection of
/// its own. If that request fails, the run's own requests meet the same fault and report it.
pub async fn connect(config: kube::Config) -> Result<kube::Client, kube::Error> {
    match Transport::for_config(&config) {
        Transport::KubeDefault => kube::Client::try_from(config),
        Transport::Multiplexed => {
            let client = multiplexed(config)?;
            let _ = tokio::time::timeout(OPEN_WITHIN, client.apiserver_version()).await;
            Ok(client)
        }
    }
}

/// How long opening the connection may take before the run goes on without it.
const OPEN_WITHIN: Duration = Duration::from_secs(5);

/// kube's layers over hyper's client with ALPN `h2` and `http/1.1`.
fn multiplexed(config: kube::Config) -> Result<kube::Client, kube::Error> {
    let tls = config.rustls_client_config()?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let hyper: HyperClient<_, Body> = HyperClient::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .http2_keep_alive_interval(PING_EVERY)
        .http2_keep_alive_timeout(PING_TIMEOUT)
        .http2_keep_alive_while_idle(true)
        .build(https);
    // The layers of kube's own stack, in its order (the base URI outermost), less its retry (off for this
    // action: kube_ops bounds every call) and its tracing.
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> kube::Config {
        kube::Config::new(url.parse().unwrap())
    }

    #[test]
    fn https_without_a_proxy_is_multiplexed_and_the_rest_keeps_kubes_stack() {
        assert_eq!(
            Transport::for_config(&config("https://10.0.0.1:6443")),
            Transport::Multiplexed
        );
        assert_eq!(
            Transport::for_config(&config("http://127.0.0.1:8080")),
            Transport::KubeDefault
        );
        let mut proxied = config("https://10.0.0.1:6443");
        proxied.proxy_url = Some("http://proxy:3128".parse().unwrap());
        assert_eq!(Transport::for_config(&proxied), Transport::KubeDefault);
        let mut renamed = config("https://10.0.0.1:6443");
        renamed.tls_server_name = Some("kubernetes.default".into());
        assert_eq!(Transport::for_config(&renamed), Transport::KubeDefault);
    }
}
