//! Indexed inter-process read/write locks for Linux, on the kernel's fcntl byte-range locks.
//!
//! **Lock `i` is byte `i`** of a lock file (fcntl `l_start = i, l_len = 1`), so the locks
//! interoperate with every other fcntl user of the file: Python's `fcntl.lockf`, Java's
//! `FileChannel.lock(i, 1, shared)`, the original `pylocksfile`. Any process may open the same file
//! at any time; the kernel frees a dead process's locks, so there are no stale locks.
//!
//! ```
//! use locksfile::{LocksFile, LockMode};
//! # let dir = std::env::temp_dir().join(format!("locksfile-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let locks = LocksFile::open(dir.join("data.lock"))?;
//!
//! locks.acquire(0, LockMode::Read)?;              // lock 0, shared
//! locks.acquire(1..4, LockMode::Write)?;          // locks 1, 2, 3, exclusive, in one atomic call
//! locks.acquire(2, LockMode::Read)?;              // converts lock 2: 1 and 3 stay write
//! assert_eq!(locks.mode_of(2), Some(LockMode::Read));
//! assert!(locks.try_acquire(10, LockMode::Write)?); // false if another owner holds it
//! {
//!     let _guard = locks.write(20..)?;            // everything from 20 on, until the guard drops
//! }
//! locks.release(0)?;
//! locks.release_all()?;
//! # Ok::<(), locksfile::Error>(())
//! ```
//!
//! # Semantics
//! - A request names one index or an interval (`start..end`, `start..=last`, `start..`); the
//!   interval is taken with one fcntl call: all of it or none. Invalid ranges (empty, or past the
//!   largest `off_t`) are [`Error::InvalidRange`]; [`LockRange::checked`] validates the integers of
//!   any language (negative, or wider than 64 bits) with the same words.
//! - [`LockMode::Read`] is shared, [`LockMode::Write`] exclusive. Taking held locks in the other
//!   mode converts them in place, with the kernel's split and merge rules.
//! - Blocking [`LocksFile::acquire`], non-blocking [`LocksFile::try_acquire`] (`false` on
//!   conflict), and [`LocksFile::acquire_timeout`] (`false` at the deadline). The timed wait sits in
//!   the kernel's queue like a blocking one and is cut off at the deadline by a per-thread timer
//!   signal (a real-time signal from `SIGRTMAX - 6` down that nothing else handles, or the one
//!   `LOCKSFILE_TIMER_SIGNAL` names: `SIGRTMIN..=SIGRTMAX`, or `none`). Foreign signals on it go to
//!   the disposition it had before; before every wait the disposition is checked again, and the
//!   wait polls when it is no longer ours (which loses deadlock detection).
//! - A signal handler interrupting a wait ends it with [`Error::Interrupted`], holding nothing new,
//!   so a language runtime can run its handlers (Python's `KeyboardInterrupt`) and retry. That
//!   includes a wait behind another thread's request on the same owner.
//! - Release an index, an interval, or everything; [`LocksFile::close`] (or dropping the handle)
//!   releases everything. A `close` during another thread's wait on the handle ends that wait with
//!   [`Error::Closed`], holding nothing new.
//! - What a handle's record says it holds, the kernel holds for it, and nothing more, whatever the
//!   threads sharing it do: a release during another thread's wait reaches the kernel at once.
//!
//! # Scopes
//! - [`Scope::OpenFile`] (default): open-file-description locks. Each handle is its own owner:
//!   handles in one process, and threads with their own handles, exclude each other.
//! - [`Scope::Process`]: classic POSIX locks, owned by the process; the kernel detects deadlocks
//!   between processes ([`Error::Deadlock`]). Closing any descriptor of a file drops all of a
//!   process's classic locks on it, so all handles of one file in a process are views of one shared
//!   owner with one descriptor, closed with the last view, and no other descriptor of the file that
//!   this crate opened is closed while the process holds classic locks on it. Each view records
//!   what it took: closing or releasing through one view never releases what another view holds
//!   (the kernel keeps the strongest mode any view holds). Views and threads of one process never
//!   exclude each other. Do not open the lock file by other means in the same process: closing that
//!   descriptor would drop the process's locks (a property of classic locks).
//!
//! # Fork
//! A child inherits a handle holding nothing: records are forgotten, and an open-file-description
//! handle gets a new open file description inside `fork()`, so the child can neither release nor
//! keep alive its parent's locks. Forking while other threads are inside calls is safe: the fork
//! handlers take every lock of the crate first.
//!
//! # Mixing
//! Classic and open-file-description locks on one file conflict with each other, even within one
//! process. Overlapping requests made concurrently through handles sharing an owner are serialized
//! in-process.

mod error;
mod guard;
mod holders;
mod locks_file;
mod mode;
mod name;
mod open;
mod owner;
pub mod proc_locks;
mod range;
mod record;
mod registry;
mod sys;

pub use error::{Error, Result};
pub use guard::LockGuard;
pub use holders::Holder;
pub use locks_file::{LocksFile, OpenOptions, Scope};
pub use mode::LockMode;
pub use name::{index_of, NAMED_COUNT, NAMED_FIRST};
pub use proc_locks::LockClass;
pub use range::{IntoLockRange, LockRange, MAX_INDEX};

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<super::LocksFile>();
    }
}

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
