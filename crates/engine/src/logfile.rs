//! Log files only their owner can read: paths, errors and library names in them are nobody else's business.
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the tool's own logs folder.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every log file.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (and missing parents) as 0700, and tighten it to 0700 if it already exists: only for a folder the
/// tool owns (`<data-dir>/logs`), never for a folder the user named.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    create_private(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
}

/// Create `dir` as 0700 if it is missing; its parents get the usual modes (the data directory must stay
/// reachable by the server's user).
fn create_private(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

/// Open `path` for appending as a 0600 file (a missing folder holding it is created 0700); a log that already exists
/// with wider permissions is tightened.
pub fn open_private(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(path)?;
    if file.metadata()?.permissions().mode() & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_owner_only() -> io::Result<()> {
        let t = tempfile::tempdir()?;
        let dir = t.path().join("logs");
        fs::create_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        private_dir(&dir)?;
        assert_eq!(fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);
        let old = dir.join("old.log");
        fs::write(&old, b"x")?;
        fs::set_permissions(&old, fs::Permissions::from_mode(0o644))?;
        drop(open_private(&old)?);
        assert_eq!(fs::metadata(&old)?.permissions().mode() & 0o777, 0o600);
        let new = t.path().join("a/b/new.log");
        drop(open_private(&new)?);
        assert_eq!(fs::metadata(&new)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(t.path().join("a/b"))?.permissions().mode() & 0o777, 0o700);
        let usual = t.path().join("usual");
        fs::create_dir(&usual)?;
        assert_eq!(
            fs::metadata(t.path().join("a"))?.permissions().mode(),
            fs::metadata(&usual)?.permissions().mode(),
            "parents keep the usual modes (the data directory must stay reachable by the server's user)"
        );
        Ok(())
    }
}
