//! RAII guards: a lock range released when the guard goes out of scope.

use crate::error::Result;
use crate::locks_file::LocksFile;
use crate::mode::LockMode;
use crate::range::LockRange;

/// Holds a range of locks until dropped (or [`unlock`](Self::unlock)ed).
///
/// Dropping releases the range regardless of conversions made through other calls in the meantime.
/// A release that fails in `drop` (only possible when the kernel's lock table is full) leaves the
/// locks held until the handle closes; call [`unlock`](Self::unlock) to see that error.
#[must_use = "the locks are released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard<'a> {
    file: &'a LocksFile,
    range: LockRange,
    mode: LockMode,
}

impl<'a> LockGuard<'a> {
    pub(crate) fn new(file: &'a LocksFile, range: LockRange, mode: LockMode) -> Self {
        Self { file, range, mode }
    }

    /// The guarded range.
    #[must_use]
    pub fn range(&self) -> LockRange {
        self.range
    }

    /// The mode the range was taken in.
    #[must_use]
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// Releases the range now, reporting failure.
    ///
    /// # Errors
    /// As [`LocksFile::release`].
    pub fn unlock(self) -> Result<()> {
        let result = self.file.release(self.range);
        std::mem::forget(self);
        result
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.file.release(self.range);
    }
}
