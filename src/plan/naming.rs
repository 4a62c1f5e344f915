//! The new RC's name: `<rc>-<version>`, a valid DNS-1123 name of at most 63 characters.
//!
//! The base is the user's name for their app and is never shortened silently: if it leaves no room for a
//! version, that is an error. The version is what gets shortened (or made lowercase), and whenever it is
//! altered a hash of the full version is appended, so two versions never share a name.

use super::error::{PlanError, Result};
use crate::inputs::names::dns_subdomain_problem;

const MAX: usize = 63;
const HASH_LEN: usize = 6;
/// Room the base must leave: `-` and at least 7 characters (a short SHA).
const MIN_VERSION_ROOM: usize = 1 + 7;

/// `<base>-<version>`, shortened and cleaned as needed.
pub fn versioned_name(base: &str, version: &str) -> Result<String> {
    if base.len() > MAX - MIN_VERSION_ROOM {
        return Err(PlanError::NameTooLong {
            rc: base.to_string(),
            len: base.len(),
            max: MAX - MIN_VERSION_ROOM,
        });
    }
    let clean = clean(version);
    if clean == version && base.len() + 1 + clean.len() <= MAX {
        return Ok(format!("{base}-{clean}"));
    }
    let hash = format!("{:x}", md5::compute(version.as_bytes()));
    let hash = &hash[..HASH_LEN];
    let room = MAX.saturating_sub(base.len() + 1 + 1 + HASH_LEN);
    let part: String = clean.chars().take(room).collect();
    let part = part.trim_end_matches(['-', '.']);
    let name = if part.is_empty() {
        format!("{base}-{hash}")
    } else {
        format!("{base}-{part}-{hash}")
    };
    debug_assert!(dns_subdomain_problem(&name, MAX).is_none(), "{name}");
    Ok(name)
}

/// The version as a DNS-1123 name part: lowercase, `[a-z0-9.-]`, every dot-separated part with alphanumeric ends.
fn clean(version: &str) -> String {
    let lower: String = version
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '-') => c,
            _ => '-',
        })
        .collect();
    lower
        .split('.')
        .map(|p| p.trim_matches('-'))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) {
        assert!(name.len() <= 63, "{name} is {} long", name.len());
        assert_eq!(dns_subdomain_problem(name, 63), None, "{name}");
    }

    #[test]
    fn short_versions_are_kept_as_they_are() {
        assert_eq!(
            versioned_name("api-rc", "abc1234").unwrap(),
            "api-rc-abc1234"
        );
        assert_eq!(versioned_name("api-rc", "v1.0.1").unwrap(), "api-rc-v1.0.1");
        assert_eq!(
            versioned_name("api-rc", "1717171717").unwrap(),
            "api-rc-1717171717"
        );
    }

    #[test]
    fn long_versions_are_shortened_with_a_hash_and_stay_distinct() {
        let long_a = format!("release-{}-a", "x".repeat(60));
        let long_b = format!("release-{}-b", "x".repeat(60));
        let a = versioned_name("api-rc", &long_a).unwrap();
        let b = versioned_name("api-rc", &long_b).unwrap();
        valid(&a);
        valid(&b);
        assert_ne!(a, b);
        assert!(a.starts_with("api-rc-release-xxx"), "{a}");
        assert_eq!(a.len(), 63);
    }

    #[test]
    fn versions_that_are_not_names_are_cleaned_with_a_hash() {
        let upper = versioned_name("api-rc", "V1_0").unwrap();
        valid(&upper);
        assert!(upper.starts_with("api-rc-v1-0-"), "{upper}");
        assert_ne!(upper, versioned_name("api-rc", "v1-0").unwrap());
        let dots = versioned_name("api-rc", "1..2_").unwrap();
        valid(&dots);
        // a cut that would end on `-` or `.` is trimmed
        let base = "b".repeat(40);
        let cut = versioned_name(&base, "abcdefghijklmn.opq").unwrap();
        valid(&cut);
    }

    #[test]
    fn the_base_is_never_shortened() {
        let base = "a".repeat(55);
        let name = versioned_name(&base, &"v".repeat(40)).unwrap();
        valid(&name);
        assert!(name.starts_with(&base));
        let too_long = "a".repeat(56);
        let e = versioned_name(&too_long, "abc1234").unwrap_err();
        assert_eq!(
            e,
            PlanError::NameTooLong {
                rc: too_long,
                len: 56,
                max: 55
            }
        );
        assert!(e.to_string().starts_with("input `rc`:"), "{e}");
    }

    #[test]
    fn any_version_gives_a_valid_name() {
        for v in [
            "-",
            "...",
            "a",
            "UPPER",
            "x.y-z_w",
            "9".repeat(63).as_str(),
            "é",
        ] {
            valid(&versioned_name("api-rc", v).unwrap());
        }
    }
}
