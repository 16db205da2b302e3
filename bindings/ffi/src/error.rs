//! The UDL's error: the core's error with its message kept whole in `detail`.

use locksfile::Error;

/// Everything that can go wrong, as the UDL declares it.
#[derive(Debug, thiserror::Error)]
pub enum LocksFileError {
    #[error("{detail}")]
    InvalidRange { detail: String },
    #[error("{detail}")]
    InvalidTimeout { detail: String },
    #[error("{detail}")]
    NotWritable { path: String, detail: String },
    #[error("{detail}")]
    Deadlock { path: String, detail: String },
    #[error("{detail}")]
    Interrupted { path: String, detail: String },
    #[error("{detail}")]
    NoLocksAvailable { path: String, detail: String },
    #[error("{detail}")]
    NotFound { path: String, detail: String },
    #[error("{detail}")]
    MissingDirectory { path: String, detail: String },
    #[error("{detail}")]
    IsDirectory { path: String, detail: String },
    #[error("{detail}")]
    Io { operation: String, path: String, os_error: Option<i32>, detail: String },
    #[error("{detail}")]
    Closed { path: String, detail: String },
}

impl LocksFileError {
    pub(crate) fn closed(path: &str) -> Self {
        Self::Closed { path: path.to_owned(), detail: format!("lock file {path} is closed") }
    }

    /// An internal failure (a panic caught at the FFI boundary), reported instead of unwinding.
    pub(crate) fn internal(path: &str, what: &str) -> Self {
        Self::Io { operation: "lock".into(), path: path.to_owned(), os_error: None, detail: format!("internal error in locksfile: {what}") }
    }
}

impl From<Error> for LocksFileError {
    fn from(error: Error) -> Self {
        let detail = error.to_string();
        let text = |path: &std::path::Path| path.display().to_string();
        match error {
            Error::InvalidRange { .. } => Self::InvalidRange { detail },
            Error::NotWritable { path } => Self::NotWritable { path: text(&path), detail },
            Error::Deadlock { path, .. } => Self::Deadlock { path: text(&path), detail },
            Error::Interrupted { path, .. } => Self::Interrupted { path: text(&path), detail },
            Error::NoLocksAvailable { path } => Self::NoLocksAvailable { path: text(&path), detail },
            Error::NotFound { path } => Self::NotFound { path: text(&path), detail },
            Error::MissingDirectory { path } => Self::MissingDirectory { path: text(&path), detail },
            Error::IsDirectory { path } => Self::IsDirectory { path: text(&path), detail },
            Error::Closed { path } => Self::Closed { path: text(&path), detail },
            Error::Io { operation, path, source } => {
                Self::Io { operation: operation.to_owned(), path: text(&path), os_error: source.raw_os_error(), detail }
            }
            // The core's enum is non-exhaustive: keep whatever a newer core adds, as an I/O error.
            other => Self::Io { operation: "lock".into(), path: String::new(), os_error: None, detail: other.to_string() },
        }
    }
}
