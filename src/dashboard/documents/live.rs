//! The live stream of the collections browser: `GET /dashboard/projects/{id}/data/live`,
//! Server-Sent Events opened by the page's `EventSource` with the session cookie (same origin,
//! `SameSite=Strict`). It listens as [`Access::operator_read`], so it can never write and sees
//! the whole project, like the page itself, and sends the open page whole after each change.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use futures_util::stream::{self, Stream};
use mammoth_actors::ProjectError;
use mammoth_actors::ids::valid_collection_name;
use mammoth_actors::project::{Access, ProjectHandle};
use mammoth_actors::query::Query;
use mammoth_actors::realtime::{ListenQuery, Listener, StreamEvent};
use serde::Deserialize;

use super::super::browse;
use super::super::{Signed, project};
use super::refused;
use crate::http::{ApiError, AppState};

#[derive(Deserialize)]
pub(crate) struct LiveParams {
    #[serde(default)]
    collection: String,
    #[serde(default)]
    query: Option<String>,
    /// The open page's cursor: a page after the first follows its own window.
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /dashboard/projects/{id}/data/live?collection=C&query=Q&cursor=K`: the open page, kept
/// exact. The route listens to the page's query (its filter and sort; the page's size as the
/// limit on the first page, else [`mammoth_actors::query::MAX_LIMIT`], so a change anywhere up
/// to the page's end reaches it) and, on the snapshot and on every `changes` event, runs the
/// page's query again (cursor and all) and sends it whole: `event: page`, `data: {"docs":
/// [...], "seq": N}`, the documents in the query's order, exactly what reloading the page would
/// show at that `seq` or later. Events queued while a query runs are folded into one re-run. A stream `error` is
/// passed on and the stream closes; `EventSource` reconnects and starts from a fresh page.
pub(crate) async fn live(
    State(state): State<AppState>,
    _signed: Signed,
    Path(id): Path<String>,
    UrlQuery(params): UrlQuery<LiveParams>,
) -> Response {
    let handle = match project(&state, &id) {
        Ok(h) => h,
        Err(r) => return r.into_response(),
    };
    if !valid_collection_name(&params.collection) {
        return super::super::failure(StatusCode::BAD_REQUEST, "not a collection name");
    }
    let text = params.query.as_deref().unwrap_or("{}");
    let cursor = params.cursor.as_deref().filter(|c| !c.is_empty());
    let (listened, page) = match (
        browse::listen_query(text, cursor.is_some()),
        browse::page_query(text, cursor),
    ) {
        (Ok(l), Ok(p)) => (l, p),
        (Err(message), _) | (_, Err(message)) => {
            return super::super::failure(StatusCode::BAD_REQUEST, &message);
        }
    };
    let queries = vec![ListenQuery {
        name: "page".into(),
        collection: params.collection.clone(),
        query: listened,
    }];
    let listener = match handle.listen(Access::operator_read(), queries, None).await {
        Ok(l) => l,
        Err(e) => return refused(e),
    };
    let live = Live {
        listener,
        handle,
        collection: params.collection,
        page,
    };
    let events = stream::unfold(Some(live), |live| async move {
        let mut live = live?;
        let event = live.next_trigger().await?;
        if event.event == "error" {
            let out = Event::default().event("error").data(event.data);
            return Some((Ok::<_, Infallible>(out), None));
        }
        let out = match live.current(event.id).await {
            Ok(data) => Event::default().event("page").data(data),
            Err(e) => {
                let error = ApiError::from(e);
                let (_, code) = error.status_and_code();
                let message = if code == "internal" {
                    "internal error; the server log has the details"
                } else {
                    error.message.as_str()
                };
                let data = serde_json::json!({"error": {"code": code, "message": message}});
                let out = Event::default().event("error").data(data.to_string());
                return Some((Ok(out), None));
            }
        };
        Some((Ok(out), Some(live)))
    });
    sse(events)
}

/// One open page following its query.
struct Live {
    listener: Listener,
    handle: ProjectHandle,
    collection: String,
    page: Query,
}

impl Live {
    /// The next event that can change the page (a snapshot, changes, or an error), with the
    /// events already queued behind it folded in (the newest `seq` kept, an error first).
    async fn next_trigger(&mut self) -> Option<StreamEvent> {
        let mut event = loop {
            let event = self.listener.next().await?;
            if event.event != "reset" {
                break event;
            }
        };
        while event.event != "error" {
            match self.listener.next().now_or_never() {
                Some(Some(queued)) if queued.event == "reset" => {}
                Some(Some(queued)) => event = queued,
                _ => break,
            }
        }
        Some(event)
    }

    /// The page's documents now, as the `page` event's JSON.
    async fn current(&self, seq: Option<u64>) -> Result<String, ProjectError> {
        let page = self
            .handle
            .query(
                Access::operator_read(),
                self.collection.clone(),
                self.page.clone(),
            )
            .await?;
        let mut out = String::from("{\"docs\":[");
        for (i, doc) in page.docs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&String::from_utf8_lossy(doc));
        }
        out.push_str("],\"seq\":");
        out.push_str(&seq.unwrap_or(0).to_string());
        out.push('}');
        Ok(out)
    }
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
