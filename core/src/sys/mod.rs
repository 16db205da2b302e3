//! Every system call the crate makes, and every `unsafe` block, lives below this module.
//!
//! - [`fcntl`]: byte-range lock requests (classic and open-file-description).
//! - [`futex`]: the crate's own mutex and an interruptible event (fork handlers can take the one,
//!   signals end waits on the other).
//! - [`wake`]: the real-time signal that ends a thread's kernel wait early (deadline or close).
//! - [`deadline`]: cutting a kernel wait off at a deadline with a per-thread timer.
//! - [`fork`]: keeping handles right across `fork()`.
//! - [`statx`]: a path's mount and inode without opening it (for matching `/proc/locks`).

pub(crate) mod deadline;
pub(crate) mod fcntl;
pub(crate) mod fork;
pub(crate) mod futex;
pub(crate) mod statx;
pub(crate) mod wake;
