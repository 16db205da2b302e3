//! Every system call the crate makes, and every `unsafe` block, lives below this module.
//!
//! - [`fcntl`]: byte-range lock requests (classic and open-file-description).
//! - [`deadline`]: cutting a kernel wait off at a deadline with a per-thread timer signal.
//! - [`fork`]: making handles inherited by a forked child fresh owners that hold nothing.

pub(crate) mod deadline;
pub(crate) mod fcntl;
pub(crate) mod fork;
