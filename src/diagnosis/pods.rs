//! New pods that were placed but do not come up: image pulls, crashes, readiness, missing config.
//!
//! Each rule reads one container state the kubelet reports, adds the evidence a reader would otherwise dig out
//! of `kubectl describe` and the log, and says whether it can resolve on its own. Like krane, a registry that
//! says "not found" or a container that keeps crashing is fatal; a readiness probe that fails is reported but
//! left to the deadline, since apps do become ready late.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::events;
use super::quantity::format;
use super::resources::{self, parse_map};
use super::{Finding, FindingKind, Snapshot};

const LOG_LINES: usize = 20;

fn new_finding(kind: FindingKind, summary: String, fatal: bool) -> Finding {
    Finding {
        kind,
        summary,
        evidence: vec![],
        logs: vec![],
        capacity: vec![],
        fixes: vec![],
        fatal,
    }
}

/// Init containers' statuses, then the app containers': a crashing init container keeps the others waiting in
/// PodInitializing, so it is the one to name.
fn statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    status
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .flatten()
        .chain(
            status
                .and_then(|s| s.container_statuses.as_ref())
                .into_iter()
                .flatten(),
        )
}

fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

/// "container web", "init container migrate", or "a container" when nothing names it (never an empty name).
fn label(pod: &Pod, name: &str) -> String {
    if name.trim().is_empty() {
        return "a container".into();
    }
    let init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.name == name));
    if init {
        format!("init container {name}")
    } else {
        format!("container {name}")
    }
}

/// The same, capitalised for the start of a summary.
fn label_cap(pod: &Pod, name: &str) -> String {
    let l = label(pod, name);
    let mut chars = l.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => l,
    }
}

fn waiting(cs: &ContainerStatus) -> Option<(&str, &str)> {
    let w = cs.state.as_ref()?.waiting.as_ref()?;
    Some((
        w.reason.as_deref().unwrap_or(""),
        w.message.as_deref().unwrap_or(""),
    ))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The pods' names, "a, b (2 pods)".
fn pods_line(pods: &[&Pod]) -> String {
    let names: Vec<&str> = pods.iter().map(|p| resources::name(p)).collect();
    format!(
        "affected: {} ({})",
        names.join(", "),
        plural(pods.len(), "pod", "pods")
    )
}

/// Groups new pods' container statuses by container name, keeping pod order.
fn by_container(
    snapshot: &Snapshot,
    pred: impl Fn(&ContainerStatus) -> bool,
) -> BTreeMap<String, Vec<(&Pod, &ContainerStatus)>> {
    let mut m: BTreeMap<String, Vec<(&Pod, &ContainerStatus)>> = BTreeMap::new();
    for p in snapshot
        .new_pods
        .iter()
        .filter(|p| !resources::is_terminating(p))
    {
        for cs in statuses(p).filter(|cs| pred(cs)) {
            m.entry(cs.name.clone()).or_default().push((p, cs));
        }
    }
    m
}

const PULL_REASONS: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];
const NOT_FOUND: [&str; 6] = [
    "not found",
    "manifest unknown",
    "does not exist",
    "invalid reference format",
    "repository name not known",
    "no such host",
];

/// ErrImagePull / ImagePullBackOff: the image and the registry's own words.
pub fn image_pull(snapshot: &Snapshot) -> Vec<Finding> {
    let groups = by_container(snapshot, |cs| {
        waiting(cs).is_some_and(|(r, _)| PULL_REASONS.contains(&r))
    });
    groups
        .into_iter()
        .map(|(name, hits)| {
            let (pod, cs) = hits[0];
            let (reason, waiting_message) = waiting(cs).unwrap_or_default();
            let image = container(pod, &name).and_then(|c| c.image.clone()).unwrap_or_else(|| cs.image.clone());
            let pods: Vec<&Pod> = hits.iter().map(|(p, _)| *p).collect();
            let failed: Vec<_> = pods
                .iter()
                .flat_map(|p| events::for_pod(snapshot, p, "Failed"))
                .filter(|e| events::message(e).contains("pull"))
                .collect();
            let registry = failed
                .iter()
                .map(|e| events::message(e))
                .find(|m| !m.starts_with("Error: ErrImagePull") && !m.starts_with("Error: ImagePullBackOff"))
                .or(failed.last().map(|e| events::message(e)))
                .filter(|m| !m.is_empty())
                .unwrap_or(waiting_message)
                .to_string();
            let backoffs: u32 = pods
                .iter()
                .flat_map(|p| events::for_pod(snapshot, p, "BackOff"))
                .filter(|e| events::message(e).contains("pulling image"))
                .map(events::count)
                .sum();
            let lower = registry.to_ascii_lowercase();
            let not_found = NOT_FOUND.iter().any(|s| lower.contains(s));
            let fatal = not_found || matches!(reason, "InvalidImageName" | "ErrImageNeverPull") || backoffs >= 3;
            let mut f = new_finding(
                FindingKind::ImagePull,
                format!("Cannot pull image {image} for {} ({reason})", label(pod, &name)),
                fatal,
            );
            if !registry.is_empty() {
                f.evidence.push(registry);
            }
            if backoffs > 0 {
                f.evidence.push(format!("pull backed off {}", plural(backoffs as usize, "time", "times")));
            }
            f.evidence.push(pods_line(&pods));
            f.fixes.push("was it built and pushed? check the tag and the registry credentials (imagePullSecrets)".into());
            f
        })
        .collect()
}

/// CrashLoopBackOff or a container that keeps exiting: exit code, restarts, the end of its log.
pub fn crash_loop(snapshot: &Snapshot) -> Vec<Finding> {
    let groups = by_container(snapshot, |cs| {
        let crashing = waiting(cs).is_some_and(|(r, _)| r == "CrashLoopBackOff");
        let exited = cs.restart_count >= 1
            && cs
                .last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .is_some_and(|t| t.exit_code != 0 || t.reason.as_deref() == Some("OOMKilled"));
        crashing || exited
    });
    groups
        .into_iter()
        .map(|(name, hits)| {
            let (pod, cs) = *hits.iter().max_by_key(|(_, cs)| cs.restart_count).expect("non-empty group");
            let pods: Vec<&Pod> = hits.iter().map(|(p, _)| *p).collect();
            let last = cs.last_state.as_ref().and_then(|l| l.terminated.as_ref());
            let exit = match last {
                Some(t) if t.reason.as_deref() == Some("OOMKilled") => format!("OOMKilled (exit code {})", t.exit_code),
                Some(t) => format!("exit code {}", t.exit_code),
                None => "exit code unknown".into(),
            };
            let mut f = new_finding(
                FindingKind::CrashLoop,
                format!(
                    "{} keeps crashing: {exit}, {}",
                    label_cap(pod, &name),
                    plural(cs.restart_count.max(0) as usize, "restart", "restarts")
                ),
                cs.restart_count >= 2,
            );
            if let Some(t) = last {
                let mut line = format!("{}: last exit code {}", resources::name(pod), t.exit_code);
                if let Some(r) = t.reason.as_deref().filter(|r| !r.is_empty()) {
                    line.push_str(&format!(" ({r})"));
                }
                if let Some(m) = t.message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
                    line.push_str(&format!(": {m}"));
                }
                f.evidence.push(line);
            }
            f.evidence.push(pods_line(&pods));
            let log = hits
                .iter()
                .find_map(|(p, _)| snapshot.logs.get(&(resources::name(p).to_string(), name.clone())))
                .or_else(|| snapshot.logs.get(&(resources::name(pod).to_string(), name.clone())));
            if let Some(text) = log {
                let lines: Vec<&str> = text.lines().collect();
                f.logs = lines[lines.len().saturating_sub(LOG_LINES)..].iter().map(|l| l.to_string()).collect();
            }
            if last.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
                let limit = container(pod, &name)
                    .and_then(|c| c.resources.as_ref())
                    .map(|r| parse_map(r.limits.as_ref()))
                    .and_then(|l| l.get("memory").copied());
                f.fixes.push(match limit {
                    Some(l) => format!("raise the memory limit of {} (now {})", label(pod, &name), format("memory", l)),
                    None => format!("{} ran out of memory: give it more (its node or a memory limit ended it)", label(pod, &name)),
                });
            } else {
                f.fixes.push(format!("the log of {} shows why it exits: fix the image or its configuration and roll again", label(pod, &name)));
            }
            f
        })
        .collect()
}

/// "httpGet /healthz on port 8080", "exec [cat, /tmp/ready]", "tcp port 5432".
pub fn describe_probe(p: &Probe) -> String {
    let port = |p: &IntOrString| match p {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    if let Some(h) = &p.http_get {
        return format!(
            "httpGet {} on port {}",
            h.path.as_deref().unwrap_or("/"),
            port(&h.port)
        );
    }
    if let Some(e) = &p.exec {
        return format!("exec {}", e.command.as_deref().unwrap_or(&[]).join(" "));
    }
    if let Some(t) = &p.tcp_socket {
        return format!("tcp port {}", port(&t.port));
    }
    if let Some(g) = &p.grpc {
        return format!("grpc port {}", g.port);
    }
    "a probe".into()
}

/// "spec.containers{app}" -> "app".
fn field_container(field_path: Option<&str>) -> Option<String> {
    let f = field_path?;
    let start = f.find('{')? + 1;
    let end = f[start..].find('}')? + start;
    Some(f[start..end].to_string())
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Readiness probes that keep failing (Unhealthy events): reported, never fatal on their own.
pub fn readiness(snapshot: &Snapshot) -> Vec<Finding> {
    // container -> (pods, failures, last message)
    let mut groups: BTreeMap<String, (Vec<&Pod>, u32, String)> = BTreeMap::new();
    for pod in snapshot
        .new_pods
        .iter()
        .filter(|p| !pod_ready(p) && !resources::is_terminating(p))
    {
        for e in events::for_pod(snapshot, pod, "Unhealthy") {
            let m = events::message(e);
            if !m.starts_with("Readiness probe failed") {
                continue;
            }
            let name = field_container(e.involved_object.field_path.as_deref())
                .or_else(|| {
                    pod.spec
                        .as_ref()
                        .and_then(|s| s.containers.iter().find(|c| c.readiness_probe.is_some()))
                        .map(|c| c.name.clone())
                })
                .unwrap_or_default();
            let g = groups
                .entry(name)
                .or_insert_with(|| (vec![], 0, String::new()));
            if !g.0.iter().any(|p| p.metadata.name == pod.metadata.name) {
                g.0.push(pod);
            }
            g.1 += events::count(e);
            g.2 = m.to_string();
        }
    }
    groups
        .into_iter()
        .map(|(name, (pods, failures, message))| {
            let probe = pods.iter().find_map(|p| container(p, &name)).and_then(|c| c.readiness_probe.as_ref());
            let described = probe.map(describe_probe).unwrap_or_else(|| "its probe".into());
            let mut f = new_finding(
                FindingKind::ReadinessProbe,
                format!(
                    "Readiness probe of {} keeps failing ({described}): {}",
                    label(pods[0], &name),
                    plural(failures as usize, "failure", "failures")
                ),
                false,
            );
            f.evidence.push(message);
            f.evidence.push(pods_line(&pods));
            f.fixes.push(match probe.and_then(|p| p.http_get.as_ref()) {
                Some(_) => format!("make {described} answer 2xx once {} is ready, or fix the probe (path, port, initialDelaySeconds)", label(pods[0], &name)),
                None => format!("make {described} succeed once {} is ready, or fix the probe", label(pods[0], &name)),
            });
            f
        })
        .collect()
}

/// "configmap \"app-config\" not found" -> ("ConfigMap", "app-config").
fn missing_object(message: &str) -> Option<(&'static str, String)> {
    let lower = message.to_ascii_lowercase();
    for (needle, kind) in [("configmap \"", "ConfigMap"), ("secret \"", "Secret")] {
        if let Some(at) = lower.find(needle) {
            let rest = &message[at + needle.len()..];
            let name = rest.split('"').next()?.to_string();
            return Some((kind, name));
        }
    }
    // "couldn't find key password in Secret default/db"
    for (needle, kind) in [("in configmap ", "ConfigMap"), ("in secret ", "Secret")] {
        if let Some(at) = lower.find(needle) {
            let rest = &message[at + needle.len()..];
            let name = rest
                .split_whitespace()
                .next()?
                .rsplit('/')
                .next()?
                .to_string();
            return Some((kind, name));
        }
    }
    None
}

/// New pods' containers waiting with this reason, by container: (name, first pod, the kubelet's message, pods).
fn waiting_with<'a>(
    snapshot: &'a Snapshot,
    reason: &str,
) -> Vec<(String, &'a Pod, &'a str, Vec<&'a Pod>)> {
    by_container(snapshot, |cs| waiting(cs).is_some_and(|(r, _)| r == reason))
        .into_iter()
        .map(|(name, hits)| {
            let (pod, cs) = hits[0];
            let (_, message) = waiting(cs).unwrap_or_default();
            let pods = hits.iter().map(|(p, _)| *p).collect();
            (name, pod, message, pods)
        })
        .collect()
}

/// CreateContainerConfigError: a ConfigMap or Secret the template references does not exist.
pub fn config_error(snapshot: &Snapshot) -> Vec<Finding> {
    waiting_with(snapshot, "CreateContainerConfigError")
        .into_iter()
        .map(|(name, pod, message, pods)| {
            let namespace = pod.metadata.namespace.as_deref().unwrap_or("the namespace");
            let mut f = new_finding(FindingKind::ContainerConfig, String::new(), true);
            match missing_object(message) {
                Some((kind, object)) if message.contains("key") => {
                    f.summary = format!("{} cannot start: {message}", label_cap(pod, &name));
                    f.fixes.push(format!("add the key to {kind} {object} in {namespace}, or fix the reference in the pod template"));
                }
                Some((kind, object)) => {
                    f.summary = format!("{} cannot start: {kind} {object} not found", label_cap(pod, &name));
                    f.fixes.push(format!("create {kind} {object} in {namespace}, or fix the reference in the pod template"));
                }
                None => {
                    f.summary = format!("{} cannot start: {message}", label_cap(pod, &name));
                    f.fixes.push("fix the environment or volume references in the pod template".into());
                }
            }
            f.evidence.push(message.to_string());
            f.evidence.push(pods_line(&pods));
            f
        })
        .collect()
}

/// CreateContainerError: the container runtime would not create the container ("failed to reserve container
/// name", a mount whose source or subPath is wrong). The kubelet retries, but the same template fails the same
/// way, so it is fatal once it has held (the engine's hold on a fatal diagnosis is the grace).
pub fn create_error(snapshot: &Snapshot) -> Vec<Finding> {
    waiting_with(snapshot, "CreateContainerError")
        .into_iter()
        .map(|(name, pod, message, pods)| {
            let first_line = message.lines().next().unwrap_or("").trim();
            let said = if first_line.is_empty() { "the kubelet gave no message" } else { first_line };
            let mut f = new_finding(
                FindingKind::ContainerConfig,
                format!("{} cannot be created: {said}", label_cap(pod, &name)),
                true,
            );
            if !message.is_empty() {
                f.evidence.push(message.to_string());
            }
            f.evidence.push(pods_line(&pods));
            let lower = message.to_ascii_lowercase();
            f.fixes.push(if lower.contains("reserve container name") {
                format!("the runtime still holds the name of an earlier attempt at {}: delete the pod so it is created afresh, and check the node's container runtime if it comes back", label(pod, &name))
            } else if lower.contains("subpath") || lower.contains("mount") {
                format!("fix the volumeMounts of {} in the pod template (the mount path or subPath the message names)", label(pod, &name))
            } else {
                format!("fix what the message names in the spec of {} in the pod template (volume mounts, command, security context)", label(pod, &name))
            });
            f
        })
        .collect()
}

/// Every pod rule, in a fixed order.
pub fn findings(snapshot: &Snapshot) -> Vec<Finding> {
    let mut v = image_pull(snapshot);
    v.extend(config_error(snapshot));
    v.extend(create_error(snapshot));
    v.extend(crash_loop(snapshot));
    v.extend(readiness(snapshot));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_objects_are_named() {
        assert_eq!(
            missing_object("configmap \"app-config\" not found"),
            Some(("ConfigMap", "app-config".into()))
        );
        assert_eq!(
            missing_object("secret \"db\" not found"),
            Some(("Secret", "db".into()))
        );
        assert_eq!(
            missing_object("couldn't find key password in Secret default/db"),
            Some(("Secret", "db".into()))
        );
        assert_eq!(missing_object("something else"), None);
    }

    #[test]
    fn probes_are_described() {
        let p: Probe = serde_saphyr::from_str("{httpGet: {path: /healthz, port: 8080}}").unwrap();
        assert_eq!(describe_probe(&p), "httpGet /healthz on port 8080");
        let p: Probe = serde_saphyr::from_str("{exec: {command: [cat, /tmp/ready]}}").unwrap();
        assert_eq!(describe_probe(&p), "exec cat /tmp/ready");
        let p: Probe = serde_saphyr::from_str("{tcpSocket: {port: db}}").unwrap();
        assert_eq!(describe_probe(&p), "tcp port db");
        assert_eq!(
            field_container(Some("spec.containers{app}")),
            Some("app".into())
        );
    }
}
