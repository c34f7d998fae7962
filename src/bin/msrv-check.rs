//! Checks what can be checked of the declared `rust-version` with one installed toolchain:
//! that the installed `rustc` is not older than it (so CI builds with a compiler the
//! manifest allows), and that no package in the locked dependency graph declares a newer
//! `rust-version` (a dependency update must not raise the real minimum silently).
//!
//! It cannot prove that the declared version compiles the code: that needs that toolchain.
//! Clippy's `incompatible_msrv` lint (on in CI's `-D warnings`) covers the standard library
//! items stabilized after it; new language features are not checked.
//!
//! ```sh
//! cargo run --bin msrv-check
//! ```

use std::process::{Command, ExitCode};

fn version(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

fn run(command: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(command)
        .args(args)
        .output()
        .map_err(|e| format!("{command}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn check() -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let metadata = run(&cargo, &["metadata", "--format-version", "1", "--locked"])?;
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = metadata["packages"].as_array().ok_or("no packages")?;
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("no workspace members")?
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let declared_of = |p: &serde_json::Value| p["rust_version"].as_str().and_then(version);

    let mut declared = None;
    for package in packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
    {
        let name = package["name"].as_str().unwrap_or("?");
        let Some(own) = declared_of(package) else {
            return Err(format!("workspace member {name} declares no rust-version"));
        };
        if declared.is_some_and(|d| d != own) {
            return Err(format!(
                "workspace member {name} declares another rust-version"
            ));
        }
        declared = Some(own);
    }
    let declared = declared.ok_or("no workspace members")?;

    let rustc = run("rustc", &["--version"])?;
    let installed = rustc
        .split_whitespace()
        .nth(1)
        .and_then(version)
        .ok_or_else(|| format!("cannot read `{}`", rustc.trim()))?;
    if installed < declared {
        return Err(format!(
            "rustc {}.{}.{} is older than the declared rust-version {}.{}",
            installed.0, installed.1, installed.2, declared.0, declared.1
        ));
    }

    let mut newer: Vec<String> = packages
        .iter()
        .filter_map(|p| {
            let needs = declared_of(p)?;
            (needs > declared).then(|| {
                format!(
                    "{} {} needs Rust {}",
                    p["name"], p["version"], p["rust_version"]
                )
            })
        })
        .collect();
    newer.sort();
    if !newer.is_empty() {
        return Err(format!(
            "dependencies need a newer Rust than the declared rust-version {}.{}:\n  {}",
            declared.0,
            declared.1,
            newer.join("\n  ")
        ));
    }
    Ok(format!(
        "rust-version {}.{}: installed rustc {}.{}.{} is not older; none of {} locked packages declares a newer one",
        declared.0,
        declared.1,
        installed.0,
        installed.1,
        installed.2,
        packages.len()
    ))
}

fn main() -> ExitCode {
    match check() {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("msrv-check: {problem}");
            ExitCode::FAILURE
        }
    }
}
