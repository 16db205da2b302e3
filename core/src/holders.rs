//! Who else holds locks on a file: the kernel's tables, less this handle's own locks, completed by
//! the kernel's answers to a conflicting request, which also see what `/proc/locks` leaves out.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{Error, Result};
use crate::mode::LockMode;
use crate::owner::{Owner, ViewId};
use crate::proc_locks::{file_locks, own_proc_pid, FileLock, KernelFileId, LockClass, Waiters};
use crate::range::LockRange;
use crate::sys::fcntl::{get_lock, LockKind, LockOp, ReportedLock};

/// At most this many lock queries per call: each lock reported splits what is left to ask about.
const MAX_QUERIES: usize = 4096;

/// A lock held by another owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The whole range of the lock as the kernel keeps it (it may reach beyond the range asked about).
    pub range: LockRange,
    /// Read or write.
    pub mode: LockMode,
    /// Classic (process-owned) or open-file-description lock.
    pub class: LockClass,
    /// The holding process, when known: for classic locks, unless the process is outside the pid
    /// namespace of `/proc` (`None`: held by a process this one cannot see); for
    /// open-file-description locks, when a process with the file open through a descriptor holding
    /// the lock can be inspected.
    pub pid: Option<u32>,
}

/// The locks other owners hold that overlap `range`: those `/proc/locks` lists, and those the
/// kernel reports in the way of a write request that it does not list (classic locks of processes
/// outside the pid namespace of `/proc`), with no pid.
pub(crate) fn holders(owner: &Owner, view: ViewId, range: LockRange) -> Result<Vec<Holder>> {
    let id = owner.id();
    // The descriptor is used under the owner's lock, so that a `close` meanwhile cannot close it.
    let (file, own_fd, reported) = owner.with_fd(view, |fd| {
        let file = KernelFileId::of_descriptor(fd).unwrap_or_else(|_| KernelFileId::from_stat(id.dev, id.ino));
        (file, fd.as_raw_fd(), reported_locks(fd, owner.kind(), range))
    })?;
    let reported = reported.map_err(|e| Error::io("query the locks (F_GETLK) of", owner.path(), e))?;
    let own_pid = own_proc_pid();
    let own = |found: &FileLock| match owner.kind() {
        LockKind::Classic => found.lock.class == LockClass::Process && found.pid == Some(own_pid),
        LockKind::Ofd => found.pid == Some(own_pid) && found.fd == Some(own_fd),
    };
    let mut holders: Vec<Holder> = file_locks(&file, Waiters::Omit)
        .map_err(|e| Error::io("read /proc/locks for", owner.path(), e))?
        .into_iter()
        .filter(|found| found.lock.class != LockClass::Flock && found.lock.range.overlaps(&range))
        .filter(|found| !own(found))
        .map(|found| Holder { range: found.lock.range, mode: found.lock.mode, class: found.lock.class, pid: found.pid })
        .collect();
    for lock in reported {
        let listed = holders.iter().any(|h| h.range == lock.range && h.mode == lock.mode && h.class == lock.class);
        if !listed {
            holders.push(lock);
        }
    }
    Ok(holders)
}

/// The locks the kernel reports in the way of a write request on `range`: one for each stretch
/// other owners hold (of locks overlapping each other, the one the kernel finds first). The kernel
/// reports any conflicting lock, not the lowest, so each answer leaves two parts to ask about: the
/// one before the lock and the one after it.
fn reported_locks(fd: BorrowedFd<'_>, kind: LockKind, range: LockRange) -> io::Result<Vec<Holder>> {
    let mut found: Vec<Holder> = Vec::new();
    let mut unasked = vec![range];
    for _ in 0..MAX_QUERIES {
        let Some(part) = unasked.pop() else { break };
        let (start, len) = part.to_fcntl();
        let Some(holder) = get_lock(fd, kind, LockOp::Write, start, len)?.and_then(holder) else {
            continue;
        };
        let (held_start, held_end) = (holder.range.start(), holder.range.raw_end());
        if part.start() < held_start {
            unasked.push(LockRange::from_bounds(part.start(), held_start.min(part.raw_end())));
        }
        if held_end < part.raw_end() {
            unasked.push(LockRange::from_bounds(held_end.max(part.start()), part.raw_end()));
        }
        if !found.contains(&holder) {
            found.push(holder);
        }
    }
    Ok(found)
}

/// The holder of a reported lock: `pid` is the holder's in this process's pid namespace, 0 when the
/// process is outside it, -1 for an open-file-description lock.
fn holder(lock: ReportedLock) -> Option<Holder> {
    let start = u64::try_from(lock.start).ok()?;
    let range = match u64::try_from(lock.len).ok()? {
        0 => LockRange::from_start(start),
        len => LockRange::new(start, len),
    }
    .ok()?;
    let class = if lock.pid == -1 { LockClass::OpenFile } else { LockClass::Process };
    let pid = u32::try_from(lock.pid).ok().filter(|&pid| pid > 0);
    Some(Holder { range, mode: LockMode::from_write(lock.write), class, pid })
}
