//! The raw inputs, exactly as the runner passes them: `INPUT_<NAME>` with the name upper-cased (envy lower-cases
//! it back), every value a string, empty when the workflow left it unset and action.yml has no default.

use serde::Deserialize;

/// Stage one of input parsing: strings, all optional. Debug never shows the kubeconfig or the token.
#[derive(Clone, Default, Deserialize)]
pub struct RawInputs {
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub rc: Option<String>,
    pub manifest: Option<String>,
    pub service_manifest: Option<String>,
    pub images: Option<String>,
    pub version: Option<String>,
    pub version_from: Option<String>,
    pub version_label: Option<String>,
    pub replicas: Option<String>,
    pub max_surge: Option<String>,
    pub max_unavailable: Option<String>,
    pub min_ready_seconds: Option<String>,
    pub progress_deadline: Option<String>,
    pub timeout: Option<String>,
    pub on_failure: Option<String>,
    pub dry_run: Option<String>,
    pub mode: Option<String>,
    pub github_token: Option<String>,
    pub status_context: Option<String>,
    pub comment: Option<String>,
    pub environment: Option<String>,
    pub order: Option<String>,
}

impl RawInputs {
    /// Reads `INPUT_*` from `vars` with envy. Every field is an optional string, so this cannot fail on values;
    /// should envy ever refuse, the inputs count as unset and validation names what is missing.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> RawInputs {
        envy::prefixed("INPUT_").from_iter(vars).unwrap_or_default()
    }
}

impl std::fmt::Debug for RawInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("RawInputs")
            .field("kubeconfig", &secret(&self.kubeconfig))
            .field("context", &self.context)
            .field("namespace", &self.namespace)
            .field("rc", &self.rc)
            .field("manifest", &self.manifest)
            .field("order", &self.order)
            .field("service_manifest", &self.service_manifest)
            .field("images", &self.images)
            .field("version", &self.version)
            .field("version_from", &self.version_from)
            .field("version_label", &self.version_label)
            .field("replicas", &self.replicas)
            .field("max_surge", &self.max_surge)
            .field("max_unavailable", &self.max_unavailable)
            .field("min_ready_seconds", &self.min_ready_seconds)
            .field("progress_deadline", &self.progress_deadline)
            .field("timeout", &self.timeout)
            .field("on_failure", &self.on_failure)
            .field("dry_run", &self.dry_run)
            .field("mode", &self.mode)
            .field("github_token", &secret(&self.github_token))
            .field("status_context", &self.status_context)
            .field("comment", &self.comment)
            .field("environment", &self.environment)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_names_map_to_snake_case_fields() {
        let raw = RawInputs::from_vars([
            ("INPUT_MAX_SURGE".to_string(), "25%".to_string()),
            ("INPUT_RC".to_string(), "api-rc".to_string()),
            ("INPUT_KUBECONFIG".to_string(), "secret-content".to_string()),
            ("GITHUB_SHA".to_string(), "abc".to_string()),
        ]);
        assert_eq!(raw.max_surge.as_deref(), Some("25%"));
        assert_eq!(raw.rc.as_deref(), Some("api-rc"));
        assert_eq!(raw.version, None);
        let debug = format!("{raw:?}");
        assert!(!debug.contains("secret-content"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
}
