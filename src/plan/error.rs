//! Why a plan was refused. Each message says what is wrong, with the names and values involved, and how to
//! fix it: these are the mistakes `kubectl rolling-update` users made by hand, and its terse errors
//! ("cannot have the same name as the existing ReplicationController") were where they got stuck.

use crate::text::quoted;

/// A plan that would break something; nothing in the cluster was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("input `manifest`: failed to read `{path}`: {detail}; check the path (relative to the repository root) and that the workflow checked the repository out")]
    ManifestRead { path: String, detail: String },

    #[error("input `manifest`: failed to parse it as JSON or YAML: {detail}")]
    ManifestSyntax { detail: String },

    #[error("input `manifest`: kind is `{kind}`, not `ReplicationController`; this action rolls ReplicationControllers only: give it a manifest with `apiVersion: v1` and `kind: ReplicationController`")]
    ManifestKind { kind: String },

    #[error("input `manifest`: it holds {count} ReplicationControllers ({names}); keep the one to deploy in its own file")]
    ManifestSeveral { count: usize, names: String },

    #[error("input `manifest`: not a valid ReplicationController: {detail}")]
    ManifestInvalid { detail: String },

    #[error("input `manifest`: `metadata.namespace` is `{manifest}` but this run deploys to namespace `{namespace}`; remove `metadata.namespace` from the manifest or set the `namespace` input to `{manifest}`")]
    ManifestNamespace { manifest: String, namespace: String },

    #[error("the pod template of `{rc}` has no containers; add `spec.template.spec.containers` with at least one container (name and image)")]
    NoContainers { rc: String },

    #[error(
        "the pod template of `{rc}` has a container without a name; give every container a `name`"
    )]
    UnnamedContainer { rc: String },

    #[error("the pod template of `{rc}` has two containers named `{name}`; give every container a unique name")]
    DuplicateContainer { rc: String, name: String },

    #[error("input `images`: the pod of `{rc}` has no container `{container}`; its containers are {}. Write `<container>=<image>` with one of these names, e.g. `{}=<image>`", quoted(.containers), first(.containers))]
    UnknownContainer {
        rc: String,
        container: String,
        containers: Vec<String>,
    },

    #[error("input `images`: the bare image `{image}` needs a pod with one container, but the pod of `{rc}` has {}: {}. Name the container: `{}={image}`", .containers.len(), quoted(.containers), first(.containers))]
    BareImageNeedsContainer {
        rc: String,
        image: String,
        containers: Vec<String>,
    },

    #[error("nothing to build the new RC from: namespace `{namespace}` has no ReplicationController `{rc}` (nor a `{rc}-<version>` one of ours) and no `manifest` was given; for a first deploy pass `manifest`, otherwise check the `rc` and `namespace` inputs. An RC made by hand (e.g. by kubectl rolling-update) is never taken over silently: hand it over with `kubectl annotate rc <its name> rolling-update.github.io/base={rc}`")]
    NoSource { rc: String, namespace: String },

    #[error("the {what} of `{rc}` has no pod template; add `spec.template` (metadata.labels and spec.containers)")]
    NoTemplate { rc: String, what: String },

    #[error("input `rc`: `{rc}` is {len} characters long; the versioned name `{rc}-<version>` must fit in 63 characters, so `rc` may have at most {max}; use a shorter base name")]
    NameTooLong { rc: String, len: usize, max: usize },

    #[error("`{name}` cannot have the same name as the existing ReplicationController `{name}`: it already holds version `{version}` with {existing}, but this run asks for {wanted}. A version names exactly one build: give this build a new `version` (the default `version_from: sha` gives every commit its own), or delete the leftover `{name}` if it is broken")]
    SameName {
        name: String,
        version: String,
        existing: String,
        wanted: String,
    },

    #[error("the template labels of the new RC `{rc}` do not match its selector: {detail}; make `spec.template.metadata.labels` contain every label of `spec.selector`")]
    TemplateMismatch { rc: String, detail: String },

    #[error("`{new}` must specify a matching key with non-equal value in Selector for `{old}`: {detail}, so the new RC would take over the old RC's pods. Deploy a version that differs from the running one (`{old}` already runs `{label}`), or delete `{old}` if it is a leftover")]
    NoDifferingKey {
        old: String,
        new: String,
        label: String,
        detail: String,
    },

    #[error("HorizontalPodAutoscaler `{hpa}` scales `{rc}`: it would keep resizing the RC this run scales down (and never the new one). Point the HPA at a Deployment instead, or delete it before this run (`kubectl delete hpa {hpa}`) and recreate it for the new RC after")]
    AutoscalerTargetsOld { hpa: String, rc: String },

    #[error("the selector of ReplicationController `{other}` ({selector}) overlaps the new RC `{new}`: {detail}, and two RCs managing the same pods delete each other's pods. Give `{other}` or the manifest a label that tells them apart (e.g. a different `name`)")]
    SelectorOverlap {
        other: String,
        new: String,
        selector: String,
        detail: String,
    },

    #[error("Service `{service}` selects the current pods but would not select the new ones: {detail}. A Service must select only labels that stay the same across versions: remove {keys} from the selector of `{service}` (e.g. `kubectl edit service {service}`), then re-run; nothing was changed")]
    ServiceBreaks {
        service: String,
        keys: String,
        detail: String,
    },

    #[error("several ReplicationControllers belong to `{rc}` and none is marked as being replaced by another: {names}. Scale down and delete the ones that should not serve (`kubectl delete rc <name>`), then re-run")]
    AmbiguousCurrent { rc: String, names: String },
}

fn first(names: &[String]) -> &str {
    names.first().map(String::as_str).unwrap_or("<container>")
}

impl PlanError {
    /// The input the workflow author should look at, when one is to blame.
    pub fn input(&self) -> Option<&'static str> {
        match self {
            PlanError::ManifestRead { .. }
            | PlanError::ManifestSyntax { .. }
            | PlanError::ManifestKind { .. }
            | PlanError::ManifestSeveral { .. }
            | PlanError::ManifestInvalid { .. }
            | PlanError::ManifestNamespace { .. } => Some("manifest"),
            PlanError::UnknownContainer { .. } | PlanError::BareImageNeedsContainer { .. } => {
                Some("images")
            }
            PlanError::NameTooLong { .. } => Some("rc"),
            PlanError::SameName { .. } | PlanError::NoDifferingKey { .. } => Some("version"),
            _ => None,
        }
    }
}

pub type Result<T, E = PlanError> = std::result::Result<T, E>;
