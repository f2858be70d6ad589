//! `POST /v1/batch` (CONTRACT section 12): up to 500 writes applied as one commit, all or
//! nothing. This handler only parses and validates the ops as the single calls' handlers do;
//! the project actor checks credentials, scopes, preconditions and the quota op by op and
//! applies them ([`mammoth_actors::project::ProjectHandle::batch`]).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use bytes::{BufMut, Bytes, BytesMut};
use mammoth_actors::etag::{self, Precondition};
use mammoth_actors::project::{BatchOp, MAX_BATCH_OPS, WriteOp};
use serde_json::{Map, Value};

use super::documents::{
    check_body_id, check_collection, checked_id, json_bytes, optional_id, strip_server_fields,
};
use super::extract::{ApiKey, MAX_DEPTH, depth_of_map, kind_of};
use super::{ApiError, AppState};

/// Largest batch body (CONTRACT section 12: 413 above it).
pub(super) const MAX_BATCH_BYTES: usize = 10 << 20;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/batch",
        post(batch).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)),
    )
}

#[utoipa::path(
    post,
    path = "/v1/batch",
    operation_id = "batch",
    tag = "documents",
    summary = "Apply 1-500 writes atomically (CONTRACT section 12)",
    security(("api_key" = []), ("api_key" = [], "scoped_token" = []), ("api_key" = [], "session" = [])),
    request_body = super::openapi::BatchRequest,
    responses(
        (status = 200, description = "Every op applied in one commit", body = super::openapi::BatchResult),
        (status = 412, description = "`precondition_failed`: an op's `if_match` / `exists` does not hold; nothing applied, `op` names it", body = super::openapi::ErrorBody),
        super::openapi::WriteErrors,
    )
)]
async fn batch(key: ApiKey, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    key.require_write()?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large_over(MAX_BATCH_BYTES)
        } else {
            ApiError::bad_request(format!("the request body could not be read: {rejection}"))
        }
    });
    let ops = match body.and_then(|bytes| parse(&bytes)) {
        Ok(ops) => ops,
        Err(error) => {
            // A credential error answers first: a bad body never hides a 401 or 403.
            key.project.authorize_data(key.access.clone(), true).await?;
            return Err(error);
        }
    };
    let applied = key
        .project
        .batch(key.access, ops, MAX_BATCH_OPS)
        .await
        .map_err(|e| ApiError::from(e.error).at_op(e.op))?;
    key.project.durable(applied.ticket).await?;

    // Every document of the batch has the batch's ETag: encoded once, not once per op.
    let tag = Value::String(etag::format(applied.seq)).to_string();
    let size: usize = applied
        .results
        .iter()
        .map(|r| r.doc.as_ref().map_or(16, |d| d.len() + 64))
        .sum::<usize>()
        + 64;
    let mut out = BytesMut::with_capacity(size);
    out.put_slice(b"{\"results\":[");
    for (i, result) in applied.results.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        match &result.doc {
            Some(doc) => {
                out.put_slice(if result.created {
                    b"{\"status\":201,\"document\":"
                } else {
                    b"{\"status\":200,\"document\":"
                });
                out.put_slice(doc);
                out.put_slice(b",\"etag\":");
                out.put_slice(tag.as_bytes());
                out.put_u8(b'}');
            }
            None => out.put_slice(b"{\"status\":204}"),
        }
    }
    out.put_slice(format!("],\"seq\":{}}}", applied.seq).as_bytes());
    Ok(json_bytes(StatusCode::OK, out.freeze()))
}

/// The ops of a batch body, each validated as its single call would be; an invalid op is named
/// by its index.
fn parse(bytes: &[u8]) -> Result<Vec<BatchOp>, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; send {\"ops\": [...]}",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not valid JSON ({e}); send {{\"ops\": [...]}}"
        ))
    })?;
    let Value::Object(mut top) = value else {
        return Err(ApiError::bad_request(format!(
            "the request body must be a JSON object {{\"ops\": [...]}}, not {}",
            kind_of(&value)
        )));
    };
    let ops = match top.remove("ops") {
        Some(Value::Array(ops)) => ops,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"ops\" must be an array of ops, not {}",
                kind_of(&other)
            )));
        }
        None => {
            return Err(ApiError::bad_request(
                "the body needs \"ops\": an array of 1-500 ops",
            ));
        }
    };
    if let Some(field) = top.keys().next() {
        return Err(ApiError::bad_request(format!(
            "unknown field \"{field}\" in the batch body; it holds only \"ops\""
        )));
    }
    if ops.is_empty() || ops.len() > MAX_BATCH_OPS {
        return Err(ApiError::bad_request(format!(
            "a batch holds 1 to {MAX_BATCH_OPS} ops, found {}",
            ops.len()
        )));
    }
    ops.into_iter()
        .enumerate()
        .map(|(i, op)| parse_op(op).map_err(|e| e.at_op(Some(i))))
        .collect()
}

fn parse_op(op: Value) -> Result<BatchOp, ApiError> {
    let Value::Object(mut op) = op else {
        return Err(ApiError::bad_request(format!(
            "each op must be an object {{\"op\", \"collection\", ...}}, not {}",
            kind_of(&op)
        )));
    };
    let kind = match op.remove("op") {
        Some(Value::String(kind)) => kind,
        _ => {
            return Err(ApiError::bad_request(
                "each op needs \"op\": \"create\", \"replace\", \"merge\" or \"delete\"",
            ));
        }
    };
    let collection = match op.remove("collection") {
        Some(Value::String(name)) => name,
        _ => {
            return Err(ApiError::bad_request(
                "each op needs \"collection\": a collection name",
            ));
        }
    };
    check_collection(&collection)?;
    let id = optional_id(op.remove("id"))?;
    let body = match op.remove("body") {
        None => None,
        Some(Value::Object(body)) => {
            let depth = depth_of_map(&body);
            if depth > MAX_DEPTH {
                return Err(ApiError::bad_request(format!(
                    "the document is nested {depth} levels deep; the limit is {MAX_DEPTH}"
                )));
            }
            Some(body)
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"body\" must be a JSON object, not {}",
                kind_of(&other)
            )));
        }
    };
    let mut precondition = Precondition::none();
    match op.remove("if_match") {
        None => {}
        Some(Value::String(tag)) => precondition.if_match = Some(vec![tag]),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"if_match\" must be an ETag string as the ETag header carries it, quotes included, not {}",
                kind_of(&other)
            )));
        }
    }
    match op.remove("exists") {
        None => {}
        Some(Value::Bool(exists)) => precondition.exists = Some(exists),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"exists\" must be true or false, not {}",
                kind_of(&other)
            )));
        }
    }
    if let Some(field) = op.keys().next() {
        return Err(ApiError::bad_request(format!(
            "unknown field \"{field}\" in an op; an op has op, collection, id, body, if_match, exists"
        )));
    }
    let op = match kind.as_str() {
        "create" => {
            let mut body = need_body(body, "create")?;
            let id = match (id, body.remove("id")) {
                (id, None) => id,
                (None, Some(Value::String(id))) => Some(checked_id(id)?),
                (Some(id), Some(Value::String(body_id))) if body_id == id => Some(id),
                (_, Some(other)) => {
                    return Err(ApiError::bad_request(format!(
                        "the body's \"id\" ({other}) differs from the op's \"id\"; remove one or make them equal"
                    )));
                }
            };
            strip_server_fields(&mut body);
            WriteOp::Create { id, body }
        }
        "replace" => {
            let id = need_id(id, "replace")?;
            let mut body = need_body(body, "replace")?;
            check_body_id(&mut body, &id)?;
            strip_server_fields(&mut body);
            WriteOp::Replace { id, body }
        }
        "merge" => {
            let id = need_id(id, "merge")?;
            let mut patch = need_body(body, "merge")?;
            check_body_id(&mut patch, &id)?;
            strip_server_fields(&mut patch);
            WriteOp::Merge { id, patch }
        }
        "delete" => {
            let id = need_id(id, "delete")?;
            if body.is_some() {
                return Err(ApiError::bad_request(
                    "a delete op takes no \"body\"; remove it",
                ));
            }
            WriteOp::Delete { id }
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown op \"{other}\"; use create, replace, merge or delete"
            )));
        }
    };
    Ok(BatchOp {
        collection,
        op,
        precondition,
    })
}

fn need_id(id: Option<String>, kind: &str) -> Result<String, ApiError> {
    id.ok_or_else(|| ApiError::bad_request(format!("a {kind} op needs \"id\"")))
}

fn need_body(body: Option<Map<String, Value>>, kind: &str) -> Result<Map<String, Value>, ApiError> {
    body.ok_or_else(|| ApiError::bad_request(format!("a {kind} op needs \"body\": a JSON object")))
}
