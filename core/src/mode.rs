//! Lock modes.

use std::fmt;

/// How a lock is held: shared by many readers, or exclusive to one writer.
///
/// `Read < Write`: a write lock covers everything a read lock does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    /// Shared: any number of owners may hold it at once.
    Read,
    /// Exclusive: one owner holds it, and nobody else holds it in any mode.
    Write,
}

impl LockMode {
    /// `Read` when `write` is false, `Write` when it is true.
    #[must_use]
    pub fn from_write(write: bool) -> Self {
        if write {
            Self::Write
        } else {
            Self::Read
        }
    }

    /// Whether a lock in this mode and one in `other`, held by two different owners on a shared
    /// index, exclude each other: unless both are reads.
    #[must_use]
    pub fn conflicts_with(self, other: Self) -> bool {
        self == Self::Write || other == Self::Write
    }

    /// The lower-case name used in messages: `read` or `write`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::LockMode::{Read, Write};

    #[test]
    fn only_two_reads_do_not_conflict() {
        assert!(!Read.conflicts_with(Read));
        assert!(Read.conflicts_with(Write));
        assert!(Write.conflicts_with(Read));
        assert!(Write.conflicts_with(Write));
    }
}
