//! Kubernetes quantities ("100m", "1.5Gi", "1e9") as exact integers, and back as short human strings.
//!
//! Every amount is kept in milli-units (`i128`), the unit the scheduler uses for CPU, so that CPU, memory, pods
//! and extended resources share one arithmetic and nothing is lost to floating point. Parsing rounds up, as the
//! scheduler's `MilliValue()` does: a request is never understated.

/// One unit in milli-units.
pub const ONE: i128 = 1000;

/// The binary suffixes, each 1024 times the one before: "Ki" is 1024, "Ei" 1024^6.
const BINARY_SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// The decimal suffixes, each 1000 times the one before: "n" is 10^-9, none 1, "E" 10^18. (A lone "E" is exa, not
/// an exponent.)
const DECIMAL_SUFFIXES: [&str; 10] = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"];

/// Parses a quantity string into milli-units (cpu: millicores; memory: milli-bytes; pods: milli-pods).
/// Returns `None` for anything that is not a valid quantity.
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{int_part}{frac_part}");
    let mantissa: i128 = digits.parse().ok()?;
    let frac_digits = frac_part.len() as i32;

    let (binary_power, decimal_exp): (u32, i32) =
        if let Some(i) = BINARY_SUFFIXES.iter().position(|b| *b == suffix) {
            (i as u32 + 1, 0)
        } else if let Some(i) = DECIMAL_SUFFIXES.iter().position(|d| *d == suffix) {
            (0, 3 * i as i32 - 9)
        } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
            (0, exp.parse().ok()?)
        } else {
            return None;
        };
    let numerator = mantissa.checked_mul(1024i128.checked_pow(binary_power)?)?;
    let exp10 = decimal_exp + 3 - frac_digits;
    let value = if exp10 >= 0 {
        numerator.checked_mul(10i128.checked_pow(exp10 as u32)?)?
    } else {
        let divisor = 10i128.checked_pow((-exp10) as u32)?;
        (numerator + divisor - 1) / divisor
    };
    Some(if negative { -value } else { value })
}

/// Whether a resource is counted in bytes.
pub fn is_bytes(resource: &str) -> bool {
    let r = resource.rsplit('.').next().unwrap_or(resource);
    r == "memory" || r == "storage" || r == "ephemeral-storage" || r.starts_with("hugepages-")
}

/// Whether a resource is counted in cores (shown in millicores).
pub fn is_cpu(resource: &str) -> bool {
    resource.rsplit('.').next() == Some("cpu")
}

/// Formats an amount of `resource` given in milli-units: cpu "30m", memory "1.5Gi" / "900Mi" / "500M",
/// counts "110".
pub fn format(resource: &str, milli: i128) -> String {
    if is_cpu(resource) {
        format!("{milli}m")
    } else if is_bytes(resource) {
        format_bytes(ceil_div(milli, ONE))
    } else if milli % ONE == 0 {
        (milli / ONE).to_string()
    } else {
        format!("{milli}m")
    }
}

/// Formats a byte count: the largest binary unit when it reads exactly (up to two decimals), else an exact
/// decimal unit ("500M", "1G"), else the binary unit truncated to two decimals.
pub fn format_bytes(bytes: i128) -> String {
    if bytes < 0 {
        return format!("-{}", format_bytes(-bytes));
    }
    const BINARY: [(&str, i128); 6] = [
        ("Ei", 1 << 60),
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    const DECIMAL: [(&str, i128); 6] = [
        ("E", 1_000_000_000_000_000_000),
        ("P", 1_000_000_000_000_000),
        ("T", 1_000_000_000_000),
        ("G", 1_000_000_000),
        ("M", 1_000_000),
        ("k", 1_000),
    ];
    let Some(&(unit, size)) = BINARY.iter().find(|(_, size)| bytes >= *size) else {
        return bytes.to_string();
    };
    if (bytes * 100) % size == 0 {
        return format!("{}{unit}", two_decimals(bytes * 100 / size));
    }
    if let Some((dunit, dsize)) = DECIMAL.iter().find(|(_, d)| bytes >= *d && bytes % d == 0) {
        return format!("{}{dunit}", bytes / dsize);
    }
    format!("{}{unit}", two_decimals(bytes * 100 / size))
}

/// `hundredths` = value * 100, printed with at most two decimals and no trailing zeros.
fn two_decimals(hundredths: i128) -> String {
    let whole = hundredths / 100;
    let frac = hundredths % 100;
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

pub fn ceil_div(a: i128, b: i128) -> i128 {
    if a >= 0 {
        (a + b - 1) / b
    } else {
        a / b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu() {
        assert_eq!(parse_milli("100m"), Some(100));
        assert_eq!(parse_milli("1"), Some(1000));
        assert_eq!(parse_milli("0.5"), Some(500));
        assert_eq!(parse_milli("2.25"), Some(2250));
        assert_eq!(
            parse_milli("0.0001"),
            Some(1),
            "rounds up like MilliValue()"
        );
        assert_eq!(parse_milli("250000u"), Some(250));
    }

    #[test]
    fn parses_memory() {
        assert_eq!(parse_milli("128Mi"), Some(128 * 1024 * 1024 * 1000));
        assert_eq!(parse_milli("1Gi"), Some((1i128 << 30) * 1000));
        assert_eq!(parse_milli("500M"), Some(500_000_000_000));
        assert_eq!(parse_milli("1e9"), Some(1_000_000_000_000));
        assert_eq!(parse_milli("1E3"), Some(1_000_000));
        assert_eq!(parse_milli("134217728"), Some(134_217_728_000));
        assert_eq!(parse_milli("1.5Gi"), Some((3i128 << 29) * 1000));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1x", "1.2.3", "Mi", ".", "1ee"] {
            assert_eq!(parse_milli(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_humanly() {
        assert_eq!(format("cpu", 30), "30m");
        assert_eq!(format("requests.cpu", 1000), "1000m");
        assert_eq!(format("memory", parse_milli("1.5Gi").unwrap()), "1.5Gi");
        assert_eq!(format("memory", parse_milli("900Mi").unwrap()), "900Mi");
        assert_eq!(format("memory", parse_milli("500M").unwrap()), "500M");
        assert_eq!(format("memory", parse_milli("1e9").unwrap()), "1G");
        assert_eq!(format("memory", parse_milli("512").unwrap()), "512");
        assert_eq!(
            format("memory", parse_milli("1000001").unwrap()),
            "976.56Ki"
        );
        assert_eq!(format("pods", 110_000), "110");
        assert_eq!(format("nvidia.com/gpu", 2000), "2");
    }

    #[test]
    fn round_trips_what_it_prints() {
        for q in ["1.5Gi", "900Mi", "500M", "30m", "4Gi", "1G", "1.25Mi"] {
            let resource = if q.ends_with('m') { "cpu" } else { "memory" };
            let v = parse_milli(q).unwrap();
            assert_eq!(parse_milli(&format(resource, v)), Some(v), "{q}");
        }
    }
}
