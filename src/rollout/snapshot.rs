//! Gathers what the diagnosis needs, reading only when a rollout is not progressing. A read we are not
//! allowed to make (no RBAC on nodes) degrades the diagnosis and is recorded, it never fails the run.
//!
//! What is read where, and why: nodes and other namespaces' pods come from the run's [`ClusterCache`] (one list,
//! then a watch, instead of every pod of the cluster every 2 s); the namespace's pods from the engine's own pod
//! watch when there is one (the pre-flight check runs before it and lists them); events, quotas and the logs of
//! crashing containers are read each time, they are few and they are the news a diagnosis is made for.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, ReplicationController, ResourceQuota};
use kube::api::{Api, ListParams};

use super::availability::selector_matches;
use super::cluster_cache::ClusterCache;
use crate::diagnosis::Snapshot;

/// Objects per list request.
const LIST_PAGE: u32 = 100;

/// Every object of `api` (matching `fields`, a field selector, when given), or none with the reason in
/// `unreadable`.
pub(super) async fn list_or_note<K>(
    api: Api<K>,
    what: &str,
    fields: Option<&str>,
    unreadable: &mut Vec<String>,
) -> Vec<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    // Pages, and no managedFields (nothing here reads them; they are most of a pod's size): listing every pod of
    // a big cluster in one response held its whole text and parse at once (bench/results.md, peak RSS).
    let mut params = ListParams::default().limit(LIST_PAGE);
    if let Some(fields) = fields {
        params = params.fields(fields);
    }
    let mut items = vec![];
    loop {
        match super::kube_ops::retry(|| api.list(&params)).await {
            Ok(list) => {
                items.extend(list.items.into_iter().map(|mut item| {
                    item.meta_mut().managed_fields = None;
                    item
                }));
                match list.metadata.continue_ {
                    Some(token) if !token.is_empty() => params = params.continue_token(&token),
                    _ => return items,
                }
            }
            Err(e) => {
                unreadable.push(format!(
                    "{what}: {}",
                    super::kube_ops::explain(&e, "list", what)
                ));
                return vec![];
            }
        }
    }
}

/// Every pod the capacity model counts: the namespace's own as read (whole), and, when the cluster-wide read
/// worked, the cache's trimmed pods of the other namespaces (shared, not copied). The cache asks the server to
/// leave our namespace out; any of its pods that still came through would be counted twice, so they are dropped.
fn every_pod(
    namespace: &str,
    ns_pods: &[Pod],
    cluster_pods: Vec<Arc<Pod>>,
    cluster_readable: bool,
) -> Vec<Arc<Pod>> {
    let mut all: Vec<Arc<Pod>> = ns_pods.iter().cloned().map(Arc::new).collect();
    if cluster_readable {
        all.extend(
            cluster_pods
                .into_iter()
                .filter(|p| p.metadata.namespace.as_deref() != Some(namespace)),
        );
    }
    all
}

/// Where a snapshot's reads go.
pub struct Sources<'a> {
    pub client: &'a kube::Client,
    pub namespace: &'a str,
    /// Nodes and every namespace's pods.
    pub cluster: &'a ClusterCache,
    /// The namespace's pods when a watch already holds them (the engine's); `None` lists them.
    pub namespace_pods: Option<Vec<Pod>>,
    /// Whether to read the namespace's events: a diagnosis does; the pre-flight check, which only weighs
    /// capacity and quotas, does not (a namespace of hour-old events is its largest read, before the first
    /// scale-up).
    pub events: bool,
}

/// Reads pods, nodes, events, quotas and the logs of crashing containers.
pub async fn gather(
    sources: Sources<'_>,
    new_rc: &ReplicationController,
    old_rc: Option<&ReplicationController>,
    limits: &crate::plan::Limits,
) -> Snapshot {
    let Sources {
        client,
        namespace,
        cluster,
        namespace_pods,
        events: read_events,
    } = sources;
    // Independent reads, at once: the pre-flight check runs before the first scale-up, and a diagnosis is time
    // a failing rollout waits. Each keeps its own notes, merged in a fixed order.
    let (mut ns_note, mut nodes_note, mut pods_note, mut events_note, mut quotas_note) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (ns_pods, nodes, cluster_pods, events, quotas) = tokio::join!(
        async {
            match namespace_pods {
                Some(pods) => pods,
                None => {
                    list_or_note(
                        Api::namespaced(client.clone(), namespace),
                        "pods",
                        None,
                        &mut ns_note,
                    )
                    .await
                }
            }
        },
        cluster.nodes(&mut nodes_note),
        cluster.pods(&mut pods_note),
        async {
            match read_events {
                true => {
                    let api = Api::namespaced(client.clone(), namespace);
                    list_or_note::<Event>(api, "events", None, &mut events_note).await
                }
                false => vec![],
            }
        },
        list_or_note::<ResourceQuota>(
            Api::namespaced(client.clone(), namespace),
            "resourcequotas",
            None,
            &mut quotas_note,
        ),
    );
    let mut unreadable = ns_note;
    unreadable.extend(nodes_note);
    let selector = |rc: &ReplicationController| {
        rc.spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default()
    };
    let new_sel = selector(new_rc);
    let new_pods: Vec<Pod> = ns_pods
        .iter()
        .filter(|p| !new_sel.is_empty() && selector_matches(&new_sel, p.metadata.labels.as_ref()))
        .cloned()
        .collect();
    let old_pods: Vec<Pod> = old_rc
        .map(|rc| {
            let sel = selector(rc);
            ns_pods
                .iter()
                .filter(|p| !sel.is_empty() && selector_matches(&sel, p.metadata.labels.as_ref()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let all_pods = every_pod(namespace, &ns_pods, cluster_pods, pods_note.is_empty());
    // Without cluster-wide pod reads, the namespace's pods are the best we have: node usage is a lower bound.
    unreadable.extend(pods_note);
    unreadable.extend(events_note);
    unreadable.extend(quotas_note);

    // A cluster autoscaler's status ConfigMap says one runs (and how long to wait for it), which matters only for
    // new pods without a node. Optional: most credentials can't read kube-system, and its absence is no finding.
    let unplaced = new_pods
        .iter()
        .any(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_none()));
    let autoscaler_status = if unplaced {
        Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
            .get_opt("cluster-autoscaler-status")
            .await
            .ok()
            .flatten()
            .map(|cm| {
                cm.data
                    .and_then(|d| d.get("status").cloned())
                    .unwrap_or_default()
            })
    } else {
        None
    };
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let logs = super::logs::of_crashing_containers(&pods_api, &new_pods, &mut unreadable).await;

    Snapshot {
        new_rc: Some(new_rc.clone()),
        new_pods,
        old_pods,
        all_pods,
        nodes,
        events,
        quotas,
        logs,
        unreadable,
        max_surge: limits.max_surge,
        max_unavailable: limits.max_unavailable,
        desired_replicas: limits.desired,
        now: Some(k8s_openapi::jiff::Timestamp::now()),
        autoscaler_status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str, image: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": image}]},
        }))
        .unwrap()
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter()
            .map(|p| {
                let m = &p.metadata;
                format!(
                    "{}/{}",
                    m.namespace.as_deref().unwrap_or(""),
                    m.name.as_deref().unwrap_or("")
                )
            })
            .collect()
    }

    #[test]
    fn our_pods_whole_others_from_the_cache_each_once() {
        let ours = vec![pod("app", "api-1", Some("api:2"))];
        // Were the cache to hold a trimmed copy of one of ours, it is not counted twice.
        let cache = vec![
            Arc::new(pod("app", "api-1", None)),
            Arc::new(pod("batch", "job-1", None)),
        ];
        let all = every_pod("app", &ours, cache.clone(), true);
        assert_eq!(names(&all), ["app/api-1", "batch/job-1"]);
        assert_eq!(
            all[0].spec.as_ref().unwrap().containers[0].image.as_deref(),
            Some("api:2"),
            "our own pods as read, not the cache's trimmed copy"
        );
        assert!(
            Arc::ptr_eq(&all[1], &cache[1]),
            "shared with the cache, not copied"
        );
        // Unreadable: the namespace's pods only.
        assert_eq!(
            names(&every_pod("app", &ours, vec![], false)),
            ["app/api-1"]
        );
    }
}
