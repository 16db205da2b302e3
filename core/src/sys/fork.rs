//! Making handles inherited across `fork()` fresh owners in the child.
//!
//! A forked child shares its parent's open file descriptions: an open-file-description lock released
//! through the child's copy of the descriptor is released for the parent too, and the copy keeps the
//! parent's locks alive after the parent dies. So, inside `fork()` itself, a child handler replaces
//! each tracked OFD descriptor with a new open file description of the same file (opened through
//! `/proc/self/fd/N`, then `dup2`ed onto the same number): the child then holds nothing, and the
//! parent's locks stay the parent's. Classic locks are never inherited, so those descriptors need no
//! change. Every fork also bumps a generation counter that handles compare to forget the records
//! they copied from the parent.

use std::cell::UnsafeCell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Which process incarnation this is: changes in every child created by `fork()`.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The OFD descriptors to replace in a child: (descriptor, open flags).
///
/// A spin lock instead of a `Mutex`: the prepare handler takes it before `fork()` and the child
/// handler releases it, which a `Mutex` guard cannot express. It is held only to push or remove.
struct OfdTable {
    locked: AtomicBool,
    fds: UnsafeCell<Vec<(RawFd, libc::c_int)>>,
}

// SAFETY: `fds` is only touched while `locked` is held (see `with`), or by the fork handlers, which
// run in the forking thread with the lock taken by `prepare`.
unsafe impl Sync for OfdTable {}

static TABLE: OfdTable = OfdTable { locked: AtomicBool::new(false), fds: UnsafeCell::new(Vec::new()) };

impl OfdTable {
    fn lock(&self) {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
    }

    fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    fn with<R>(&self, f: impl FnOnce(&mut Vec<(RawFd, libc::c_int)>) -> R) -> R {
        self.lock();
        // SAFETY: the spin lock gives this thread exclusive access until `unlock`.
        let result = f(unsafe { &mut *self.fds.get() });
        self.unlock();
        result
    }
}

/// Installs the fork handlers once per process.
pub(crate) fn install_handlers() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: the three handlers are `extern "C"` functions with the signature pthread_atfork
        // expects; `child` uses only async-signal-safe calls (open, dup2, close) and no allocation.
        unsafe {
            libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
        }
    });
}

/// Tracks an OFD descriptor so that a forked child gets its own open file description.
pub(crate) fn track_ofd(fd: RawFd, flags: libc::c_int) {
    install_handlers();
    TABLE.with(|fds| fds.push((fd, flags)));
}

/// Stops tracking `fd` (before it is closed).
pub(crate) fn untrack_ofd(fd: RawFd) {
    TABLE.with(|fds| fds.retain(|&(tracked, _)| tracked != fd));
}

extern "C" fn prepare() {
    TABLE.lock();
}

extern "C" fn parent() {
    TABLE.unlock();
}

extern "C" fn child() {
    // SAFETY: `prepare` took the lock in this (the only) thread, so the table is ours.
    let fds = unsafe { &*TABLE.fds.get() };
    for &(fd, flags) in fds {
        reopen_in_place(fd, flags);
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
    TABLE.unlock();
}

/// Replaces `fd` with a new open file description of the same file, keeping its number. When the
/// file cannot be reopened, `fd` is pointed at `/dev/null`, so that the child can neither release nor
/// keep alive its parent's locks; lock requests through it then fail.
fn reopen_in_place(fd: RawFd, flags: libc::c_int) {
    let mut path = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0\0";
    write_decimal(&mut path[14..], fd);
    // SAFETY: `path` is NUL-terminated (the buffer has room for any non-negative i32 plus a NUL);
    // open, dup2 and close are async-signal-safe and touch no memory of ours.
    unsafe {
        let mut fresh = libc::open(path.as_ptr().cast(), flags | libc::O_CLOEXEC);
        if fresh < 0 {
            fresh = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        }
        if fresh >= 0 {
            libc::dup3(fresh, fd, libc::O_CLOEXEC);
            libc::close(fresh);
        }
    }
}

/// Writes `n` (non-negative) in decimal into `out`, allocation-free.
fn write_decimal(out: &mut [u8], n: RawFd) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    let mut value = n.unsigned_abs();
    loop {
        digits[len] = b'0' + (value % 10) as u8;
        len += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for (slot, digit) in out.iter_mut().zip(digits[..len].iter().rev()) {
        *slot = *digit;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_fits_the_proc_path() {
        let mut buf = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0\0";
        super::write_decimal(&mut buf[14..], i32::MAX);
        assert_eq!(&buf[..24], b"/proc/self/fd/2147483647");
        assert_eq!(buf[24], 0);
    }
}
