//! The UDL's dictionaries, and conversions from the core's types.

use std::time::Duration;

use locksfile::{LockClass, LockMode, LockRange, Scope};

use crate::error::LocksFileError;

/// How to open a lock file (the UDL's `OpenOptions`).
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub scope: Scope,
    pub create: bool,
    pub mode: u32,
    pub fair: bool,
}

/// A run of locks a handle holds in one mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldRange {
    pub start: u64,
    pub count: Option<u64>,
    pub mode: LockMode,
}

/// A lock another owner holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub start: u64,
    pub count: Option<u64>,
    pub mode: LockMode,
    pub kind: LockClass,
    pub pid: Option<u32>,
}

/// A validated range as the generated path passes it: `count` `None` for every lock from `start` on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockSpan {
    pub start: u64,
    pub count: Option<u64>,
}

/// `(start, count)` as the FFI passes it (`None`: open-ended), validated by the core.
pub(crate) fn lock_range(start: u64, count: Option<u64>) -> Result<LockRange, LocksFileError> {
    Ok(LockRange::checked(i128::from(start), count.map(i128::from))?)
}

/// The range of `start` and `count` written in decimal (a language's integers may be wider than
/// 64 bits), validated by the core: the one place every language's range errors are worded.
///
/// # Errors
/// `InvalidRange`, naming the values as given.
pub fn check_range(start: String, count: Option<String>) -> Result<LockSpan, LocksFileError> {
    let (start_value, count_value) = (decimal(&start)?, count.as_deref().map(decimal).transpose()?);
    match LockRange::checked(start_value, count_value) {
        Ok(range) => Ok(LockSpan { start: range.start(), count: range.count() }),
        Err(error) => {
            // A value past an i128 was judged by a stand-in of its sign: name the caller's.
            let mut detail = error.to_string();
            for (text, value) in [(Some(start.trim()), Some(start_value)), (count.as_deref().map(str::trim), count_value)] {
                if let (Some(text), Some(value @ (i128::MIN | i128::MAX))) = (text, value) {
                    detail = detail.replacen(&value.to_string(), text, 1);
                }
            }
            Err(LocksFileError::InvalidRange { detail })
        }
    }
}

/// A decimal integer; one too wide for an i128 becomes the widest of its sign (the core only
/// needs to know it is far out of range).
fn decimal(text: &str) -> Result<i128, LocksFileError> {
    let text = text.trim();
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LocksFileError::InvalidRange { detail: format!("invalid lock range: {text:?} is not an integer") });
    }
    Ok(text.parse().unwrap_or(if text.starts_with('-') { i128::MIN } else { i128::MAX }))
}

/// Validates a timeout in seconds (see [`timeout`]).
///
/// # Errors
/// `InvalidTimeout` for a negative or NaN value.
pub fn check_timeout(seconds: f64) -> Result<(), LocksFileError> {
    timeout(seconds).map(drop)
}

/// Validates the timeout of an acquire that may not wait: a non-blocking one takes none.
///
/// # Errors
/// `InvalidTimeout` when `blocking` is false, or for a negative or NaN value.
pub fn check_blocking_timeout(blocking: bool, seconds: f64) -> Result<(), LocksFileError> {
    if !blocking {
        return Err(LocksFileError::InvalidTimeout {
            detail: format!("invalid timeout {seconds}: a non-blocking acquire never waits, so it takes no timeout"),
        });
    }
    check_timeout(seconds)
}

/// A timeout in seconds as the direct path passes it: `None` for no limit (infinite, or past
/// what a `Duration` holds).
///
/// # Errors
/// `InvalidTimeout` for a negative or NaN value.
pub(crate) fn timeout(seconds: f64) -> Result<Option<Duration>, LocksFileError> {
    if seconds.is_nan() || seconds < 0.0 {
        return Err(LocksFileError::InvalidTimeout {
            detail: format!("invalid timeout {seconds}: a timeout is a number of seconds, at least 0"),
        });
    }
    Ok(Duration::try_from_secs_f64(seconds).ok())
}

impl From<(LockRange, LockMode)> for HeldRange {
    fn from((range, mode): (LockRange, LockMode)) -> Self {
        Self { start: range.start(), count: range.count(), mode }
    }
}

impl From<locksfile::Holder> for Holder {
    fn from(holder: locksfile::Holder) -> Self {
        Self {
            start: holder.range.start(),
            count: holder.range.count(),
            mode: holder.mode,
            kind: holder.class,
            pid: holder.pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_blocking_acquire_takes_no_timeout() {
        for seconds in [0.0, 1.5, f64::INFINITY, -1.0] {
            match check_blocking_timeout(false, seconds) {
                Err(LocksFileError::InvalidTimeout { detail }) => {
                    assert_eq!(detail, format!("invalid timeout {seconds}: a non-blocking acquire never waits, so it takes no timeout"));
                }
                other => panic!("{seconds}: {other:?}"),
            }
        }
        assert!(check_blocking_timeout(true, 0.0).is_ok());
        assert!(check_blocking_timeout(true, f64::INFINITY).is_ok());
        assert!(matches!(check_blocking_timeout(true, -0.5), Err(LocksFileError::InvalidTimeout { .. })));
        assert!(matches!(check_blocking_timeout(true, f64::NAN), Err(LocksFileError::InvalidTimeout { .. })));
    }
}
