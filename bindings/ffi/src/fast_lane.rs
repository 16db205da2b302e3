//! A direct C call path for the hot operations, for the language layers whose generated call path
//! is slow (Python's ctypes wrapper, Kotlin's JNA structures): plain functions taking integers and
//! returning an integer status. The semantics are the core's, reached through the same object as
//! the generated path. A failure stores its error for this thread; the caller then calls the
//! generated `raise_fast_lane_error`, which throws it exactly as the generated path would have,
//! without performing the operation again.
//!
//! Arguments: `token` from `fast_lane_token()`; `count` 0 means open-ended (every lock from `start`
//! on: a count of 0 is otherwise invalid, and the layers reject it first).

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use locksfile::LockMode;

use crate::error::LocksFileError;
use crate::handle::LocksFile;
use crate::types::lock_range;

/// Acquired (or released).
pub const LOCKSFILE_DONE: i32 = 1;
/// Not acquired: a conflict (try) or the deadline (timed).
pub const LOCKSFILE_NOT_ACQUIRED: i32 = 0;
/// Failed: the error is stored for `raise_fast_lane_error`.
pub const LOCKSFILE_FAILED: i32 = -1;
/// A signal interrupted the wait, nothing new held; the error is stored too. The caller runs its
/// signal handlers and retries or gives up.
pub const LOCKSFILE_INTERRUPTED: i32 = -2;

thread_local! {
    static LAST_ERROR: RefCell<Option<LocksFileError>> = const { RefCell::new(None) };
}

/// The token naming `file` on this path: its address (objects live behind an `Arc` that the
/// foreign object keeps alive).
pub(crate) fn token(file: &LocksFile) -> u64 {
    file as *const LocksFile as u64
}

/// This thread's last stored error.
pub(crate) fn take_error() -> Option<LocksFileError> {
    LAST_ERROR.with(|slot| slot.borrow_mut().take())
}

fn store(error: LocksFileError) -> i32 {
    let status = if matches!(error, LocksFileError::Interrupted { .. }) { LOCKSFILE_INTERRUPTED } else { LOCKSFILE_FAILED };
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(error));
    status
}

/// Runs `call` on the object `token` names, turning errors and panics into a status.
///
/// # Safety
/// `token` must come from `fast_lane_token()` of an object that is alive for the whole call.
unsafe fn with_file(token: u64, call: impl FnOnce(&LocksFile) -> Result<i32, LocksFileError>) -> i32 {
    if token == 0 {
        return store(LocksFileError::closed("(no file)"));
    }
    // SAFETY: the caller guarantees the token is the address of a live `LocksFile`.
    let file = unsafe { &*(token as *const LocksFile) };
    match catch_unwind(AssertUnwindSafe(|| call(file))) {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => store(error),
        Err(_) => store(LocksFileError::internal(file.path_str(), "a panic was caught at the FFI boundary")),
    }
}

fn range(start: u64, count: u64) -> Result<locksfile::LockRange, LocksFileError> {
    lock_range(start, (count != 0).then_some(count))
}

/// `flags` of [`locksfile_fast_acquire`]: take the locks exclusive (else shared).
pub const LOCKSFILE_WRITE: u32 = 1;
/// `flags` of [`locksfile_fast_acquire`]: wait as long as it takes (else only try).
pub const LOCKSFILE_BLOCK: u32 = 2;

/// Takes `[start, start + count)` (`count == 0`: from `start` on); `flags` is
/// [`LOCKSFILE_WRITE`] and/or [`LOCKSFILE_BLOCK`]. (Few arguments: each costs the caller's FFI
/// layer a conversion.)
///
/// # Safety
/// `token` must come from `fast_lane_token()` of a `LocksFile` that stays alive during the call.
#[no_mangle]
pub unsafe extern "C" fn locksfile_fast_acquire(token: u64, start: u64, count: u64, flags: u32) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe {
        with_file(token, |file| {
            let (core, range) = (file.core()?, range(start, count)?);
            let mode = LockMode::from_write(flags & LOCKSFILE_WRITE != 0);
            let acquired = if flags & LOCKSFILE_BLOCK != 0 {
                core.acquire(range, mode).map(|()| true)?
            } else {
                core.try_acquire(range, mode)?
            };
            Ok(if acquired { LOCKSFILE_DONE } else { LOCKSFILE_NOT_ACQUIRED })
        })
    }
}

/// Takes `[start, start + count)` (`count == 0`: from `start` on), shared or exclusive (`write`
/// non-zero), waiting at most `timeout_ns` nanoseconds.
///
/// # Safety
/// As [`locksfile_fast_acquire`].
#[no_mangle]
pub unsafe extern "C" fn locksfile_fast_acquire_timeout(token: u64, start: u64, count: u64, write: u32, timeout_ns: u64) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe {
        with_file(token, |file| {
            let (core, range) = (file.core()?, range(start, count)?);
            let acquired = core.acquire_timeout(range, LockMode::from_write(write != 0), Duration::from_nanos(timeout_ns))?;
            Ok(if acquired { LOCKSFILE_DONE } else { LOCKSFILE_NOT_ACQUIRED })
        })
    }
}

/// Releases `[start, start + count)` (`count == 0`: from `start` on).
///
/// # Safety
/// As [`locksfile_fast_acquire`].
#[no_mangle]
pub unsafe extern "C" fn locksfile_fast_release(token: u64, start: u64, count: u64) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe {
        with_file(token, |file| {
            file.core()?.release(range(start, count)?)?;
            Ok(LOCKSFILE_DONE)
        })
    }
}
