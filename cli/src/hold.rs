//! `locksfile hold`: take locks and keep them until killed or the time ends.

use std::io::Write;
use std::time::{Duration, Instant};

use locksfile::LocksFile;

use crate::describe::describe_requests;
use crate::exit::Failure;
use crate::signals;
use crate::spec::Request;
use crate::take::{take_all, Wait};

/// Holds `requests` for `duration` (forever when `None`) or until SIGINT, SIGTERM or SIGHUP.
pub fn hold(file: &LocksFile, requests: &[Request], wait: Wait, conflict_code: i32, duration: Option<Duration>) -> Result<i32, Failure> {
    take_all(file, requests, wait, conflict_code)?;
    let until = duration.map(|d| Instant::now() + d);
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
    while signals::received().is_none() {
        let slice = Duration::from_millis(100);
        match until {
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(slice));
            }
            None => std::thread::sleep(slice),
        }
    }
    file.release_all().map_err(Failure::from)?;
    Ok(0)
}
