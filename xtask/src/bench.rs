//! `cargo xtask bench`: criterion benches of every crate and a Markdown summary.

use std::fs;
use std::path::Path;

use anyhow::Context;

use crate::flags::BenchOptions;
use crate::run::{cargo, exec};

pub(crate) fn run(opts: &BenchOptions) -> anyhow::Result<()> {
    if opts.fetch_only {
        let table = crate::load_fetch::fetch_compare(opts.quick)?;
        println!("\n{table}");
        return Ok(());
    }
    if !opts.relay_only {
        let mut cmd = cargo(&["bench", "--workspace", "--locked", "--bench", "*", "--"]);
        if opts.quick {
            cmd.args(["--warm-up-time", "1", "--measurement-time", "3"]);
        }
        exec(&mut cmd)?;
    }
    let rows = collect(Path::new("target/criterion"))?;
    let mut table = render(&rows);
    table.push('\n');
    table.push_str(&crate::load::relay_fanout(opts.quick)?);
    table.push_str(&crate::load_fetch::fetch_compare(opts.quick)?);
    table.push_str(TARGETS);
    println!("\n{table}");
    fs::write("target/bench-summary.md", &table).context("writing target/bench-summary.md")?;
    eprintln!("summary written to target/bench-summary.md");
    Ok(())
}

/// The issue's performance targets, printed under the figures they apply to.
const TARGETS: &str = "\nTargets: relay fan-out 1 → 500 at 30 fps × 1,200 B, groups of 30, 60 s: 0 lost groups, \
p99 < 50 ms; codec decode of a FRAME-heavy group stream ≥ 2 GB/s; model 1 → 1,000 fan-out ≥ 5 M \
deliveries/s; cache-hit fetch through a relay < 1 ms p50, fetches/s over the wire and HTTP ≥ 2× the reference relay's, \
disk-tier fetch p50 < 5 ms.\n";

struct Row {
    name: String,
    mean_ns: f64,
    /// Criterion's median of the per-sample means: the p50 the fetch target asks for.
    median_ns: Option<f64>,
    throughput: Option<(String, f64)>,
}

/// Reads every `new/estimates.json` (and its `benchmark.json`) criterion wrote.
fn collect(root: &Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") {
                    if let Some(row) = read_row(&path)? {
                        rows.push(row);
                    }
                } else {
                    dirs.push(path);
                }
            }
        }
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

fn read_row(dir: &Path) -> anyhow::Result<Option<Row>> {
    let Ok(estimates) = fs::read_to_string(dir.join("estimates.json")) else {
        return Ok(None);
    };
    let benchmark = fs::read_to_string(dir.join("benchmark.json")).unwrap_or_default();
    let Some(mean_ns) = number_after(&estimates, "\"mean\"", "\"point_estimate\":") else {
        return Ok(None);
    };
    let median_ns = number_after(&estimates, "\"median\"", "\"point_estimate\":");
    let name =
        string_after(&benchmark, "\"full_id\":").unwrap_or_else(|| dir.display().to_string());
    let throughput = ["Bytes", "Elements", "BytesDecimal"]
        .iter()
        .find_map(|kind| {
            number_after(&benchmark, "\"throughput\"", &format!("\"{kind}\":"))
                .map(|n| (kind.to_string(), n))
        });
    Ok(Some(Row {
        name,
        mean_ns,
        median_ns,
        throughput,
    }))
}

fn render(rows: &[Row]) -> String {
    let mut out =
        String::from("| benchmark | mean | median | throughput |\n|---|---:|---:|---:|\n");
    for row in rows {
        let mean = duration(row.mean_ns);
        let median = row.median_ns.map_or_else(|| String::from("-"), duration);
        let per_sec = |n: f64| n / (row.mean_ns / 1e9);
        let throughput = match &row.throughput {
            Some((kind, n)) if kind.starts_with("Bytes") => {
                format!("{:.2} GB/s", per_sec(*n) / 1e9)
            }
            Some((_, n)) => format!("{:.2} M elem/s", per_sec(*n) / 1e6),
            None => String::from("-"),
        };
        out.push_str(&format!(
            "| {} | {mean} | {median} | {throughput} |\n",
            row.name
        ));
    }
    out
}

fn duration(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Finds `key` after `section` in a JSON text and parses the number that follows.
/// Criterion's files are flat and machine-written; this avoids a JSON dependency in xtask.
pub(crate) fn number_after(text: &str, section: &str, key: &str) -> Option<f64> {
    let start = text.find(section)?;
    let rest = &text[start..];
    let at = rest.find(key)? + key.len();
    let digits: String = rest[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    digits.parse().ok()
}

fn string_after(text: &str, key: &str) -> Option<String> {
    let at = text.find(key)? + key.len();
    let rest = text[at..].trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_estimates() {
        let estimates = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.5e3,"standard_error":0.1},"median":{"point_estimate":9.0}}"#;
        assert_eq!(
            number_after(estimates, "\"mean\"", "\"point_estimate\":"),
            Some(2500.0)
        );
        assert_eq!(
            number_after(estimates, "\"median\"", "\"point_estimate\":"),
            Some(9.0)
        );
        let bench = r#"{"group_id":"g","full_id":"g/f","throughput":{"Bytes":1024}}"#;
        assert_eq!(
            number_after(bench, "\"throughput\"", "\"Bytes\":"),
            Some(1024.0)
        );
        assert_eq!(string_after(bench, "\"full_id\":").as_deref(), Some("g/f"));
    }
}
