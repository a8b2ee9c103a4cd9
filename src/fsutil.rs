//! Crash-safe file primitives: every state file goes through `write_atomic`
//! (tmp file in the same directory, fsync, rename, fsync the directory), so a
//! crash at any point leaves either the old or the new content.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Write `content` to `path` atomically with the given Unix mode.
/// The mode is set on the temporary file before the rename, so the final
/// file is never visible with wider permissions.
pub fn write_atomic_mode(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_dir(path);
    create_dirs(&dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
    set_mode(tmp.path(), mode)?;
    tmp.write_all(content)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(&dir)
}

/// `write_atomic_mode` without the fsyncs: a reader sees the old file or
/// the new one, never half of one, but a crash may lose the write. Only for
/// derived files that the next write rebuilds and that are written by the
/// thousand (the metrics files: an fsync each would cost seconds).
pub fn write_atomic_mode_unsynced(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_dir(path);
    create_dirs(&dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
    set_mode(tmp.path(), mode)?;
    tmp.write_all(content)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Atomic write with owner read/write only (0600): the default for state.
pub fn write_atomic(path: &Path, content: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, content, 0o600)
}

/// Append one line and fsync, creating the file (0600) when missing. The
/// line always starts on a fresh line: when the file ends in a torn line
/// (a crash mid-append), a newline ends that fragment first, so the new
/// record is never glued onto it and lost with it.
pub fn append_line_synced(path: &Path, line: &str) -> io::Result<()> {
    create_dirs(&parent_dir(path))?;
    let mut file = open_append(path)?;
    let mut buf = String::with_capacity(line.len() + 2);
    if !ends_with_newline_or_empty(&file)? {
        buf.push('\n');
    }
    buf.push_str(line);
    buf.push('\n');
    file.write_all(buf.as_bytes())?;
    file.sync_data()
}

fn ends_with_newline_or_empty(file: &File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut last, len - 1)?;
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
    }
    Ok(last[0] == b'\n')
}

pub fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    // Read access too: an appender of lines checks the last byte.
    options.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The permission bits of a file (0 where the OS has none).
pub fn mode_of(path: &Path) -> io::Result<u32> {
    let meta = fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(meta.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(0)
    }
}

/// Create a directory and its missing parents, each owner-only (0700)
/// from the start: the one way syncfleet creates directories, so the data
/// directory is 0700 whichever command happens to create it first (a lock,
/// a log or a state file deep inside it creates it as a parent).
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Create a directory (and parents) and restrict it to its owner, also
/// when it already existed.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    create_dirs(dir)?;
    set_mode(dir, 0o700)
}

/// Remove a file; a file that is already gone is not an error.
/// Returns whether something was removed.
pub fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Read a file; Ok(None) when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A directory whose files' modification times are read by names
/// relative to it: one `fstatat` on an open directory walks only the
/// relative path, not the directory's whole path again for each file
/// (most of `list`'s time over 100,000 manifests was that walk).
pub struct DirMtimes {
    #[cfg(not(unix))]
    dir: PathBuf,
    #[cfg(unix)]
    handle: Option<File>,
}

impl DirMtimes {
    /// Nothing is opened when the directory cannot be (each lookup then
    /// says "no file", as a stat of a path in it would).
    pub fn open(dir: &Path) -> DirMtimes {
        DirMtimes {
            #[cfg(not(unix))]
            dir: dir.to_path_buf(),
            #[cfg(unix)]
            handle: File::open(dir).ok(),
        }
    }

    /// The modification time of `rel` (a path inside the directory), when
    /// it exists (symlinks followed, as `fs::metadata` does).
    pub fn modified(&self, rel: &str) -> Option<std::time::SystemTime> {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let handle = self.handle.as_ref()?;
            let name = std::ffi::CString::new(rel).ok()?;
            // SAFETY: a zeroed stat is a valid value for fstatat to fill.
            #[allow(unsafe_code)]
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: the fd is open for as long as `handle` lives, `name`
            // is NUL-terminated and `st` is a valid, writable stat.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::fstatat(handle.as_raw_fd(), name.as_ptr(), &mut st, 0) };
            if rc != 0 {
                return None;
            }
            let since_epoch = std::time::Duration::new(
                u64::try_from(st.st_mtime).ok()?,
                u32::try_from(st.st_mtime_nsec).ok()?,
            );
            Some(std::time::UNIX_EPOCH + since_epoch)
        }
        #[cfg(not(unix))]
        {
            fs::metadata(self.dir.join(rel))
                .and_then(|m| m.modified())
                .ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_mtimes_read_what_a_stat_of_the_full_path_reads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("svc")).unwrap();
        let file = dir.path().join("svc/manifest.json");
        std::fs::write(&file, b"{}").unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789);
        File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mtimes = DirMtimes::open(dir.path());
        assert_eq!(mtimes.modified("svc/manifest.json"), Some(old));
        assert_eq!(
            mtimes.modified("svc/manifest.json"),
            fs::metadata(&file).unwrap().modified().ok()
        );
        assert_eq!(mtimes.modified("svc/missing.json"), None);
        assert_eq!(
            DirMtimes::open(&dir.path().join("gone")).modified("svc/manifest.json"),
            None
        );
    }

    #[test]
    fn atomic_write_replaces_content_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        assert_eq!(mode_of(&path).unwrap(), 0o600);
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn created_directories_are_owner_only_and_existing_ones_untouched() {
        let dir = tempfile::tempdir().unwrap();
        set_mode(dir.path(), 0o755).unwrap();
        let deep = dir.path().join("a/b/c");
        write_atomic(&deep.join("f"), b"x").unwrap();
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode_of(&dir.path().join(d)).unwrap(), 0o700, "{d}");
        }
        append_line_synced(&dir.path().join("l/runs.jsonl"), "x").unwrap();
        assert_eq!(mode_of(&dir.path().join("l")).unwrap(), 0o700);
        assert_eq!(mode_of(dir.path()).unwrap(), 0o755);
    }

    #[test]
    fn append_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        append_line_synced(&path, "a").unwrap();
        append_line_synced(&path, "b").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\n");
        // A torn last line (no newline) is ended before the next line.
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"tor"))
            .unwrap();
        append_line_synced(&path, "c").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\ntor\nc\n");
        assert!(remove_if_exists(&path).unwrap());
        assert!(!remove_if_exists(&path).unwrap());
        assert!(read_optional(&path).unwrap().is_none());
    }
}
