//! The process's lock files: owners are made here, and every descriptor of a lock file is closed
//! here.
//!
//! Classic locks belong to the process, and closing *any* descriptor of a file drops all of them.
//! So in `Process` scope every handle of one file (one inode) is a view of one shared owner with one
//! descriptor, found here by device and inode. And no descriptor of a file is closed while a
//! classic owner of that file holds locks: an `OpenFile` handle's descriptor, a descriptor opened by
//! a racing `open`, or a retired owner's, is *parked* with the live classic owner instead and closed
//! as soon as that owner holds nothing (as SQLite keeps its unused descriptors per inode until the
//! last lock goes). Opening, retiring and closing all
//! run under this registry's lock, so a new owner is never created while an old descriptor's close
//! could still drop its locks.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::open::open_lock_file;
use crate::owner::{Owner, ViewId};
use crate::sys::fcntl::LockKind;
use crate::sys::fork;
use crate::sys::futex::{Mutex, RawLock};

/// A file's identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

/// A live classic owner (it keeps the file's parked descriptors).
struct ClassicFile {
    id: FileId,
    owner: Arc<Owner>,
}

/// The live classic owners (few per process: a list is enough).
static FILES: Mutex<Vec<ClassicFile>> = Mutex::new(Vec::new());

/// The registry's lock, which the fork handlers take first.
pub(crate) fn files_lock() -> &'static RawLock {
    FILES.raw()
}

fn fork_error(path: &Path, error: std::io::Error) -> Error {
    Error::io("prepare fork handling for", path, error)
}

/// A new owner of its own (`OpenFile` scope), with its one view.
///
/// # Errors
/// As [`open_lock_file`], or `Io` when the fork handlers cannot be installed.
pub(crate) fn open_private(path: &Path, create: bool, mode: u32) -> Result<(Arc<Owner>, ViewId)> {
    fork::install().map_err(|e| fork_error(path, e))?;
    let opened = fork::open_tracked(|| {
        let opened = open_lock_file(path, create, mode)?;
        let (fd, flags) = (opened.file.as_raw_fd(), opened.flags);
        Ok::<_, Error>((opened, fd, flags))
    })?;
    let owner = Owner::new(opened.file, path.to_owned(), LockKind::Ofd, opened.writable, opened.id);
    let view = owner.add_view();
    Ok((owner, view))
}

/// A new view of the process's owner of the file at `path` (`Process` scope), opened if it has none.
///
/// # Errors
/// As [`open_lock_file`], or `Io` when the fork handlers cannot be installed.
pub(crate) fn open_shared(path: &Path, create: bool, mode: u32) -> Result<(Arc<Owner>, ViewId)> {
    fork::install().map_err(|e| fork_error(path, e))?;
    let mut files = FILES.lock();
    if let Ok(metadata) = std::fs::metadata(path) {
        if let Some(file) = files.iter().find(|file| file.id == FileId::of(&metadata)) {
            return Ok((Arc::clone(&file.owner), file.owner.add_view()));
        }
    }
    let opened = open_lock_file(path, create, mode)?;
    if let Some(file) = files.iter().find(|file| file.id == opened.id) {
        // The path changed between the look-up and the open, to a file this process already has.
        file.owner.park(opened.file);
        return Ok((Arc::clone(&file.owner), file.owner.add_view()));
    }
    let owner = Owner::new(opened.file, path.to_owned(), LockKind::Classic, opened.writable, opened.id);
    let view = owner.add_view();
    files.push(ClassicFile { id: opened.id, owner: Arc::clone(&owner) });
    Ok((owner, view))
}

/// Retires a classic owner whose views are all closed: releases its locks and closes its
/// descriptors, unless a view was opened on it meanwhile.
pub(crate) fn retire_classic(owner: &Owner) {
    let mut files = FILES.lock();
    let Some(file) = owner.retire_if_unused() else { return };
    let position = files.iter().position(|entry| std::ptr::eq(Arc::as_ptr(&entry.owner), owner));
    let entry = position.map(|position| files.swap_remove(position));
    // Closed while the registry is locked (see the module docs). The entry's `Arc` is not the last
    // one: the caller holds the owner.
    drop((file, entry));
}

/// Closes a descriptor of the lock file `id` (one whose locks are already released), or parks it
/// with the file's live classic owner while that holds locks its close would drop.
pub(crate) fn retire_descriptor(id: FileId, file: File) {
    let files = FILES.lock();
    match files.iter().find(|entry| entry.id == id) {
        Some(entry) => entry.owner.park(file),
        None => drop(file),
    }
}
