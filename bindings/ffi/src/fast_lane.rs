//! A direct C call path for the hot operations, for the language layers whose generated call path
//! is slow (Python's ctypes wrapper, Kotlin's JNA structures, Swift's buffers for optionals): plain
//! functions taking integers and returning an integer status. The semantics are the core's,
//! reached through the same handle as the generated path. A failure stores its error for this
//! thread; the caller then calls the generated `raise_fast_lane_error`, which throws it exactly as
//! the generated path would have, without performing the operation again.
//!
//! Arguments: `token` from `fast_lane_token()` (a stale or made-up token is `Closed`, see
//! `tokens`); `start` and `count` as the caller's integers, validated here like every range:
//! `flags` says whether `start` is a signed 64-bit integer ([`LOCKSFILE_START_SIGNED`]) and whether
//! the range is open-ended ([`LOCKSFILE_TO_END`], `count` ignored). Timeouts are seconds as a
//! double, validated here too. The constants are copied in `_fastlane.py`, `FastLane.kt` and
//! `FastLane.h`; `tests/fast_lane_copies.rs` checks that the copies agree.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use locksfile::{LockMode, LockRange};

use crate::error::LocksFileError;
use crate::tokens;
use crate::types::timeout;

/// Acquired (or released).
pub const LOCKSFILE_DONE: i32 = 1;
/// Not acquired: a conflict (try) or the deadline (timed).
pub const LOCKSFILE_NOT_ACQUIRED: i32 = 0;
/// Failed: the error is stored for `raise_fast_lane_error`.
pub const LOCKSFILE_FAILED: i32 = -1;
/// A signal interrupted the wait, nothing new held; the error is stored too. The caller runs its
/// signal handlers and retries or gives up.
pub const LOCKSFILE_INTERRUPTED: i32 = -2;

/// `flags`: take the locks exclusive (else shared).
pub const LOCKSFILE_WRITE: u32 = 1;
/// `flags` of [`locksfile_fast_acquire`]: wait as long as it takes (else only try).
pub const LOCKSFILE_BLOCK: u32 = 2;
/// `flags`: every lock from `start` on (`count` is ignored).
pub const LOCKSFILE_TO_END: u32 = 4;
/// `flags`: `start` is a signed 64-bit integer (a negative one is an invalid range, named as such).
pub const LOCKSFILE_START_SIGNED: u32 = 8;

thread_local! {
    static LAST_ERROR: RefCell<Option<LocksFileError>> = const { RefCell::new(None) };
}

/// This thread's last stored error.
pub(crate) fn take_error() -> Option<LocksFileError> {
    LAST_ERROR.with(|slot| slot.borrow_mut().take())
}

/// Drops this thread's stored error if it is an invalid range, saying whether it was (the Python
/// entry point leaves the wording of argument errors to its caller).
pub(crate) fn take_invalid_range() -> bool {
    LAST_ERROR.with(|slot| {
        let mut slot = slot.borrow_mut();
        let invalid = matches!(*slot, Some(LocksFileError::InvalidRange { .. }));
        if invalid {
            *slot = None;
        }
        invalid
    })
}

fn store(error: LocksFileError) -> i32 {
    let status = if matches!(error, LocksFileError::Interrupted { .. }) { LOCKSFILE_INTERRUPTED } else { LOCKSFILE_FAILED };
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(error));
    status
}

/// What a direct call returns: a status, or (rarely, so boxed: the common path stays small) an
/// error to store.
type Outcome = Result<i32, Box<LocksFileError>>;

impl From<locksfile::Error> for Box<LocksFileError> {
    fn from(error: locksfile::Error) -> Self {
        Box::new(error.into())
    }
}

/// Runs `call` on the handle `token` names, turning errors and panics into a status.
fn with_file(token: u64, call: impl FnOnce(&locksfile::LocksFile) -> Outcome) -> i32 {
    let Some(file) = tokens::lookup(token) else {
        return store(LocksFileError::closed("(a handle that is gone, or never was)"));
    };
    match catch_unwind(AssertUnwindSafe(|| call(&file))) {
        Ok(Ok(status)) => status,
        Ok(Err(error)) => store(*error),
        Err(_) => store(LocksFileError::internal(&file.path().display().to_string(), "a panic was caught at the FFI boundary")),
    }
}

/// The range `start`, `count` and `flags` describe, validated by the core.
#[inline]
pub(crate) fn range(start: u64, count: u64, flags: u32) -> Result<LockRange, locksfile::Error> {
    if flags & (LOCKSFILE_START_SIGNED | LOCKSFILE_TO_END) == 0 {
        LockRange::new(start, count) // The common case, inline.
    } else {
        other_range(start, count, flags)
    }
}

/// [`range`] of an open-ended range or a signed start (at least one of the two flags is set).
#[inline(never)]
fn other_range(start: u64, count: u64, flags: u32) -> Result<LockRange, locksfile::Error> {
    if flags & LOCKSFILE_START_SIGNED == 0 {
        return LockRange::from_start(start); // Open-ended, from an unsigned start.
    }
    LockRange::checked(i128::from(start as i64), (flags & LOCKSFILE_TO_END == 0).then_some(i128::from(count)))
}

fn acquired(acquired: bool) -> i32 {
    if acquired {
        LOCKSFILE_DONE
    } else {
        LOCKSFILE_NOT_ACQUIRED
    }
}

/// Takes the range; `flags` as the module docs say, plus [`LOCKSFILE_WRITE`] and
/// [`LOCKSFILE_BLOCK`]. Returns `LOCKSFILE_DONE`, `LOCKSFILE_NOT_ACQUIRED` (a try met a
/// conflict), `LOCKSFILE_INTERRUPTED` or `LOCKSFILE_FAILED`.
#[no_mangle]
pub extern "C" fn locksfile_fast_acquire(token: u64, start: u64, count: u64, flags: u32) -> i32 {
    with_file(token, |file| {
        let (range, mode) = (range(start, count, flags)?, LockMode::from_write(flags & LOCKSFILE_WRITE != 0));
        Ok(acquired(if flags & LOCKSFILE_BLOCK != 0 {
            file.acquire(range, mode).map(|()| true)?
        } else {
            file.try_acquire(range, mode)?
        }))
    })
}

/// Takes the range, waiting at most `timeout_seconds` (infinite: no limit; negative or NaN: an
/// `InvalidTimeout` error). `LOCKSFILE_NOT_ACQUIRED` at the deadline.
#[no_mangle]
pub extern "C" fn locksfile_fast_acquire_timeout(token: u64, start: u64, count: u64, flags: u32, timeout_seconds: f64) -> i32 {
    with_file(token, |file| {
        let (range, mode) = (range(start, count, flags)?, LockMode::from_write(flags & LOCKSFILE_WRITE != 0));
        Ok(acquired(match timeout(timeout_seconds).map_err(Box::new)? {
            Some(limit) => file.acquire_timeout(range, mode, limit)?,
            None => file.acquire(range, mode).map(|()| true)?,
        }))
    })
}

/// Releases the range (`flags`: [`LOCKSFILE_TO_END`], [`LOCKSFILE_START_SIGNED`]).
#[no_mangle]
pub extern "C" fn locksfile_fast_release(token: u64, start: u64, count: u64, flags: u32) -> i32 {
    with_file(token, |file| {
        file.release(range(start, count, flags)?)?;
        Ok(LOCKSFILE_DONE)
    })
}
