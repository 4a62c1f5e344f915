//! The raw inputs, exactly as the runner passes them: `INPUT_<NAME>` with the name upper-cased (envy lower-cases
//! it back), every value a string, empty when the workflow left it unset and action.yml has no default.
//!
//! Only the names [`super::defs::INPUTS`] defines are kept, so there is no second list of inputs to keep in step.

use std::collections::{BTreeMap, HashMap};

use super::defs::{Doc, Input, INPUTS};
use super::error::Problems;

/// Stage one of input parsing: strings, all optional. Debug never shows a secret input.
#[derive(Clone, Default)]
pub struct RawInputs {
    values: BTreeMap<&'static str, String>,
}

impl RawInputs {
    /// Reads `INPUT_*` from `vars` with envy. Every value is a string, so this cannot fail on values; should envy
    /// ever refuse, the inputs count as unset and validation names what is missing.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> RawInputs {
        let mut all: HashMap<String, String> =
            envy::prefixed("INPUT_").from_iter(vars).unwrap_or_default();
        let values = INPUTS
            .iter()
            .filter_map(|doc| Some((doc.name, all.remove(doc.name)?)))
            .collect();
        RawInputs { values }
    }

    /// The value the runner passed for input `name`, as given (`None`: not passed at all).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// What validation sees: the trimmed value, else action.yml's default; `None` when both are empty and the
    /// input is optional. A required input left empty gives `""`, which its parser refuses with the fix.
    fn value(&self, doc: &Doc) -> Option<String> {
        let given = self.get(doc.name).map(str::trim).filter(|s| !s.is_empty());
        match given.or(doc.fallback()) {
            Some(v) => Some(v.to_string()),
            None if doc.required => Some(String::new()),
            None => None,
        }
    }

    /// Parses `input`: `Some(None)` when unset, `None` when its problem was recorded in `problems`.
    pub(crate) fn parse<T>(&self, input: &Input<T>, problems: &mut Problems) -> Option<Option<T>> {
        match self.value(&input.doc) {
            None => Some(None),
            Some(v) => problems.take(input.parse(&v)).map(Some),
        }
    }
}

impl std::fmt::Debug for RawInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("RawInputs");
        for doc in INPUTS {
            let value = self
                .get(doc.name)
                .map(|v| if doc.secret { "<redacted>" } else { v });
            s.field(doc.name, &value);
        }
        s.finish()
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
        assert_eq!(raw.get("max_surge"), Some("25%"));
        assert_eq!(raw.get("rc"), Some("api-rc"));
        assert_eq!(raw.get("version"), None);
        let debug = format!("{raw:?}");
        assert!(!debug.contains("secret-content"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
}
