//! Keeping handles right across `fork()`.
//!
//! - **No lock inherited held.** Before `fork()`, the prepare handler takes every lock the crate
//!   has (the registry of files, this module's table, and every owner's state lock, in that order,
//!   the order the rest of the crate takes them in); both parent and child release them after. So
//!   a child never inherits a lock that a thread which does not exist in it was holding.
//! - **No shared open file description.** A forked child shares its parent's open file
//!   descriptions: an open-file-description lock released through the child's copy of the
//!   descriptor is released for the parent too, and the copy keeps the parent's locks alive after
//!   the parent dies. So, inside `fork()` itself, the child handler replaces each tracked OFD
//!   descriptor with a new open file description of the same file (opened through
//!   `/proc/self/fd/N`, then `dup3`ed onto the same number): the child then holds nothing, and the
//!   parent's locks stay the parent's. When the file cannot be reopened, the descriptor becomes an
//!   `O_PATH` descriptor kept in reserve, on which every lock request fails (`EBADF`). Opening and
//!   tracking happen under the table's lock, so a fork cannot fall between them.
//! - **Records forgotten.** Every fork bumps a generation counter that owners compare to forget
//!   the records and waits they copied from the parent (classic locks are never inherited).

use std::cell::UnsafeCell;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use super::futex::RawLock;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Which process incarnation this is: changes in every child created by `fork()`.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// What the fork handlers work through.
struct Table {
    /// OFD descriptors to replace in a child: (descriptor, open flags).
    ofds: Vec<(RawFd, libc::c_int)>,
    /// Every owner's state lock.
    owner_locks: Vec<*const RawLock>,
}

struct Tracked {
    lock: RawLock,
    table: UnsafeCell<Table>,
}

// SAFETY: `table` is only touched while `lock` is held: by `with_table`, or by the fork handlers
// between `prepare` (which takes it) and `parent`/`child` (which release it). The owner-lock
// pointers are registered by live owners and removed before those owners are freed.
unsafe impl Sync for Tracked {}

static TRACKED: Tracked = Tracked {
    lock: RawLock::new(),
    table: UnsafeCell::new(Table { ofds: Vec::new(), owner_locks: Vec::new() }),
};

/// An `O_PATH` descriptor of `/`, put in place of an OFD descriptor that a child cannot reopen.
static RESERVE: AtomicI32 = AtomicI32::new(-1);

fn with_table<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    TRACKED.lock.lock();
    // SAFETY: the lock gives this thread exclusive access until `unlock`.
    let result = f(unsafe { &mut *TRACKED.table.get() });
    TRACKED.lock.unlock();
    result
}

/// One-time initialisation that a fork during it cannot leave half-done in the child (a std
/// `Once` would stay "running" there, forever): glibc's `pthread_once` starts it again in a child
/// forked meanwhile.
pub(crate) struct ForkSafeOnce(UnsafeCell<libc::pthread_once_t>);

// SAFETY: the control word is only touched by pthread_once, which synchronises its callers.
unsafe impl Sync for ForkSafeOnce {}

impl ForkSafeOnce {
    pub(crate) const fn new() -> Self {
        Self(UnsafeCell::new(libc::PTHREAD_ONCE_INIT))
    }

    /// Runs `routine` once per process (results go through statics the routine sets).
    pub(crate) fn call(&'static self, routine: extern "C" fn()) {
        // SAFETY: a static control word initialised with PTHREAD_ONCE_INIT, and an extern "C"
        // routine that does not unwind.
        unsafe { libc::pthread_once(self.0.get(), routine) };
    }
}

/// Installs the fork handlers and opens the reserve descriptor, once per process.
///
/// # Errors
/// When either fails: handles opened then would not be safe across `fork()`.
pub(crate) fn install() -> io::Result<()> {
    static ONCE: ForkSafeOnce = ForkSafeOnce::new();
    /// 0 once installed, else the errno of what failed.
    static FAILED: AtomicI32 = AtomicI32::new(0);
    extern "C" fn install_once() {
        // SAFETY: a NUL-terminated path; O_PATH descriptors hold no lock and allow none.
        let reserve = unsafe { libc::open(c"/".as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if reserve < 0 {
            FAILED.store(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO), Ordering::Release);
            return;
        }
        RESERVE.store(reserve, Ordering::Release);
        // SAFETY: the three handlers are `extern "C"` functions with the signature pthread_atfork
        // expects; `child` uses only async-signal-safe calls (open, dup3, close) and no allocation.
        let result = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        FAILED.store(result, Ordering::Release);
    }
    ONCE.call(install_once);
    match FAILED.load(Ordering::Acquire) {
        0 => Ok(()),
        error => Err(io::Error::from_raw_os_error(error)),
    }
}

/// Opens an OFD descriptor with `open` (which returns it with its number and open flags) and
/// tracks it, with no fork possible in between.
///
/// # Errors
/// What `open` returns.
pub(crate) fn open_tracked<T, E>(open: impl FnOnce() -> Result<(T, RawFd, libc::c_int), E>) -> Result<T, E> {
    with_table(|table| {
        let (opened, fd, flags) = open()?;
        table.ofds.push((fd, flags));
        Ok(opened)
    })
}

/// Stops tracking `fd` (before it is closed or handed on).
pub(crate) fn untrack_ofd(fd: RawFd) {
    with_table(|table| table.ofds.retain(|&(tracked, _)| tracked != fd));
}

/// Makes the prepare handler take `lock` (an owner's state lock) until [`unregister_lock`].
pub(crate) fn register_lock(lock: &RawLock) {
    with_table(|table| table.owner_locks.push(lock));
}

/// Undoes [`register_lock`]; must be called before the lock is freed.
pub(crate) fn unregister_lock(lock: &RawLock) {
    with_table(|table| table.owner_locks.retain(|&registered| !std::ptr::eq(registered, lock)));
}

/// Whether `fd` is the placeholder a forked child got for a lock file it could not reopen.
pub(crate) fn is_placeholder(fd: RawFd) -> bool {
    // SAFETY: F_GETFL only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_PATH != 0
}

extern "C" fn prepare() {
    crate::registry::files_lock().lock();
    TRACKED.lock.lock();
    // SAFETY: the table lock is held (until `parent` or `child`); each pointer is a live owner's.
    unsafe {
        for &lock in &(*TRACKED.table.get()).owner_locks {
            (*lock).lock();
        }
    }
}

/// Releases what `prepare` took, in reverse order.
fn release_all() {
    // SAFETY: `prepare` took the table lock and every owner lock in this thread.
    unsafe {
        for &lock in (*TRACKED.table.get()).owner_locks.iter().rev() {
            (*lock).unlock();
        }
    }
    TRACKED.lock.unlock();
    crate::registry::files_lock().unlock();
}

extern "C" fn parent() {
    release_all();
}

extern "C" fn child() {
    // SAFETY: `prepare` took the table lock in this (the only) thread, so the table is ours.
    let table = unsafe { &*TRACKED.table.get() };
    for &(fd, flags) in &table.ofds {
        reopen_in_place(fd, flags);
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
    release_all();
}

/// Replaces `fd` with a new open file description of the same file, keeping its number; failing
/// that, with the reserve `O_PATH` descriptor (lock requests then fail), so that the child can
/// neither release nor keep alive its parent's locks.
fn reopen_in_place(fd: RawFd, flags: libc::c_int) {
    let mut path = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0\0";
    write_decimal(&mut path[14..], fd);
    // SAFETY: `path` is NUL-terminated (the buffer has room for any non-negative i32 plus a NUL);
    // open, dup3 and close are async-signal-safe and touch no memory of ours.
    unsafe {
        let fresh = libc::open(path.as_ptr().cast(), flags | libc::O_CLOEXEC);
        if fresh >= 0 {
            let replaced = libc::dup3(fresh, fd, libc::O_CLOEXEC);
            libc::close(fresh);
            if replaced >= 0 {
                return;
            }
        }
        if libc::dup3(RESERVE.load(Ordering::Acquire), fd, libc::O_CLOEXEC) < 0 {
            // Nothing to put in its place: closing the child's copy at least cannot release or
            // keep alive the parent's locks (the parent's descriptor keeps them).
            libc::close(fd);
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
