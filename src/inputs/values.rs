//! Parsers for one input value each. They take the trimmed, non-empty string the runner passed and return
//! the typed value or a [`Problem`] that names the input, shows what was given (never for secrets) and the fix.

use std::time::Duration;

use base64::Engine as _;

use super::error::Problem;
use super::{ImageOverride, IntOrPercent};

/// One of a fixed set of words, case-insensitive (the enum inputs of [`super::defs`]).
pub fn one_of<T: Copy>(name: &'static str, s: &str, choices: &[(&str, T)]) -> Result<T, Problem> {
    let lower = s.to_ascii_lowercase();
    choices
        .iter()
        .find(|(k, _)| *k == lower)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let list = crate::text::quoted(choices.iter().map(|(k, _)| k));
            Problem::input(name, format!("unknown value `{s}`; use one of {list}"))
        })
}

pub fn boolean(name: &'static str, s: &str) -> Result<bool, Problem> {
    one_of(name, s, &[("true", true), ("false", false)])
}

/// A whole number `0..=max`.
fn whole(name: &'static str, s: &str, what: &str) -> Result<i64, Problem> {
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Err(Problem::input(
            name,
            format!("`{s}` is negative; {what} must be 0 or more"),
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(Problem::input(
            name,
            format!("`{s}` is not a whole number; {what} is a number like `3`"),
        )),
    }
}

pub fn replicas(s: &str) -> Result<i32, Problem> {
    let n = whole("replicas", s, "the replica count")?;
    i32::try_from(n).map_err(|_| Problem::input("replicas", format!("`{s}` is too large")))
}

pub fn min_ready_seconds(s: &str) -> Result<u32, Problem> {
    let n = whole(
        "min_ready_seconds",
        s,
        "the number of seconds a pod must be ready",
    )?;
    u32::try_from(n).map_err(|_| Problem::input("min_ready_seconds", format!("`{s}` is too large")))
}

/// `3` or `25%`. `max_percent` caps percentages (`max_unavailable` can't exceed 100%).
/// Upper bounds for `max_surge`-like inputs: far beyond any real value, well within i32 arithmetic.
const MAX_PODS: i64 = 100_000;
const MAX_PERCENT: i32 = 1_000;

/// The lines (or comma-separated entries) of a list input, trimmed, empty ones dropped.
pub fn lines(s: &str) -> Vec<String> {
    s.split(['\n', ','])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// Input `rc`: one or more base names, one per line or comma-separated, each a valid RC name, none twice.
pub fn rc_names(s: &str) -> Result<Vec<String>, Problem> {
    let names = lines(s);
    if names.is_empty() {
        return Err(Problem::input(
            "rc",
            "is required: the base name of your ReplicationController, e.g. `rc: api-rc`",
        ));
    }
    for (i, rc) in names.iter().enumerate() {
        if let Some(p) = super::names::dns_subdomain_problem(rc, 63) {
            return Err(Problem::input(
                "rc",
                format!("`{rc}` {p}; use the RC's base name, e.g. `api-rc`"),
            ));
        }
        if names[..i].contains(rc) {
            return Err(Problem::input(
                "rc",
                format!("`{rc}` is given twice; name each RC once"),
            ));
        }
    }
    Ok(names)
}

/// Input `order`.
pub fn order(s: &str) -> Result<crate::inputs::Order, Problem> {
    match s.trim() {
        "parallel" => Ok(crate::inputs::Order::Parallel),
        "sequential" => Ok(crate::inputs::Order::Sequential),
        other => Err(Problem::input(
            "order",
            format!("`{other}` is not `parallel` or `sequential`"),
        )),
    }
}

pub fn int_or_percent(
    name: &'static str,
    s: &str,
    max_percent: Option<i32>,
) -> Result<IntOrPercent, Problem> {
    let bad = || {
        Problem::input(name, format!("`{s}` is neither a whole number nor a percentage; use a number of pods like `1` or a percentage of the replicas like `25%`"))
    };
    if let Some(p) = s.strip_suffix('%') {
        let p = p.trim();
        let n: i64 = p.parse().map_err(|_| bad())?;
        if n < 0 {
            return Err(Problem::input(
                name,
                format!("`{s}` is negative; use 0% or more"),
            ));
        }
        if let Some(max) = max_percent.or(Some(MAX_PERCENT)) {
            if n > i64::from(max) {
                return Err(Problem::input(name, format!("`{s}` is more than {max}%")));
            }
        }
        let n = i32::try_from(n).map_err(|_| bad())?;
        return Ok(IntOrPercent::Percent(n));
    }
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Err(Problem::input(
            name,
            format!("`{s}` is negative; use 0 or more"),
        )),
        // A count beyond any cluster's size is a typo, and near i32::MAX it would overflow the arithmetic.
        Ok(n) if n > MAX_PODS => Err(Problem::input(
            name,
            format!("`{s}` is more than {MAX_PODS} pods; use a number of pods like `1` or a percentage like `25%`"),
        )),
        Ok(n) => i32::try_from(n).map(IntOrPercent::Int).map_err(|_| bad()),
        Err(_) => Err(bad()),
    }
}

/// `90s`, `5m`, `1h30m`, `2h`, or bare seconds `300`. Zero is refused: a deadline of nothing fails at once.
pub fn duration(name: &'static str, s: &str) -> Result<Duration, Problem> {
    let bad = || {
        Problem::input(
            name,
            format!("`{s}` is not a duration; use seconds (`300`) or units h, m, s like `90s`, `5m`, `1h30m`"),
        )
    };
    let secs: u64 = if s.chars().all(|c| c.is_ascii_digit()) {
        s.parse().map_err(|_| bad())?
    } else {
        let mut total: u64 = 0;
        let mut number = String::new();
        let mut last_unit = u64::MAX;
        for c in s.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let unit = match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return Err(bad()),
            };
            // Units in decreasing order, each once, each after a number: `1h30m`, not `30m1h` or `m`.
            if number.is_empty() || unit >= last_unit {
                return Err(bad());
            }
            let n: u64 = number.parse().map_err(|_| bad())?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(bad)?;
            number.clear();
            last_unit = unit;
        }
        if !number.is_empty() {
            return Err(bad());
        }
        total
    };
    if secs == 0 {
        return Err(Problem::input(
            name,
            format!("`{s}` is zero; give a duration longer than 0s"),
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// `container=image` entries separated by newlines or commas; a bare `image` only as the single entry.
pub fn images(s: &str) -> Result<Vec<ImageOverride>, Problem> {
    let entries: Vec<&str> = s
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let mut out: Vec<ImageOverride> = vec![];
    for entry in &entries {
        let (target, image) = match entry.split_once('=') {
            Some((c, i)) => (Some(c.trim()), i.trim()),
            None => (None, *entry),
        };
        // `<rc>:<container>`: container names are DNS labels, so a ':' before '=' can only mean an RC prefix.
        let (rc, container) = match target.map(|t| t.split_once(':')) {
            Some(Some((rc, c))) => (Some(rc.trim()), Some(c.trim())),
            Some(None) => (None, target),
            None => (None, None),
        };
        if image.is_empty() || image.chars().any(char::is_whitespace) || image.contains('=') {
            return Err(Problem::input(
                "images",
                format!("`{entry}` is not `container=image`; write one `container=image` per line, e.g. `node-api-container=registry.example.com/node-api:1.1`"),
            ));
        }
        if let Some(r) = rc {
            if let Some(p) = super::names::dns_subdomain_problem(r, 63) {
                return Err(Problem::input(
                    "images",
                    format!("RC name `{r}` in `{entry}` {p}"),
                ));
            }
        }
        match container {
            None if entries.len() > 1 => {
                return Err(Problem::input(
                    "images",
                    format!("`{entry}` has no container name; with several images write each as `container=image`"),
                ));
            }
            Some(c) => {
                if let Some(p) = super::names::dns_label_problem(c) {
                    return Err(Problem::input(
                        "images",
                        format!("container name `{c}` {p}"),
                    ));
                }
                if out
                    .iter()
                    .any(|o| o.container.as_deref() == Some(c) && o.rc.as_deref() == rc)
                {
                    return Err(Problem::input(
                        "images",
                        format!("container `{c}` is given twice; give each container one image"),
                    ));
                }
            }
            None => {}
        }
        out.push(ImageOverride {
            rc: rc.map(str::to_string),
            container: container.map(str::to_string),
            image: image.to_string(),
        });
    }
    Ok(out)
}

/// The kubeconfig content, raw YAML or base64 of it. The content is a secret: no message quotes it.
pub fn kubeconfig(s: &str) -> Result<String, Problem> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let looks_base64 = !compact.is_empty()
        && compact
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_'));
    let text = if looks_base64 {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&compact))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&compact))
            .map_err(|_| {
                Problem::input(
                    "kubeconfig",
                    "is neither kubeconfig YAML nor valid base64 (content not shown: it is secret); pass the file's content, or `base64 -w0` of it, from a secret",
                )
            })?;
        String::from_utf8(decoded).map_err(|_| {
            Problem::input(
                "kubeconfig",
                "is base64, but what it decodes to is not text (content not shown: it is secret); encode the kubeconfig file itself with `base64 -w0`",
            )
        })?
    } else {
        s.to_string()
    };
    let parsed = kube::config::Kubeconfig::from_yaml(&text).map_err(|_| {
        Problem::input(
            "kubeconfig",
            format!(
                "{} is not a valid kubeconfig (content not shown: it is secret); pass the whole file, as `kubectl config view --raw --minify` prints it",
                if looks_base64 { "the base64-decoded value" } else { "the value" }
            ),
        )
    })?;
    if parsed.clusters.is_empty() {
        return Err(Problem::input(
            "kubeconfig",
            "has no `clusters` (content not shown: it is secret); pass the whole file, as `kubectl config view --raw --minify` prints it",
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::defs::{COMMENT, MODE, ON_FAILURE, VERSION_FROM};
    use crate::inputs::{CommentMode, Mode, OnFailure, VersionFrom};
    use IntOrPercent::{Int, Percent};

    fn mode(s: &str) -> Result<Mode, Problem> {
        MODE.parse(s)
    }
    fn on_failure(s: &str) -> Result<OnFailure, Problem> {
        ON_FAILURE.parse(s)
    }
    fn comment(s: &str) -> Result<CommentMode, Problem> {
        COMMENT.parse(s)
    }
    fn version_from(s: &str) -> Result<VersionFrom, Problem> {
        VERSION_FROM.parse(s)
    }

    #[test]
    fn enums_accept_their_values_and_list_them_otherwise() {
        assert_eq!(mode("deploy").unwrap(), Mode::Deploy);
        assert_eq!(mode("Preview").unwrap(), Mode::Preview);
        assert_eq!(mode("cleanup").unwrap(), Mode::Cleanup);
        assert_eq!(mode("rollback").unwrap(), Mode::Rollback);
        let e = mode("destroy").unwrap_err().to_string();
        assert_eq!(e, "input `mode`: unknown value `destroy`; use one of `deploy`, `preview`, `cleanup`, `rollback`");
        assert_eq!(on_failure("keep").unwrap(), OnFailure::Keep);
        assert!(on_failure("ignore")
            .unwrap_err()
            .to_string()
            .starts_with("input `on_failure`"));
        assert_eq!(comment("never").unwrap(), CommentMode::Never);
        assert!(comment("sometimes").is_err());
        assert_eq!(version_from("tag").unwrap(), VersionFrom::Tag);
        assert!(version_from("branch")
            .unwrap_err()
            .to_string()
            .contains("`sha`, `timestamp`, `tag`"));
        assert!(boolean("dry_run", "TRUE").unwrap());
        assert!(!boolean("dry_run", "false").unwrap());
        assert!(boolean("dry_run", "yes please")
            .unwrap_err()
            .to_string()
            .starts_with("input `dry_run`"));
    }

    #[test]
    fn numbers() {
        assert_eq!(replicas("3").unwrap(), 3);
        assert!(replicas("-1").unwrap_err().to_string().contains("negative"));
        assert!(replicas("three")
            .unwrap_err()
            .to_string()
            .contains("not a whole number"));
        assert_eq!(min_ready_seconds("10").unwrap(), 10);
        assert!(min_ready_seconds("-5").is_err());
    }

    #[test]
    fn int_or_percent_values() {
        assert_eq!(int_or_percent("max_surge", "1", None).unwrap(), Int(1));
        assert_eq!(
            int_or_percent("max_surge", "25%", None).unwrap(),
            Percent(25)
        );
        assert_eq!(
            int_or_percent("max_surge", "150%", None).unwrap(),
            Percent(150)
        );
        assert!(int_or_percent("max_unavailable", "150%", Some(100))
            .unwrap_err()
            .to_string()
            .contains("more than 100%"));
        let e = int_or_percent("max_surge", "25 percent", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("input `max_surge`: `25 percent` is neither"),
            "{e}"
        );
        assert!(int_or_percent("max_surge", "x%", None).is_err());
        assert!(
            int_or_percent("max_surge", "2147483647", None)
                .unwrap_err()
                .to_string()
                .contains("more than 100000 pods"),
            "no i32 overflow in desired + max_surge"
        );
        assert!(int_or_percent("max_surge", "5000%", None).is_err());
        assert!(int_or_percent("max_surge", "-1", None)
            .unwrap_err()
            .to_string()
            .contains("negative"));
        assert!(int_or_percent("max_surge", "-5%", None)
            .unwrap_err()
            .to_string()
            .contains("negative"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration("timeout", "90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("timeout", "5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            duration("timeout", "1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            duration("timeout", "1h2m3s").unwrap(),
            Duration::from_secs(3723)
        );
        assert_eq!(
            duration("timeout", "300").unwrap(),
            Duration::from_secs(300)
        );
        for bad in [
            "5 minutes",
            "m",
            "5x",
            "30m1h",
            "5m5m",
            "1.5m",
            "5m3",
            "-5m",
        ] {
            let e = duration("progress_deadline", bad).unwrap_err().to_string();
            assert!(e.starts_with("input `progress_deadline`"), "{bad}: {e}");
        }
        assert!(duration("timeout", "0s")
            .unwrap_err()
            .to_string()
            .contains("zero"));
    }

    #[test]
    fn image_lists() {
        let list = images("node-api-container=node-api:1.1\nfluentd=fluent/fluentd:v1.17").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].container.as_deref(), Some("node-api-container"));
        assert_eq!(list[1].image, "fluent/fluentd:v1.17");
        let commas = images(" a=x:1 , b=y:2 ,").unwrap();
        assert_eq!(
            commas.iter().map(|o| o.image.as_str()).collect::<Vec<_>>(),
            ["x:1", "y:2"]
        );
        let bare = images("node-api:1.1").unwrap();
        assert_eq!(
            bare,
            vec![ImageOverride {
                rc: None,
                container: None,
                image: "node-api:1.1".into()
            }]
        );
        for (bad, says) in [
            ("node-api:1.1\nfluentd=f:1", "has no container name"),
            ("a=x:1\na=x:2", "given twice"),
            ("a=", "not `container=image`"),
            ("Api=x:1", "container name `Api`"),
        ] {
            let e = images(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        assert!(images("").unwrap().is_empty());
    }

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: s3cr3t-token\n";

    #[test]
    fn kubeconfig_raw_and_base64() {
        assert_eq!(kubeconfig(KUBECONFIG).unwrap(), KUBECONFIG);
        let b64 = base64::engine::general_purpose::STANDARD.encode(KUBECONFIG);
        assert_eq!(kubeconfig(&b64).unwrap(), KUBECONFIG);
        // base64 wrapped at 76 columns, as `base64` prints it by default
        let wrapped: String = b64
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(kubeconfig(&wrapped).unwrap(), KUBECONFIG);
    }

    #[test]
    fn kubeconfig_garbage_is_refused_without_echoing_it() {
        for garbage in [
            "not: [a kubeconfig",
            "c2VjcmV0IHRva2Vu",
            "s3cr3t-token!!",
            "Zm9v\u{1}",
            "foo: bar",
        ] {
            let e = kubeconfig(garbage).unwrap_err().to_string();
            assert!(e.starts_with("input `kubeconfig`"), "{e}");
            assert!(!e.contains(garbage), "echoed the secret: {e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        let not_text = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0x00]);
        assert!(kubeconfig(&not_text)
            .unwrap_err()
            .to_string()
            .contains("not text"));
        let b64_of_garbage = base64::engine::general_purpose::STANDARD.encode("just words");
        assert!(kubeconfig(&b64_of_garbage)
            .unwrap_err()
            .to_string()
            .contains("base64-decoded"));
    }

    /// Issue 16: several RCs, and images that name their RC.
    #[test]
    fn several_rcs_and_images_for_one_of_them() {
        assert_eq!(
            rc_names("api-rc\nworker-rc, cache-rc").unwrap(),
            ["api-rc", "worker-rc", "cache-rc"]
        );
        assert!(rc_names("api-rc\napi-rc")
            .unwrap_err()
            .to_string()
            .contains("`api-rc` is given twice"));
        assert!(rc_names("api-rc\nBad_Name").is_err());
        let imgs = images(
            "worker-rc:worker=registry.local/worker:2\nfluentd=registry.local:5000/fluentd:v2",
        )
        .unwrap();
        assert_eq!(imgs[0].rc.as_deref(), Some("worker-rc"));
        assert_eq!(imgs[0].container.as_deref(), Some("worker"));
        assert_eq!(imgs[0].image, "registry.local/worker:2");
        assert_eq!(imgs[1].rc, None, "a registry port is not an RC prefix");
        assert_eq!(imgs[1].image, "registry.local:5000/fluentd:v2");
        assert!(
            images("api-rc:api=a:1\nworker-rc:api=b:1").is_ok(),
            "one container name in two RCs"
        );
        assert!(images("api-rc:api=a:1\napi-rc:api=b:1").is_err());
        assert_eq!(
            order("sequential").unwrap(),
            crate::inputs::Order::Sequential
        );
        assert!(order("random")
            .unwrap_err()
            .to_string()
            .contains("input `order`"));
    }
}
