//! Termination signals while locks are awaited or held: SIGINT, SIGTERM and SIGHUP run a handler
//! that records the signal and returns, installed without `SA_RESTART`, so a waiting `fcntl`
//! returns `EINTR` (the crate's `Interrupted` error) and the command can release and exit cleanly.
//! The handler also passes SIGTERM and SIGHUP on to the command `run` started (a terminal sends
//! SIGINT to the command itself). Handlers, unlike ignored signals, are reset for the command by
//! `exec`.

use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 && signal != libc::SIGINT {
        // SAFETY: kill(2) is async-signal-safe; `child` is the pid of our own unreaped child.
        unsafe { libc::kill(child, signal) };
    }
}

/// Installs the recording handler for SIGINT, SIGTERM and SIGHUP.
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with an extern "C" handler that only touches atomics and
        // calls kill(2) is valid; sa_flags without SA_RESTART is the point.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// The last termination signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// Signals to pass on to `pid` from now on (0: nobody).
pub fn forward_to(pid: u32) {
    CHILD.store(i32::try_from(pid).unwrap_or(0), Ordering::SeqCst);
}

/// The signal's name for messages.
pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}
