//! The cluster side of previews: put the preview Service in place, and remove everything a PR's preview
//! left (RCs, their pods, Services) when the PR closes. Everything a preview creates carries the PR label, so
//! cleanup selects by that label and nothing else.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use super::kube_ops::{explain, retry};
use crate::plan::annotations as ann;

/// Creates the preview Service, or updates its selector and ports in place.
pub async fn ensure_service(
    client: &kube::Client,
    namespace: &str,
    service: &Service,
) -> anyhow::Result<Service> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let name = service.metadata.name.clone().unwrap_or_default();
    let params = PostParams::default();
    match retry(|| api.get_opt(&name))
        .await
        .map_err(|e| anyhow::anyhow!(explain(&e, "get", "services")))?
    {
        None => retry(|| api.create(&params, service))
            .await
            .map_err(|e| anyhow::anyhow!(explain(&e, "create", "services"))),
        Some(mut existing) => {
            let mut spec = existing.spec.clone().unwrap_or_default();
            let wanted = service.spec.clone().unwrap_or_default();
            spec.selector = wanted.selector;
            spec.ports = wanted.ports;
            existing.spec = Some(spec);
            existing.metadata.labels = service.metadata.labels.clone();
            retry(|| api.replace(&name, &params, &existing))
                .await
                .map_err(|e| anyhow::anyhow!(explain(&e, "update", "services")))
        }
    }
}

/// What cleanup removed.
#[derive(Debug, Default)]
pub struct Removed {
    pub rcs: Vec<String>,
    pub services: Vec<String>,
    pub pods: usize,
}

/// Deletes every object of `api` that `list` selects (one already gone counts as deleted); their names. With
/// `dry_run`, only their names.
async fn delete_all<K>(
    api: &Api<K>,
    list: &ListParams,
    delete: &DeleteParams,
    plural: &str,
    dry_run: bool,
) -> anyhow::Result<Vec<String>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let found = retry(|| api.list(list))
        .await
        .map_err(|e| anyhow::anyhow!(explain(&e, "list", plural)))?;
    let mut names = vec![];
    for object in found.items {
        let name = object.meta().name.clone().unwrap_or_default();
        if !dry_run {
            match retry(|| api.delete(&name, delete)).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => anyhow::bail!(explain(&e, "delete", &format!("{plural}/{name}"))),
            }
        }
        names.push(name);
    }
    Ok(names)
}

/// Deletes every RC and Service labelled with the PR, then waits (bounded) until their pods are gone. With
/// `dry_run`, only lists what it would remove.
pub async fn cleanup(
    client: &kube::Client,
    namespace: &str,
    pr: u64,
    dry_run: bool,
) -> anyhow::Result<Removed> {
    let selector = format!("{}={pr}", ann::PREVIEW_PR_LABEL);
    let list = ListParams::default().labels(&selector);
    let delete = DeleteParams::background();
    let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut removed = Removed {
        rcs: delete_all(&rcs, &list, &delete, "replicationcontrollers", dry_run).await?,
        services: delete_all(&services, &list, &delete, "services", dry_run).await?,
        pods: 0,
    };
    if dry_run {
        removed.pods = retry(|| pods.list(&list))
            .await
            .map_err(|e| anyhow::anyhow!(explain(&e, "list", "pods")))?
            .items
            .len();
        return Ok(removed);
    }
    // The garbage collector deletes the RCs' pods; orphans (an RC deleted with orphan propagation) go here too.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = retry(|| pods.list(&list))
            .await
            .map_err(|e| anyhow::anyhow!(explain(&e, "list", "pods")))?;
        removed.pods = removed.pods.max(left.items.len());
        let live: Vec<_> = left
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        if left.items.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "{} pods labelled {selector} are still terminating after 60s",
                left.items.len()
            );
        }
        for p in live {
            let name = p.metadata.name.clone().unwrap_or_default();
            let _ = pods.delete(&name, &DeleteParams::default()).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(removed)
}
