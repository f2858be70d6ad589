//! Document editing and the live stream of the collections browser (issue 21, part 1).
//!
//! Creates, saves and deletes are `POST` forms that must come from the public URL's origin and
//! carry the session's CSRF token ([`super::guard`]); they call the same
//! [`ProjectHandle::write_if`](mammoth_actors::project::ProjectHandle::write_if) the documents API
//! uses, as [`Access::operator_write`], and answer once the write is durable. A save sends the
//! ETag the edit page was rendered with as its `If-Match`, so an edit of a document someone else
//! changed in between is refused (412) and shown as such, the operator's text kept.
//!
//! The live stream is `GET /dashboard/projects/{id}/data/live`, Server-Sent Events opened by the
//! page's `EventSource` with the session cookie (same origin, `SameSite=Strict`): it listens to
//! the page's query as [`Access::operator_read`], so it can never write and sees the whole
//! project, like the page itself.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Form, Path, Query as UrlQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::stream::{self, Stream};
use mammoth_actors::ErrorCode;
use mammoth_actors::etag::Precondition;
use mammoth_actors::ids::{valid_collection_name, valid_doc_id};
use mammoth_actors::project::{Access, WriteOp};
use mammoth_actors::realtime::ListenQuery;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::browse::{self, Draft};
use super::{Signed, guard, internal, project};
use crate::http::AppState;

/// How deep a document may nest (CONTRACT section 6).
const MAX_DEPTH: usize = 32;

/// How large a document may be (CONTRACT section 6).
const MAX_BYTES: usize = 1024 * 1024;

#[derive(Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    collection: String,
    #[serde(default)]
    json: String,
}

/// `POST /dashboard/projects/{id}/data/documents`: creates a document from the JSON editor.
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let collection = form.collection.trim().to_owned();
    let refuse = |status: StatusCode, message: String| {
        let draft = Draft {
            text: form.json.clone(),
            error: message,
            etag: None,
        };
        let collection = collection.clone();
        let state = state.clone();
        let id = id.clone();
        async move {
            let params = browse::Params::for_collection(&collection);
            browse::render(&state, &signed, &id, params, Some(draft), status).await
        }
    };
    if !valid_collection_name(&collection) {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "'{collection}' is not a collection name: use 1-64 characters from [A-Za-z0-9_-]"
            ),
        )
        .await;
    }
    let mut body = match parse_document(&form.json) {
        Ok(body) => body,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message).await,
    };
    let doc_id = match body.remove("id") {
        None => None,
        Some(Value::String(doc_id)) if valid_doc_id(&doc_id) => Some(doc_id),
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "\"id\" must be a string of 1-128 characters from [A-Za-z0-9_.-], not {other}; or leave it out and the server picks one"
                ),
            )
            .await;
        }
    };
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let op = WriteOp::Create { id: doc_id, body };
    match handle
        .write_if(
            Access::operator_write(),
            collection.clone(),
            op,
            Precondition::none(),
        )
        .await
    {
        Ok(written) => {
            if let Err(e) = handle.durable(written.ticket).await {
                return internal(e);
            }
            let new_id = written
                .doc
                .as_deref()
                .and_then(|d| serde_json::from_slice::<Value>(d).ok())
                .and_then(|d| d["id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            Redirect::to(&format!(
                "/dashboard/projects/{id}/data?collection={}&created={}",
                encode(&collection),
                encode(&new_id)
            ))
            .into_response()
        }
        Err(e) => match status_of(e.code) {
            Some(status) => refuse(status, e.message).await,
            None => internal(e),
        },
    }
}

#[derive(Deserialize)]
pub(crate) struct SaveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    collection: String,
    #[serde(default)]
    doc: String,
    /// The ETag the edit page showed: sent as the write's `If-Match`.
    #[serde(default)]
    etag: String,
    #[serde(default)]
    json: String,
}

/// `POST /dashboard/projects/{id}/data/documents/save`: replaces a document with the editor's
/// JSON if it is still the version the editor opened (`If-Match`).
pub(crate) async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<SaveForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    let refuse = |status: StatusCode, message: String| {
        let draft = Draft {
            text: form.json.clone(),
            error: message,
            etag: Some(form.etag.clone()),
        };
        let params = browse::Params::for_document(&form.collection, &form.doc);
        let state = state.clone();
        let id = id.clone();
        async move { browse::render(&state, &signed, &id, params, Some(draft), status).await }
    };
    if let Err(message) = check_target(&form.collection, &form.doc) {
        return refuse(StatusCode::BAD_REQUEST, message).await;
    }
    if form.etag.trim().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the form has no ETag of the version being edited; reload the document".into(),
        )
        .await;
    }
    let mut body = match parse_document(&form.json) {
        Ok(body) => body,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message).await,
    };
    match body.remove("id") {
        None => {}
        Some(Value::String(same)) if same == form.doc => {}
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "\"id\" is {other} but this is document '{}'; an id cannot be changed (create a new document instead)",
                    form.doc
                ),
            )
            .await;
        }
    }
    body.remove("created_at");
    body.remove("updated_at");
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let precondition = Precondition {
        if_match: Some(vec![form.etag.trim().to_owned()]),
        exists: None,
    };
    let op = WriteOp::Replace {
        id: form.doc.clone(),
        body,
    };
    match handle
        .write_if(
            Access::operator_write(),
            form.collection.clone(),
            op,
            precondition,
        )
        .await
    {
        Ok(written) => {
            if let Err(e) = handle.durable(written.ticket).await {
                return internal(e);
            }
            Redirect::to(&format!(
                "/dashboard/projects/{id}/data?collection={}&doc={}&saved=1",
                encode(&form.collection),
                encode(&form.doc)
            ))
            .into_response()
        }
        Err(e) if e.code == ErrorCode::PreconditionFailed => {
            refuse(StatusCode::PRECONDITION_FAILED, stale_message()).await
        }
        Err(e) => match status_of(e.code) {
            Some(status) => refuse(status, e.message).await,
            None => internal(e),
        },
    }
}

/// What an operator reads when their edit was refused for a stale ETag.
pub(crate) fn stale_message() -> String {
    "Not saved: someone changed this document after you opened it, so saving would overwrite their change. Your text is kept in the editor; open the current version, then apply your change again.".into()
}

#[derive(Deserialize)]
pub(crate) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    collection: String,
    #[serde(default)]
    doc: String,
    /// When present (the edit page), the delete only happens if the document is unchanged.
    #[serde(default)]
    etag: String,
}

/// `POST /dashboard/projects/{id}/data/documents/delete`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    if let Err(r) = guard(&headers, &state, &signed, &form.csrf) {
        return r.into_response();
    }
    if let Err(message) = check_target(&form.collection, &form.doc) {
        return super::failure(StatusCode::BAD_REQUEST, &message);
    }
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let precondition = Precondition {
        if_match: (!form.etag.trim().is_empty()).then(|| vec![form.etag.trim().to_owned()]),
        exists: None,
    };
    let op = WriteOp::Delete {
        id: form.doc.clone(),
    };
    match handle
        .write_if(
            Access::operator_write(),
            form.collection.clone(),
            op,
            precondition,
        )
        .await
    {
        Ok(written) => {
            if let Err(e) = handle.durable(written.ticket).await {
                return internal(e);
            }
            Redirect::to(&format!(
                "/dashboard/projects/{id}/data?collection={}&deleted={}",
                encode(&form.collection),
                encode(&form.doc)
            ))
            .into_response()
        }
        Err(e) if e.code == ErrorCode::PreconditionFailed => super::failure(
            StatusCode::PRECONDITION_FAILED,
            "Not deleted: someone changed this document after you opened it. Open it again to see the current version.",
        ),
        Err(e) => match status_of(e.code) {
            Some(status) => super::failure(status, &e.message),
            None => internal(e),
        },
    }
}

#[derive(Deserialize)]
pub(crate) struct LiveParams {
    #[serde(default)]
    collection: String,
    #[serde(default)]
    query: Option<String>,
}

/// `GET /dashboard/projects/{id}/data/live?collection=C&query=Q`: the page's query as a realtime
/// stream (CONTRACT section 11's events, under the query name `page`).
pub(crate) async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    _signed: Signed,
    Path(id): Path<String>,
    UrlQuery(params): UrlQuery<LiveParams>,
) -> Response {
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    if !valid_collection_name(&params.collection) {
        return super::failure(StatusCode::BAD_REQUEST, "not a collection name");
    }
    let query = match browse::listen_query(params.query.as_deref().unwrap_or("{}")) {
        Ok(q) => q,
        Err(message) => return super::failure(StatusCode::BAD_REQUEST, &message),
    };
    // EventSource resends the last id it saw when it reconnects: resume from there.
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let queries = vec![ListenQuery {
        name: "page".into(),
        collection: params.collection,
        query,
    }];
    let listener = match handle
        .listen(Access::operator_read(), queries, last_event_id)
        .await
    {
        Ok(l) => l,
        Err(e) => match status_of(e.code) {
            Some(status) => return super::failure(status, &e.message),
            None => return internal(e),
        },
    };
    let events = stream::unfold(Some(listener), |listener| async move {
        let mut listener = listener?;
        let event = listener.next().await?;
        let last = event.event == "error";
        let mut out = Event::default().event(event.event).data(event.data);
        if let Some(seq) = event.id {
            out = out.id(seq.to_string());
        }
        Some((Ok::<_, Infallible>(out), (!last).then_some(listener)))
    });
    sse(events)
}

fn sse(events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    let mut response = Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("ping"),
        )
        .into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The editor's text as a document body, or what is wrong with it, in words for the page.
fn parse_document(text: &str) -> Result<Map<String, Value>, String> {
    if text.len() > MAX_BYTES {
        return Err(format!(
            "the document is {} bytes; the limit is 1 MiB",
            text.len()
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(body) = value else {
        return Err("a document is a JSON object: { \"field\": value, ... }".into());
    };
    let depth = depth(&Value::Object(body.clone()));
    if depth > MAX_DEPTH {
        return Err(format!(
            "the document is nested {depth} levels deep; the limit is {MAX_DEPTH}"
        ));
    }
    Ok(body)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_target(collection: &str, doc: &str) -> Result<(), String> {
    if !valid_collection_name(collection) {
        return Err(format!("'{collection}' is not a collection name"));
    }
    if !valid_doc_id(doc) {
        return Err(format!("'{doc}' is not a document id"));
    }
    Ok(())
}

/// The status a refused write answers with on the page; `None`: a server failure.
fn status_of(code: ErrorCode) -> Option<StatusCode> {
    Some(match code {
        ErrorCode::BadRequest | ErrorCode::InvalidQuery | ErrorCode::InvalidCursor => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::OriginRefused => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => return None,
    })
}

pub(crate) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
