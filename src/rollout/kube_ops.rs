//! The few writes the engine makes, each idempotent so a bounded retry is always safe: scale an RC, set or
//! remove annotations, delete an RC. Transient faults (429, 5xx, a dropped connection) are retried with
//! backoff; anything else is returned at once with the object and verb named.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

const ATTEMPTS: u32 = 6;

/// True for faults worth retrying: throttling, server errors, timeouts, conflicts, transport errors.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 409 | 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `op` until it succeeds, fails with a non-transient error, or has failed [`ATTEMPTS`] times.
pub async fn retry<T, F, Fut>(op: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retry_if(op, is_transient).await
}

/// [`retry`] with the caller's idea of transient (e.g. the lock, for which a 409 is an answer, not a fault).
pub async fn retry_if<T, F, Fut>(
    mut op: F,
    transient: fn(&kube::Error) -> bool,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Explains a Kubernetes API error for a human: the verb and resource for a 403, the rest as the server said.
pub fn explain(e: &kube::Error, verb: &str, what: &str) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "forbidden: the credentials cannot `{verb}` {what}; add that verb on that resource to the Role (see README, Kubernetes RBAC): {}",
            s.message
        ),
        kube::Error::Api(s) if s.code == 401 => {
            "unauthorized: the cluster rejected the credentials in `kubeconfig` (expired or wrong token/certificate)".to_string()
        }
        kube::Error::Api(s) if s.code == 429 || s.code >= 500 => format!(
            "failed to {verb} {what}: the API server answered {} {} ({}), still after {ATTEMPTS} attempts with backoff; \
             the cluster is unavailable or overloaded. The update is left resumable: re-run the workflow once it answers",
            s.code, s.reason, s.message
        ),
        kube::Error::Api(s) => format!(
            "failed to {verb} {what}: the API server answered {} {}: {}",
            s.code, s.reason, s.message
        ),
        kube::Error::HyperError(_) | kube::Error::Service(_) => format!(
            "failed to {verb} {what}: cannot reach the API server ({e}), still after {ATTEMPTS} attempts; check the \
             server address in `kubeconfig` and the network. The update is left resumable: re-run the workflow"
        ),
        other => format!("failed to {verb} {what}: {other}"),
    }
}

/// [`explain`] for `verb` on the RC `name`.
fn rc_error(e: &kube::Error, verb: &str, name: &str) -> anyhow::Error {
    anyhow::anyhow!(explain(e, verb, &format!("replicationcontrollers/{name}")))
}

/// A JSON merge patch of an RC, retried on transient faults.
pub async fn merge_patch(
    api: &Api<ReplicationController>,
    name: &str,
    patch: serde_json::Value,
) -> anyhow::Result<ReplicationController> {
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    retry(|| api.patch(name, &params, &patch))
        .await
        .map_err(|e| rc_error(&e, "patch", name))
}

pub async fn scale(
    api: &Api<ReplicationController>,
    name: &str,
    replicas: i32,
) -> anyhow::Result<ReplicationController> {
    merge_patch(api, name, json!({ "spec": { "replicas": replicas } })).await
}

/// Sets (Some) or removes (None) annotations with a merge patch.
pub async fn annotate(
    api: &Api<ReplicationController>,
    name: &str,
    annotations: &BTreeMap<&str, Option<String>>,
) -> anyhow::Result<ReplicationController> {
    merge_patch(
        api,
        name,
        json!({ "metadata": { "annotations": annotations } }),
    )
    .await
}

/// Deletes an RC (its pods go with it through the garbage collector); a 404 is success.
pub async fn delete(api: &Api<ReplicationController>, name: &str) -> anyhow::Result<()> {
    let params = DeleteParams::background();
    match retry(|| api.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(rc_error(&e, "delete", name)),
    }
}

pub async fn get(
    api: &Api<ReplicationController>,
    name: &str,
) -> anyhow::Result<Option<ReplicationController>> {
    retry(|| api.get_opt(name))
        .await
        .map_err(|e| rc_error(&e, "get", name))
        .context("reading the RC")
}
