//! The one error type of the crate.
//!
//! `StorageError` is `Clone` because one failed commit answers every ticket of its batch with the
//! same error. redb's errors are not `Clone`, and the public API never names redb types, so redb
//! failures are carried as their message, with the whole `source()` chain flattened into it (see
//! [`io`]).

use std::error::Error;
use std::fmt::Write as _;

/// What can go wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Too many writes are waiting for the disk; try again shortly.
    #[error("storage is overloaded: too many writes are waiting for the disk")]
    Overloaded,
    /// The writer has stopped (shutdown, or an earlier fatal error).
    #[error("storage is closed")]
    Closed,
    /// redb or the file system failed.
    #[error("storage failed: {0}")]
    Io(String),
    /// A project, collection, id or key name holds a NUL byte, which the key encoding reserves as
    /// its separator (see `DESIGN.md`). Nothing of the submit was queued.
    #[error("invalid name {0:?}: names and ids must not contain a NUL byte")]
    InvalidName(String),
}

/// Turns any error into [`StorageError::Io`], prefixed with what was being done and followed by
/// its `source()` chain: `map_err(io("commit"))`.
pub(crate) fn io<E: Error>(context: &'static str) -> impl FnOnce(E) -> StorageError {
    move |err| StorageError::Io(describe(context, &err))
}

/// `context: error: source: source ...`
pub(crate) fn describe(context: &str, err: &dyn Error) -> String {
    let mut message = format!("{context}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        // Writing into a String cannot fail.
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn io_keeps_the_source_chain() {
        let err = Outer(std::io::Error::other("disk on fire"));
        let StorageError::Io(message) = io("commit")(err) else {
            panic!("io() must build StorageError::Io");
        };
        assert_eq!(message, "commit: outer: disk on fire");
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        for err in [
            StorageError::Overloaded,
            StorageError::Closed,
            StorageError::Io("x".into()),
            StorageError::InvalidName("a\0b".into()),
        ] {
            let text = err.to_string();
            assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
    }
}
