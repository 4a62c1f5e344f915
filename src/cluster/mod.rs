//! The cluster connection: a `kube::Client` from the `kubeconfig` input (raw YAML or base64), the KUBECONFIG
//! file, ~/.kube/config, or the in-cluster service account, in that order.

pub mod observe;
mod transport;

use kube::config::{KubeConfigOptions, Kubeconfig};
use secrecy::ExposeSecret;

use crate::inputs::Settings;

/// A connected client and the namespace the run works in.
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

/// Why there is no client. The kind decides the exit code (a bad input is 2, the rest 3), never the text.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("input `kubeconfig` is not a valid kubeconfig (YAML or base64 of YAML); paste the file's content into a secret and pass it as `kubeconfig: ${{{{ secrets.KUBECONFIG }}}}`")]
    NotAKubeconfig,
    #[error("input `kubeconfig`: could not use the kubeconfig (check `context` and the user's credentials)")]
    Unusable(#[source] kube::config::KubeconfigError),
    #[error("no kubeconfig: set the `kubeconfig` input, KUBECONFIG, or run in a cluster")]
    NoConfig(#[source] kube::config::InClusterError),
    #[error("could not build the Kubernetes client")]
    Client(#[source] kube::Error),
}

impl ConnectError {
    /// The `kubeconfig` input itself is wrong (exit 2), as opposed to the environment or the cluster (exit 3).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ConnectError::NotAKubeconfig | ConnectError::Unusable(_)
        )
    }
}

/// Builds the client. Errors name the input and never include the kubeconfig's content.
pub async fn connect(settings: &Settings) -> Result<Cluster, ConnectError> {
    let options = KubeConfigOptions {
        context: settings.context.clone(),
        ..Default::default()
    };
    let config = match &settings.kubeconfig {
        Some(content) => {
            let kubeconfig = Kubeconfig::from_yaml(content.expose_secret())
                .map_err(|_| ConnectError::NotAKubeconfig)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(ConnectError::Unusable)?
        }
        None => match kube::Config::from_kubeconfig(&options).await {
            Ok(config) => config,
            Err(_) => kube::Config::incluster().map_err(ConnectError::NoConfig)?,
        },
    };
    let namespace = settings
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    // kube's built-in retry of 429/503/504 makes up to 15 attempts with a backoff capped at 1000 s: a persistent
    // outage would hang the run for many minutes. Every call of ours is bounded by `kube_ops::retry` instead (and
    // the pod watch by its own backoff), so a fault that persists ends the run with a clear error.
    let mut config = config;
    config.default_retry = false;
    let client = transport::connect(config)
        .await
        .map_err(ConnectError::Client)?;
    Ok(Cluster { client, namespace })
}
