//! Owners: one per handle in `OpenFile` scope; one per file per process in `Process` scope.
//!
//! Classic locks belong to the process, and closing *any* descriptor of a file drops all of them.
//! So in `Process` scope every handle of one file (one inode) is a view of one shared owner with one
//! descriptor, found here by device and inode, and closed when its last view goes. Opening and the
//! final close both run under this registry's lock, so a new owner is never created while an old
//! one's close could still drop its locks.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::error::Result;
use crate::open::open_lock_file;
use crate::owner::Owner;
use crate::sys::fcntl::LockKind;
use crate::sys::fork;

/// A file's identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

static PROCESS_OWNERS: LazyLock<Mutex<HashMap<FileId, Weak<Owner>>>> = LazyLock::new(Mutex::default);

fn process_owners() -> MutexGuard<'static, HashMap<FileId, Weak<Owner>>> {
    // Every update is a single insert or remove: a poisoned map is still consistent.
    PROCESS_OWNERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The registry once no owner in it is still closing: an owner whose last view went is removed
/// by its own `Drop`, after its descriptor is closed; a new one must not be opened before that.
fn live_owners() -> MutexGuard<'static, HashMap<FileId, Weak<Owner>>> {
    loop {
        let owners = process_owners();
        if owners.values().all(|weak| weak.strong_count() > 0) {
            return owners;
        }
        drop(owners);
        std::thread::yield_now();
    }
}

/// A new owner of its own (`OpenFile` scope): a fresh open file description.
///
/// # Errors
/// As [`open_lock_file`].
pub(crate) fn open_private(path: &Path, create: bool, mode: u32) -> Result<Arc<Owner>> {
    let opened = open_lock_file(path, create, mode)?;
    fork::track_ofd(opened.file.as_raw_fd(), opened.flags);
    Ok(Arc::new(Owner::new(opened.file, path.to_owned(), LockKind::Ofd, opened.writable, opened.id)))
}

/// The process's owner of the file at `path` (`Process` scope), opened if it has none.
///
/// # Errors
/// As [`open_lock_file`].
pub(crate) fn open_shared(path: &Path, create: bool, mode: u32) -> Result<Arc<Owner>> {
    fork::install_handlers();
    let mut owners = live_owners();
    if let Ok(metadata) = std::fs::metadata(path) {
        if let Some(owner) = owners.get(&FileId::of(&metadata)).and_then(Weak::upgrade) {
            return Ok(owner);
        }
    }
    let opened = open_lock_file(path, create, mode)?;
    if let Some(owner) = owners.get(&opened.id).and_then(Weak::upgrade) {
        // The path changed between the look-up and the open, to a file this process already has.
        owner.adopt_spare(opened.file);
        return Ok(owner);
    }
    let owner = Arc::new(Owner::new(opened.file, path.to_owned(), LockKind::Classic, opened.writable, opened.id));
    owners.insert(opened.id, Arc::downgrade(&owner));
    Ok(owner)
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Unlock explicitly: a forked child or a passed descriptor may keep the open file alive.
        self.unlock_everything();
        match self.kind() {
            LockKind::Ofd => {
                if let (Some(file), spare) = self.take_files() {
                    fork::untrack_ofd(file.as_raw_fd());
                    drop((file, spare));
                }
            }
            LockKind::Classic => {
                let mut owners = process_owners();
                let id = self.id();
                drop(self.take_files()); // Closed while the registry is locked (see the module docs).
                if owners.get(&id).is_some_and(|weak| std::ptr::eq(weak.as_ptr(), self)) {
                    owners.remove(&id);
                }
            }
        }
    }
}
