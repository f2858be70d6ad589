//! The ceiling: a bare axum server that answers the harness's routes from a `HashMap` behind a
//! lock, with the same JSON bodies Mammoth sends. What it reaches is what HTTP, JSON parsing and
//! a map lookup cost on this machine; Mammoth's share of it is the number that matters.
//!
//! It checks only that an `X-API-Key` header is present (no signature), keeps one collection,
//! and answers every query with the example query's first page (or, when its filter has an
//! `$or`, the `$or` workload's), computed once from the seeded documents: it measures the price
//! of the request and of a 20-document answer, not of query work.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mammoth_actors::ids::rfc3339_millis;
use mammoth_actors::project::merge_patch;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::workload::{self, ExamplePage, PageQuery};

/// A document as the ceiling keeps it: the value and its encoding, served as is.
struct Doc {
    value: Map<String, Value>,
    bytes: Bytes,
}

struct Store {
    /// Every document by id, behind one lock, as a naive in-memory server would keep them.
    docs: RwLock<HashMap<String, Doc>>,
    /// The answer to every query without `$or` (see the module docs).
    page: Bytes,
    /// The answer to every query whose filter has an `$or`: the `$or` workload's first page.
    or_page: Bytes,
    /// Numbers the ids of created documents.
    next_id: AtomicU64,
}

/// A running ceiling server; dropping it stops it.
pub(crate) struct Ceiling {
    addr: SocketAddr,
    /// Dropping it completes the server's shutdown future.
    _stop: oneshot::Sender<()>,
}

impl Ceiling {
    /// Seeds documents `0..docs` and serves on `127.0.0.1:0`, on the current runtime.
    pub(crate) async fn start(docs: u64) -> std::io::Result<Ceiling> {
        let store = tokio::task::spawn_blocking(move || Arc::new(Store::seeded(docs)))
            .await
            .expect("seeding the ceiling does not panic");
        let app = Router::new()
            .route("/v1/collections", get(list))
            .route("/v1/collections/{name}/documents", post(create))
            .route(
                "/v1/collections/{name}/documents/{id}",
                get(read).patch(merge),
            )
            .route("/v1/collections/{name}/query", post(query))
            .with_state(store);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Ceiling { addr, _stop: stop })
    }

    /// Its base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Store {
    /// Documents `0..docs`, as Mammoth stores them after seeding.
    fn seeded(docs: u64) -> Store {
        let now = rfc3339_millis(now_millis());
        let mut map = HashMap::with_capacity(docs as usize);
        let mut page = ExamplePage::new(PageQuery::Example);
        let mut or_page = ExamplePage::new(PageQuery::Or);
        for i in 0..docs {
            let id = workload::doc_id(i);
            let doc = stored(workload::doc_body(i), &id, &now, &now);
            page.offer(&id, &doc.value);
            or_page.offer(&id, &doc.value);
            map.insert(id, doc);
        }
        let (ids, more) = page.finish();
        let page = page_body(&ids, more, &map);
        let (ids, more) = or_page.finish();
        let or_page = page_body(&ids, more, &map);
        Store {
            docs: RwLock::new(map),
            page,
            or_page,
            next_id: AtomicU64::new(0),
        }
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The stored form: the body plus the server fields, encoded once.
fn stored(mut value: Map<String, Value>, id: &str, created_at: &str, updated_at: &str) -> Doc {
    value.insert("id".into(), Value::String(id.to_owned()));
    value.insert("created_at".into(), Value::String(created_at.to_owned()));
    value.insert("updated_at".into(), Value::String(updated_at.to_owned()));
    let bytes = Bytes::from(serde_json::to_vec(&value).expect("a JSON map encodes"));
    Doc { value, bytes }
}

fn page_body(ids: &[String], more: bool, docs: &HashMap<String, Doc>) -> Bytes {
    let mut out = b"{\"documents\":[".to_vec();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&docs[id].bytes);
    }
    let last = ids.last().filter(|_| more);
    // A cursor of the length Mammoth's might have; its content is never read.
    let cursor = last.map(|id| format!("c1.{}", "0".repeat(24 + id.len())));
    out.extend_from_slice(
        format!(
            "],\"next_start_after\":{},\"next_cursor\":{}}}",
            json!(last),
            json!(cursor)
        )
        .as_bytes(),
    );
    Bytes::from(out)
}

fn json_response(status: StatusCode, bytes: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A refusal, with Mammoth's error body shape.
struct Refusal(StatusCode, &'static str, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let Refusal(status, code, message) = self;
        let body = json!({"error": {"code": code, "message": message}}).to_string();
        json_response(status, Bytes::from(body))
    }
}

const NOT_FOUND: Refusal = Refusal(StatusCode::NOT_FOUND, "not_found", "no such document");

/// The ceiling's whole authentication: a non-empty `X-API-Key`.
fn has_key(headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get("x-api-key") {
        Some(key) if !key.is_empty() => Ok(()),
        _ => Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing API key",
        )),
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Refusal(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send a JSON object",
        )),
    }
}

async fn list(State(store): State<Arc<Store>>, headers: HeaderMap) -> Result<Response, Refusal> {
    has_key(&headers)?;
    let count = store.docs.read().expect("lock").len();
    Ok(axum::Json(json!({"collections": [{"name": "bench", "count": count}]})).into_response())
}

async fn read(
    State(store): State<Arc<Store>>,
    Path((_name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    has_key(&headers)?;
    let bytes = store
        .docs
        .read()
        .expect("lock")
        .get(&id)
        .map(|d| d.bytes.clone());
    Ok(json_response(StatusCode::OK, bytes.ok_or(NOT_FOUND)?))
}

async fn create(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    has_key(&headers)?;
    let mut value = parse_object(&body)?;
    let id = match value.remove("id") {
        Some(Value::String(id)) => id,
        _ => format!("c{:016}", store.next_id.fetch_add(1, Ordering::Relaxed)),
    };
    let now = rfc3339_millis(now_millis());
    let doc = stored(value, &id, &now, &now);
    let bytes = doc.bytes.clone();
    let mut docs = store.docs.write().expect("lock");
    if docs.contains_key(&id) {
        return Err(Refusal(
            StatusCode::CONFLICT,
            "conflict",
            "the document exists",
        ));
    }
    docs.insert(id, doc);
    drop(docs);
    Ok(json_response(StatusCode::CREATED, bytes))
}

async fn merge(
    State(store): State<Arc<Store>>,
    Path((_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    has_key(&headers)?;
    let patch = parse_object(&body)?;
    let now = rfc3339_millis(now_millis());
    let mut docs = store.docs.write().expect("lock");
    let existing = docs.get_mut(&id).ok_or(NOT_FOUND)?;
    let created_at = match existing.value.get("created_at") {
        Some(Value::String(at)) => at.clone(),
        _ => now.clone(),
    };
    let mut value = Value::Object(existing.value.clone());
    merge_patch(&mut value, Value::Object(patch));
    let Value::Object(value) = value else {
        unreachable!("merging an object patch into an object gives an object")
    };
    *existing = stored(value, &id, &created_at, &now);
    let bytes = existing.bytes.clone();
    drop(docs);
    Ok(json_response(StatusCode::OK, bytes))
}

async fn query(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    has_key(&headers)?;
    let query = parse_object(&body)?;
    let or = query
        .get("filter")
        .and_then(Value::as_object)
        .is_some_and(|f| f.contains_key("$or"));
    let page = if or { &store.or_page } else { &store.page };
    Ok(json_response(StatusCode::OK, page.clone()))
}
