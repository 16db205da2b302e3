//! Who else holds locks on a file: the kernel's tables, less this handle's own locks.

use std::os::fd::AsRawFd;

use crate::error::{Error, Result};
use crate::mode::LockMode;
use crate::owner::Owner;
use crate::proc_locks::{open_file_lock_holders, open_file_locks, system_locks, KernelLock, LockClass};
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
    let mut others: Vec<KernelLock> = system_locks()
        .map_err(|e| Error::io("read /proc/locks for", owner.path(), e))?
        .into_iter()
        .filter(|lock| !lock.waiting && lock.class != LockClass::Flock && lock.is_on(id.dev, id.ino))
        .filter(|lock| lock.range.overlaps(&range))
        .collect();
    let own_pid = std::process::id();
    let own_fd = owner.fd().as_raw_fd();
    match owner.kind() {
        LockKind::Classic => others.retain(|lock| !(lock.class == LockClass::Process && lock.pid == Some(own_pid))),
        LockKind::Ofd => {
            for own in open_file_locks(own_pid, own_fd).unwrap_or_default() {
                remove_one(&mut others, &own);
            }
        }
    }
    let mut ofd_holders = if others.iter().any(|lock| lock.class == LockClass::OpenFile) {
        open_file_lock_holders(id.dev, id.ino)
    } else {
        Vec::new()
    };
    ofd_holders.retain(|&(pid, fd, _)| !(pid == own_pid && fd == own_fd));
    Ok(others
        .into_iter()
        .map(|lock| {
            let pid = match lock.class {
                LockClass::OpenFile => take_holder_pid(&mut ofd_holders, &lock),
                _ => lock.pid,
            };
            Holder { range: lock.range, mode: lock.mode, class: lock.class, pid }
        })
        .collect())
}

fn same_lock(a: &KernelLock, b: &KernelLock) -> bool {
    a.class == b.class && a.mode == b.mode && a.range == b.range
}

fn remove_one(locks: &mut Vec<KernelLock>, target: &KernelLock) {
    if let Some(position) = locks.iter().position(|lock| same_lock(lock, target)) {
        locks.swap_remove(position);
    }
}

/// The pid of a process holding `lock` through one of its descriptors (each fdinfo lock is
/// attributed once).
fn take_holder_pid(holders: &mut [(u32, i32, Vec<KernelLock>)], lock: &KernelLock) -> Option<u32> {
    holders.iter_mut().find_map(|(pid, _, locks)| {
        let position = locks.iter().position(|held| same_lock(held, lock))?;
        locks.swap_remove(position);
        Some(*pid)
    })
}
