//! CORS for `/v1/*` (CONTRACT section 10): preflights answered for any origin (they carry no
//! credentials), and every `/v1` response to a request with `Origin` allows that origin and
//! exposes `ETag` and `Retry-After`, errors included. Whether a project refuses an origin is a
//! credential check, made by the project actor with the key's project in hand
//! (`allowed_origins`); its refusal is marked with [`OriginRefused`], so it goes out without the
//! allow header. `/admin/v1/*` and `/dashboard` never get CORS headers. No
//! `Access-Control-Allow-Credentials`: credentials are headers, never cookies.

use axum::extract::Request;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub(crate) use crate::error::OriginRefused;

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const ALLOW_HEADERS: &str =
    "X-API-Key, Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID";
const EXPOSE_HEADERS: &str = "ETag, Retry-After";
/// How long a browser may cache a preflight, in seconds.
const MAX_AGE: &str = "86400";

/// The middleware; applied to the whole router, it acts on `/v1/*` only.
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !(path == "/v1" || path.starts_with("/v1/")) {
        return next.run(request).await;
    }
    let Some(origin) = request.headers().get(ORIGIN).cloned() else {
        return next.run(request).await;
    };
    if request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        allow(headers, origin);
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW_METHODS),
        );
        headers.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
        return response;
    }
    let mut response = next.run(request).await;
    let refused = response.extensions().get::<OriginRefused>().is_some();
    let headers = response.headers_mut();
    if refused {
        headers.append(VARY, HeaderValue::from_static("Origin"));
    } else {
        allow(headers, origin);
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    response
}

fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(VARY, HeaderValue::from_static("Origin"));
}
