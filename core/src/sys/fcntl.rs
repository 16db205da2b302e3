//! fcntl byte-range lock requests.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

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
    let command = match (kind, wait) {
        (LockKind::Ofd, false) => libc::F_OFD_SETLK,
        (LockKind::Ofd, true) => libc::F_OFD_SETLKW,
        (LockKind::Classic, false) => libc::F_SETLK,
        (LockKind::Classic, true) => libc::F_SETLKW,
    };
    // SAFETY: a lock command with a pointer to a valid, fully initialised `flock` on a descriptor
    // the caller keeps open; the kernel only reads the structure.
    let errno = unsafe { fcntl_lock(fd.as_raw_fd(), command, &request) };
    if errno == 0 {
        return Ok(());
    }
    match errno {
        libc::EAGAIN | libc::EACCES if !wait => Err(SetError::Conflict),
        libc::EINTR => Err(SetError::Interrupted),
        libc::EDEADLK => Err(SetError::Deadlock),
        libc::ENOLCK => Err(SetError::NoLocks),
        errno => Err(SetError::Other(io::Error::from_raw_os_error(errno))),
    }
}

/// The `fcntl` system call with a lock command: 0, or the error number.
///
/// On x86-64 and AArch64 (64-bit pointers; not x32 or ILP32) the instruction itself, as rustix
/// makes its calls: glibc's variadic `syscall()` shuffles registers and goes through `errno`
/// (about 20 more user-space instructions a call, counted with callgrind).
///
/// # Safety
/// `command` is a lock command (`F_SETLK`, `F_SETLKW`, `F_OFD_SETLK`, `F_OFD_SETLKW`) and
/// `request` a valid, fully initialised `flock` (the kernel only reads it). `fd` may be any number:
/// a closed one is `EBADF`.
#[cfg(all(target_arch = "x86_64", target_pointer_width = "64"))]
unsafe fn fcntl_lock(fd: RawFd, command: libc::c_int, request: *const libc::flock) -> libc::c_int {
    let result: isize;
    // SAFETY: the Linux x86-64 system call convention: number and result in rax, arguments in rdi,
    // rsi, rdx; the kernel clobbers rcx and r11 and no other register, and uses no user stack.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_fcntl as isize => result,
            in("rdi") fd as isize,
            in("rsi") command as isize,
            in("rdx") request,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags),
        );
    }
    errno_of(result)
}

/// See the x86-64 version.
#[cfg(all(target_arch = "aarch64", target_pointer_width = "64"))]
unsafe fn fcntl_lock(fd: RawFd, command: libc::c_int, request: *const libc::flock) -> libc::c_int {
    let result: isize;
    // SAFETY: the Linux AArch64 system call convention: number in x8, arguments in x0..x2, the
    // result in x0; `svc 0` clobbers no other register and uses no user stack.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") libc::SYS_fcntl as isize,
            inlateout("x0") fd as isize => result,
            in("x1") command as isize,
            in("x2") request,
            options(nostack, preserves_flags),
        );
    }
    errno_of(result)
}

/// See the x86-64 version: elsewhere through `syscall()` and `errno`.
#[cfg(not(all(any(target_arch = "x86_64", target_arch = "aarch64"), target_pointer_width = "64")))]
unsafe fn fcntl_lock(fd: RawFd, command: libc::c_int, request: *const libc::flock) -> libc::c_int {
    // SAFETY: as the caller promises.
    if unsafe { libc::syscall(libc::SYS_fcntl, fd, command, request) } == 0 {
        0
    } else {
        io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
    }
}

/// The error number of a raw system call's result: Linux returns `-errno` (from -4095 to -1).
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), target_pointer_width = "64"))]
fn errno_of(result: isize) -> libc::c_int {
    if (-4095..0).contains(&result) {
        // In range: the cast is lossless.
        -result as libc::c_int
    } else {
        0
    }
}

/// [`set_lock`] through a descriptor number, for a kernel wait made without the owner's lock
/// held. The caller keeps the descriptor open for the whole call: the owner closes its descriptor
/// only once no view is left, and a view's waits end before its close returns.
pub(crate) fn set_lock_waiting(fd: RawFd, kind: LockKind, op: LockOp, start: i64, len: i64, wait: bool) -> Result<(), SetError> {
    // SAFETY: the descriptor stays open during the call (see above), so the borrow is valid.
    set_lock(unsafe { BorrowedFd::borrow_raw(fd) }, kind, op, start, len, wait)
}

/// A lock the kernel reports in the way of a request (`F_GETLK`, `F_OFD_GETLK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReportedLock {
    pub(crate) write: bool,
    pub(crate) start: i64,
    /// 0: to the end and beyond.
    pub(crate) len: i64,
    /// The holder as the caller's pid namespace numbers it: 0 for a process outside it, -1 for an
    /// open-file-description lock.
    pub(crate) pid: i32,
}

/// A lock of another owner that would conflict with `op` (read or write) on `[start, start + len)`
/// (`len == 0`: to the end and beyond), if any: the first the kernel finds, not the lowest. The
/// owner is the open file description of `fd` (`Ofd`) or this process (`Classic`); the kernel
/// never reports that owner's own locks.
///
/// # Errors
/// When the kernel refuses the request (`EBADF`, `EINVAL`, `EOVERFLOW`).
pub(crate) fn get_lock(
    fd: BorrowedFd<'_>,
    kind: LockKind,
    op: LockOp,
    start: i64,
    len: i64,
) -> io::Result<Option<ReportedLock>> {
    let mut request = flock(op, start, len);
    let arg = match kind {
        LockKind::Ofd => FcntlArg::F_OFD_GETLK(&mut request),
        LockKind::Classic => FcntlArg::F_GETLK(&mut request),
    };
    fcntl(fd, arg)?;
    Ok(match i32::from(request.l_type) {
        libc::F_UNLCK => None,
        kind => Some(ReportedLock {
            write: kind == libc::F_WRLCK,
            start: request.l_start,
            len: request.l_len,
            pid: request.l_pid,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(l_type: libc::c_int, start: i64, len: i64, pid: i32) -> libc::flock {
        libc::flock { l_type: l_type as libc::c_short, l_whence: libc::SEEK_SET as libc::c_short, l_start: start, l_len: len, l_pid: pid }
    }

    /// The error number glibc's `syscall()` reports for the same request.
    fn through_libc(fd: RawFd, command: libc::c_int, request: &libc::flock) -> libc::c_int {
        // SAFETY: a lock command with a valid `flock`; a bad descriptor is EBADF.
        if unsafe { libc::syscall(libc::SYS_fcntl, fd, command, request as *const libc::flock) } == 0 {
            0
        } else {
            io::Error::last_os_error().raw_os_error().expect("an error number")
        }
    }

    #[test]
    fn the_lock_call_reports_the_error_numbers_libc_reports() {
        let dir = std::env::temp_dir().join(format!("locksfile-fcntl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lock");
        let first = std::fs::File::options().read(true).write(true).create(true).truncate(false).open(&path).unwrap();
        let second = std::fs::File::options().read(true).write(true).open(&path).unwrap();
        let read_only = std::fs::File::options().read(true).open(&path).unwrap();
        let (a, b, r) = (first.as_raw_fd(), second.as_raw_fd(), read_only.as_raw_fd());
        // In order: each case leaves the state the next expects (both calls of a case agree on it).
        let cases = [
            (-1, libc::F_OFD_SETLK, request(libc::F_WRLCK, 0, 1, 0), libc::EBADF),
            (a, 99_999, request(libc::F_WRLCK, 0, 1, 0), libc::EINVAL),
            (a, libc::F_OFD_SETLK, request(99, 0, 1, 0), libc::EINVAL),
            (a, libc::F_OFD_SETLK, request(libc::F_WRLCK, -5, 1, 0), libc::EINVAL),
            (a, libc::F_OFD_SETLK, request(libc::F_WRLCK, 0, 1, 77), libc::EINVAL), // OFD: l_pid must be 0
            (r, libc::F_OFD_SETLK, request(libc::F_WRLCK, 0, 1, 0), libc::EBADF),
            (a, libc::F_OFD_SETLK, request(libc::F_WRLCK, i64::MAX, 2, 0), libc::EOVERFLOW),
            (a, libc::F_OFD_SETLK, request(libc::F_WRLCK, 0, 1, 0), 0),
            (b, libc::F_OFD_SETLK, request(libc::F_WRLCK, 0, 1, 0), libc::EAGAIN),
            (b, libc::F_OFD_SETLK, request(libc::F_RDLCK, 0, 1, 0), libc::EAGAIN),
            (a, libc::F_OFD_SETLK, request(libc::F_UNLCK, 0, 0, 0), 0),
            (b, libc::F_OFD_SETLK, request(libc::F_RDLCK, 0, 1, 0), 0),
        ];
        for (fd, command, request, expected) in cases {
            // SAFETY: `request` is a valid flock; a bad descriptor or command is an error number.
            let ours = unsafe { fcntl_lock(fd, command, &request) };
            assert_eq!((ours, through_libc(fd, command, &request)), (expected, expected), "fd {fd}, command {command}, {request:?}");
        }
        // The instruction itself (not the libc fallback) never writes errno.
        #[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), target_pointer_width = "64"))]
        {
            // SAFETY: this thread's errno, set and read back.
            unsafe { *libc::__errno_location() = 4242 };
            // SAFETY: as above.
            assert_eq!(unsafe { fcntl_lock(-1, libc::F_OFD_SETLK, &request(libc::F_WRLCK, 0, 1, 0)) }, libc::EBADF);
            // SAFETY: as above.
            assert_eq!(unsafe { *libc::__errno_location() }, 4242);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
