//! Data in and out (CONTRACT section 15): online backups, a project's NDJSON export and import.
//!
//! - `POST /admin/v1/backups` copies the committed state into `<data dir>-backups/<stamp>/
//!   mammoth.redb` on a blocking thread (one redb read transaction; the writer keeps going), so
//!   `mammoth serve --data <that dir>` restores it. `GET /admin/v1/backups` lists them.
//! - `GET /admin/v1/projects/{id}/export` streams one line per document from one read
//!   transaction, through a small bounded channel: memory stays bounded whatever the size.
//! - `POST /admin/v1/projects/{id}/import` reads the body as a stream of lines, hands chunks of
//!   [`CHUNK_DOCS`] documents to the project actor (one commit each), and keeps at most one
//!   chunk's commit in flight while the next is parsed.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use mammoth_actors::ProjectError;
use mammoth_actors::project::{ImportDoc, ProjectHandle};
use mammoth_storage::Ticket;
use serde_json::{Value, json};

use super::admin::Operator;
use super::extract::{Path, depth_of_map, kind_of};
use super::{ApiError, AppState};

/// Documents per import commit.
const CHUNK_DOCS: usize = 5_000;
/// Bytes of input lines per import commit, whatever their number.
const CHUNK_BYTES: usize = 8 << 20;
/// The longest import line: a 1 MiB document plus its envelope and escaping. A longer line is
/// reported and skipped without being held in memory.
const MAX_LINE_BYTES: usize = 2 << 20;
/// Import errors reported in the answer; the count of all of them is in `error_count`.
pub const MAX_REPORTED_ERRORS: usize = 1_000;
/// Export lines per chunk sent to the response, and chunks buffered between the reading thread
/// and the socket: the export holds about `EXPORT_CHUNK_BYTES * EXPORT_CHUNKS` in memory.
const EXPORT_CHUNK_BYTES: usize = 256 << 10;
const EXPORT_CHUNKS: usize = 4;
/// The header carrying the export's `seq`.
pub const SEQ_HEADER: &str = "x-mammoth-seq";

pub(super) mod backup;

pub(crate) use backup::{backups, take_backup};
pub use backup::{backups_dir, list};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/backups",
            post(backup::create_backup).get(backup::list_backups),
        )
        .route("/admin/v1/projects/{id}/export", get(export))
        .route(
            "/admin/v1/projects/{id}/import",
            // The body is streamed line by line, so the 1 MiB body limit does not apply.
            post(import).layer(DefaultBodyLimit::disable()),
        )
}

fn project(state: &AppState, id: &str) -> Result<ProjectHandle, ApiError> {
    state
        .registry
        .project(id)
        .ok_or_else(|| ApiError::not_found(format!("no project '{id}'")))
}

/// Every document of the project at one `seq`, as NDJSON. In-memory servers export too: their
/// state lives in an in-memory redb that the writer commits to, read the same way.
#[utoipa::path(
    get,
    path = "/admin/v1/projects/{id}/export",
    operation_id = "export_project",
    tag = "admin",
    summary = "Export a project as NDJSON",
    params(("id" = String, Path, description = "Project id")),
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "One line per document", content_type = "application/x-ndjson", body = String),
        super::openapi::AdminErrors,
    )
)]
async fn export(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    project(&state, &id)?;
    let storage = state.storage.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(EXPORT_CHUNKS);
    let (seq_tx, seq_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let rows = match storage.export(&id) {
            Ok(rows) => {
                let _ = seq_tx.send(Ok(rows.seq()));
                rows
            }
            Err(e) => {
                let _ = seq_tx.send(Err(e));
                return;
            }
        };
        let mut chunk = Vec::with_capacity(EXPORT_CHUNK_BYTES + 4096);
        for row in rows {
            match row {
                Ok((collection, doc)) => {
                    // Collection names are [A-Za-z0-9_-]: nothing to escape.
                    chunk.extend_from_slice(b"{\"collection\":\"");
                    chunk.extend_from_slice(collection.as_bytes());
                    chunk.extend_from_slice(b"\",\"document\":");
                    chunk.extend_from_slice(&doc);
                    chunk.extend_from_slice(b"}\n");
                    if chunk.len() >= EXPORT_CHUNK_BYTES {
                        let full = std::mem::replace(
                            &mut chunk,
                            Vec::with_capacity(EXPORT_CHUNK_BYTES + 4096),
                        );
                        if tx.blocking_send(Ok(full.into())).is_err() {
                            return; // the client went away
                        }
                    }
                }
                Err(e) => {
                    // The status is sent already: cutting the body short is how a stream fails.
                    tracing::error!(error = %e, "export failed mid-stream");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(Ok(chunk.into()));
        }
    });
    let seq = seq_rx
        .await
        .map_err(|_| ApiError::new(mammoth_actors::ErrorCode::Internal, "export thread ended"))?
        .map_err(ProjectError::from)?;
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(SEQ_HEADER, HeaderValue::from(seq));
    Ok(response)
}

/// Import lines, chunked; see the module comment.
#[utoipa::path(
    post,
    path = "/admin/v1/projects/{id}/import",
    operation_id = "import_project",
    tag = "admin",
    summary = "Import NDJSON lines into a project",
    params(("id" = String, Path, description = "Project id")),
    security(("root_token" = []), ("operator_session" = [])),
    request_body(content = String, content_type = "application/x-ndjson", description = "Lines `{\"collection\": ..., \"document\": {...}}`, as export writes them"),
    responses(
        (status = 200, description = "How many lines were imported, and each bad line", body = super::openapi::ImportResult),
        super::openapi::AdminErrors,
    )
)]
async fn import(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let handle = project(&state, &id)?;
    let mut run = Import::new(handle);
    let mut stream = body.into_data_stream();
    let mut line = Vec::new();
    let mut skipping = false;
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        })?;
        let mut rest: &[u8] = &piece;
        while !rest.is_empty() {
            let (part, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], true),
                None => (rest, false),
            };
            rest = if complete {
                &rest[part.len() + 1..]
            } else {
                &[]
            };
            if !skipping {
                if line.len() + part.len() > MAX_LINE_BYTES {
                    skipping = true;
                    line.clear();
                } else {
                    line.extend_from_slice(part);
                }
            }
            if complete {
                run.line(std::mem::take(&mut line), skipping).await?;
                skipping = false;
            }
        }
    }
    if !line.is_empty() || skipping {
        run.line(line, skipping).await?;
    }
    run.finish().await
}

/// One import in progress.
struct Import {
    handle: ProjectHandle,
    /// The number of the last line read (1-based).
    line: u64,
    chunk: Vec<ImportDoc>,
    chunk_bytes: usize,
    /// The commit of the chunk before this one, awaited before the next is sent.
    pending: Option<(Ticket, usize)>,
    imported: u64,
    errors: Vec<Value>,
    error_count: u64,
}

impl Import {
    fn new(handle: ProjectHandle) -> Import {
        Import {
            handle,
            line: 0,
            chunk: Vec::new(),
            chunk_bytes: 0,
            pending: None,
            imported: 0,
            errors: Vec::new(),
            error_count: 0,
        }
    }

    fn error(&mut self, line: u64, err: ApiError) {
        self.error_count += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            let (_, code) = err.status_and_code();
            self.errors.push(json!({
                "line": line,
                "error": {"code": code, "message": err.message},
            }));
        }
    }

    async fn line(&mut self, text: Vec<u8>, too_long: bool) -> Result<(), ApiError> {
        self.line += 1;
        let line = self.line;
        if too_long {
            self.error(
                line,
                ApiError::bad_request(format!(
                    "the line is longer than {MAX_LINE_BYTES} bytes; a document is at most 1 MiB"
                )),
            );
            return Ok(());
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(()); // blank lines (and a trailing newline) are not documents
        }
        let bytes = text.len();
        match parse_line(&text) {
            Ok((collection, doc)) => {
                self.chunk.push(ImportDoc {
                    line,
                    collection,
                    doc,
                });
                self.chunk_bytes += bytes;
            }
            Err(e) => self.error(line, e),
        }
        if self.chunk.len() >= CHUNK_DOCS || self.chunk_bytes >= CHUNK_BYTES {
            self.send().await?;
        }
        Ok(())
    }

    /// Sends the chunk to the actor, then waits for the previous chunk's commit: one chunk is
    /// parsed while the one before it reaches the disk.
    async fn send(&mut self) -> Result<(), ApiError> {
        let docs = std::mem::take(&mut self.chunk);
        self.chunk_bytes = 0;
        if docs.is_empty() {
            return Ok(());
        }
        let outcome = self.handle.import(docs).await?;
        for (line, err) in outcome.errors {
            self.error(line, err.into());
        }
        let previous = self.pending.take();
        if let Some(ticket) = outcome.ticket {
            self.pending = Some((ticket, outcome.imported));
        }
        if let Some((ticket, n)) = previous {
            self.handle.durable(ticket).await?;
            self.imported += n as u64;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Response, ApiError> {
        self.send().await?;
        if let Some((ticket, n)) = self.pending.take() {
            self.handle.durable(ticket).await?;
            self.imported += n as u64;
        }
        // Errors arrive chunk by chunk, parse errors before the actor's: report them in order.
        self.errors
            .sort_by_key(|e| e.get("line").and_then(Value::as_u64).unwrap_or(0));
        Ok(axum::Json(json!({
            "imported": self.imported,
            "errors": self.errors,
            "error_count": self.error_count,
        }))
        .into_response())
    }
}

/// `{"collection": NAME, "document": {...}}`, the document at most 32 levels deep.
fn parse_line(text: &[u8]) -> Result<(String, serde_json::Map<String, Value>), ApiError> {
    let value: Value = serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("the line is not valid JSON ({e})")))?;
    let Value::Object(mut line) = value else {
        return Err(ApiError::bad_request(format!(
            "a line must be an object {{\"collection\": ..., \"document\": {{...}}}}, not {}",
            kind_of(&value)
        )));
    };
    let collection = match line.remove("collection") {
        Some(Value::String(c)) => c,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"collection\" must be a string, not {}",
                kind_of(&other)
            )));
        }
        None => return Err(ApiError::bad_request("the line has no \"collection\"")),
    };
    let doc = match line.remove("document") {
        Some(Value::Object(doc)) => doc,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "\"document\" must be an object, not {}",
                kind_of(&other)
            )));
        }
        None => return Err(ApiError::bad_request("the line has no \"document\"")),
    };
    if let Some(field) = line.keys().next() {
        return Err(ApiError::bad_request(format!(
            "unknown field \"{field}\"; a line has \"collection\" and \"document\""
        )));
    }
    let depth = depth_of_map(&doc);
    if depth > super::extract::MAX_DEPTH {
        return Err(ApiError::bad_request(format!(
            "the document is nested {depth} levels deep; the limit is {}",
            super::extract::MAX_DEPTH
        )));
    }
    Ok((collection, doc))
}
