//! `locksfile run`: take locks, run a command, release when it exits, pass its status through.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use locksfile::LocksFile;

use crate::exit::{Failure, EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND};
use crate::signals;
use crate::spec::Request;
use crate::take::{take_all, Wait};

/// Runs `command` while holding `requests` on `file`; the command's exit status, or 128 + the
/// signal that killed it.
pub fn run(file: &LocksFile, requests: &[Request], wait: Wait, conflict_code: i32, command: &[String]) -> Result<i32, Failure> {
    take_all(file, requests, wait, conflict_code)?;
    // The lock file's descriptor is close-on-exec: the command does not inherit the locks, it runs
    // under them; they go when this process releases them or dies.
    let mut child = Command::new(&command[0]).args(&command[1..]).spawn().map_err(|error| {
        let code = if error.kind() == std::io::ErrorKind::NotFound { EXIT_NOT_FOUND } else { EXIT_CANNOT_EXECUTE };
        Failure::new(code, format!("cannot run {}: {error}", command[0]))
    })?;
    signals::forward_to(child.id());
    let status = child.wait();
    signals::forward_to(0);
    file.release_all().map_err(Failure::from)?;
    let status = status.map_err(|error| Failure::new(1, format!("lost the command: {error}")))?;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
