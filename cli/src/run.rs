//! `locksfile run`: take locks, run a command, release when it exits, and end as it ended.

use std::os::unix::process::ExitStatusExt;

use locksfile::LocksFile;

use crate::exit::{Ending, Failure, EXIT_ERROR};
use crate::signals::Signals;
use crate::spawn::spawn;
use crate::spec::Request;
use crate::sys;
use crate::take::{take_all, Wait};

/// Runs `command` while holding `requests` on `file`. Ends with the command's exit status, or by
/// the signal that killed it (re-raised here, so that the caller sees what it would have seen of
/// the command itself).
pub fn run(file: &LocksFile, requests: &[Request], wait: Wait, conflict_code: i32, command: &[String], signals: &Signals) -> Result<Ending, Failure> {
    take_all(file, requests, wait, conflict_code, signals)?;
    let child = spawn(file, command);
    let mut child = match child {
        Ok(child) => child,
        Err(failure) => {
            let _ = file.release_all();
            return Err(failure);
        }
    };
    let lost = |error: std::io::Error| Failure::new(EXIT_ERROR, format!("lost the command: {error}"));
    // Signals that came while the command was being started are pending still: passed on now,
    // a terminal's too (one that came after take_all's last look but before the fork reached only
    // this process; one that came in the microseconds after the fork reaches the command twice).
    let mut first = true;
    loop {
        while let Some(received) = signals.next() {
            // Later, a terminal's signal reached the command through its process group already; a
            // SIGCHLD means only that it is time to look.
            if received.signal != libc::SIGCHLD && (first || !received.from_terminal) {
                let _ = sys::kill(child.id(), received.signal);
            }
        }
        first = false;
        // Unreaped until here, so its pid cannot be another process's while we signal it.
        if sys::has_exited(child.id()).map_err(lost)? {
            break;
        }
        signals.wait(None, None)?;
    }
    let status = child.wait().map_err(lost)?;
    file.release_all().map_err(Failure::from)?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Status(code),
        (None, Some(signal)) => Ending::Signal(signal),
        (None, None) => Ending::Status(EXIT_ERROR),
    })
}
