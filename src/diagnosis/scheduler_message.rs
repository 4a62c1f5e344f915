//! The scheduler's "0/3 nodes are available: ..." message, taken apart into counted reasons.
//!
//! The message is the only place the scheduler says why a pod has no node, and the only capacity evidence left
//! when nodes cannot be listed. It is `FitError.Error()` (pkg/scheduler/schedule_one.go): a header, one sentence
//! of reasons ("<count> <reason>" sorted as strings and joined with ", ", or a PreFilter plugin's message without
//! counts), then the PostFilter plugins' messages joined with ", " ("no new claims to deallocate" from DRA,
//! "preemption: 0/N nodes are available: ..." from preemption). Its wording changed across releases (1.20
//! "node(s) had taint {k: v}, that the pod didn't tolerate", 1.25 "had untolerated taint {k: v}", 1.34.2
//! "had untolerated taint(s)" without the key), so we cut it at sentence boundaries first and never let a clause
//! of one sentence run into another; anything unrecognised is kept as [`ReasonKind::Other`] with its text.
//! tests/fixtures/scheduler/messages.yaml holds messages of 1.20 to 1.35 (seen on clusters, or built from the
//! upstream format strings) with what each must yield.

/// What the scheduler said, one counted reason per clause.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchedulerMessage {
    /// The nodes in total: the 3 of "0/3", when the message has it. (The 0 is always 0: the scheduler writes the
    /// message only when no node fits.)
    pub total: Option<u32>,
    pub reasons: Vec<Reason>,
    /// PostFilter messages other than preemption's ("no new claims to deallocate").
    pub notes: Vec<String>,
    /// Preemption's own counted verdicts ("No preemption victims found for incoming pod"); never a cause.
    pub preemption: Vec<String>,
}

/// One clause: "3 Insufficient cpu".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// How many nodes gave this reason (0 when the message did not say, as for PreFilter messages).
    pub nodes: u32,
    pub kind: ReasonKind,
    /// The clause as written, without its count.
    pub text: String,
}

/// Volume reasons (VolumeBinding, VolumeZone, VolumeRestrictions, NodeVolumeLimits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeReason {
    /// "had volume node affinity conflict" / 1.33+ "didn't match PersistentVolume's node affinity" / "had no
    /// available volume zone": the bound volume lives where these nodes are not.
    NodeConflict,
    /// "didn't find available persistent volumes to bind".
    NoVolumeToBind,
    /// "pod has unbound immediate PersistentVolumeClaims" (a PreFilter message): waiting for a provisioner.
    UnboundImmediate,
    /// Not enough storage, too many volumes, a disk or ReadWriteOncePod claim in use, a missing claim.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonKind {
    /// "Insufficient cpu", "Insufficient nvidia.com/gpu": the resource name as written (names are case-sensitive:
    /// hugepages-2Mi).
    Insufficient(String),
    TooManyPods,
    /// An untolerated taint: its key and value when the scheduler printed them ("{key: value}"), `None` when it
    /// did not (1.20's summary "had taints that the pod didn't tolerate", 1.34.2+ "had untolerated taint(s)").
    Taint(Option<TaintRef>),
    /// The node's labels rule it out: "didn't match node selector", "didn't match Pod's node affinity/selector",
    /// 1.20's "didn't match Pod's node affinity" (said there for a nodeSelector too), "didn't satisfy plugin(s)
    /// [NodeAffinity]" (1.29+, nodes the NodeAffinity PreFilter left out).
    NodeSelector,
    /// "node is filtered out by the prefilter result" (1.27, 1.28) or "didn't satisfy plugin(s) [X]" for another
    /// plugin: some PreFilter plugin (usually NodeAffinity, by spec.nodeName or a metadata.name field) left it out.
    PreFiltered,
    /// "didn't match the requested node name" / "didn't match the requested hostname".
    NodeName,
    /// "didn't match pod affinity rules": no pod the required affinity asks for runs there.
    PodAffinity,
    /// "didn't match pod anti-affinity rules": the new pod's required anti-affinity excludes the node.
    PodAntiAffinity,
    /// "didn't satisfy existing pods anti-affinity rules": a pod already there excludes the new one.
    ExistingPodsAntiAffinity,
    /// 1.20's companion "didn't match pod affinity/anti-affinity", said beside one of the three above.
    InterPodAffinity,
    /// "didn't have free ports for the requested pod ports".
    HostPorts,
    /// "didn't match pod topology spread constraints" (optionally "(missing required label)").
    TopologySpread,
    Volume(VolumeReason),
    /// Dynamic resource allocation: "cannot allocate all claims", "resourceclaim not found", ...
    ResourceClaims,
    /// Cordoned nodes: "node(s) were unschedulable" (a `node.kubernetes.io/unschedulable` taint is a `Taint`).
    Cordoned,
    Other,
}

/// A taint as the scheduler printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaintRef {
    pub key: String,
    /// Empty when the taint has no value.
    pub value: String,
}

impl SchedulerMessage {
    /// The resources named as insufficient.
    pub fn insufficient(&self) -> impl Iterator<Item = &str> {
        self.reasons.iter().filter_map(|r| match &r.kind {
            ReasonKind::Insufficient(res) => Some(res.as_str()),
            _ => None,
        })
    }

    pub fn has(&self, pred: impl Fn(&ReasonKind) -> bool) -> bool {
        self.reasons.iter().any(|r| pred(&r.kind))
    }
}

const HEADER: &str = "nodes are available:";

/// Splits text at sentence ends (". " or a final "."). Taint keys, resource names and plugin names contain dots
/// but never ". ", so a dot followed by a space is always the end of a sentence.
fn sentences(text: &str) -> Vec<&str> {
    text.split(". ")
        .map(|s| s.trim().trim_end_matches('.').trim())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The 3 of "0/3" before the header.
fn head_total(head: &str) -> Option<u32> {
    let head = head.trim();
    let head = head.rsplit(' ').next().unwrap_or(head);
    head.split_once('/')
        .and_then(|(_, t)| t.trim().parse().ok())
}

fn count_of(piece: &str) -> Option<u32> {
    piece
        .split_whitespace()
        .next()
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .and_then(|w| w.parse().ok())
}

/// "1 a, 2 b" -> [(1, "a"), (2, "b")]. A piece without a count (", that the pod didn't tolerate") belongs to the
/// clause before it; a first piece without one is a PreFilter message (count 0).
fn counted_clauses(sentence: &str) -> Vec<(u32, String)> {
    let mut clauses: Vec<(u32, String)> = vec![];
    for piece in sentence.split(", ") {
        match (count_of(piece), clauses.last_mut()) {
            (None, Some(last)) => {
                last.1.push_str(", ");
                last.1.push_str(piece);
            }
            (Some(n), _) => {
                let text = piece.trim()[n.to_string().len()..].trim();
                clauses.push((n, text.to_string()));
            }
            (None, None) => clauses.push((0, piece.trim().to_string())),
        }
    }
    clauses.retain(|(_, t)| !t.is_empty());
    clauses
}

/// Parses a scheduler message. Never fails: an unrecognised message becomes one `Other` reason.
pub fn parse(message: &str) -> SchedulerMessage {
    let message = message.trim();
    let mut out = SchedulerMessage::default();
    let body = match message.find(HEADER) {
        Some(at) => {
            out.total = head_total(&message[..at]);
            &message[at + HEADER.len()..]
        }
        None => message,
    };
    let mut parts = sentences(body).into_iter();
    if let Some(reasons) = parts.next() {
        out.reasons = counted_clauses(reasons)
            .into_iter()
            .map(|(nodes, text)| Reason {
                nodes,
                kind: classify(&text),
                text,
            })
            .collect();
    }
    // PostFilter: "<plugin message>, <plugin message>, preemption: 0/N nodes are available: <histogram>".
    let post: Vec<&str> = parts.collect();
    let post = post.join(". ");
    let (notes, preemption) = match post.find("preemption:") {
        Some(at) => (&post[..at], Some(post[at + "preemption:".len()..].trim())),
        None => (post.as_str(), None),
    };
    out.notes = notes
        .split(", ")
        .map(|n| n.trim().trim_end_matches(',').trim())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(p) = preemption {
        let p = match p.find(HEADER) {
            Some(at) => &p[at + HEADER.len()..],
            None => p,
        };
        out.preemption = counted_clauses(p.trim().trim_end_matches('.'))
            .into_iter()
            .map(|(n, t)| if n > 0 { format!("{n} {t}") } else { t })
            .collect();
    }
    out
}

/// "{key: value}" -> TaintRef.
fn taint_ref(text: &str) -> Option<TaintRef> {
    let (a, b) = (text.find('{')?, text.rfind('}')?);
    if b <= a {
        return None;
    }
    let inner = &text[a + 1..b];
    let (key, value) = inner.split_once(':').unwrap_or((inner, ""));
    let key = key.trim();
    (!key.is_empty()).then(|| TaintRef {
        key: key.to_string(),
        value: value.trim().to_string(),
    })
}

fn classify(text: &str) -> ReasonKind {
    let lower = text.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("insufficient ") {
        let name = text[text.len() - rest.len()..].trim();
        return ReasonKind::Insufficient(name.to_string());
    }
    let has = |s: &str| lower.contains(s);
    if has("too many pods") {
        ReasonKind::TooManyPods
    } else if has("taint") {
        ReasonKind::Taint(taint_ref(text))
    } else if has("were unschedulable") {
        ReasonKind::Cordoned
    } else if has("didn't satisfy plugin") && has("nodeaffinity") && !has("simultaneously") {
        ReasonKind::NodeSelector
    } else if has("filtered out by the prefilter") || has("didn't satisfy plugin") {
        ReasonKind::PreFiltered
    } else {
        BY_WORDS
            .iter()
            .find(|(words, _)| words.iter().any(|w| has(w)))
            .map_or(ReasonKind::Other, |(_, kind)| kind.clone())
    }
}

/// The clauses [`classify`] tells by their words alone, tried in this order (the first kind with a word the
/// clause has wins): a volume's node affinity before a node's, anti-affinity before affinity, the volume kinds
/// before "volume" and "claim" at large.
const BY_WORDS: &[(&[&str], ReasonKind)] = {
    use ReasonKind::*;
    use VolumeReason::{NoVolumeToBind, NodeConflict, UnboundImmediate};
    &[
        (
            &[
                "persistentvolume's node affinity",
                "volume node affinity conflict",
                "available volume zone",
            ],
            Volume(NodeConflict),
        ),
        (&["node selector", "node affinity"], NodeSelector),
        (&["requested node name", "requested hostname"], NodeName),
        (&["existing pods anti-affinity"], ExistingPodsAntiAffinity),
        (&["pod anti-affinity rules"], PodAntiAffinity),
        (&["pod affinity rules"], PodAffinity),
        (&["affinity/anti-affinity"], InterPodAffinity),
        (&["free ports"], HostPorts),
        (&["topology spread"], TopologySpread),
        (
            &["available persistent volumes to bind"],
            Volume(NoVolumeToBind),
        ),
        (
            &["unbound immediate persistentvolumeclaim"],
            Volume(UnboundImmediate),
        ),
        (
            &[
                "volume",
                "persistentvolumeclaim",
                "free storage",
                "available disk",
                "pvc",
            ],
            Volume(VolumeReason::Other),
        ),
        (&["claim", "resource driver", "deviceclass"], ResourceClaims),
    ]
};

impl Reason {
    /// A short canonical form for tests and fixtures: "3 insufficient nvidia.com/gpu", "1 taint dedicated=gpu",
    /// "1 taint ?" (unnamed), "2 node-selector".
    pub fn tag(&self) -> String {
        let kind = match &self.kind {
            ReasonKind::Insufficient(r) => format!("insufficient {r}"),
            ReasonKind::TooManyPods => "too-many-pods".into(),
            ReasonKind::Taint(Some(t)) if t.value.is_empty() => format!("taint {}", t.key),
            ReasonKind::Taint(Some(t)) => format!("taint {}={}", t.key, t.value),
            ReasonKind::Taint(None) => "taint ?".into(),
            ReasonKind::NodeSelector => "node-selector".into(),
            ReasonKind::PreFiltered => "prefiltered".into(),
            ReasonKind::NodeName => "node-name".into(),
            ReasonKind::PodAffinity => "pod-affinity".into(),
            ReasonKind::PodAntiAffinity => "pod-anti-affinity".into(),
            ReasonKind::ExistingPodsAntiAffinity => "existing-anti-affinity".into(),
            ReasonKind::InterPodAffinity => "inter-pod-affinity".into(),
            ReasonKind::HostPorts => "host-ports".into(),
            ReasonKind::TopologySpread => "topology-spread".into(),
            ReasonKind::Volume(VolumeReason::NodeConflict) => "volume node-conflict".into(),
            ReasonKind::Volume(VolumeReason::NoVolumeToBind) => "volume no-pv".into(),
            ReasonKind::Volume(VolumeReason::UnboundImmediate) => "volume unbound-immediate".into(),
            ReasonKind::Volume(VolumeReason::Other) => "volume other".into(),
            ReasonKind::ResourceClaims => "claims".into(),
            ReasonKind::Cordoned => "cordoned".into(),
            ReasonKind::Other => format!("other {}", self.text),
        };
        format!("{} {kind}", self.nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        version: String,
        source: String,
        message: String,
        total: Option<u32>,
        reasons: Vec<String>,
        #[serde(default)]
        notes: Vec<String>,
        #[serde(default)]
        preemption: Vec<String>,
    }

    /// Every message of the corpus yields exactly the reasons, notes and preemption verdicts it lists.
    #[test]
    fn corpus_of_real_messages_from_1_20_to_1_35() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/scheduler/messages.yaml"
        );
        let text = std::fs::read_to_string(path).expect("the corpus");
        let cases: Vec<Case> = serde_saphyr::from_str(&text).expect("corpus YAML");
        let mut failures = vec![];
        for (i, c) in cases.iter().enumerate() {
            assert!(!c.source.trim().is_empty(), "case {i} has no source");
            let m = parse(&c.message);
            let got: Vec<String> = m.reasons.iter().map(Reason::tag).collect();
            if got != c.reasons
                || m.notes != c.notes
                || m.preemption != c.preemption
                || m.total != c.total
            {
                failures.push(format!(
                    "case {i} ({}): {}\n  want reasons {:?} notes {:?} preemption {:?} total {:?}\n  got  reasons {got:?} notes {:?} preemption {:?} total {:?}",
                    c.version, c.message, c.reasons, c.notes, c.preemption, c.total, m.notes, m.preemption, m.total
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let versions: std::collections::BTreeSet<&str> =
            cases.iter().map(|c| c.version.as_str()).collect();
        assert!(cases.len() >= 40, "{} messages", cases.len());
        assert!(versions.len() >= 6, "{versions:?}");
    }

    #[test]
    fn a_clause_never_runs_into_the_next_sentence() {
        let m = parse("0/5 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint(s), 3 node(s) didn't match Pod's node affinity/selector. no new claims to deallocate, preemption: 0/5 nodes are available: 1 No preemption victims found for incoming pod, 4 Preemption is not helpful for scheduling.");
        assert_eq!(m.reasons[0].kind, ReasonKind::Insufficient("cpu".into()));
        assert_eq!(m.reasons[0].text, "Insufficient cpu");
        assert_eq!(m.reasons[1].kind, ReasonKind::Taint(None));
        assert_eq!(m.reasons[2].kind, ReasonKind::NodeSelector);
        assert_eq!(
            m.reasons[2].text,
            "node(s) didn't match Pod's node affinity/selector"
        );
        assert_eq!(m.notes, vec!["no new claims to deallocate"]);
    }

    #[test]
    fn taint_clause_keeps_its_comma() {
        let m = parse(
            "0/2 nodes are available: 1 Insufficient memory, 1 node(s) had taint {dedicated: gpu}, that the pod didn't tolerate.",
        );
        assert_eq!(m.reasons.len(), 2);
        assert_eq!(
            m.reasons[1].kind,
            ReasonKind::Taint(Some(TaintRef {
                key: "dedicated".into(),
                value: "gpu".into()
            }))
        );
        assert_eq!(
            m.reasons[1].text,
            "node(s) had taint {dedicated: gpu}, that the pod didn't tolerate"
        );
    }

    #[test]
    fn bare_reasons_without_counts() {
        assert_eq!(
            parse("Insufficient memory").reasons[0].kind,
            ReasonKind::Insufficient("memory".into())
        );
        assert_eq!(
            parse("Too many pods").reasons[0].kind,
            ReasonKind::TooManyPods
        );
        assert_eq!(
            parse("no nodes available to schedule pods").reasons[0].kind,
            ReasonKind::Other
        );
    }
}
