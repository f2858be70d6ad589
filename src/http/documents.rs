//! Documents, collections and queries (CONTRACT sections 6 and 7).

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::{BufMut, Bytes, BytesMut};
use mammoth_actors::etag::{self, Precondition};
use mammoth_actors::ids::{valid_collection_name, valid_doc_id};
use mammoth_actors::project::WriteOp;
use mammoth_actors::query::{Aggregation, Page, Query};
use serde_json::{Map, Value, json};

use super::extract::{ApiKey, JsonBody, JsonObject, Path, kind_of};
use super::{ApiError, AppState};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/collections", get(list_collections))
        .route("/v1/collections/{name}/documents", post(create))
        .route(
            "/v1/collections/{name}/documents/{id}",
            get(read).put(replace).patch(merge).delete(remove),
        )
        .route("/v1/collections/{name}/query", post(query))
        .route("/v1/collections/{name}/aggregate", post(aggregate))
}

#[utoipa::path(
    get,
    path = "/v1/collections",
    operation_id = "list_collections",
    tag = "documents",
    summary = "The collections and their document counts",
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 200, description = "Sorted by name", body = super::openapi::CollectionList),
        super::openapi::ReadErrors,
    )
)]
async fn list_collections(key: ApiKey) -> Result<Response, ApiError> {
    let collections = key.project.collections(key.access).await?;
    let list: Vec<Value> = collections
        .into_iter()
        .map(|c| json!({"name": c.name, "count": c.count}))
        .collect();
    Ok(axum::Json(json!({ "collections": list })).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/collections/{name}/documents",
    operation_id = "create_document",
    tag = "documents",
    summary = "Create a document",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Collection name: 1-64 of `[A-Za-z0-9_-]`")),
    request_body = super::openapi::DocumentBody,
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 201, description = "Created", body = super::openapi::Document),
        super::openapi::WriteErrors,
    )
)]
async fn create(
    key: ApiKey,
    Path(name): Path<String>,
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    key.require_write()?;
    check_collection(&name)?;
    let id = optional_id(body.remove("id"))?;
    strip_server_fields(&mut body);
    write(
        key,
        name,
        WriteOp::Create { id, body },
        Precondition::none(),
    )
    .await
}

#[utoipa::path(
    get,
    path = "/v1/collections/{name}/documents/{id}",
    operation_id = "read_document",
    tag = "documents",
    summary = "Read a document",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Collection name: 1-64 of `[A-Za-z0-9_-]`"), ("id" = String, Path, pattern = "^[A-Za-z0-9_.-]{1,128}$", description = "Document id: 1-128 of `[A-Za-z0-9_.-]`")),
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 200, description = "The document", body = super::openapi::Document),
        super::openapi::ReadErrors,
    )
)]
async fn read(
    key: ApiKey,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_collection(&name)?;
    check_id(&id)?;
    let none_match = header_tags(&headers, header::IF_NONE_MATCH)?;
    let (bytes, seq) = key.project.get_tagged(key.access, name, id).await?;
    if none_match.is_some_and(|tags| etag::none_match_fails(&tags, seq)) {
        return Ok(tagged(StatusCode::NOT_MODIFIED.into_response(), seq));
    }
    Ok(tagged(json_bytes(StatusCode::OK, bytes), seq))
}

#[utoipa::path(
    put,
    path = "/v1/collections/{name}/documents/{id}",
    operation_id = "replace_document",
    tag = "documents",
    summary = "Replace (or create) a document",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Collection name: 1-64 of `[A-Za-z0-9_-]`"), ("id" = String, Path, pattern = "^[A-Za-z0-9_.-]{1,128}$", description = "Document id: 1-128 of `[A-Za-z0-9_.-]`")),
    request_body = super::openapi::DocumentBody,
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 200, description = "Replaced", body = super::openapi::Document),
        (status = 201, description = "Created", body = super::openapi::Document),
        super::openapi::WriteErrors,
    )
)]
async fn replace(
    key: ApiKey,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    key.require_write()?;
    check_collection(&name)?;
    check_id(&id)?;
    check_body_id(&mut body, &id)?;
    strip_server_fields(&mut body);
    let precondition = write_precondition(&headers, true)?;
    write(key, name, WriteOp::Replace { id, body }, precondition).await
}

#[utoipa::path(
    patch,
    path = "/v1/collections/{name}/documents/{id}",
    operation_id = "merge_document",
    tag = "documents",
    summary = "Merge a JSON Merge Patch (RFC 7396) into a document",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Collection name: 1-64 of `[A-Za-z0-9_-]`"), ("id" = String, Path, pattern = "^[A-Za-z0-9_.-]{1,128}$", description = "Document id: 1-128 of `[A-Za-z0-9_.-]`")),
    request_body = super::openapi::DocumentBody,
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 200, description = "Merged", body = super::openapi::Document),
        super::openapi::WriteErrors,
    )
)]
async fn merge(
    key: ApiKey,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
    JsonObject(mut patch): JsonObject,
) -> Result<Response, ApiError> {
    key.require_write()?;
    check_collection(&name)?;
    check_id(&id)?;
    check_body_id(&mut patch, &id)?;
    strip_server_fields(&mut patch);
    let precondition = write_precondition(&headers, false)?;
    write(key, name, WriteOp::Merge { id, patch }, precondition).await
}

#[utoipa::path(
    delete,
    path = "/v1/collections/{name}/documents/{id}",
    operation_id = "delete_document",
    tag = "documents",
    summary = "Delete a document",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Collection name: 1-64 of `[A-Za-z0-9_-]`"), ("id" = String, Path, pattern = "^[A-Za-z0-9_.-]{1,128}$", description = "Document id: 1-128 of `[A-Za-z0-9_.-]`")),
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 204, description = "Deleted"),
        super::openapi::WriteErrors,
    )
)]
async fn remove(
    key: ApiKey,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    key.require_write()?;
    check_collection(&name)?;
    check_id(&id)?;
    let precondition = write_precondition(&headers, false)?;
    write(key, name, WriteOp::Delete { id }, precondition).await
}

/// The entity tags of an `If-Match` / `If-None-Match` header (every line of it), quotes kept;
/// `["*"]` for `*`. `None` when the request has no such header.
fn header_tags(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> Result<Option<Vec<String>>, ApiError> {
    let mut tags: Option<Vec<String>> = None;
    for value in headers.get_all(&name) {
        let text = value.to_str().map_err(|_| {
            ApiError::bad_request(format!(
                "the {name} header must be ASCII: an ETag as the server sent it, quotes included, or *"
            ))
        })?;
        let list = tags.get_or_insert_with(Vec::new);
        list.extend(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(tags)
}

/// The precondition of a PUT, PATCH or DELETE: `If-Match` (a list of ETags, or `*`: it must
/// exist) and, on PUT only (`put`), `If-None-Match: *` (create only).
fn write_precondition(headers: &HeaderMap, put: bool) -> Result<Precondition, ApiError> {
    let mut precondition = Precondition::none();
    if let Some(tags) = header_tags(headers, header::IF_MATCH)? {
        if tags.iter().any(|t| t == "*") {
            precondition.exists = Some(true);
        } else {
            precondition.if_match = Some(tags);
        }
    }
    if let Some(tags) = header_tags(headers, header::IF_NONE_MATCH)? {
        if !put || tags != ["*"] {
            return Err(ApiError::bad_request(
                "If-None-Match on a write is supported only as `If-None-Match: *` on PUT (create only); use If-Match to update a known version",
            ));
        }
        if precondition.exists == Some(true) {
            return Err(ApiError::bad_request(
                "If-Match: * and If-None-Match: * together can never hold; send one of them",
            ));
        }
        precondition.exists = Some(false);
    }
    Ok(precondition)
}

/// Adds the `ETag` of a document last written by commit `seq`.
fn tagged(mut response: Response, seq: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag::format(seq)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

#[utoipa::path(
    post,
    path = "/v1/collections/{name}/query",
    operation_id = "query_documents",
    tag = "query",
    summary = "Query a collection",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Collection name: 1-64 of `[A-Za-z0-9_-]`")),
    request_body = super::openapi::QueryRequest,
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 200, description = "A page of results", body = super::openapi::QueryPage),
        super::openapi::ReadErrors,
    )
)]
async fn query(
    key: ApiKey,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    check_collection(&name)?;
    let query = key
        .parsed(Query::parse(&body).map_err(mammoth_actors::ProjectError::from))
        .await?;
    let page = key.project.query(key.access, name, query).await?;
    Ok(json_bytes(StatusCode::OK, page_body(page)))
}

#[utoipa::path(
    post,
    path = "/v1/collections/{name}/aggregate",
    operation_id = "aggregate_documents",
    tag = "query",
    summary = "Count, sum, average, min and max over a collection",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Collection name: 1-64 of `[A-Za-z0-9_-]`")),
    request_body = super::openapi::AggregateRequest,
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    responses(
        (status = 200, description = "The values by alias", body = super::openapi::AggregateResult),
        super::openapi::ReadErrors,
    )
)]
async fn aggregate(
    key: ApiKey,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    check_collection(&name)?;
    let aggregation = key
        .parsed(Aggregation::parse(&body).map_err(mammoth_actors::ProjectError::from))
        .await?;
    let values = key.project.aggregate(key.access, name, aggregation).await?;
    let body = json!({ "aggregates": values });
    Ok(json_bytes(StatusCode::OK, Bytes::from(body.to_string())))
}

/// Sends one write to the project and answers once it is durable, with the document's new
/// `ETag`.
async fn write(
    key: ApiKey,
    collection: String,
    op: WriteOp,
    precondition: Precondition,
) -> Result<Response, ApiError> {
    let written = key
        .project
        .write_if(key.access, collection, op, precondition)
        .await?;
    key.project.durable(written.ticket).await?;

    Ok(match written.doc {
        Some(bytes) if written.created => {
            tagged(json_bytes(StatusCode::CREATED, bytes), written.seq)
        }
        Some(bytes) => tagged(json_bytes(StatusCode::OK, bytes), written.seq),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// A response whose body is already-encoded JSON.
pub(super) fn json_bytes(status: StatusCode, bytes: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Stitches stored documents into the page JSON without re-encoding them.
fn page_body(page: Page) -> Bytes {
    let size: usize = page.docs.iter().map(|d| d.len() + 1).sum::<usize>() + 128;
    let mut out = BytesMut::with_capacity(size);
    out.put_slice(b"{\"documents\":[");
    for (i, doc) in page.docs.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(doc);
    }
    out.put_slice(b"],\"next_start_after\":");
    out.put_slice(json!(page.next_start_after).to_string().as_bytes());
    out.put_slice(b",\"next_cursor\":");
    out.put_slice(json!(page.next_cursor).to_string().as_bytes());
    out.put_u8(b'}');
    out.freeze()
}

pub(super) fn check_collection(name: &str) -> Result<(), ApiError> {
    if valid_collection_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid collection name '{name}': use 1-64 characters from [A-Za-z0-9_-]"
        )))
    }
}

pub(super) fn check_id(id: &str) -> Result<(), ApiError> {
    if valid_doc_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid document id '{id}': use 1-128 characters from [A-Za-z0-9_.-]"
        )))
    }
}

/// The `id` a create may name (none: the server picks one); anything but a valid id string → 400.
pub(super) fn optional_id(id: Option<Value>) -> Result<Option<String>, ApiError> {
    match id {
        None => Ok(None),
        Some(Value::String(id)) => checked_id(id).map(Some),
        Some(other) => Err(ApiError::bad_request(format!(
            "\"id\" must be a string of 1-128 characters from [A-Za-z0-9_.-], not {}",
            kind_of(&other)
        ))),
    }
}

pub(super) fn checked_id(id: String) -> Result<String, ApiError> {
    check_id(&id)?;
    Ok(id)
}

/// A body `id` must match the path; it is then dropped (the server sets it).
pub(super) fn check_body_id(body: &mut Map<String, Value>, path_id: &str) -> Result<(), ApiError> {
    match body.remove("id") {
        None => Ok(()),
        Some(Value::String(id)) if id == path_id => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "the body's \"id\" ({other}) differs from the id in the path ('{path_id}'); remove it or make them equal"
        ))),
    }
}

/// `created_at` and `updated_at` are managed by the server; values sent by clients are ignored.
pub(super) fn strip_server_fields(body: &mut Map<String, Value>) {
    body.remove("created_at");
    body.remove("updated_at");
}
