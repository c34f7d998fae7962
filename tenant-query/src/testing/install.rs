//! Installing a missing server binary, so that `cargo test` works on a fresh Debian
//! machine with nothing set up by hand.
//!
//! When a binary the harness needs is missing, the harness installs its Debian package
//! itself if it runs as root on a machine with `apt-get`, unless `TQ_NO_INSTALL` is set
//! (to anything but `0`). Otherwise it fails with what is missing and how to get it.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// A server binary the harness needs, and how to get it.
pub(super) struct Needed {
    /// What is missing, and where the harness looked.
    pub what: &'static str,
    /// The Debian package that provides it.
    pub package: &'static str,
    /// What else would do, or what cannot run without it.
    pub otherwise: &'static str,
}

/// What the machine allows.
#[derive(Debug, Clone, Copy)]
struct Machine {
    opted_out: bool,
    root: bool,
    apt_get: bool,
}

impl Machine {
    fn this() -> Machine {
        Machine {
            opted_out: std::env::var_os("TQ_NO_INSTALL").is_some_and(|v| !v.is_empty() && v != "0"),
            root: super::is_root(),
            apt_get: on_path("apt-get").is_some(),
        }
    }

    /// Why the harness may not install a package here, if it may not.
    fn refusal(self) -> Option<&'static str> {
        if self.opted_out {
            Some("TQ_NO_INSTALL is set")
        } else if !self.root {
            Some("the harness installs packages only when running as root")
        } else if !self.apt_get {
            Some("there is no apt-get to install it with")
        } else {
            None
        }
    }
}

/// Finds what `needed` names with `find`; when it is missing, installs its package (see
/// the module documentation) and looks again.
pub(super) fn find_or_install<T>(
    needed: &Needed,
    find: impl Fn() -> Option<T>,
) -> Result<T, String> {
    find_or_install_with(needed, Machine::this(), find, apt_get_install)
}

fn find_or_install_with<T>(
    needed: &Needed,
    machine: Machine,
    find: impl Fn() -> Option<T>,
    install: impl FnOnce(&Needed) -> Result<(), String>,
) -> Result<T, String> {
    if let Some(found) = find() {
        return Ok(found);
    }
    if let Some(reason) = machine.refusal() {
        return Err(missing(needed, &format!("not installed: {reason}")));
    }
    install(needed).map_err(|e| missing(needed, &format!("installing it failed: {e}")))?;
    find().ok_or_else(|| {
        missing(
            needed,
            &format!("still missing after installing `{}`", needed.package),
        )
    })
}

fn missing(needed: &Needed, why: &str) -> String {
    format!(
        "no {} found; {why}.\nInstall the server packages (Debian: \
         `apt-get install postgresql pgbouncer`){}.",
        needed.what, needed.otherwise
    )
}

/// Lock file that serialises installs across test processes (and threads: each caller
/// opens it anew, and `flock` locks on separate opens exclude each other).
const LOCK_FILE: &str = "/tmp/tenant-query-install.lock";

/// Installs `needed.package` with apt-get, holding [`LOCK_FILE`], unless another test
/// process installed it while this one waited. apt-get's output is shown only if it fails;
/// one line on stderr says what is happening.
fn apt_get_install(needed: &Needed) -> Result<(), String> {
    let _lock = std::fs::File::create(LOCK_FILE)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|e| format!("could not lock {LOCK_FILE}: {e}"))?;
    if is_installed(needed.package) {
        return Ok(());
    }
    // Written to the stderr handle, not with eprintln!, which the test runner captures.
    let _ = writeln!(
        std::io::stderr(),
        "tenant-query test harness: installing `{}` with apt-get, because no {} was \
         found (TQ_NO_INSTALL=1 turns this off)",
        needed.package,
        needed.what
    );
    static UPDATED: OnceLock<Result<(), String>> = OnceLock::new();
    UPDATED.get_or_init(|| apt_get(&["update"])).clone()?;
    apt_get(&["install", "-y", "--no-install-recommends", needed.package])
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", package])
        .output()
        .is_ok_and(|out| out.stdout == b"installed")
}

fn apt_get(args: &[&str]) -> Result<(), String> {
    let output = Command::new("apt-get")
        // Wait for another apt or dpkg run to finish instead of failing at once.
        .args(["-o", "DPkg::Lock::Timeout=300"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| format!("could not run apt-get: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let log = [output.stdout, output.stderr].concat();
    Err(format!(
        "`apt-get {}` failed ({}); its output:\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&log).trim_end()
    ))
}

/// The file `name` in a directory on `PATH`.
pub(super) fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| file.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const POSTGRES: Needed = super::super::POSTGRES;
    const ROOT_WITH_APT: Machine = Machine {
        opted_out: false,
        root: true,
        apt_get: true,
    };

    fn never_install(_: &Needed) -> Result<(), String> {
        panic!("must not install")
    }

    #[test]
    fn found_binaries_install_nothing() {
        let found = find_or_install_with(&POSTGRES, ROOT_WITH_APT, || Some(1), never_install);
        assert_eq!(found, Ok(1));
    }

    #[test]
    fn missing_binaries_are_installed_as_root_with_apt_get() {
        let installed = Cell::new(false);
        let found = find_or_install_with(
            &POSTGRES,
            ROOT_WITH_APT,
            || installed.get().then_some("/usr/lib/postgresql/15/bin"),
            |needed| {
                assert_eq!(needed.package, "postgresql");
                installed.set(true);
                Ok(())
            },
        );
        assert_eq!(found, Ok("/usr/lib/postgresql/15/bin"));
    }

    #[test]
    fn otherwise_the_error_says_what_is_missing_and_how_to_get_it() {
        for (machine, reason) in [
            (
                Machine {
                    opted_out: true,
                    ..ROOT_WITH_APT
                },
                "TQ_NO_INSTALL is set",
            ),
            (
                Machine {
                    root: false,
                    ..ROOT_WITH_APT
                },
                "only when running as root",
            ),
            (
                Machine {
                    apt_get: false,
                    ..ROOT_WITH_APT
                },
                "no apt-get",
            ),
        ] {
            let error =
                find_or_install_with(&POSTGRES, machine, || None::<()>, never_install).unwrap_err();
            for part in [
                reason,
                "initdb",
                "apt-get install postgresql pgbouncer",
                "DATABASE_URL",
            ] {
                assert!(error.contains(part), "{error:?} lacks {part:?}");
            }
        }
    }

    #[test]
    fn a_failed_install_is_reported() {
        let error = find_or_install_with(
            &POSTGRES,
            ROOT_WITH_APT,
            || None::<()>,
            |_| Err("`apt-get update` failed".into()),
        )
        .unwrap_err();
        assert!(error.contains("`apt-get update` failed"), "{error}");
        assert!(
            error.contains("apt-get install postgresql pgbouncer"),
            "{error}"
        );
    }
}
