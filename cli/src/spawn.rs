//! Starting the command so that it never runs unprotected, even if `locksfile run` is killed
//! (SIGKILL included) while it runs.
//!
//! - Open-file scope (the default): the command inherits a descriptor of the open file
//!   description that holds the locks, as flock(1) passes its descriptor. Open-file-description
//!   locks belong to the description, so they stay held while the command, or anything it started
//!   that kept the descriptor, is alive, even after `locksfile run` is gone. (While `locksfile run`
//!   lives, it releases them itself when the command exits.)
//! - Process scope: classic locks belong to the process and end with it; a child cannot hold
//!   them. So the command is killed (SIGKILL, `PR_SET_PDEATHSIG`) when `locksfile run` dies.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command};

use locksfile::{LocksFile, Scope};

use crate::exit::{Failure, EXIT_CANNOT_EXECUTE, EXIT_ERROR, EXIT_NOT_FOUND};
use crate::sys::{self, ChildSetup};

/// Starts `command` (its first word the program) under the locks `file` holds.
pub fn spawn(file: &LocksFile, command: &[String]) -> Result<Child, Failure> {
    let mut process = Command::new(&command[0]);
    process.args(&command[1..]);
    // The handle's own descriptor is replaced in a forked child (the library gives the child an
    // open file description of its own): the command gets a duplicate, which is not.
    let passed: Option<OwnedFd> = match file.scope() {
        Scope::OpenFile => Some(
            sys::duplicate(file.as_raw_fd())
                .map_err(|error| Failure::new(EXIT_ERROR, format!("cannot pass the lock file to the command: {error}")))?,
        ),
        Scope::Process => None,
    };
    let setup = ChildSetup {
        keep_open: passed.as_ref().map(AsRawFd::as_raw_fd),
        die_with: passed.is_none().then(std::process::id),
    };
    sys::prepare(&mut process, setup);
    let child = process.spawn().map_err(|error| {
        let code = if error.kind() == std::io::ErrorKind::NotFound { EXIT_NOT_FOUND } else { EXIT_CANNOT_EXECUTE };
        Failure::new(code, format!("cannot run {}: {error}", command[0]))
    })?;
    drop(passed); // the command has its copy; the handle keeps the description alive here
    Ok(child)
}
