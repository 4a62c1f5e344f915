//! Events about the new pods and RC: picked, counted, and collapsed the way a reader wants them.
//!
//! `kubectl describe` prints every Scheduled/Pulled/Started line; the cause drowns in routine. Like krane we drop
//! the routine reasons and collapse repeats into "Reason: message (N events)".

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
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

/// Is the event about this object? Names are reused (a re-run recreates `web-v2` after the first was deleted,
/// and events live an hour), so a name is not enough: the event's involvedObject.uid must be the object's, and
/// when either has no uid the event must not be older than the object.
pub fn about(e: &Event, kind: &str, meta: &ObjectMeta) -> bool {
    let o = &e.involved_object;
    let same_name = o.kind.as_deref() == Some(kind)
        && o.name.is_some()
        && o.name == meta.name
        && (o.namespace.is_none() || meta.namespace.is_none() || o.namespace == meta.namespace);
    if !same_name {
        return false;
    }
    fn nonempty(u: Option<&str>) -> Option<&str> {
        u.filter(|u| !u.is_empty())
    }
    match (nonempty(o.uid.as_deref()), nonempty(meta.uid.as_deref())) {
        (Some(a), Some(b)) => a == b,
        _ => match (last_seen(e), meta.creation_timestamp.as_ref()) {
            (Some(seen), Some(created)) => seen >= created.0,
            _ => true,
        },
    }
}

pub fn about_pod(e: &Event, pod: &Pod) -> bool {
    about(e, "Pod", &pod.metadata)
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

/// Is the event about the new RC (this one, not an older RC of the same name)?
pub fn about_new_rc(snapshot: &Snapshot, e: &Event) -> bool {
    snapshot
        .new_rc
        .as_ref()
        .is_some_and(|rc| about(e, "ReplicationController", &rc.metadata))
}

/// Events about the new RC or any new pod, oldest first.
pub fn relevant(snapshot: &Snapshot) -> Vec<&Event> {
    let mut v: Vec<&Event> = snapshot
        .events
        .iter()
        .filter(|e| about_new_rc(snapshot, e) || snapshot.new_pods.iter().any(|p| about_pod(e, p)))
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

    #[test]
    fn events_of_an_older_object_with_the_same_name_are_not_its_own() {
        let events: Vec<Event> = serde_saphyr::from_str(
            r#"
- {involvedObject: {kind: ReplicationController, name: web-v2, uid: old}, reason: FailedCreate, lastTimestamp: "2024-05-01T09:00:00Z"}
- {involvedObject: {kind: ReplicationController, name: web-v2, uid: new}, reason: FailedCreate, lastTimestamp: "2024-05-01T10:00:05Z"}
- {involvedObject: {kind: ReplicationController, name: web-v2}, reason: FailedCreate, lastTimestamp: "2024-05-01T09:00:00Z"}
- {involvedObject: {kind: ReplicationController, name: web-v2}, reason: FailedCreate, lastTimestamp: "2024-05-01T10:00:00Z"}
- {involvedObject: {kind: Pod, name: web-v2, uid: new}, reason: FailedCreate}
"#,
        )
        .unwrap();
        let meta: ObjectMeta = serde_saphyr::from_str(
            "{name: web-v2, uid: new, creationTimestamp: '2024-05-01T10:00:00Z'}",
        )
        .unwrap();
        let mine: Vec<bool> = events
            .iter()
            .map(|e| about(e, "ReplicationController", &meta))
            .collect();
        assert_eq!(mine, vec![false, true, false, true, false]);
    }
}
