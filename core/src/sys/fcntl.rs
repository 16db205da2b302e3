//! fcntl byte-range lock requests.

use std::io;
use std::os::fd::BorrowedFd;

use nix::fcntl::{fcntl, FcntlArg};

/// Which family of fcntl locks a request uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockKind {
    /// Open-file-description locks (`F_OFD_*`): owned by the open file description.
    Ofd,
    /// Classic POSIX record locks (`F_SETLK*`): owned by the process.
    Classic,
}

/// What a request does to the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockOp {
    Read,
    Write,
    Unlock,
}

impl LockOp {
    fn l_type(self) -> libc::c_short {
        // The constants are small (0..=2): the casts are lossless.
        (match self {
            Self::Read => libc::F_RDLCK,
            Self::Write => libc::F_WRLCK,
            Self::Unlock => libc::F_UNLCK,
        }) as libc::c_short
    }
}

/// How a request fails.
#[derive(Debug)]
pub(crate) enum SetError {
    /// Another owner holds a conflicting lock (`EAGAIN` or `EACCES` from a non-waiting request).
    Conflict,
    /// A signal arrived while waiting (`EINTR`); nothing changed.
    Interrupted,
    /// The kernel detected a deadlock (`EDEADLK`, classic locks only).
    Deadlock,
    /// The kernel's lock table is full (`ENOLCK`).
    NoLocks,
    /// Anything else.
    Other(io::Error),
}

fn flock(op: LockOp, start: i64, len: i64) -> libc::flock {
    libc::flock {
        l_type: op.l_type(),
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: start,
        l_len: len,
        // Must be 0 for OFD requests; ignored for classic ones.
        l_pid: 0,
    }
}

/// Sets the lock state of `[start, start + len)` (`len == 0`: to the end and beyond) to `op`,
/// waiting for conflicting locks to go when `wait` is true.
pub(crate) fn set_lock(
    fd: BorrowedFd<'_>,
    kind: LockKind,
    op: LockOp,
    start: i64,
    len: i64,
    wait: bool,
) -> Result<(), SetError> {
    let request = flock(op, start, len);
    let arg = match (kind, wait) {
        (LockKind::Ofd, false) => FcntlArg::F_OFD_SETLK(&request),
        (LockKind::Ofd, true) => FcntlArg::F_OFD_SETLKW(&request),
        (LockKind::Classic, false) => FcntlArg::F_SETLK(&request),
        (LockKind::Classic, true) => FcntlArg::F_SETLKW(&request),
    };
    match fcntl(fd, arg) {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) if !wait => Err(SetError::Conflict),
        Err(nix::errno::Errno::EINTR) => Err(SetError::Interrupted),
        Err(nix::errno::Errno::EDEADLK) => Err(SetError::Deadlock),
        Err(nix::errno::Errno::ENOLCK) => Err(SetError::NoLocks),
        Err(errno) => Err(SetError::Other(errno.into())),
    }
}
