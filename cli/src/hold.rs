//! `locksfile hold`: take locks and keep them until a signal or the end of the time.

use std::io::Write;
use std::time::{Duration, Instant};

use locksfile::LocksFile;

use crate::describe::describe_requests;
use crate::exit::{Ending, Failure};
use crate::signals::Signals;
use crate::spec::Request;
use crate::take::{take_all, Wait};

/// Holds `requests` for `duration` (forever when `None`) or until a terminating signal; ends with
/// 0 at the end of the time, by the signal otherwise (released first).
pub fn hold(file: &LocksFile, requests: &[Request], wait: Wait, conflict_code: i32, duration: Option<Duration>, signals: &Signals) -> Result<Ending, Failure> {
    take_all(file, requests, wait, conflict_code, signals)?;
    let until = duration.and_then(|d| Instant::now().checked_add(d));
    // One line on stdout once everything is held, for scripts to wait for.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "holding {} of {} (pid {}){}",
        describe_requests(requests),
        file.path().display(),
        std::process::id(),
        match duration {
            Some(d) => format!(" for {} s", d.as_secs_f64()),
            None => String::from(" until interrupted"),
        }
    );
    let _ = out.flush();
    let ending = loop {
        if let Some(received) = signals.next_terminating() {
            break Ending::Signal(received.signal);
        }
        let left = until.map(|until| until.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            break Ending::Status(0);
        }
        signals.wait(None, left)?;
    };
    file.release_all().map_err(Failure::from)?;
    Ok(ending)
}
