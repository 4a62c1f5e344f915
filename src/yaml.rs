//! YAML in and out, in one place: the manifests and Service manifests users give, the dry run's rendering.
//!
//! serde-saphyr (maintained; serde_yaml is deprecated). Booleans as serde_yaml 0.9 read them, YAML 1.2: only
//! `true`/`false` (`on`, `yes`, `n` stay strings). Numbers with a leading zero as kubectl reads them, octal:
//! `defaultMode: 0644` is 420. (serde_yaml 0.9 read 644, which the API server refuses as a mode; serde-saphyr's
//! default reads a float, which no integer field accepts.) Errors never quote the input: a manifest may hold
//! secrets in env values, and error messages reach job logs and pull request comments.

use serde::de::DeserializeOwned;

/// What the parser accepts (see the module documentation).
fn options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.legacy_octal_numbers = true;
    options.with_snippet = false;
    options
}

/// One YAML document.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// Every non-empty document of a multi-document stream (`---`), in order.
pub fn documents<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, serde_saphyr::Error> {
    serde_saphyr::from_multiple_with_options(text, options())
}

/// A Kubernetes object a unit test writes out as YAML, read as the action reads manifests. The test's own text:
/// a parse error is the test's mistake, so it panics (with the error, which never quotes the text).
#[cfg(test)]
pub(crate) fn parsed<T: DeserializeOwned>(text: &str) -> T {
    from_str(text).unwrap_or_else(|e| panic!("a test's YAML: {e}"))
}

/// A value as a YAML document.
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn reads_booleans_as_yaml_1_2_and_leading_zeros_as_kubectl_does() {
        let v: Value =
            from_str("a: on\nb: yes\nc: true\nd: 0644\ne: 1.10\nf: '8080'\ng: ~\nh: 12\n").unwrap();
        assert_eq!(
            v,
            json!({"a": "on", "b": "yes", "c": true, "d": 420, "e": 1.1, "f": "8080", "g": null, "h": 12})
        );
        let mode: i32 = from_str("0644").unwrap();
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn skips_empty_documents() {
        let docs: Vec<Value> =
            documents("---\n# nothing\n---\nkind: A\n---\n---\nkind: B\n").unwrap();
        assert_eq!(docs, [json!({"kind": "A"}), json!({"kind": "B"})]);
    }

    #[test]
    fn errors_say_where_without_quoting_the_input() {
        let e = from_str::<Value>("env:\n  - name: TOKEN\n    value: s3cr3t-value\n  bad: [\n")
            .unwrap_err();
        let text = e.to_string();
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("line"), "{text}");
    }

    #[test]
    fn round_trips_strings_that_look_like_other_types() {
        let v = json!({"a": "true", "b": "on", "c": "8080", "d": "1.10", "e": "", "f": "null", "g": "a: b"});
        let back: Value = from_str(&to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }
}
