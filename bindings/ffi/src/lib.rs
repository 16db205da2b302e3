//! The FFI of `locksfile`: the scaffolding uniffi generates from `src/locksfile.udl`, a thin
//! object over the core's handle, and a direct C call path for the hot operations (`fast_lane`).
//! Semantics live in the core; this crate only translates.

mod error;
mod fast_lane;
mod handle;
mod jvm;
mod python;
mod tokens;
mod types;

pub use error::LocksFileError;
pub use fast_lane::{
    locksfile_fast_acquire, locksfile_fast_acquire_timeout, locksfile_fast_release, LOCKSFILE_BLOCK, LOCKSFILE_DONE,
    LOCKSFILE_FAILED, LOCKSFILE_INTERRUPTED, LOCKSFILE_NOT_ACQUIRED, LOCKSFILE_START_SIGNED, LOCKSFILE_TO_END,
    LOCKSFILE_WRITE,
};
pub use handle::LocksFile;
pub use locksfile::{LockClass, LockMode, Scope};
pub use types::{check_blocking_timeout, check_range, check_timeout, HeldRange, Holder, LockSpan, OpenOptions};

/// The largest lock index.
#[must_use]
pub fn max_index() -> u64 {
    locksfile::MAX_INDEX
}

/// The project's version: the workspace's (`[workspace.package] version` in the top Cargo.toml),
/// which every package reads.
#[must_use]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// The lock index of a name (see the core's `index_of`).
#[must_use]
pub fn index_of(name: String) -> u64 {
    locksfile::index_of(&name)
}

uniffi::include_scaffolding!("locksfile");
