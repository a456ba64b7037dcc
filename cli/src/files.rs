//! File helpers: private files are created with mode 0600 and never overwritten by accident.

use crate::{failed, usage, Result};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Reads a whole file as text; a missing or unreadable file is a usage error naming it.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

/// Creates `dir` (mode 0700, parents as needed) unless it exists.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))
}

/// Refuses when `path` exists and `force` is not set.
pub fn check_absent(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(usage(format!(
            "{} exists; refusing to overwrite a key (use --force)",
            path.display()
        )));
    }
    Ok(())
}

/// Writes a file holding a private key: removed first if present (so an old, wider mode cannot
/// survive), then created new with mode 0600.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    remove_if_present(path)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| failed(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents)
        .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))
}

/// Writes a public file (certificates), mode 0644.
pub fn write_public(path: &Path, contents: &[u8]) -> Result<()> {
    remove_if_present(path)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| failed(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents)
        .map_err(|e| failed(format!("cannot write {}: {e}", path.display())))
}

/// Deletes `path` if it exists.
pub fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(failed(format!("cannot replace {}: {e}", path.display()))),
    }
}
