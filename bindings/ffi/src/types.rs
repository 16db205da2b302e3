//! The UDL's dictionaries, and conversions from the core's types.

use locksfile::{LockClass, LockMode, LockRange, Scope};

use crate::error::LocksFileError;

/// How to open a lock file (the UDL's `OpenOptions`).
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub scope: Scope,
    pub create: bool,
    pub mode: u32,
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

/// `(start, count)` as the FFI passes it (`None`: open-ended), validated by the core.
pub(crate) fn lock_range(start: u64, count: Option<u64>) -> Result<LockRange, LocksFileError> {
    let range = match count {
        Some(count) => LockRange::new(start, count),
        None => LockRange::from_start(start),
    };
    range.map_err(LocksFileError::from)
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
