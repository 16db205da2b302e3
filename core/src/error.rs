//! The crate's one error type.

use std::io;
use std::path::PathBuf;

use crate::mode::LockMode;
use crate::range::LockRange;

/// A specialised `Result` for lock operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, as variants a caller can act on.
///
/// A conflict is not an error: `try_acquire` and `acquire_timeout` answer `false`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The indices asked for do not form a range fcntl can lock.
    #[error("invalid lock range (start {start}, count {}): {reason}", fmt_count(*.count))]
    InvalidRange {
        /// The first index asked for (as wide as any caller's integers: another language's may be
        /// negative or past 64 bits).
        start: i128,
        /// The count asked for; `None` for an open-ended range.
        count: Option<i128>,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A write lock was asked of a file that could only be opened read-only.
    #[error("cannot take a write lock: {} is open read-only (the file is not writable)", .path.display())]
    NotWritable {
        /// The lock file.
        path: PathBuf,
    },

    /// The kernel found that waiting would deadlock (classic `Process`-scope locks only).
    #[error("deadlock detected: waiting for a {mode} lock on {range} of {} would never end", .path.display())]
    Deadlock {
        /// The lock file.
        path: PathBuf,
        /// The range asked for.
        range: LockRange,
        /// The mode asked for.
        mode: LockMode,
    },

    /// A signal interrupted the wait; nothing new is held. Retrying is the caller's choice.
    #[error("interrupted by a signal while waiting for a {mode} lock on {range} of {}", .path.display())]
    Interrupted {
        /// The lock file.
        path: PathBuf,
        /// The range asked for.
        range: LockRange,
        /// The mode asked for.
        mode: LockMode,
    },

    /// The kernel's lock table is full (`ENOLCK`).
    #[error("no locks available: the kernel refused to record another lock on {} (ENOLCK)", .path.display())]
    NoLocksAvailable {
        /// The lock file.
        path: PathBuf,
    },

    /// The lock file does not exist and the handle was opened without `create`.
    #[error("lock file {} does not exist", .path.display())]
    NotFound {
        /// The lock file.
        path: PathBuf,
    },

    /// The directory that should hold the lock file does not exist.
    #[error("cannot create lock file {}: its directory does not exist", .path.display())]
    MissingDirectory {
        /// The lock file.
        path: PathBuf,
    },

    /// The path names a directory, not a file.
    #[error("{} is a directory, not a lock file", .path.display())]
    IsDirectory {
        /// The path given.
        path: PathBuf,
    },

    /// The handle was closed (by [`LocksFile::close`](crate::LocksFile::close)), before or during
    /// the call; nothing new is held.
    #[error("lock file {} is closed", .path.display())]
    Closed {
        /// The lock file.
        path: PathBuf,
    },

    /// Any other operating-system error, with the operation and path it concerns.
    #[error("{operation} {}: {source}", .path.display())]
    Io {
        /// What was being done, e.g. `open` or `lock`.
        operation: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn fmt_count(count: Option<i128>) -> String {
    count.map_or_else(|| "open-ended".to_owned(), |c| c.to_string())
}

impl Error {
    pub(crate) fn invalid_range(start: i128, count: Option<i128>, reason: &'static str) -> Self {
        Self::InvalidRange { start, count, reason }
    }

    pub(crate) fn io(operation: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        Self::Io { operation, path: path.to_owned(), source }
    }
}
