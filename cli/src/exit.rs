//! How the program ends (a status, or a signal passed on) and the one-line error every failure
//! becomes.

use locksfile::Error;

/// A file, permission or lock error; also the default for a conflict (flock(1)'s).
pub const EXIT_ERROR: i32 = 1;
/// `--nonblock` found a lock busy, or `--timeout` ended, unless `-E` says otherwise (flock(1)'s).
pub const EXIT_CONFLICT: i32 = 1;
/// The command exists but cannot be executed (as in the shell).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// The command was not found (as in the shell).
pub const EXIT_NOT_FOUND: i32 = 127;

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Exit with this status.
    Status(i32),
    /// Die by this signal (its default action), so that the caller sees what a direct run of the
    /// command would have shown: a shell loop stops on Ctrl-C.
    Signal(i32),
}

/// Why the program stops: how, and one line for stderr.
#[derive(Debug)]
pub struct Failure {
    pub ending: Ending,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { ending: Ending::Status(code), message: message.into() }
    }

    /// Ends by `signal` after the message.
    pub fn signal(signal: i32, message: impl Into<String>) -> Self {
        Self { ending: Ending::Signal(signal), message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::new(EXIT_ERROR, error.to_string())
    }
}
