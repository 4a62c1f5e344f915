//! A legacy RC whose selector lacks the version key (the seeds' first state, `name=api-pods` only) is
//! migrated as kubectl did, without downtime: the label goes into the old template first (new pods get it),
//! then onto every existing pod, then into the old selector. The selectors of the old and the new RC then
//! differ by the version key and never overlap, while the Service's selector still matches both.

use std::collections::BTreeMap;

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use super::{kube_ops, Engine};
use crate::plan::Migration;

/// Pod relabels in flight at once.
const RELABEL_CONCURRENCY: usize = 16;

pub async fn add_version_label(
    engine: &mut Engine,
    old: &ReplicationController,
    m: &Migration,
) -> anyhow::Result<ReplicationController> {
    let name = old.metadata.name.clone().unwrap_or_default();
    let selector: BTreeMap<String, String> = old
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    engine.log(format!(
        "Adding {}={} to {name}'s template, pods and selector (its selector has no `{}` key yet)",
        m.key, m.value, m.key
    ));

    let template_labels =
        json!({ "spec": { "template": { "metadata": { "labels": { &m.key: &m.value } } } } });
    kube_ops::merge_patch(&engine.rcs, &name, template_labels).await?;

    let pods: Api<Pod> = Api::namespaced(engine.client.clone(), &engine.namespace);
    let label_selector = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let list_params = ListParams::default().labels(&label_selector);
    let list = kube_ops::retry(|| pods.list(&list_params))
        .await
        .map_err(|e| anyhow::anyhow!(kube_ops::explain(&e, "list", "pods")))?;
    let params = PatchParams::default();
    let pod_patch = json!({ "metadata": { "labels": { &m.key: &m.value } } });
    let pod_patch = Patch::Merge(&pod_patch);
    // One small patch per pod, RELABEL_CONCURRENCY at a time: one after the other, 200 pods cost ~2 s of round
    // trips before the rollout could start (bench/results.md).
    let (pods, params, pod_patch) = (&pods, &params, &pod_patch);
    futures::stream::iter(list.items)
        .map(|pod| async move {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            match kube_ops::retry(|| pods.patch(&pod_name, params, pod_patch)).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(anyhow::anyhow!(kube_ops::explain(
                    &e,
                    "patch",
                    &format!("pods/{pod_name}")
                ))),
            }
        })
        .buffer_unordered(RELABEL_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;

    let selector = json!({ "spec": { "selector": { &m.key: &m.value } } });
    let updated = kube_ops::merge_patch(&engine.rcs, &name, selector)
        .await
        .context("migrating the legacy selector")?;
    Ok(updated)
}
