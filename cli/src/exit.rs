//! Exit statuses and the one-line error every failure becomes.

use locksfile::Error;

/// A file, permission or lock error (not a conflict).
pub const EXIT_ERROR: i32 = 1;
/// `--nonblock` found a lock busy, or `--timeout` ended (sysexits' EX_TEMPFAIL; `-E` changes it).
pub const EXIT_CONFLICT: i32 = 75;
/// The command exists but cannot be executed (as in the shell).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// The command was not found (as in the shell).
pub const EXIT_NOT_FOUND: i32 = 127;

/// Why the program stops: a status and one line for stderr.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::new(EXIT_ERROR, error.to_string())
    }
}
