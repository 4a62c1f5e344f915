//! A legacy RC whose selector lacks the version key (the seeds' first state, `name=api-pods` only) is
//! migrated as kubectl did, without downtime: the label goes into the old template first (new pods get it),
//! then onto every existing pod, then into the old selector. The selectors of the old and the new RC then
//! differ by the version key and never overlap, while the Service's selector still matches both.
//!
//! Two things kubectl got wrong or we once did: only pods the old RC controls (ownerReference UID) are relabelled,
//! never another controller's pods that happen to match the legacy selector (a canary RC sharing
//! `name=api-pods`); and kubectl's last step is kept: pods the RC created from its stale template while we
//! relabelled (they lack the new label) are released by the RC once its selector changes and would serve the old
//! version forever, so they are deleted, and the pod set is reconciled until it is stable.

use std::collections::BTreeMap;

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

use super::{availability, kube_ops, Engine};
use crate::plan::Migration;

/// How long the RC controller's informer is given to catch up with relabels our watch has seen.
const INFORMER_MARGIN: std::time::Duration = std::time::Duration::from_millis(200);

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

    let selector_before = selector.clone();
    let template_labels =
        json!({ "spec": { "template": { "metadata": { "labels": { &m.key: &m.value } } } } });
    kube_ops::merge_patch(&engine.rcs, &name, template_labels).await?;

    let pods: Api<Pod> = Api::namespaced(engine.client.clone(), &engine.namespace);
    let label_selector = crate::k8s::label_selector(&selector);
    let list_params = ListParams::default().labels(&label_selector);
    let list = kube_ops::retry(|| pods.list(&list_params))
        .await
        .map_err(|e| anyhow::anyhow!(kube_ops::explain(&e, "list", "pods")))?;
    let uid = old.metadata.uid.clone().unwrap_or_default();
    let ours: Vec<Pod> = list
        .items
        .into_iter()
        .filter(|p| availability::controller_uid(p) == Some(uid.as_str()))
        .collect();
    let relabelled: Vec<String> = ours
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    relabel(&pods, ours, m).await?;
    settle_before_selector(engine, &relabelled, m).await;

    let selector = json!({ "spec": { "selector": { &m.key: &m.value } } });
    let updated = kube_ops::merge_patch(&engine.rcs, &name, selector)
        .await
        .context("migrating the legacy selector")?;
    let removed = clean_up_stale(engine, &pods, &updated, &selector_before, &uid, m).await?;
    if removed > 0 {
        engine.log(format!(
            "Deleted {removed} pod(s) that {name} created from its old template during the migration (they lacked {}={}; kubectl rolling-update's last migration step)",
            m.key, m.value
        ));
    }
    Ok(updated)
}

/// Adds the label to each pod, RELABEL_CONCURRENCY at a time: one after the other, 200 pods cost ~2 s of round
/// trips before the rollout could start (bench/results.md).
async fn relabel(pods: &Api<Pod>, items: Vec<Pod>, m: &Migration) -> anyhow::Result<()> {
    let params = PatchParams::default();
    let pod_patch = json!({ "metadata": { "labels": { &m.key: &m.value } } });
    let pod_patch = Patch::Merge(&pod_patch);
    let (params, pod_patch) = (&params, &pod_patch);
    futures::stream::iter(items)
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
    Ok(())
}

/// The RC controller decides from its informer's cache: if it sees the new selector before the relabels, it
/// releases the pods it thinks lack the label and creates replacements (seen on the test bed: 5 pods for 3
/// replicas, past the surge ceiling). Our own pod watch is fed by the same apiserver watch cache, so we wait
/// until it shows every relabel, then give the controller's informer a moment more.
async fn settle_before_selector(engine: &Engine, names: &[String], m: &Migration) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let seen = engine
            .pods()
            .into_iter()
            .filter(|p| p.metadata.name.as_ref().is_some_and(|n| names.contains(n)))
            .filter(|p| p.metadata.labels.as_ref().and_then(|l| l.get(&m.key)) == Some(&m.value))
            .count();
        if seen >= names.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(INFORMER_MARGIN).await;
}

/// Pods left behind by the migration: matched by the legacy selector, lacking the new label, and either still
/// controlled by the old RC or released by it (no controller at all). Another controller's pods are never
/// touched.
fn stale<'a>(
    items: &'a [Pod],
    selector_before: &BTreeMap<String, String>,
    uid: &str,
    m: &Migration,
) -> Vec<&'a Pod> {
    items
        .iter()
        .filter(|p| availability::is_active(p))
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            availability::selector_matches(selector_before, labels)
                && labels.and_then(|l| l.get(&m.key)) != Some(&m.value)
        })
        .filter(|p| match availability::controller_uid(p) {
            Some(owner) => owner == uid,
            None => true,
        })
        .collect()
}

/// kubectl's last step, then reconcile until the RC has observed its new selector and no stale pod is left.
async fn clean_up_stale(
    engine: &mut Engine,
    pods: &Api<Pod>,
    updated: &ReplicationController,
    selector_before: &BTreeMap<String, String>,
    uid: &str,
    m: &Migration,
) -> anyhow::Result<usize> {
    let name = updated.metadata.name.clone().unwrap_or_default();
    let generation = updated.metadata.generation.unwrap_or(0);
    let label_selector = crate::k8s::label_selector(selector_before);
    let list_params = ListParams::default().labels(&label_selector);
    let mut removed = 0;
    for _ in 0..300 {
        let rc = kube_ops::get(&engine.rcs, &name).await?;
        let status = rc
            .as_ref()
            .and_then(|rc| rc.status.clone())
            .unwrap_or_default();
        let spec_replicas = rc
            .as_ref()
            .and_then(|rc| rc.spec.as_ref())
            .and_then(|s| s.replicas)
            .unwrap_or(0);
        // The controller has seen the new selector and counts exactly its replicas, all fully labelled.
        let settled = status.observed_generation.unwrap_or(0) >= generation
            && status.replicas == spec_replicas
            && status.fully_labeled_replicas.unwrap_or(0) == spec_replicas;
        let list = kube_ops::retry(|| pods.list(&list_params))
            .await
            .map_err(|e| anyhow::anyhow!(kube_ops::explain(&e, "list", "pods")))?;
        let leftovers = stale(&list.items, selector_before, uid, m);
        if leftovers.is_empty() && settled {
            return Ok(removed);
        }
        let params = DeleteParams::default();
        for pod in leftovers {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            match kube_ops::retry(|| pods.delete(&pod_name, &params)).await {
                Ok(_) => removed += 1,
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    anyhow::bail!(kube_ops::explain(&e, "delete", &format!("pods/{pod_name}")))
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    engine.log(format!(
        "{name}'s pods did not settle after its selector changed (15 s); going on, the rollout counts only the pods it controls"
    ));
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parsed;

    /// Issue 12, case 5: stale pods are the old RC's (or released ones) without the new label; a canary RC's pod
    /// matching the legacy selector is never touched.
    #[test]
    fn stale_pods_are_ours_or_released_and_lack_the_label() {
        let m = Migration {
            key: "version".into(),
            value: "abc-orig".into(),
        };
        let sel: BTreeMap<String, String> = [("name".to_string(), "api-pods".to_string())].into();
        let owned = |uid: &str| {
            format!("ownerReferences: [{{apiVersion: v1, kind: ReplicationController, name: x, uid: {uid}, controller: true}}]")
        };
        let relabelled = parsed(&format!(
            "metadata: {{name: a, labels: {{name: api-pods, version: abc-orig}}, {}}}",
            owned("old")
        ));
        let stale_owned = parsed(&format!(
            "metadata: {{name: b, labels: {{name: api-pods}}, {}}}",
            owned("old")
        ));
        let released = parsed("metadata: {name: c, labels: {name: api-pods}}");
        let canary = parsed(&format!(
            "metadata: {{name: d, labels: {{name: api-pods, track: canary}}, {}}}",
            owned("canary")
        ));
        let items = [relabelled, stale_owned, released, canary];
        let names: Vec<&str> = stale(&items, &sel, "old", &m)
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["b", "c"]);
    }
}
