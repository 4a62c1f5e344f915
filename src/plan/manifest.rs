//! The `manifest` input: an RC in JSON or YAML, possibly among other documents (a Service beside it).
//!
//! The kind is checked before deserializing, so a Deployment gets "kind is `Deployment`" rather than a
//! serde error about a missing field; containers are checked here because the API server's own message for
//! a duplicate name arrives only after the rollout has started.

use std::path::Path;

use k8s_openapi::api::core::v1::ReplicationController;

use super::error::{PlanError, Result};

/// Reads and parses the manifest file. The path is the `manifest` input as given (relative to the workspace).
pub fn load_manifest(path: &Path) -> Result<ReplicationController> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::ManifestRead {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    parse_manifest(&text)
}

/// Parses an RC manifest in JSON or YAML (several YAML documents allowed; exactly one must be an RC).
pub fn parse_manifest(text: &str) -> Result<ReplicationController> {
    let documents = documents(text)?;
    let mut rcs = vec![];
    let mut other_kinds = vec![];
    for doc in documents {
        match doc.get("kind").and_then(|k| k.as_str()) {
            Some("ReplicationController") => rcs.push(doc),
            Some(kind) => other_kinds.push(kind.to_string()),
            None => other_kinds.push("<none>".to_string()),
        }
    }
    let doc = match rcs.len() {
        1 => rcs.pop().unwrap_or_default(),
        0 => {
            let kind = match other_kinds.as_slice() {
                [] => "<empty document>".to_string(),
                [one] if one == "<none>" => "missing".to_string(),
                kinds => kinds.join("`, `"),
            };
            return Err(PlanError::ManifestKind { kind });
        }
        n => {
            let names = rcs
                .iter()
                .map(|d| {
                    format!(
                        "`{}`",
                        d["metadata"]["name"].as_str().unwrap_or("<unnamed>")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PlanError::ManifestSeveral { count: n, names });
        }
    };
    if let Some(v) = doc.get("apiVersion").and_then(|v| v.as_str()) {
        if v != "v1" {
            return Err(PlanError::ManifestInvalid {
                detail: format!("apiVersion is `{v}`; a ReplicationController is `apiVersion: v1`"),
            });
        }
    }
    let rc: ReplicationController =
        serde_json::from_value(doc).map_err(|e| PlanError::ManifestInvalid {
            detail: e.to_string(),
        })?;
    let name = rc
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| "manifest".into());
    if rc.spec.as_ref().and_then(|s| s.template.as_ref()).is_none() {
        return Err(PlanError::NoTemplate {
            rc: name,
            what: "manifest".into(),
        });
    }
    if let Some(replicas) = rc.spec.as_ref().and_then(|s| s.replicas) {
        if replicas < 0 {
            return Err(PlanError::ManifestInvalid {
                detail: format!("`spec.replicas` is {replicas}; set it to 0 or more, or remove it to keep the current RC's count (or use the `replicas` input)"),
            });
        }
    }
    check_containers(&rc, &name)?;
    Ok(rc)
}

/// The pod template has containers, each named once.
pub fn check_containers(rc: &ReplicationController, name: &str) -> Result<()> {
    let containers = rc
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|p| p.containers.as_slice())
        .unwrap_or_default();
    if containers.is_empty() {
        return Err(PlanError::NoContainers {
            rc: name.to_string(),
        });
    }
    let mut seen: Vec<&str> = vec![];
    for c in containers {
        if c.name.is_empty() {
            return Err(PlanError::UnnamedContainer {
                rc: name.to_string(),
            });
        }
        if seen.contains(&c.name.as_str()) {
            return Err(PlanError::DuplicateContainer {
                rc: name.to_string(),
                name: c.name.clone(),
            });
        }
        seen.push(&c.name);
    }
    Ok(())
}

/// Every non-empty document of the text, as JSON values. JSON is tried first for a precise error position.
fn documents(text: &str) -> Result<Vec<serde_json::Value>> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map(|v| vec![v]).map_err(|e| {
            PlanError::ManifestSyntax {
                detail: format!("invalid JSON: {e}"),
            }
        });
    }
    let docs: Vec<serde_json::Value> =
        crate::yaml::documents(text).map_err(|e| PlanError::ManifestSyntax {
            detail: format!("invalid YAML: {e}"),
        })?;
    if docs.iter().any(|doc| !doc.is_object()) {
        return Err(PlanError::ManifestSyntax {
            detail:
                "a document is not a mapping (expected `apiVersion`, `kind`, `metadata`, `spec`)"
                    .into(),
        });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn fixture(path: &str) -> String {
        let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    fn images(rc: &ReplicationController) -> Vec<(String, String)> {
        rc.spec
            .as_ref()
            .unwrap()
            .template
            .as_ref()
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn yaml_and_json_manifests_parse_to_the_same_rc() {
        let yaml = parse_manifest(&fixture("manifests/api-rc.yaml")).unwrap();
        let json = parse_manifest(&fixture("manifests/api-rc.json")).unwrap();
        assert_eq!(yaml, json);
        assert_eq!(
            images(&yaml),
            [
                ("node-api-container".into(), "node-api:2.0".into()),
                ("fluentd".into(), "fluent/fluentd:v1.16".into())
            ]
        );
        assert_eq!(yaml.spec.as_ref().unwrap().replicas, Some(4));
    }

    #[test]
    fn the_rc_is_picked_among_several_documents() {
        let rc = parse_manifest(&fixture("manifests/rc-and-service.yaml")).unwrap();
        assert_eq!(rc.metadata.name.as_deref(), Some("api-rc"));
        let two = format!(
            "{}\n---\n{}",
            fixture("manifests/api-rc.yaml"),
            fixture("manifests/api-rc.yaml")
        );
        assert!(matches!(
            parse_manifest(&two),
            Err(PlanError::ManifestSeveral { count: 2, .. })
        ));
    }

    #[test]
    fn a_deployment_is_refused_naming_its_kind() {
        let e = parse_manifest(&fixture("manifests/deployment.yaml")).unwrap_err();
        assert_eq!(
            e,
            PlanError::ManifestKind {
                kind: "Deployment".into()
            }
        );
        assert!(e
            .to_string()
            .starts_with("input `manifest`: kind is `Deployment`, not `ReplicationController`"));
        assert_eq!(e.input(), Some("manifest"));
        let e = parse_manifest("metadata:\n  name: x\n").unwrap_err();
        assert!(e.to_string().contains("kind is `missing`"), "{e}");
    }

    #[test]
    fn negative_replicas_are_refused() {
        let text = fixture("manifests/api-rc.yaml").replace("replicas: 4", "replicas: -2");
        let e = parse_manifest(&text).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("input `manifest`: not a valid ReplicationController: `spec.replicas` is -2; set it to 0 or more"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_and_missing_containers_are_refused() {
        let e = parse_manifest(&fixture("manifests/duplicate-containers.yaml")).unwrap_err();
        assert_eq!(
            e,
            PlanError::DuplicateContainer {
                rc: "api-rc".into(),
                name: "node-api-container".into()
            }
        );
        let none = "kind: ReplicationController\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers: []\n";
        assert!(matches!(
            parse_manifest(none),
            Err(PlanError::NoContainers { .. })
        ));
        let no_template = "kind: ReplicationController\nmetadata: {name: x}\nspec: {replicas: 1}\n";
        assert!(parse_manifest(no_template)
            .unwrap_err()
            .to_string()
            .contains("has no pod template"));
    }

    #[test]
    fn syntax_errors_and_wrong_api_versions() {
        assert!(matches!(
            parse_manifest("{\"kind\": "),
            Err(PlanError::ManifestSyntax { .. })
        ));
        assert!(matches!(
            parse_manifest("kind: [unclosed"),
            Err(PlanError::ManifestSyntax { .. })
        ));
        assert!(parse_manifest("- a\n- b\n")
            .unwrap_err()
            .to_string()
            .contains("not a mapping"));
        let e = parse_manifest("apiVersion: apps/v1\nkind: ReplicationController\n").unwrap_err();
        assert!(e.to_string().contains("apiVersion is `apps/v1`"), "{e}");
        let bad_field = "kind: ReplicationController\nspec:\n  replicas: three\n";
        assert!(matches!(
            parse_manifest(bad_field),
            Err(PlanError::ManifestInvalid { .. })
        ));
    }

    #[test]
    fn load_names_the_path() {
        let e = load_manifest(Path::new("/nonexistent/rc.yaml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("input `manifest`: failed to read `/nonexistent/rc.yaml`"),
            "{e}"
        );
    }
}
