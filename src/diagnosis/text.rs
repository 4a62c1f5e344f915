//! The diagnosis as plain text for the job log (the report renders its own markdown).

use std::fmt::Write;

use super::{CapacityRow, Diagnosis};

fn table(rows: &[CapacityRow]) -> String {
    let header = [
        "node",
        "resource",
        "allocatable",
        "requested",
        "free",
        "needed",
        "fits",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.node.clone(),
                r.resource.clone(),
                r.allocatable.clone(),
                r.requested.clone(),
                r.free.clone(),
                r.needed.clone(),
                if r.fits { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: Vec<&str>| {
        let padded: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("    {}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Plain text: one block per finding, most important first.
pub fn render_text(d: &Diagnosis) -> String {
    let mut out = String::new();
    for f in &d.findings {
        let tag = if f.fatal { "[fatal]" } else { "[info]" };
        let _ = writeln!(out, "{tag} {}", f.summary);
        for e in &f.evidence {
            for (i, l) in e.lines().enumerate() {
                let _ = writeln!(out, "  {} {l}", if i == 0 { "-" } else { " " });
            }
        }
        if !f.capacity.is_empty() {
            out.push_str("  capacity:\n");
            out.push_str(&table(&f.capacity));
        }
        if !f.logs.is_empty() {
            let _ = writeln!(out, "  last {} log lines:", f.logs.len());
            for l in &f.logs {
                let _ = writeln!(out, "    | {l}");
            }
        }
        for fix in &f.fixes {
            for (i, l) in fix.lines().enumerate() {
                let _ = writeln!(out, "  {} {l}", if i == 0 { "fix:" } else { "    " });
            }
        }
    }
    for u in &d.unreadable {
        let _ = writeln!(out, "could not read {u}");
    }
    out
}
