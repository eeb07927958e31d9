//! Finding the `PostgreSQL` server binaries and checking what pgtemp needs to
//! run them.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{BINDIR_ENV, HarnessError};

/// Where Debian and Ubuntu install one directory per server major version.
const DEBIAN_LIB_DIR: &str = "/usr/lib/postgresql";

/// Returns the directory holding `initdb` and `postgres`.
///
/// An explicit directory (from the config, then from `STRANGLER_PG_BINDIR`)
/// must hold them: a wrong override is an error, not a reason to look
/// elsewhere. Without one: `pg_config --bindir`, then the newest
/// `/usr/lib/postgresql/<version>/bin`, then `$PATH`.
pub(crate) fn find(explicit: Option<&Path>) -> Result<PathBuf, HarnessError> {
    if let Some(dir) = explicit {
        return checked(dir, "the configured bin_dir");
    }
    if let Some(dir) = std::env::var_os(BINDIR_ENV).filter(|v| !v.is_empty()) {
        return checked(Path::new(&dir), BINDIR_ENV);
    }

    let mut searched = Vec::new();

    match pg_config_bindir() {
        Some(dir) if has_server_binaries(&dir) => return Ok(dir),
        Some(dir) => searched.push(format!("{} (pg_config --bindir)", dir.display())),
        None => searched.push("pg_config --bindir (no pg_config)".to_owned()),
    }

    if let Some(dir) = newest_debian_bindir() {
        return Ok(dir);
    }
    searched.push(format!("{DEBIAN_LIB_DIR}/*/bin"));

    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|dir| has_server_binaries(dir))
    {
        return Ok(dir);
    }
    searched.push("$PATH".to_owned());

    Err(HarnessError::BinariesNotFound {
        searched: searched.join(", "),
    })
}

fn checked(dir: &Path, source: &str) -> Result<PathBuf, HarnessError> {
    if has_server_binaries(dir) {
        Ok(dir.to_path_buf())
    } else {
        Err(HarnessError::BinariesNotFound {
            searched: format!("{} (from {source})", dir.display()),
        })
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres"))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The highest `/usr/lib/postgresql/<version>/bin` holding the server.
fn newest_debian_bindir() -> Option<PathBuf> {
    std::fs::read_dir(DEBIAN_LIB_DIR)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = version_key(&entry.file_name())?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`, so that 15 sorts above 9.6.
fn version_key(name: &OsStr) -> Option<Vec<u32>> {
    name.to_str()?
        .split('.')
        .map(|part| part.parse().ok())
        .collect()
}

/// pgtemp starts `initdb` and `postgres` through `sudo -u postgres` when the
/// current user is root (`PostgreSQL` refuses to run as root); check that this
/// can work before pgtemp panics half-way.
pub(crate) fn check_root_prerequisites() -> Result<(), HarnessError> {
    // pgtemp looks at the real user id; so do we.
    if !rustix::process::getuid().is_root() {
        return Ok(());
    }
    if !on_path("sudo") {
        return Err(HarnessError::SudoNotFound);
    }
    // `id` is in coreutils; if it cannot run at all, let pgtemp report.
    if let Ok(output) = Command::new("id").args(["-u", "postgres"]).output()
        && !output.status.success()
    {
        return Err(HarnessError::NoPostgresUser);
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        let key = |s: &str| version_key(OsStr::new(s));
        assert!(key("15") > key("9.6"));
        assert!(key("16") > key("15"));
        assert_eq!(key("common"), None);
    }

    #[test]
    fn an_explicit_directory_without_binaries_is_an_error() {
        let err = find(Some(Path::new("/nonexistent/pg/bin"))).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("/nonexistent/pg/bin"), "{message}");
        assert!(message.contains("apt-get install postgresql"), "{message}");
    }
}
