//! Who else holds locks on a file: the kernel's tables, less this handle's own locks.

use std::os::fd::AsRawFd;

use crate::error::{Error, Result};
use crate::mode::LockMode;
use crate::owner::Owner;
use crate::proc_locks::{locks_on, FileLock, LockClass};
use crate::range::LockRange;
use crate::sys::fcntl::LockKind;

/// A lock held by another owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The whole range of the lock as the kernel keeps it (it may reach beyond the range asked about).
    pub range: LockRange,
    /// Read or write.
    pub mode: LockMode,
    /// Classic (process-owned) or open-file-description lock.
    pub class: LockClass,
    /// The holding process, when known: always for classic locks; for open-file-description locks
    /// when a process with the file open through a descriptor holding the lock can be inspected.
    pub pid: Option<u32>,
}

/// The locks other owners hold that overlap `range`.
pub(crate) fn holders(owner: &Owner, range: LockRange) -> Result<Vec<Holder>> {
    let id = owner.id();
    let own_pid = std::process::id();
    let own_fd = owner.fd().as_raw_fd();
    let own = |found: &FileLock| match owner.kind() {
        LockKind::Classic => found.lock.class == LockClass::Process && found.pid == Some(own_pid),
        LockKind::Ofd => found.pid == Some(own_pid) && found.fd == Some(own_fd),
    };
    Ok(locks_on(id.dev, id.ino)
        .map_err(|e| Error::io("read /proc/locks for", owner.path(), e))?
        .into_iter()
        .filter(|found| !found.lock.waiting && found.lock.class != LockClass::Flock && found.lock.range.overlaps(&range))
        .filter(|found| !own(found))
        .map(|found| Holder { range: found.lock.range, mode: found.lock.mode, class: found.lock.class, pid: found.pid })
        .collect())
}
