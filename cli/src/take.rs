//! Taking the requested locks: all of them, or none (what was taken is released on failure).

use std::time::{Duration, Instant};

use locksfile::{Error, LocksFile};

use crate::describe::{brief_command, command_line, describe_requests};
use crate::exit::Failure;
use crate::signals;
use crate::spec::Request;

/// How long to wait for each lock.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    Block,
    NonBlock,
    Timeout(Duration),
}

/// Takes every request in order; on any refusal releases what it had taken and fails with
/// `conflict_code` when the locks were busy (`--nonblock`) or still held at the deadline
/// (`--timeout`), 128 + the signal when a termination signal ended the wait, 1 otherwise.
pub fn take_all(file: &LocksFile, requests: &[Request], wait: Wait, conflict_code: i32) -> Result<(), Failure> {
    let deadline = match wait {
        Wait::Timeout(timeout) => Some(Instant::now() + timeout),
        _ => None,
    };
    for request in requests {
        let refusal = if let Some(signal) = signals::received() {
            interrupted(file, request, signal)
        } else {
            let outcome = match (wait, deadline) {
                (Wait::NonBlock, _) => file.try_acquire(request.range, request.mode),
                (_, Some(deadline)) => file.acquire_until(request.range, request.mode, deadline),
                _ => file.acquire(request.range, request.mode).map(|()| true),
            };
            match outcome {
                Ok(true) => continue,
                Ok(false) => Failure::new(conflict_code, busy_message(file, request, wait)),
                Err(error @ Error::Interrupted { .. }) => match signals::received() {
                    Some(signal) => interrupted(file, request, signal),
                    None => Failure::from(error),
                },
                Err(error) => Failure::from(error),
            }
        };
        let _ = file.release_all();
        return Err(refusal);
    }
    Ok(())
}

fn interrupted(file: &LocksFile, request: &Request, signal: i32) -> Failure {
    let what = describe_requests(std::slice::from_ref(request));
    Failure::new(128 + signal, format!("interrupted by {} while waiting for {what} of {}", signals::name(signal), file.path().display()))
}

/// `write lock on 1..4 of FILE is busy: pid 42 (python3 app.py) holds write 2`, or as close as
/// the kernel's tables allow.
fn busy_message(file: &LocksFile, request: &Request, wait: Wait) -> String {
    let what = format!("{} of {}", describe_requests(std::slice::from_ref(request)), file.path().display());
    let conflicting: Vec<String> = file
        .holders(request.range)
        .unwrap_or_default()
        .into_iter()
        .filter(|holder| holder.mode.conflicts_with(request.mode))
        .map(|holder| match holder.pid {
            Some(pid) => format!("pid {pid} ({}) holds {} {}", brief_command(&command_line(pid), 60), holder.mode, holder.range),
            None => format!("another process holds {} {}", holder.mode, holder.range),
        })
        .collect();
    let by = if conflicting.is_empty() { String::from("taken by another owner") } else { conflicting.join("; ") };
    match wait {
        Wait::Timeout(timeout) => format!("timed out after {} s waiting for {what}: {by}", timeout.as_secs_f64()),
        _ => format!("{what} is busy: {by}"),
    }
}
