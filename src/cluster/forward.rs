//! Forwarding: a node that does not own a request's project proxies it to the owner's HTTP
//! address (learned from the owner's peer health answer), with every header but the
//! hop-by-hop ones (credentials and cookies included), the body (within the body limit), and a
//! hop header: `x-mammoth-hop: hex(HMAC(cluster key, "hop METHOD PATH?QUERY" "\n" body))`. A
//! request arriving with a valid hop header is never forwarded again (one hop at most); one
//! with a forged or stale hop header is refused (401) before it reaches a handler. The owner's
//! answer is streamed back as it comes, so `/v1/listen` (SSE) streams through the proxy.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use mammoth_actors::ErrorCode;
use mammoth_cluster::ClusterKey;

use crate::config::MAX_BODY_BYTES;
use crate::error::ApiError;

/// The hop header a forwarding node adds.
pub(crate) const HOP: HeaderName = HeaderName::from_static("x-mammoth-hop");

/// The HTTP client forwarded requests go out on (HTTP/1 keep-alive to each owner; no total
/// timeout, since a listen stream lasts as long as its client).
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("a plain HTTP client builds")
}

/// 503 `unavailable` with `Retry-After: 1`.
pub(crate) fn unavailable(message: impl Into<String>) -> Response {
    let mut error = ApiError::new(ErrorCode::Unavailable, message);
    error.retry_after = Some(1);
    error.into_response()
}

/// Headers that describe one connection, not the request: never forwarded either way.
fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::PROXY_AUTHORIZATION
        || name == header::PROXY_AUTHENTICATE
        || name == "keep-alive"
        || name == "proxy-connection"
        || name == HOP
}

/// Reads the whole body (at most [`MAX_BODY_BYTES`]): 413 over it, 400 if it breaks off.
async fn read_body(body: Body) -> Result<Bytes, Box<Response>> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            let response = if too_large {
                ApiError::new(ErrorCode::PayloadTooLarge, "the body is over 1 MiB")
            } else {
                ApiError::new(ErrorCode::BadRequest, "the request body broke off")
            };
            Box::new(response.into_response())
        })
}

fn path_and_query(request: &axum::http::request::Parts) -> String {
    request
        .uri
        .path_and_query()
        .map_or_else(|| request.uri.path().to_owned(), |p| p.as_str().to_owned())
}

/// Checks a forwarded request's hop header; answers the request (hop header removed) when it
/// is valid, a 401 when it is not.
pub(crate) async fn open_hop(key: &ClusterKey, request: Request) -> Result<Request, Box<Response>> {
    let (mut parts, body) = request.into_parts();
    let body = read_body(body).await?;
    let mac = parts.headers.remove(HOP);
    let valid = mac.as_ref().is_some_and(|mac| {
        key.verify_hop(
            parts.method.as_str(),
            &path_and_query(&parts),
            &body,
            mac.as_bytes(),
        )
    });
    if !valid {
        let error = ApiError::new(
            ErrorCode::Unauthorized,
            "x-mammoth-hop is set by nodes of this cluster only; send the request without it",
        );
        return Err(Box::new(error.into_response()));
    }
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// Sends `request` to the owner at `addr` and streams its answer back.
pub(crate) async fn proxy(
    client: &reqwest::Client,
    key: &ClusterKey,
    owner: u64,
    addr: &str,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let target = path_and_query(&parts);
    let mac = key.sign_hop(parts.method.as_str(), &target, &body);
    let mut headers = HeaderMap::with_capacity(parts.headers.len() + 1);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(
        HOP,
        HeaderValue::from_str(&mac).expect("hex is a header value"),
    );
    let sent = client
        .request(parts.method, format!("http://{addr}{target}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            tracing::debug!(owner, error = %e, "forwarding failed");
            return unavailable(format!(
                "the owner of this project (node {owner}) did not answer; retry shortly"
            ));
        }
    };
    let mut response = Response::builder().status(answer.status());
    if let Some(out) = response.headers_mut() {
        for (name, value) in answer.headers() {
            if !hop_by_hop(name) {
                out.append(name.clone(), value.clone());
            }
        }
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| unavailable("the owner's answer could not be relayed; retry"))
}
