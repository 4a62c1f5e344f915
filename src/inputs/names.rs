//! Kubernetes name and label rules (apimachinery's validation), as predicates that say what is wrong.
//!
//! The plan builds names and labels from user inputs (`rc`, `version`, `version_label`); checking them here
//! means the API server never has to reject an RC halfway through a rollout.

/// Characters of `s` that may not appear in a label value (`[A-Za-z0-9._-]`), each once, in order.
pub fn bad_label_value_chars(s: &str) -> Vec<char> {
    let mut bad: Vec<char> = vec![];
    for c in s.chars() {
        let allowed = c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !allowed && !bad.contains(&c) {
            bad.push(c);
        }
    }
    bad
}

/// Why `s` is not a valid label value (<= 63 chars, `[A-Za-z0-9._-]`, alphanumeric at both ends), if it isn't.
/// The empty string is a valid label value but never a useful version, so it is refused too.
pub fn label_value_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    let bad = bad_label_value_chars(s);
    if !bad.is_empty() {
        let list = bad
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Some(format!(
            "contains {list}, which a Kubernetes label value may not contain (allowed: letters, digits, `.`, `_`, `-`)"
        ));
    }
    if s.len() > 63 {
        return Some(format!(
            "is {} characters long; a Kubernetes label value has at most 63",
            s.len()
        ));
    }
    let first = s.chars().next().unwrap_or('-');
    let last = s.chars().last().unwrap_or('-');
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Some("must start and end with a letter or digit (a Kubernetes label value)".into());
    }
    None
}

/// Why `s` is not a DNS-1123 label (`[a-z0-9-]`, <= 63, alphanumeric at both ends), if it isn't.
pub fn dns_label_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > 63 {
        return Some(format!(
            "is {} characters long; at most 63 are allowed",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!(
            "contains `{c}`; only lowercase letters, digits and `-` are allowed (a DNS-1123 label)"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some(
            "must start and end with a lowercase letter or digit (a DNS-1123 label)".into(),
        );
    }
    None
}

/// Why `s` is not a DNS-1123 subdomain (dot-separated DNS-1123 labels, <= `max` chars), if it isn't.
pub fn dns_subdomain_problem(s: &str, max: usize) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > max {
        return Some(format!(
            "is {} characters long; at most {max} are allowed",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.')))
    {
        return Some(format!(
            "contains `{c}`; only lowercase letters, digits, `-` and `.` are allowed (a DNS-1123 name)"
        ));
    }
    for part in s.split('.') {
        if part.is_empty() || part.starts_with('-') || part.ends_with('-') {
            return Some(
                "every dot-separated part must start and end with a lowercase letter or digit (a DNS-1123 name)".into(),
            );
        }
    }
    None
}

/// Why `s` is not a valid label key (`[prefix/]name`: prefix a DNS-1123 subdomain <= 253, name <= 63 of
/// `[A-Za-z0-9._-]` with alphanumeric ends), if it isn't.
pub fn label_key_problem(s: &str) -> Option<String> {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(prefix) = prefix {
        if let Some(p) = dns_subdomain_problem(prefix, 253) {
            return Some(format!("its prefix `{prefix}` {p}"));
        }
    }
    if name.is_empty() {
        return Some("the name part (after any `prefix/`) must not be empty".into());
    }
    label_value_problem(name).map(|p| {
        format!(
            "the name part `{name}` {}",
            p.replace("label value", "label key")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values() {
        assert_eq!(label_value_problem("v1.0.1"), None);
        assert_eq!(label_value_problem("abc1234"), None);
        let p = label_value_problem("feature/x y").unwrap();
        assert!(p.contains("`/`, ` `"), "{p}");
        assert!(label_value_problem("-a").unwrap().contains("start and end"));
        assert!(label_value_problem(&"a".repeat(64))
            .unwrap()
            .contains("64 characters"));
        assert!(label_value_problem("").is_some());
    }

    #[test]
    fn dns_names() {
        assert_eq!(dns_label_problem("api-rc"), None);
        assert!(dns_label_problem("Api").unwrap().contains("`A`"));
        assert!(dns_label_problem("a.b").unwrap().contains("`.`"));
        assert_eq!(dns_subdomain_problem("api-rc.v1", 63), None);
        assert!(dns_subdomain_problem("api-.x", 63).is_some());
        assert!(dns_subdomain_problem("api..x", 63).is_some());
        assert!(dns_subdomain_problem(&"a".repeat(64), 63)
            .unwrap()
            .contains("64"));
    }

    #[test]
    fn label_keys() {
        assert_eq!(label_key_problem("version"), None);
        assert_eq!(label_key_problem("example.com/version"), None);
        assert!(label_key_problem("Example.com/version")
            .unwrap()
            .contains("prefix"));
        assert!(label_key_problem("example.com/").unwrap().contains("empty"));
        assert!(label_key_problem("ver sion").unwrap().contains("label key"));
    }
}
