//! Opening a lock file: create when missing, never truncate, close on exec, read-only fallback.

use std::fs::{File, OpenOptions as FsOpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::registry::FileId;

/// An open lock file.
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) writable: bool,
    pub(crate) id: FileId,
    /// The access flags, for reopening in a fork child.
    pub(crate) flags: libc::c_int,
}

/// Opens `path` read-write (creating it with `mode`, less the umask, when `create`), falling back
/// to read-only when the file exists but is not writable.
///
/// # Errors
/// `NotFound`, `MissingDirectory`, `IsDirectory`, or `Io` with operation `open`.
pub(crate) fn open_lock_file(path: &Path, create: bool, mode: u32) -> Result<Opened> {
    // std opens with O_CLOEXEC and, without `truncate`, never truncates.
    let read_write = FsOpenOptions::new().read(true).write(true).create(create).mode(mode).open(path);
    let (file, writable) = match read_write {
        Ok(file) => (file, true),
        Err(error) if is_permission(&error) => match FsOpenOptions::new().read(true).open(path) {
            Ok(file) => (file, false),
            Err(_) => return Err(open_error(path, create, error)),
        },
        Err(error) => return Err(open_error(path, create, error)),
    };
    let metadata = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    if metadata.is_dir() {
        return Err(Error::IsDirectory { path: path.to_owned() });
    }
    let flags = if writable { libc::O_RDWR } else { libc::O_RDONLY };
    Ok(Opened { file, writable, id: FileId::of(&metadata), flags })
}

fn is_permission(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::PermissionDenied || error.raw_os_error() == Some(libc::EROFS)
}

fn open_error(path: &Path, create: bool, error: io::Error) -> Error {
    match error.raw_os_error() {
        Some(libc::EISDIR) => Error::IsDirectory { path: path.to_owned() },
        Some(libc::ENOENT) if !create => Error::NotFound { path: path.to_owned() },
        Some(libc::ENOENT) if !parent_exists(path) => Error::MissingDirectory { path: path.to_owned() },
        _ => Error::io("open", path, error),
    }
}

fn parent_exists(path: &Path) -> bool {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.is_dir(),
        _ => true,
    }
}

/// Whether `path` still names the file `id` identifies.
pub(crate) fn names_file(path: &Path, id: FileId) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(FileId::of(&metadata) == id),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(Error::io("stat", path, error)),
    }
}

impl FileId {
    pub(crate) fn of(metadata: &std::fs::Metadata) -> Self {
        Self { dev: metadata.dev(), ino: metadata.ino() }
    }
}
