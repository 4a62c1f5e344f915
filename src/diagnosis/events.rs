//! Events about the new pods and RC: picked, counted, and collapsed the way a reader wants them.
//!
//! `kubectl describe` prints every Scheduled/Pulled/Started line; the cause drowns in routine. Like krane we drop
//! the routine reasons and collapse repeats into "Reason: message (N events)".

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;

use super::Snapshot;

/// Reasons that say things are going as planned.
pub const ROUTINE: [&str; 9] = [
    "Scheduled",
    "Pulling",
    "Pulled",
    "Created",
    "Started",
    "SuccessfulCreate",
    "SuccessfulDelete",
    "Killing",
    "ScalingReplicaSet",
];

/// How many times the event happened (the series count, the legacy count, or once).
pub fn count(e: &Event) -> u32 {
    e.series
        .as_ref()
        .and_then(|s| s.count)
        .or(e.count)
        .unwrap_or(1)
        .max(1) as u32
}

/// When the event last happened, if it says.
pub fn last_seen(e: &Event) -> Option<Timestamp> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(e.last_timestamp.as_ref().map(|t| t.0))
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.first_timestamp.as_ref().map(|t| t.0))
}

pub fn reason(e: &Event) -> &str {
    e.reason.as_deref().unwrap_or("")
}

pub fn message(e: &Event) -> &str {
    e.message.as_deref().unwrap_or("").trim()
}

pub fn about_pod(e: &Event, pod: &Pod) -> bool {
    let o = &e.involved_object;
    o.kind.as_deref() == Some("Pod")
        && o.name.is_some()
        && o.name == pod.metadata.name
        && (o.namespace.is_none()
            || pod.metadata.namespace.is_none()
            || o.namespace == pod.metadata.namespace)
}

/// Events about one pod with the given reason, oldest first.
pub fn for_pod<'a>(snapshot: &'a Snapshot, pod: &Pod, reason_is: &str) -> Vec<&'a Event> {
    let mut v: Vec<&Event> = snapshot
        .events
        .iter()
        .filter(|e| reason(e) == reason_is && about_pod(e, pod))
        .collect();
    v.sort_by_key(|e| last_seen(e));
    v
}

/// Events about the new RC or any new pod, oldest first.
pub fn relevant(snapshot: &Snapshot) -> Vec<&Event> {
    let rc_name = snapshot
        .new_rc
        .as_ref()
        .and_then(|rc| rc.metadata.name.as_deref());
    let mut v: Vec<&Event> = snapshot
        .events
        .iter()
        .filter(|e| {
            let o = &e.involved_object;
            (o.kind.as_deref() == Some("ReplicationController")
                && o.name.is_some()
                && o.name.as_deref() == rc_name)
                || snapshot.new_pods.iter().any(|p| about_pod(e, p))
        })
        .collect();
    v.sort_by_key(|e| last_seen(e));
    v
}

/// "Reason: message (N events)" lines, routine reasons dropped, repeats collapsed, in order of first appearance.
pub fn collapse<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<String> {
    let mut seen: Vec<(String, String, u32)> = vec![];
    for e in events {
        let r = reason(e);
        if ROUTINE.contains(&r) {
            continue;
        }
        let m = message(e);
        match seen.iter_mut().find(|(sr, sm, _)| sr == r && sm == m) {
            Some(entry) => entry.2 += count(e),
            None => seen.push((r.to_string(), m.to_string(), count(e))),
        }
    }
    seen.into_iter()
        .map(|(r, m, n)| {
            if n > 1 {
                format!("{r}: {m} ({n} events)")
            } else {
                format!("{r}: {m}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_repeats_and_drops_routine() {
        let events: Vec<Event> = serde_saphyr::from_str(
            r#"
- {involvedObject: {kind: Pod, name: a}, reason: Scheduled, message: "Successfully assigned"}
- {involvedObject: {kind: Pod, name: a}, reason: BackOff, message: "Back-off restarting failed container", count: 4}
- {involvedObject: {kind: Pod, name: b}, reason: BackOff, message: "Back-off restarting failed container"}
- {involvedObject: {kind: Pod, name: a}, reason: Pulled, message: "Container image already present"}
- {involvedObject: {kind: Pod, name: a}, reason: Failed, message: "Error: boom"}
"#,
        )
        .unwrap();
        assert_eq!(
            collapse(&events),
            vec![
                "BackOff: Back-off restarting failed container (5 events)".to_string(),
                "Failed: Error: boom".to_string()
            ]
        );
    }
}
