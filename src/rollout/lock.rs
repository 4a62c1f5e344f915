//! One run at a time per RC: a `coordination.k8s.io/v1` Lease named `rolling-update-<rc>`.
//!
//! kubectl rolling-update could be corrupted by a second run (kubernetes#21883). We take a Lease with
//! optimistic concurrency (create, or replace at the observed resourceVersion once it has expired), renew it
//! while we work, and release it at the end. A second run fails fast naming the holder. A holder that died
//! stops renewing and its Lease expires; a holder on this same machine whose process is gone is taken over at
//! once (a killed run re-run by hand, or a re-run of a cancelled job on the same runner).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};

use super::kube_ops::{explain, is_transient, retry, retry_if};

/// How long a Lease stays valid without renewal.
pub const LEASE_SECONDS: i32 = 30;
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// Who we are, as written into the Lease: readable by the user who runs into it.
pub fn identity(run: Option<&str>, repository: Option<&str>) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    let pid = std::process::id();
    match (repository, run) {
        (Some(repo), Some(run)) => format!("{repo} run {run} on {host} pid {pid}"),
        _ => format!("local run on {host} pid {pid}"),
    }
}

/// The lock is held by someone else.
#[derive(Debug, thiserror::Error)]
#[error("another rolling update of `{rc}` is in progress, held by {holder} (lease {lease} renewed {age}s ago, expires in {expires_in}s); wait for it to finish or cancel it")]
pub struct Held {
    pub rc: String,
    pub lease: String,
    pub holder: String,
    pub age: i64,
    pub expires_in: i64,
}

/// A held lock; renewed in the background until [`LockGuard::release`].
pub struct LockGuard {
    api: Api<Lease>,
    name: String,
    renew: tokio::task::JoinHandle<()>,
}

fn lease_name(rc: &str) -> String {
    format!("rolling-update-{rc}")
}

fn now_micro() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn lease_spec(holder: &str) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(holder.to_string()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: Some(now_micro()),
        renew_time: Some(now_micro()),
        ..Default::default()
    }
}

/// Parses "... on <host> pid <pid>" and says whether that process is gone from this machine.
fn holder_is_dead_here(holder: &str) -> bool {
    let me = identity(None, None);
    let my_host = me
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split(" pid ").next());
    let Some(rest) = holder.rsplit(" on ").next() else {
        return false;
    };
    let mut parts = rest.split(" pid ");
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    if Some(host) != my_host {
        return false;
    }
    match pid.trim().parse::<u32>() {
        Ok(pid) if pid != std::process::id() => {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// Transient faults are retried, but for the lock a 409 is an answer (someone else wrote first), not a fault.
fn not_conflict(e: &kube::Error) -> bool {
    is_transient(e) && !matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// Takes the lock or says who holds it.
pub async fn acquire(
    client: kube::Client,
    namespace: &str,
    rc: &str,
    holder: &str,
) -> anyhow::Result<Result<LockGuard, Held>> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let name = lease_name(rc);
    let fresh = Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        spec: Some(lease_spec(holder)),
    };
    let post = PostParams::default();
    loop {
        match retry_if(|| api.create(&post, &fresh), not_conflict).await {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let current = match retry(|| api.get_opt(&name)).await {
                    Ok(Some(current)) => current,
                    // Gone between our create and this read (released, or the 409 was not about it): try again.
                    Ok(None) => continue,
                    Err(e) => anyhow::bail!(explain(
                        &e,
                        "get",
                        &format!("leases.coordination.k8s.io/{name}")
                    )),
                };
                let spec = current.spec.clone().unwrap_or_default();
                let held_by = spec.holder_identity.clone().unwrap_or_default();
                let renewed = spec
                    .renew_time
                    .as_ref()
                    .map(|t| t.0.as_second())
                    .unwrap_or(0);
                let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
                let now = Timestamp::now().as_second();
                let expired =
                    held_by.is_empty() || renewed + duration < now || holder_is_dead_here(&held_by);
                if !expired && held_by != holder {
                    return Ok(Err(Held {
                        rc: rc.to_string(),
                        lease: name,
                        holder: held_by,
                        age: now - renewed,
                        expires_in: renewed + duration - now,
                    }));
                }
                // Take over at the observed resourceVersion: if another run took it meanwhile, we get 409 and look again.
                let mut takeover = current.clone();
                takeover.spec = Some(lease_spec(holder));
                match retry_if(|| api.replace(&name, &post, &takeover), not_conflict).await {
                    Ok(_) => break,
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => anyhow::bail!(explain(
                        &e,
                        "update",
                        &format!("leases.coordination.k8s.io/{name}")
                    )),
                }
            }
            // Says which verb is missing on a 403, and what the server answered otherwise (a 404 is a missing namespace).
            Err(e) => anyhow::bail!(explain(
                &e,
                "create",
                &format!("leases.coordination.k8s.io/{name}")
            )),
        }
    }
    let renew = {
        let api = api.clone();
        let name = name.clone();
        let holder = holder.to_string();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                if let Ok(mut lease) = api.get(&name).await {
                    let mut spec = lease.spec.clone().unwrap_or_default();
                    if spec.holder_identity.as_deref() != Some(holder.as_str()) {
                        return;
                    }
                    spec.renew_time = Some(now_micro());
                    lease.spec = Some(spec);
                    let _ = api.replace(&name, &PostParams::default(), &lease).await;
                }
            }
        })
    };
    Ok(Ok(LockGuard { api, name, renew }))
}

impl LockGuard {
    /// Stops renewing and deletes the Lease. A failure to delete only delays the next run by the lease's expiry.
    pub async fn release(self) {
        self.renew.abort();
        let params = DeleteParams::default();
        let _ = retry(|| self.api.delete(&self.name, &params)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_the_run() {
        let id = identity(Some("42"), Some("octo/api"));
        assert!(id.starts_with("octo/api run 42 on "), "{id}");
        assert!(id.ends_with(&format!("pid {}", std::process::id())));
    }

    #[test]
    fn a_dead_local_holder_is_detected() {
        let me = identity(None, None);
        assert!(!holder_is_dead_here(&me), "we are alive");
        let host = me
            .split(" on ")
            .nth(1)
            .unwrap()
            .split(" pid ")
            .next()
            .unwrap();
        assert!(holder_is_dead_here(&format!(
            "octo/api run 1 on {host} pid 4194303"
        )));
        assert!(!holder_is_dead_here(
            "octo/api run 1 on some-other-runner pid 1"
        ));
    }
}
