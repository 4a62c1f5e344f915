//! One run at a time per RC: a `coordination.k8s.io/v1` Lease named `rolling-update-<rc>`.
//!
//! kubectl rolling-update could be corrupted by a second run (kubernetes#21883). We take a Lease with
//! optimistic concurrency (create, or replace at the observed resourceVersion once it has expired), renew it
//! while we work, and release it at the end.
//!
//! Expiry is judged as client-go's leader election judges it: from renewals *we observe*, timed by our own clock,
//! never by comparing the holder's `renewTime` with our clock (runners' clocks differ). A holder seen renewing
//! is alive: the run exits naming it. A holder that does not renew while we watch (a cancelled or killed job) is
//! waited for, with the wait printed, and taken over once a full lease duration has passed without a renewal. A
//! holder on this same machine whose process is gone is taken over at once.
//!
//! The lock is fenced: if our renewals fail for longer than the lease allows (or another run took the Lease),
//! [`LockGuard::lost`] turns true and the engine stops before its next write, leaving the update resumable.
//! Release deletes the Lease only while we still hold it (a precondition on its resourceVersion).

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams, Preconditions};
use tokio::sync::watch;

use super::kube_ops::{explain, is_transient, retry, retry_if};

/// How long a Lease stays valid without renewal.
pub const LEASE_SECONDS: i32 = 30;
/// Often enough that a run meeting our Lease sees us alive within seconds, instead of waiting for it to expire.
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// After a failed renewal, try again this soon.
const RENEW_RETRY: Duration = Duration::from_secs(2);
/// We stop writing this long before our lease could expire in another run's eyes.
const FENCE_MARGIN: Duration = Duration::from_secs(5);
/// How often a waiting run looks at someone else's Lease.
const POLL_EVERY: Duration = Duration::from_secs(1);

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
#[error("another rolling update of `{rc}` is in progress, held by {holder} (lease {lease}, renewed while we watched); wait for it to finish or cancel it")]
pub struct Held {
    pub rc: String,
    pub lease: String,
    pub holder: String,
}

/// Why the lock was not taken, as answers (not faults): the exit code follows from the variant.
#[derive(Debug)]
pub enum Refused {
    Held(Held),
    /// The namespace does not exist (the Lease's create answered 404).
    NoNamespace,
}

/// A held lock; renewed in the background until [`LockGuard::release`].
pub struct LockGuard {
    api: Api<Lease>,
    name: String,
    holder: String,
    renew: tokio::task::JoinHandle<()>,
    lost: watch::Receiver<bool>,
    contended: bool,
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
) -> anyhow::Result<Result<LockGuard, Refused>> {
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
    // The other holder's record as we first saw it, and when (our clock).
    let mut observed: Option<(Record, Instant)> = None;
    let mut last_said: Option<Instant> = None;
    let mut contended = false;
    loop {
        match retry_if(|| api.create(&post, &fresh), not_conflict).await {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 409 => {
                contended = true;
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
                let record = Record::of(&spec);
                let duration = Duration::from_secs(
                    u64::try_from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS))
                        .unwrap_or(30),
                );
                let now = Instant::now();
                let verdict = match &observed {
                    _ if held_by.is_empty()
                        || held_by == holder
                        || holder_is_dead_here(&held_by) =>
                    {
                        Verdict::Free
                    }
                    Some((seen, _)) if *seen != record && seen.holder == record.holder => {
                        Verdict::Alive
                    }
                    Some((seen, since)) if *seen == record => {
                        if now.duration_since(*since) >= duration {
                            Verdict::Free
                        } else {
                            Verdict::Wait(duration - now.duration_since(*since))
                        }
                    }
                    // First sight, or a new holder: start observing.
                    _ => {
                        observed = Some((record.clone(), now));
                        Verdict::Wait(duration)
                    }
                };
                match verdict {
                    Verdict::Free => {}
                    Verdict::Alive => {
                        return Ok(Err(Refused::Held(Held {
                            rc: rc.to_string(),
                            lease: name,
                            holder: held_by,
                        })));
                    }
                    Verdict::Wait(left) => {
                        if last_said.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(10))
                        {
                            println!(
                                "The lock {name} is held by {held_by}, which has not renewed it while we watched; waiting up to {}s for it to expire (a live holder renews within {}s and then this run stops)",
                                left.as_secs().max(1),
                                RENEW_EVERY.as_secs()
                            );
                            last_said = Some(Instant::now());
                        }
                        tokio::time::sleep(POLL_EVERY.min(left)).await;
                        continue;
                    }
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
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Err(Refused::NoNamespace)),
            // Says which verb is missing on a 403, and what the server answered otherwise.
            Err(e) => anyhow::bail!(explain(
                &e,
                "create",
                &format!("leases.coordination.k8s.io/{name}")
            )),
        }
    }
    let (lost_tx, lost) = watch::channel(false);
    let renew = {
        let api = api.clone();
        let name = name.clone();
        let holder = holder.to_string();
        tokio::spawn(async move {
            let mut renewed_at = Instant::now();
            let mut wait = RENEW_EVERY;
            loop {
                tokio::time::sleep(wait).await;
                match renew_once(&api, &name, &holder).await {
                    Renewal::Done => {
                        renewed_at = Instant::now();
                        wait = RENEW_EVERY;
                    }
                    Renewal::Taken => {
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Renewal::Failed => wait = RENEW_RETRY,
                }
                let fence = Duration::from_secs(LEASE_SECONDS as u64) - FENCE_MARGIN;
                if renewed_at.elapsed() >= fence {
                    let _ = lost_tx.send(true);
                    return;
                }
            }
        })
    };
    Ok(Ok(LockGuard {
        api,
        name,
        holder: holder.to_string(),
        renew,
        lost,
        contended,
    }))
}

/// The part of a Lease that changes on each renewal: who holds it and when they last said so.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    holder: String,
    renew_time: Option<String>,
}

impl Record {
    fn of(spec: &LeaseSpec) -> Record {
        Record {
            holder: spec.holder_identity.clone().unwrap_or_default(),
            renew_time: spec.renew_time.as_ref().map(|t| t.0.to_string()),
        }
    }
}

enum Verdict {
    Free,
    Alive,
    Wait(Duration),
}

enum Renewal {
    Done,
    /// Another run holds the Lease now (or it is gone): we have lost it.
    Taken,
    Failed,
}

async fn renew_once(api: &Api<Lease>, name: &str, holder: &str) -> Renewal {
    let mut lease = match api.get_opt(name).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return Renewal::Taken,
        Err(_) => return Renewal::Failed,
    };
    let mut spec = lease.spec.clone().unwrap_or_default();
    if spec.holder_identity.as_deref() != Some(holder) {
        return Renewal::Taken;
    }
    spec.renew_time = Some(now_micro());
    lease.spec = Some(spec);
    // At the resourceVersion we read: a 409 means someone wrote meanwhile; look again soon.
    match api.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => Renewal::Done,
        Err(_) => Renewal::Failed,
    }
}

impl LockGuard {
    /// Turns true when the lock can no longer be trusted: the engine must not write after that.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// True when another holder's Lease was met on the way (we waited for it or took it over): what was read
    /// before the lock was ours may predate that holder's last writes.
    pub fn contended(&self) -> bool {
        self.contended
    }

    /// Stops renewing and deletes the Lease, only if we still hold it (precondition on the resourceVersion we
    /// read). A failure to delete only delays the next run by the lease's expiry.
    pub async fn release(self) {
        self.renew.abort();
        let Ok(Some(lease)) = retry(|| self.api.get_opt(&self.name)).await else {
            return;
        };
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.holder.as_str());
        if !ours {
            return;
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: lease.metadata.resource_version.clone(),
                uid: lease.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        let _ = retry_if(|| self.api.delete(&self.name, &params), not_conflict).await;
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
