//! What planning reads from the cluster, once, before anything changes: the namespace's RCs, Services and
//! HorizontalPodAutoscalers, and the `manifest` file. The plan is pure; this is its thin async edge, so the run
//! only executes.

use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ReplicationController, Service};
use kube::api::{Api, ListParams};

use super::Cluster;
use crate::inputs::Settings;
use crate::plan::{self, Observed};
use crate::report::actions;
use crate::rollout::kube_ops;

/// Why there is nothing to plan from. The kind decides the exit code: the first two are bad input.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("{0}")]
    Manifest(String),
    #[error("input `namespace`: namespace `{0}` does not exist; create it or fix the input")]
    NoNamespace(String),
    #[error(transparent)]
    Fault(anyhow::Error),
}

/// Reads every RC and Service of the namespace, its HPAs, and the manifest.
pub async fn observe(cluster: &Cluster, settings: &Settings) -> Result<Observed, ObserveError> {
    let manifest = match &settings.manifest {
        Some(path) => {
            Some(plan::load_manifest(path).map_err(|e| ObserveError::Manifest(e.to_string()))?)
        }
        None => None,
    };
    let rcs: Api<ReplicationController> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let services: Api<Service> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = ListParams::default();
    // Three independent reads, at once: start-up time is time users wait before anything moves.
    let (rcs, services, autoscalers) = tokio::join!(
        kube_ops::retry(|| rcs.list(&params)),
        kube_ops::retry(|| services.list(&params)),
        list_autoscalers(cluster),
    );
    let rcs = rcs.map_err(|e| {
        if matches!(&e, kube::Error::Api(s) if s.code == 404) {
            ObserveError::NoNamespace(cluster.namespace.clone())
        } else {
            ObserveError::Fault(anyhow::anyhow!(kube_ops::explain(
                &e,
                "list",
                "replicationcontrollers"
            )))
        }
    })?;
    let services = services.map_err(|e| {
        ObserveError::Fault(anyhow::anyhow!(kube_ops::explain(&e, "list", "services")))
    })?;
    Ok(Observed {
        rcs: rcs.items,
        services: services.items,
        manifest,
        autoscalers,
    })
}

/// The namespace's HPAs (autoscaling/v1, served from 1.20 to 1.35), for the check that none targets the RC this
/// run replaces. The README's Role may not grant them: then the run says it could not check, and goes on.
async fn list_autoscalers(cluster: &Cluster) -> Vec<HorizontalPodAutoscaler> {
    let api: Api<HorizontalPodAutoscaler> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let params = ListParams::default();
    match kube_ops::retry(|| api.list(&params)).await {
        Ok(list) => list.items,
        Err(e) => {
            actions::warning(&format!(
                "could not check whether a HorizontalPodAutoscaler targets the RC being replaced ({}); grant `list` on `horizontalpodautoscalers.autoscaling` to have it checked",
                kube_ops::explain(&e, "list", "horizontalpodautoscalers")
            ));
            vec![]
        }
    }
}
