//! The scheduler's "0/3 nodes are available: ..." message, taken apart into counted reasons.
//!
//! The message is the only place the scheduler says why a pod has no node, and the only capacity evidence left
//! when nodes cannot be listed. Its wording changed across releases (1.20 "node(s) had taint {k: v}, that the pod
//! didn't tolerate", later "had untolerated taint {k: v}", a trailing "preemption: ..." sentence), so parsing is
//! lenient: anything unrecognised is kept as [`ReasonKind::Other`] with its text.

/// What the scheduler said, one counted reason per clause.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchedulerMessage {
    /// "0/3": nodes available and nodes in total, when the message has them.
    pub available: Option<u32>,
    pub total: Option<u32>,
    pub reasons: Vec<Reason>,
}

/// One clause: "3 Insufficient cpu".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// How many nodes gave this reason (0 when the message did not say).
    pub nodes: u32,
    pub kind: ReasonKind,
    /// The clause as written, without its count.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonKind {
    /// "Insufficient cpu": the resource name, lowercased.
    Insufficient(String),
    TooManyPods,
    /// "had taint {key: value}": the taint as the scheduler printed it, without braces.
    Taint(String),
    /// "didn't match node selector" / "didn't match Pod's node affinity/selector" / 1.20's "didn't match Pod's
    /// node affinity" (said there for a nodeSelector too): the node's labels rule it out.
    NodeSelector,
    /// Pod (anti-)affinity and other affinity rules.
    Affinity,
    /// Cordoned nodes: "node(s) were unschedulable".
    Cordoned,
    Other,
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

/// Parses a scheduler message. Never fails: an unrecognised message becomes one `Other` reason.
pub fn parse(message: &str) -> SchedulerMessage {
    let message = message.trim();
    let mut out = SchedulerMessage::default();
    let body = match message.find("nodes are available:") {
        Some(at) => {
            let head = message[..at].trim();
            let head = head.rsplit(' ').next().unwrap_or(head);
            if let Some((a, t)) = head.split_once('/') {
                out.available = a.trim().parse().ok();
                out.total = t.trim().parse().ok();
            }
            &message[at + "nodes are available:".len()..]
        }
        None => message,
    };
    // Drop the "preemption: ..." sentence newer schedulers append.
    let body = match body.find("preemption:") {
        Some(at) => &body[..at],
        None => body,
    };
    let body = body.trim().trim_end_matches('.').trim();

    // Clauses are ", "-separated and start with a count; a piece without a count (", that the pod didn't
    // tolerate") belongs to the clause before it.
    let mut clauses: Vec<String> = vec![];
    for piece in body.split(", ") {
        let starts_with_count = piece.chars().next().is_some_and(|c| c.is_ascii_digit())
            && piece
                .split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u32>().is_ok());
        match clauses.last_mut() {
            Some(last) if !starts_with_count => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => clauses.push(piece.to_string()),
        }
    }
    for clause in clauses.iter().filter(|c| !c.trim().is_empty()) {
        let clause = clause.trim().trim_end_matches('.');
        let (nodes, text) = match clause.split_once(' ') {
            Some((n, rest)) if n.parse::<u32>().is_ok() => (n.parse().unwrap_or(0), rest.trim()),
            _ => (0, clause),
        };
        out.reasons.push(Reason {
            nodes,
            kind: classify(text),
            text: text.to_string(),
        });
    }
    out
}

fn classify(text: &str) -> ReasonKind {
    let lower = text.to_ascii_lowercase();
    if let Some(rest) = text
        .strip_prefix("Insufficient ")
        .or_else(|| text.strip_prefix("insufficient "))
    {
        return ReasonKind::Insufficient(rest.trim().to_ascii_lowercase());
    }
    if lower.contains("too many pods") {
        return ReasonKind::TooManyPods;
    }
    if lower.contains("taint") {
        let inner = match (text.find('{'), text.rfind('}')) {
            (Some(a), Some(b)) if b > a => text[a + 1..b].trim().to_string(),
            _ => String::new(),
        };
        return ReasonKind::Taint(inner);
    }
    if lower.contains("node selector") || lower.contains("node affinity") {
        return ReasonKind::NodeSelector;
    }
    if lower.contains("affinity") {
        return ReasonKind::Affinity;
    }
    if lower.contains("unschedulable") {
        return ReasonKind::Cordoned;
    }
    ReasonKind::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insufficient_cpu_on_all_nodes() {
        let m = parse("0/3 nodes are available: 3 Insufficient cpu.");
        assert_eq!((m.available, m.total), (Some(0), Some(3)));
        assert_eq!(m.reasons.len(), 1);
        assert_eq!(m.reasons[0].nodes, 3);
        assert_eq!(m.reasons[0].kind, ReasonKind::Insufficient("cpu".into()));
    }

    #[test]
    fn mixed_reasons_are_counted() {
        let m = parse(
            "0/4 nodes are available: 1 Insufficient cpu, 3 node(s) didn't match node selector.",
        );
        let kinds: Vec<_> = m
            .reasons
            .iter()
            .map(|r| (r.nodes, r.kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (1, ReasonKind::Insufficient("cpu".into())),
                (3, ReasonKind::NodeSelector)
            ]
        );
    }

    #[test]
    fn taint_clause_keeps_its_comma() {
        let m = parse(
            "0/2 nodes are available: 1 Insufficient memory, 1 node(s) had taint {dedicated: gpu}, that the pod didn't tolerate.",
        );
        assert_eq!(m.reasons.len(), 2);
        assert_eq!(
            m.reasons[1].kind,
            ReasonKind::Taint("dedicated: gpu".into())
        );
        assert_eq!(
            m.reasons[1].text,
            "node(s) had taint {dedicated: gpu}, that the pod didn't tolerate"
        );
    }

    #[test]
    fn newer_wording_and_preemption_sentence() {
        let m = parse(
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
        );
        assert_eq!(m.reasons.len(), 2, "{m:?}");
        assert_eq!(
            m.reasons[0].kind,
            ReasonKind::Taint("node-role.kubernetes.io/control-plane:".into())
        );
        assert_eq!(m.reasons[1].kind, ReasonKind::TooManyPods);
        assert_eq!(m.reasons[1].nodes, 2);
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
        let m = parse("0/2 nodes are available: 2 node(s) were unschedulable.");
        assert_eq!(m.reasons[0].kind, ReasonKind::Cordoned);
        let m = parse("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.");
        assert_eq!(m.reasons[0].kind, ReasonKind::Affinity);
        let m =
            parse("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.");
        assert_eq!(m.reasons[0].kind, ReasonKind::NodeSelector);
        // Kubernetes 1.20 words a nodeSelector mismatch as node affinity (seen on the real control plane).
        let m = parse("0/4 nodes are available: 1 Insufficient cpu, 3 node(s) didn't match Pod's node affinity.");
        assert_eq!(m.reasons[1].kind, ReasonKind::NodeSelector);
        assert_eq!(
            parse("no nodes available to schedule pods").reasons[0].kind,
            ReasonKind::Other
        );
    }
}
