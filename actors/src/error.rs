//! The errors a project can answer with. User errors travel in replies; only a bug kills an actor.

use std::fmt;

/// A closed set of error kinds; the HTTP layer maps each to one status and one code
/// (CONTRACT section 3) without knowing the variants of any domain error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400 `bad_request`.
    BadRequest,
    /// 400 `invalid_query`.
    InvalidQuery,
    /// 400 `invalid_cursor`.
    InvalidCursor,
    /// 401 `unauthorized`.
    Unauthorized,
    /// 403 `forbidden`.
    Forbidden,
    /// 403 `forbidden` for a browser origin the project does not allow: the response carries
    /// no CORS allow header (CONTRACT section 10).
    OriginRefused,
    /// 404 `not_found`.
    NotFound,
    /// 409 `conflict`.
    Conflict,
    /// 412 `precondition_failed`: an `If-Match` / `If-None-Match` / batch op precondition does
    /// not hold (CONTRACT section 12).
    PreconditionFailed,
    /// 413 `payload_too_large`: a write that would take a project over its byte quota.
    PayloadTooLarge,
    /// 429 `rate_limited`.
    RateLimited,
    /// 503 `unavailable`: overloaded or restarting; try again.
    Unavailable,
    /// 500 `internal`: a bug.
    Internal,
}

/// An error with a message that tells the user what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A safe, user-facing message.
    pub message: String,
    /// Seconds until a retry may succeed, sent as `Retry-After` (a throttled sign-in, say).
    pub retry_after: Option<u64>,
}

impl ProjectError {
    /// An error of `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ProjectError {
        ProjectError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> ProjectError {
        ProjectError::new(ErrorCode::BadRequest, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ProjectError {
        ProjectError::new(ErrorCode::NotFound, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> ProjectError {
        ProjectError::new(ErrorCode::Unauthorized, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ProjectError {
        ProjectError::new(ErrorCode::Forbidden, message)
    }

    /// 403 `forbidden` for a refused browser origin.
    pub fn origin_refused(message: impl Into<String>) -> ProjectError {
        ProjectError::new(ErrorCode::OriginRefused, message)
    }

    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> ProjectError {
        ProjectError::new(ErrorCode::Unavailable, message)
    }

    /// 429 `rate_limited`, retryable after `retry_after_secs`.
    pub fn rate_limited(message: impl Into<String>, retry_after_secs: u64) -> ProjectError {
        ProjectError {
            retry_after: Some(retry_after_secs),
            ..ProjectError::new(ErrorCode::RateLimited, message)
        }
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> ProjectError {
        ProjectError::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for ProjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProjectError {}

impl From<crate::query::QueryError> for ProjectError {
    fn from(err: crate::query::QueryError) -> ProjectError {
        use crate::query::QueryError;
        match err {
            QueryError::InvalidQuery(m) => ProjectError::new(ErrorCode::InvalidQuery, m),
            QueryError::InvalidCursor(m) => ProjectError::new(ErrorCode::InvalidCursor, m),
        }
    }
}

impl From<mammoth_storage::StorageError> for ProjectError {
    fn from(err: mammoth_storage::StorageError) -> ProjectError {
        use mammoth_storage::StorageError;
        match err {
            StorageError::Overloaded => ProjectError::unavailable(
                "too many writes are waiting for the disk; retry after a short pause",
            ),
            other => {
                tracing::error!(error = %other, "storage failure");
                ProjectError::unavailable("storage is unavailable; retry later")
            }
        }
    }
}
