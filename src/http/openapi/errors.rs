//! The error body and the shared error responses (CONTRACT section 3).

use std::collections::BTreeMap;

use utoipa::ToSchema;
use utoipa::openapi::{self, RefOr};

// ---------------------------------------------------------------------------------------------
// Errors (CONTRACT section 3).

/// Every error answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    code: ErrorCode,
    /// What went wrong and how to fix it.
    message: String,
}

/// The error codes of CONTRACT section 3.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum ErrorCode {
    BadRequest,
    InvalidQuery,
    InvalidCursor,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    PreconditionFailed,
    RateLimited,
    Unavailable,
    Internal,
}

/// Every error status a route may answer, each a shared response `#/components/responses/E<status>`.
const ERROR_STATUSES: [u16; 9] = [400, 401, 403, 404, 409, 412, 413, 429, 503];

/// References to the shared error responses for these statuses.
fn error_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<openapi::Response>> {
    statuses
        .iter()
        .map(|status| {
            let reference = openapi::Ref::new(format!("#/components/responses/E{status}"));
            (status.to_string(), RefOr::Ref(reference))
        })
        .collect()
}

/// The shared error responses (each an [`ErrorBody`]), by component name.
pub(super) fn shared_error_responses() -> Vec<(String, openapi::Response)> {
    use utoipa::openapi::ResponseBuilder;
    use utoipa::openapi::content::ContentBuilder;
    use utoipa::openapi::header::HeaderBuilder;
    ERROR_STATUSES
        .iter()
        .map(|&status| {
            let about = match status {
                400 => "`bad_request`, `invalid_query` or `invalid_cursor`: the input is malformed",
                401 => "`unauthorized`: missing, malformed, forged, revoked or expired credentials",
                403 => "`forbidden`: the credentials may not do this (or the Origin is refused)",
                404 => "`not_found`: no such document, route or resource",
                409 => "`conflict`: it exists already",
                412 => "`precondition_failed`: If-Match / If-None-Match does not hold",
                413 => "`payload_too_large`: the body is over the limit",
                429 => "`rate_limited`: too many attempts; see Retry-After",
                503 => "`unavailable`: overloaded or restarting; see Retry-After",
                _ => "an error",
            };
            let content = ContentBuilder::new()
                .schema(Some(openapi::Ref::from_schema_name("ErrorBody")))
                .build();
            let mut response = ResponseBuilder::new()
                .description(about)
                .content("application/json", content);
            if matches!(status, 429 | 503) {
                let seconds = HeaderBuilder::new()
                    .schema(Some(
                        openapi::ObjectBuilder::new()
                            .schema_type(openapi::schema::Type::Integer)
                            .build(),
                    ))
                    .description(Some("Seconds to wait before trying again"))
                    .build();
                response = response.header("Retry-After", seconds);
            }
            (format!("E{status}"), response.build())
        })
        .collect()
}

/// Declares a set of error answers a group of routes can give.
macro_rules! errors {
    ($name:ident: $($status:literal),+) => {
        #[doc = concat!("Error answers ", $(stringify!($status), " "),+)]
        pub(crate) struct $name;
        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
                error_responses(&[$($status),+])
            }
        }
    };
}

errors!(ReadErrors: 400, 401, 403, 404, 413, 503);
errors!(WriteErrors: 400, 401, 403, 404, 409, 413, 503);
errors!(AuthErrors: 400, 401, 403, 409, 413, 429, 503);
errors!(AdminErrors: 400, 401, 403, 404, 413, 503);
