//! The UDL's `LocksFile` object: the core's handle, and its token on the direct path.

use std::sync::Arc;
use locksfile::{LockMode, Scope};

use crate::error::LocksFileError;
use crate::tokens;
use crate::types::{lock_range, timeout, HeldRange, Holder, OpenOptions};

/// An open lock file, as the generated bindings see it.
pub struct LocksFile {
    path: String,
    scope: Scope,
    writable: bool,
    core: Arc<locksfile::LocksFile>,
    /// Names `core` on the direct path until this object goes.
    token: u64,
}

impl LocksFile {
    /// # Errors
    /// As the core's `OpenOptions::open`.
    pub fn new(path: String, options: OpenOptions) -> Result<Self, LocksFileError> {
        let core = Arc::new(
            locksfile::LocksFile::options()
                .scope(options.scope)
                .create(options.create)
                .mode(options.mode)
                .fair(options.fair)
                .open(&path)?,
        );
        let token = tokens::register(Arc::clone(&core)).ok_or_else(|| LocksFileError::Io {
            operation: "open".into(),
            path: path.clone(),
            os_error: None,
            detail: format!("open {path}: too many lock-file handles open in this process"),
        })?;
        Ok(Self { path, scope: options.scope, writable: core.is_writable(), core, token })
    }

    /// The core handle, or `Closed`.
    fn open_core(&self) -> Result<&locksfile::LocksFile, LocksFileError> {
        if self.core.is_closed() {
            return Err(LocksFileError::closed(&self.path));
        }
        Ok(&self.core)
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

    pub fn is_fair(&self) -> bool {
        self.core.is_fair()
    }

    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    pub fn acquire(&self, start: u64, count: Option<u64>, mode: LockMode) -> Result<(), LocksFileError> {
        Ok(self.core.acquire(lock_range(start, count)?, mode)?)
    }

    pub fn try_acquire(&self, start: u64, count: Option<u64>, mode: LockMode) -> Result<bool, LocksFileError> {
        Ok(self.core.try_acquire(lock_range(start, count)?, mode)?)
    }

    pub fn acquire_timeout(
        &self,
        start: u64,
        count: Option<u64>,
        mode: LockMode,
        timeout_seconds: f64,
    ) -> Result<bool, LocksFileError> {
        let range = lock_range(start, count)?;
        Ok(match timeout(timeout_seconds)? {
            Some(limit) => self.core.acquire_timeout(range, mode, limit)?,
            None => self.core.acquire(range, mode).map(|()| true)?,
        })
    }

    pub fn release(&self, start: u64, count: Option<u64>) -> Result<(), LocksFileError> {
        Ok(self.core.release(lock_range(start, count)?)?)
    }

    pub fn release_all(&self) -> Result<(), LocksFileError> {
        Ok(self.core.release_all()?)
    }

    pub fn held(&self) -> Result<Vec<HeldRange>, LocksFileError> {
        Ok(self.open_core()?.held().into_iter().map(HeldRange::from).collect())
    }

    pub fn mode_of(&self, index: u64) -> Result<Option<LockMode>, LocksFileError> {
        Ok(self.open_core()?.mode_of(index))
    }

    pub fn holders(&self, start: u64, count: Option<u64>) -> Result<Vec<Holder>, LocksFileError> {
        Ok(self.core.holders(lock_range(start, count)?)?.into_iter().map(Holder::from).collect())
    }

    pub fn is_stale(&self) -> Result<bool, LocksFileError> {
        Ok(self.core.is_stale()?)
    }

    pub fn close_file(&self) -> Result<(), LocksFileError> {
        Ok(self.core.close()?)
    }

    pub fn fast_lane_token(&self) -> u64 {
        self.token
    }

    pub fn raise_fast_lane_error(&self) -> Result<(), LocksFileError> {
        crate::fast_lane::take_error().map_or(Ok(()), Err)
    }
}

impl Drop for LocksFile {
    fn drop(&mut self) {
        // Closed now, not when the token's last user lets go: a direct call in flight in a thread
        // that a fork left behind would otherwise keep it open for ever.
        let _ = self.core.close();
        tokens::unregister(self.token);
    }
}
