//! Document editing of the collections browser (issue 21, part 1); the live stream is
//! [`live`].
//!
//! Creates, saves and deletes are `POST` forms that must come from the public URL's origin and
//! carry the session's CSRF token ([`super::guard`]); they call the same
//! [`ProjectHandle::write_if`] the documents API uses, as [`Access::operator_write`], and answer
//! once the write is durable ([`commit`], the one write path of the console). A save sends the
//! ETag the edit page was rendered with as its `If-Match`, so an edit of a document someone else
//! changed in between is refused (412) and shown as such, the operator's text kept. Every
//! refusal takes its status from the API's one table ([`ApiError`]): a project that is
//! restarting, or a disk that did not confirm in time, is 503, never 500.

mod live;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use mammoth_actors::etag::Precondition;
use mammoth_actors::ids::{valid_collection_name, valid_doc_id};
use mammoth_actors::project::{Access, ProjectHandle, WriteOp};
use mammoth_actors::{ErrorCode, ProjectError};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::browse::{self, Draft};
use super::{Signed, guard, internal, project};
use crate::http::{ApiError, AppState};

pub(crate) use live::live;

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
        let params = browse::Params::for_collection(&collection);
        let (state, id) = (state.clone(), id.clone());
        async move { browse::render(&state, &signed, &id, params, Some(draft), status).await }
    };
    if !valid_collection_name(&collection) {
        let message = format!(
            "'{collection}' is not a collection name: use 1-64 characters from [A-Za-z0-9_-]"
        );
        return refuse(StatusCode::BAD_REQUEST, message).await;
    }
    let mut body = match parse_document(&form.json) {
        Ok(body) => body,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message).await,
    };
    let doc_id = match body.remove("id") {
        None => None,
        Some(Value::String(doc_id)) if valid_doc_id(&doc_id) => Some(doc_id),
        Some(other) => {
            let message = format!(
                "\"id\" must be a string of 1-128 characters from [A-Za-z0-9_.-], not {other}; or leave it out and the server picks one"
            );
            return refuse(StatusCode::BAD_REQUEST, message).await;
        }
    };
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let op = WriteOp::Create { id: doc_id, body };
    match commit(&handle, &collection, op, Precondition::none()).await {
        Ok(doc) => {
            let new_id = doc
                .as_deref()
                .and_then(|d| serde_json::from_slice::<Value>(d).ok())
                .and_then(|d| d["id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let to = format!(
                "/dashboard/projects/{id}/data?collection={}&created={}",
                encode(&collection),
                encode(&new_id)
            );
            Redirect::to(&to).into_response()
        }
        Err(e) if e.code == ErrorCode::Internal => internal(e),
        Err(e) => refuse(status_of(e.code), e.message).await,
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
        let (state, id) = (state.clone(), id.clone());
        async move { browse::render(&state, &signed, &id, params, Some(draft), status).await }
    };
    if let Err(message) = check_target(&form.collection, &form.doc) {
        return refuse(StatusCode::BAD_REQUEST, message).await;
    }
    if form.etag.trim().is_empty() {
        let message = "the form has no ETag of the version being edited; reload the document";
        return refuse(StatusCode::BAD_REQUEST, message.into()).await;
    }
    let mut body = match parse_document(&form.json) {
        Ok(body) => body,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message).await,
    };
    match body.remove("id") {
        None => {}
        Some(Value::String(same)) if same == form.doc => {}
        Some(other) => {
            let message = format!(
                "\"id\" is {other} but this is document '{}'; an id cannot be changed (create a new document instead)",
                form.doc
            );
            return refuse(StatusCode::BAD_REQUEST, message).await;
        }
    }
    body.remove("created_at");
    body.remove("updated_at");
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    let op = WriteOp::Replace {
        id: form.doc.clone(),
        body,
    };
    match commit(&handle, &form.collection, op, if_match(&form.etag)).await {
        Ok(_) => {
            let to = format!(
                "/dashboard/projects/{id}/data?collection={}&doc={}&saved=1",
                encode(&form.collection),
                encode(&form.doc)
            );
            Redirect::to(&to).into_response()
        }
        Err(e) if e.code == ErrorCode::PreconditionFailed => {
            refuse(StatusCode::PRECONDITION_FAILED, stale_message()).await
        }
        Err(e) if e.code == ErrorCode::Internal => internal(e),
        Err(e) => refuse(status_of(e.code), e.message).await,
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
    let op = WriteOp::Delete {
        id: form.doc.clone(),
    };
    match commit(&handle, &form.collection, op, if_match(&form.etag)).await {
        Ok(_) => {
            let to = format!(
                "/dashboard/projects/{id}/data?collection={}&deleted={}",
                encode(&form.collection),
                encode(&form.doc)
            );
            Redirect::to(&to).into_response()
        }
        Err(e) if e.code == ErrorCode::PreconditionFailed => super::failure(
            StatusCode::PRECONDITION_FAILED,
            "Not deleted: someone changed this document after you opened it. Open it again to see the current version.",
        ),
        Err(e) => refused(e),
    }
}

/// Writes `op` as the operator and waits until it is durable: the console's one write path.
/// Answers the stored document (none for a delete).
pub(crate) async fn commit(
    handle: &ProjectHandle,
    collection: &str,
    op: WriteOp,
    precondition: Precondition,
) -> Result<Option<Bytes>, ProjectError> {
    let written = handle
        .write_if(
            Access::operator_write(),
            collection.to_owned(),
            op,
            precondition,
        )
        .await?;
    handle.durable(written.ticket).await?;
    Ok(written.doc)
}

/// The form's ETag as an `If-Match` precondition; none when the form carries none.
fn if_match(etag: &str) -> Precondition {
    Precondition {
        if_match: (!etag.trim().is_empty()).then(|| vec![etag.trim().to_owned()]),
        exists: None,
    }
}

/// The status of a refusal: the API's one table ([`ApiError`]), so the console and the API
/// always agree (409 conflict, 412 stale, 503 restarting, ...).
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    ApiError::new(code, String::new()).status_and_code().0
}

/// A project call's refusal as the dashboard's HTML error page, with the status of
/// [`status_of`] (and `Retry-After` on 503); internal errors keep their details in the log.
pub(crate) fn refused(e: ProjectError) -> Response {
    if e.code == ErrorCode::Internal {
        return internal(e);
    }
    let status = status_of(e.code);
    let mut response = super::failure(status, &e.message);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let retry = HeaderValue::from_static("1");
        response.headers_mut().insert(header::RETRY_AFTER, retry);
    }
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

pub(crate) fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_take_the_api_status_table() {
        assert_eq!(
            status_of(ErrorCode::PreconditionFailed),
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(status_of(ErrorCode::Conflict), StatusCode::CONFLICT);
        // A restarting project, or a disk that did not confirm in time: 503, never 500.
        let restarting = refused(ProjectError::unavailable("the project is restarting"));
        assert_eq!(restarting.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(restarting.headers()[header::RETRY_AFTER], "1");
        let missing = refused(ProjectError::not_found("no user 'x'"));
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let bug = refused(ProjectError::internal("a bug"));
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
