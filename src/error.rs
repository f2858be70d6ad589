//! The one error type of the server crate (the admin API, the data API and the dashboard all
//! map through it): CONTRACT section 3, as JSON
//! `{"error": {"code", "message"}}`. Domain errors map through their closed [`ErrorCode`], never
//! variant by variant.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mammoth_actors::{ErrorCode, ProjectError};
use serde_json::{Value, json};

/// Marks a response refused for its browser origin: the CORS layer (`http/cors.rs`) sends it
/// without an allow header (CONTRACT section 10).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OriginRefused;

/// What kind of error: a domain kind, or one only HTTP knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A kind every layer shares.
    Domain(ErrorCode),
    /// 413: the body is over the limit.
    PayloadTooLarge,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The kind, which fixes status and code.
    pub kind: Kind,
    /// What went wrong and how to fix it.
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// The index of the batch op that failed (CONTRACT section 12), sent as `"op"` inside
    /// `error`.
    pub op: Option<usize>,
}

impl ApiError {
    /// An error of `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            kind: Kind::Domain(code),
            message: message.into(),
            retry_after: None,
            op: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Forbidden, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large() -> ApiError {
        ApiError {
            kind: Kind::PayloadTooLarge,
            message: "the request body is larger than 1 MiB (1048576 bytes); send a smaller body"
                .into(),
            retry_after: None,
            op: None,
        }
    }

    /// 413 `payload_too_large` for a route whose limit is not the default one.
    pub fn payload_too_large_over(limit: usize) -> ApiError {
        ApiError {
            message: format!(
                "the request body is larger than {limit} bytes; send a smaller body (split a batch in several)"
            ),
            ..ApiError::payload_too_large()
        }
    }

    /// The same error, naming the batch op that caused it.
    pub fn at_op(mut self, op: Option<usize>) -> ApiError {
        self.op = op;
        self
    }

    /// The status and code for this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        let code = match self.kind {
            Kind::PayloadTooLarge => return (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Kind::Domain(code) => code,
        };
        match code {
            ErrorCode::BadRequest => (StatusCode::BAD_REQUEST, "bad_request"),
            ErrorCode::InvalidQuery => (StatusCode::BAD_REQUEST, "invalid_query"),
            ErrorCode::InvalidCursor => (StatusCode::BAD_REQUEST, "invalid_cursor"),
            ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ErrorCode::Forbidden | ErrorCode::OriginRefused => (StatusCode::FORBIDDEN, "forbidden"),
            ErrorCode::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorCode::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorCode::PreconditionFailed => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            ErrorCode::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ErrorCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ErrorCode::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<ProjectError> for ApiError {
    fn from(err: ProjectError) -> ApiError {
        let retry_after = match err.code {
            _ if err.retry_after.is_some() => err.retry_after,
            ErrorCode::Unavailable => Some(1),
            _ => None,
        };
        ApiError {
            kind: Kind::Domain(err.code),
            message: err.message,
            retry_after,
            op: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if self.kind == Kind::Domain(ErrorCode::Internal) {
            tracing::error!(cause = %self.message, "internal error");
            "internal error; the server log has the details".to_owned()
        } else {
            self.message
        };
        let body = match self.op {
            None => Json(json!({"error": {"code": code, "message": message}})),
            Some(op) => Json(json!({"error": {"code": code, "message": message, "op": op}})),
        };
        let mut response = (status, body).into_response();
        if self.kind == Kind::Domain(ErrorCode::OriginRefused) {
            response.extensions_mut().insert(OriginRefused);
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The name of a JSON value's type, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
