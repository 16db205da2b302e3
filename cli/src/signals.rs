//! Signals while locks are awaited or held, read synchronously instead of by handlers.
//!
//! `run` and `hold` block the terminating signals (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1,
//! SIGUSR2) and SIGCHLD first thing, before any other thread exists, so every thread inherits the
//! mask and each signal waits in a signalfd until the main thread reads it. Nothing can slip
//! between two steps: a signal that comes while the locks are awaited ends the wait (`take`),
//! one that comes while the command is being started is read and passed on once it runs (`run`).
//! Dispositions are never changed, so the command starts with the default ones (and an empty
//! mask, see `sys::prepare`). A signal ignored on entry (`nohup`, a script's `&`) stays ignored
//! and is left alone, as shells do (SIGCHLD excepted: it gets its default disposition back).

use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::exit::Failure;
use crate::sys::{self, SignalFd, SignalInfo, SignalSet};

/// The signals whose default action ends a process and that a user or a service manager sends to
/// stop or poke a command: each ends a wait or a hold, and is passed on to a running command.
const TERMINATING: [i32; 6] = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2];

/// One signal received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub signal: i32,
    /// Sent by the kernel on a terminal's behalf (Ctrl-C, Ctrl-\, hangup): it went to the whole
    /// foreground process group, the command included.
    pub from_terminal: bool,
}

/// The blocked signals and the signalfd they are read from.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the terminating signals not ignored on entry, and SIGCHLD, in the calling thread;
    /// call it before starting any thread.
    pub fn block() -> Result<Self, Failure> {
        let mut wanted: Vec<i32> = TERMINATING.into_iter().filter(|&signal| !sys::is_ignored(signal)).collect();
        wanted.push(libc::SIGCHLD);
        let set = SignalSet::of(&wanted);
        let failed = |error: std::io::Error| Failure::new(crate::exit::EXIT_ERROR, format!("cannot set up signal handling: {error}"));
        // An ignored SIGCHLD would have the kernel reap the command unseen (as flock(1) does,
        // cleared first); the command gets the default too.
        sys::set_default(libc::SIGCHLD).map_err(failed)?;
        sys::block(&set).map_err(failed)?;
        Ok(Self { fd: SignalFd::new(&set).map_err(failed)? })
    }

    /// The next pending signal (SIGCHLD included), without waiting.
    pub fn next(&self) -> Option<Received> {
        // A failed read of our own signalfd cannot be retried meaningfully: treat it as empty.
        self.fd.read().ok().flatten().map(|SignalInfo { signal, code }| Received { signal, from_terminal: code == libc::SI_KERNEL })
    }

    /// The next pending terminating signal, without waiting (SIGCHLD is skipped).
    pub fn next_terminating(&self) -> Option<Received> {
        std::iter::from_fn(|| self.next()).find(|received| received.signal != libc::SIGCHLD)
    }

    /// Waits until a signal is pending or `other` is readable, or `timeout` passes (`None`: no
    /// limit); whether `other` is readable.
    pub fn wait(&self, other: Option<BorrowedFd<'_>>, timeout: Option<Duration>) -> Result<bool, Failure> {
        let mut fds = vec![self.fd.as_fd()];
        fds.extend(other);
        let ready = sys::wait_readable(&fds, timeout)
            .map_err(|error| Failure::new(crate::exit::EXIT_ERROR, format!("cannot wait for signals: {error}")))?;
        Ok(ready.get(1).copied().unwrap_or(false))
    }
}

/// The signal's name for messages.
pub fn name(signal: i32) -> String {
    match signal {
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGUSR1 => "SIGUSR1".into(),
        libc::SIGUSR2 => "SIGUSR2".into(),
        libc::SIGKILL => "SIGKILL".into(),
        other => format!("signal {other}"),
    }
}
