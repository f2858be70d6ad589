//! Realtime query subscriptions over Server-Sent Events (CONTRACT section 11).
//!
//! The handler validates the request, opens the stream with one call on the project (which
//! checks the credential exactly as a query does), and writes the listener's chunks as the
//! response body: the hub already encoded them as SSE text (`: ping` lines included), shared by
//! every stream with the same subscription, so this layer copies nothing per event.
//! A scoped token's expiry is watched here, since the actor does not see token claims.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use futures_util::stream::{self, Stream};
use mammoth_actors::ProjectError;
use mammoth_actors::env::Env;
use mammoth_actors::ids::valid_collection_name;
use mammoth_actors::project::Principal;
use mammoth_actors::query::Query;
use mammoth_actors::realtime::{ListenQuery, Listener, MAX_QUERIES, error_chunk};
use serde_json::Value;

use super::extract::{ApiKey, JsonBody, bearer};
use super::{ApiError, AppState};

/// How often a stream checks its token's expiry.
const EXPIRY_CHECK: Duration = Duration::from_millis(250);

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/listen", post(listen))
}

#[utoipa::path(
    post,
    path = "/v1/listen",
    tag = "realtime",
    summary = "Listen to queries: a Server-Sent Events stream of snapshot, changes, reset and error events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (a seq)")),
    request_body = super::openapi::ListenRequest,
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 200, description = "An SSE stream", content_type = "text/event-stream", body = String),
        super::openapi::ReadErrors,
    )
)]
async fn listen(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    key: ApiKey,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let queries = key.parsed(parse_queries(&body)).await?;
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID must be the id of an event of an earlier stream (an integer)",
                    )
                })?,
        ),
    };
    // A scoped token's expiry, in seconds (the extractor already refused an expired one).
    let expires = match (&key.access.principal, bearer_of(&headers)) {
        (Principal::Token { .. }, Some(token)) => state.signer.verify_token(&token).map(|c| c.exp),
        _ => None,
    };
    let listener = key
        .project
        .listen(key.access, queries, last_event_id)
        .await?;
    let chunks = chunks(listener, expires, state.config.env.clone());
    let mut response = Response::new(Body::from_stream(chunks));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn bearer_of(headers: &HeaderMap) -> Option<String> {
    let mut parts = axum::http::Request::new(()).into_parts().0;
    parts.headers = headers.clone();
    bearer(&parts).ok().flatten().map(str::to_owned)
}

/// The listener's SSE text, ending after an `error` event (or when the token expires).
fn chunks(
    listener: Listener,
    expires: Option<u64>,
    env: Env,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    stream::unfold(Some(listener), move |state| {
        let env = env.clone();
        async move {
            let mut listener = state?;
            let expired = || expires.is_some_and(|exp| env.now_millis() / 1000 >= exp);
            loop {
                if expired() {
                    let err = ProjectError::unauthorized(
                        "the token has expired; mint a new one with POST /v1/tokens",
                    );
                    return Some((Ok(error_chunk(&err)), None));
                }
                let next = if expires.is_some() {
                    tokio::select! {
                        next = listener.next_chunk() => next,
                        () = tokio::time::sleep(EXPIRY_CHECK) => continue,
                    }
                } else {
                    listener.next_chunk().await
                };
                let chunk = next?;
                let last = listener.is_done();
                return Some((Ok(chunk), (!last).then_some(listener)));
            }
        }
    })
}

const QUERY_KEYS: &str = "collection, filter, sort, limit";

fn parse_queries(body: &Value) -> Result<Vec<ListenQuery>, ApiError> {
    const SHAPE: &str = r#"the body must be {"queries": {"NAME": {"collection": "...", "filter": ..., "sort": ..., "limit": ...}}}"#;
    let Some(Value::Object(queries)) = body.as_object().and_then(|b| {
        if b.keys().any(|k| k != "queries") {
            None
        } else {
            b.get("queries")
        }
    }) else {
        return Err(ApiError::bad_request(SHAPE));
    };
    if queries.is_empty() || queries.len() > MAX_QUERIES {
        return Err(ApiError::bad_request(format!(
            "listen to 1 to {MAX_QUERIES} queries at once, found {}",
            queries.len()
        )));
    }
    let mut out = Vec::with_capacity(queries.len());
    for (name, spec) in queries {
        if !valid_name(name) {
            return Err(ApiError::bad_request(format!(
                "invalid query name '{name}': use 1-64 characters from [A-Za-z0-9_-]"
            )));
        }
        let Value::Object(spec) = spec else {
            return Err(ApiError::bad_request(format!(
                "query '{name}' must be an object with any of: {QUERY_KEYS}"
            )));
        };
        if let Some(k) = spec
            .keys()
            .find(|k| !QUERY_KEYS.split(", ").any(|a| a == k.as_str()))
        {
            return Err(ApiError::bad_request(format!(
                "unknown key '{k}' in query '{name}'; allowed keys: {QUERY_KEYS} (a subscription has no paging)"
            )));
        }
        let collection = match spec.get("collection") {
            Some(Value::String(c)) if valid_collection_name(c) => c.clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "query '{name}' needs \"collection\": a name of 1-64 characters from [A-Za-z0-9_-]"
                )));
            }
        };
        let mut rest = spec.clone();
        rest.remove("collection");
        let query = Query::parse(&Value::Object(rest)).map_err(ProjectError::from)?;
        out.push(ListenQuery {
            name: name.clone(),
            collection,
            query,
        });
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
