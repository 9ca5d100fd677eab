//! Small file helpers: atomic replacement and the right permissions for secrets.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::PkiError;

pub(crate) fn create_dir(dir: &Path) -> Result<(), PkiError> {
    fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        action: "creating directory",
        path: dir.to_path_buf(),
        source,
    })
}

pub(crate) fn read_string(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file anyone on the machine may read (certificates, README).
pub(crate) fn write_public(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PkiError> {
    write_atomic(dir, name, bytes, 0o644)
}

/// Writes a private key readable by its owner only. Dev keys are public in the repository
/// anyway, but tools such as ssh-style permission checks, and habits, should not be trained
/// on world-readable keys.
pub(crate) fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), PkiError> {
    write_atomic(dir, name, bytes, 0o600)
}

/// Writes to a temporary file created with `mode`, then renames it over `name`, so a crash
/// never leaves a half-written certificate and a key is never briefly world-readable.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io_err = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| PkiError::Io {
            action,
            path: p,
            source,
        }
    };
    // A stale temporary file from an interrupted run may have other permissions.
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(io_err("creating", &tmp))?;
    file.write_all(bytes).map_err(io_err("writing", &tmp))?;
    file.sync_all().map_err(io_err("syncing", &tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err("renaming into place", &path))?;
    Ok(())
}
