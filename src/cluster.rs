//! The cluster connection: a `kube::Client` from the `kubeconfig` input (raw YAML or base64), the KUBECONFIG
//! file, ~/.kube/config, or the in-cluster service account, in that order.

use anyhow::Context as _;
use kube::config::{KubeConfigOptions, Kubeconfig};
use secrecy::ExposeSecret;

use crate::inputs::Settings;

/// A connected client and the namespace the run works in.
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

/// Builds the client. Errors name the input and never include the kubeconfig's content.
pub async fn connect(settings: &Settings) -> anyhow::Result<Cluster> {
    let options = KubeConfigOptions {
        context: settings.context.clone(),
        ..Default::default()
    };
    let config = match &settings.kubeconfig {
        Some(content) => {
            let kubeconfig = Kubeconfig::from_yaml(content.expose_secret()).map_err(|_| {
                anyhow::anyhow!(
                    "input `kubeconfig` is not a valid kubeconfig (YAML or base64 of YAML); \
                     paste the file's content into a secret and pass it as `kubeconfig: ${{{{ secrets.KUBECONFIG }}}}`"
                )
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .context("input `kubeconfig`: could not use the kubeconfig (check `context` and the user's credentials)")?
        }
        None => kube::Config::from_kubeconfig(&options)
            .await
            .or_else(|_| kube::Config::incluster())
            .context(
                "no kubeconfig: set the `kubeconfig` input, KUBECONFIG, or run in a cluster",
            )?,
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
    let client = kube::Client::try_from(config).context("could not build the Kubernetes client")?;
    Ok(Cluster { client, namespace })
}
