//! Taking the requested locks: all of them, or none (what was taken is released on failure), in
//! a thread of their own, so that a signal can end the wait at any moment.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use locksfile::{Error, LocksFile};

use crate::describe::{brief_command, command_line, describe_requests};
use crate::exit::{Failure, EXIT_ERROR};
use crate::signals::{self, Received, Signals};
use crate::spec::Request;

/// How long to wait for each lock.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    Block,
    NonBlock,
    Timeout(Duration),
}

/// Takes every request in order, while the main thread watches for signals; on any refusal
/// releases what it had taken and fails with `conflict_code` when the locks were busy
/// (`--nonblock`) or still held at the deadline (`--timeout`), by the signal when a terminating
/// signal came before every lock was taken (the wait ends at once: the handle is closed under it,
/// which the library turns into `Closed` for the waiting thread), 1 otherwise.
pub fn take_all(file: &LocksFile, requests: &[Request], wait: Wait, conflict_code: i32, signals: &Signals) -> Result<(), Failure> {
    let (done, taker_done) = UnixStream::pair().map_err(|error| Failure::new(EXIT_ERROR, format!("cannot start waiting: {error}")))?;
    let mut stopped_by: Option<Received> = None;
    let outcome = std::thread::scope(|scope| -> Result<Result<(), Refusal>, Failure> {
        let taker = scope.spawn(move || {
            let outcome = take_each(file, requests, wait, conflict_code);
            drop(taker_done); // the main thread's end reads end-of-file: done
            outcome
        });
        loop {
            if let Some(received) = signals.next_terminating() {
                stopped_by = Some(received);
                let _ = file.close(); // ends the wait; releases what was taken
                break;
            }
            match signals.wait(Some(done.as_fd()), None) {
                Ok(true) => break, // the taker is returning: join waits for the rest
                Ok(false) => {}
                Err(failure) => {
                    let _ = file.close(); // or the scope would wait for the taker forever
                    return Err(failure);
                }
            }
        }
        Ok(taker.join().unwrap_or_else(|_| Err(Refusal::Failure(Failure::new(EXIT_ERROR, "the waiting thread failed")))))
    })?;
    // A signal that came as the last lock was granted still stops the command from starting.
    let stopped_by = stopped_by.or_else(|| signals.next_terminating());
    match (stopped_by, outcome) {
        (None, Ok(())) => Ok(()),
        (None, Err(Refusal::Failure(failure))) => Err(failure),
        (None, Err(Refusal::Closed(request))) => Err(Failure::new(EXIT_ERROR, format!("{} was closed", describe_in(file, &request)))),
        (Some(received), outcome) => {
            let _ = file.close();
            let what = match outcome {
                Err(Refusal::Closed(request)) => format!("while waiting for {}", describe_in(file, &request)),
                _ => format!("as the locks on {} were taken (released again)", file.path().display()),
            };
            Err(Failure::signal(received.signal, format!("interrupted by {} {what}", signals::name(received.signal))))
        }
    }
}

/// Why `take_each` stopped.
enum Refusal {
    /// The handle was closed during the wait for this request (a signal came).
    Closed(Request),
    Failure(Failure),
}

fn take_each(file: &LocksFile, requests: &[Request], wait: Wait, conflict_code: i32) -> Result<(), Refusal> {
    let deadline = match wait {
        Wait::Timeout(timeout) => Instant::now().checked_add(timeout),
        _ => None,
    };
    for request in requests {
        let outcome = match (wait, deadline) {
            (Wait::NonBlock, _) => file.try_acquire(request.range, request.mode),
            (_, Some(deadline)) => file.acquire_until(request.range, request.mode, deadline),
            _ => file.acquire(request.range, request.mode).map(|()| true),
        };
        let refusal = match outcome {
            Ok(true) => continue,
            Ok(false) => Refusal::Failure(Failure::new(conflict_code, busy_message(file, request, wait))),
            Err(Error::Closed { .. }) => Refusal::Closed(*request),
            Err(error) => Refusal::Failure(Failure::from(error)),
        };
        let _ = file.release_all();
        return Err(refusal);
    }
    Ok(())
}

fn describe_in(file: &LocksFile, request: &Request) -> String {
    format!("{} of {}", describe_requests(std::slice::from_ref(request)), file.path().display())
}

/// `write lock on 1..4 of FILE is busy: pid 42 (python3 app.py) holds write 2`, or as close as
/// the kernel's tables allow.
fn busy_message(file: &LocksFile, request: &Request, wait: Wait) -> String {
    let what = describe_in(file, request);
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
