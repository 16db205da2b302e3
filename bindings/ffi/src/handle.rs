//! The UDL's `LocksFile` object: the core's handle behind a close-able slot.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use locksfile::{LockMode, Scope};

use crate::error::LocksFileError;
use crate::fast_lane;
use crate::types::{lock_range, HeldRange, Holder, OpenOptions};

/// An open lock file, as the generated bindings see it.
pub struct LocksFile {
    path: String,
    scope: Scope,
    writable: bool,
    /// `None` once closed. Each call clones the `Arc`, so `close` during a blocking call takes
    /// effect (the file closes) when that call returns.
    core: Mutex<Option<Arc<locksfile::LocksFile>>>,
}

impl LocksFile {
    /// # Errors
    /// As the core's `OpenOptions::open`.
    pub fn new(path: String, options: OpenOptions) -> Result<Self, LocksFileError> {
        let core = locksfile::LocksFile::options()
            .scope(options.scope)
            .create(options.create)
            .mode(options.mode)
            .open(&path)?;
        Ok(Self { path, scope: options.scope, writable: core.is_writable(), core: Mutex::new(Some(Arc::new(core))) })
    }

    /// The core handle, or `Closed`.
    pub(crate) fn core(&self) -> Result<Arc<locksfile::LocksFile>, LocksFileError> {
        self.core
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| LocksFileError::closed(&self.path))
    }

    pub(crate) fn path_str(&self) -> &str {
        &self.path
    }

    pub fn path(&self) -> String {
        self.path.clone()
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }

    pub fn is_writable(&self) -> bool {
        self.writable
    }

    pub fn acquire(&self, start: u64, count: Option<u64>, mode: LockMode) -> Result<(), LocksFileError> {
        Ok(self.core()?.acquire(lock_range(start, count)?, mode)?)
    }

    pub fn try_acquire(&self, start: u64, count: Option<u64>, mode: LockMode) -> Result<bool, LocksFileError> {
        Ok(self.core()?.try_acquire(lock_range(start, count)?, mode)?)
    }

    pub fn acquire_timeout(
        &self,
        start: u64,
        count: Option<u64>,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<bool, LocksFileError> {
        Ok(self.core()?.acquire_timeout(lock_range(start, count)?, mode, timeout)?)
    }

    pub fn release(&self, start: u64, count: Option<u64>) -> Result<(), LocksFileError> {
        Ok(self.core()?.release(lock_range(start, count)?)?)
    }

    pub fn release_all(&self) -> Result<(), LocksFileError> {
        Ok(self.core()?.release_all()?)
    }

    pub fn held(&self) -> Result<Vec<HeldRange>, LocksFileError> {
        Ok(self.core()?.held().into_iter().map(HeldRange::from).collect())
    }

    pub fn mode_of(&self, index: u64) -> Result<Option<LockMode>, LocksFileError> {
        Ok(self.core()?.mode_of(index))
    }

    pub fn holders(&self, start: u64, count: Option<u64>) -> Result<Vec<Holder>, LocksFileError> {
        Ok(self.core()?.holders(lock_range(start, count)?)?.into_iter().map(Holder::from).collect())
    }

    pub fn is_stale(&self) -> Result<bool, LocksFileError> {
        Ok(self.core()?.is_stale()?)
    }

    pub fn close_file(&self) {
        let core = self.core.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(core); // Releases everything, unless a call in flight still holds it: then at its end.
    }

    pub fn fast_lane_token(&self) -> u64 {
        fast_lane::token(self)
    }

    pub fn raise_fast_lane_error(&self) -> Result<(), LocksFileError> {
        fast_lane::take_error().map_or(Ok(()), Err)
    }
}
