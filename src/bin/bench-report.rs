//! Prints the library/raw ratios of the last `cargo bench --bench overhead` run as a
//! Markdown table, and writes it to `target/criterion/report.md`.
//!
//! ```sh
//! cargo bench --bench overhead && cargo run --bin bench-report
//! ```
//!
//! Each ratio divides the library's median time by the other side's median time, both
//! from the same run: below 1 the library is faster. For throughput (W6) the ratio of
//! medians is inverted, so it reads as library queries per second over raw.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One measured function: its group, its parameter (if any) and its median in ns.
struct Measurement {
    group: String,
    function: String,
    parameter: Option<String>,
    median_ns: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("criterion");
    let mut measurements = Vec::new();
    collect(&root, &mut measurements)?;
    if measurements.is_empty() {
        return Err(format!(
            "no results under {}: run `cargo bench --bench overhead` first",
            root.display()
        )
        .into());
    }

    let mut by_case: BTreeMap<(String, Option<String>), Vec<&Measurement>> = BTreeMap::new();
    for m in &measurements {
        by_case
            .entry((m.group.clone(), m.parameter.clone()))
            .or_default()
            .push(m);
    }

    let mut report = String::from(
        "| workload | size | compared with | library (median) | other (median) | ratio |\n|---|---|---|---|---|---|\n",
    );
    for ((group, parameter), cases) in &by_case {
        let Some(library) = cases.iter().find(|m| m.function == "library") else {
            continue;
        };
        let throughput = group.contains("throughput");
        for other in cases.iter().filter(|m| m.function != "library") {
            let ratio = if throughput {
                format!(
                    "{:.3} (library qps / raw qps)",
                    other.median_ns / library.median_ns
                )
            } else {
                format!("{:.3}", library.median_ns / other.median_ns)
            };
            report.push_str(&format!(
                "| {group} | {} | {} | {} | {} | {ratio} |\n",
                parameter.as_deref().unwrap_or("-"),
                other.function,
                human(library.median_ns),
                human(other.median_ns),
            ));
        }
    }
    print!("{report}");
    std::fs::write(root.join("report.md"), &report)?;
    Ok(())
}

fn human(ns: f64) -> String {
    match ns {
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

/// Finds every `new/benchmark.json` below `dir` with its `new/estimates.json`.
fn collect(dir: &Path, out: &mut Vec<Measurement>) -> Result<(), Box<dyn std::error::Error>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|name| name == "new") {
            let benchmark: Value =
                serde_json::from_str(&std::fs::read_to_string(path.join("benchmark.json"))?)?;
            let estimates: Value =
                serde_json::from_str(&std::fs::read_to_string(path.join("estimates.json"))?)?;
            let text = |key: &str| benchmark[key].as_str().map(str::to_owned);
            out.push(Measurement {
                group: text("group_id").unwrap_or_default(),
                function: text("function_id").unwrap_or_default(),
                parameter: text("value_str"),
                median_ns: estimates["median"]["point_estimate"]
                    .as_f64()
                    .unwrap_or(f64::NAN),
            });
        } else {
            collect(&path, out)?;
        }
    }
    Ok(())
}
