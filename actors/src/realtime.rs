//! Realtime query subscriptions (CONTRACT section 11), read off the [`crate::commitlog`].
//!
//! # Shape
//!
//! - `POST /v1/listen` becomes one [`crate::project::ProjectMsg::Listen`]: in that one message
//!   the actor checks the credential (the same `authorize` + scope check a query takes), computes
//!   every query's window at one `seq` (now, or the client's `Last-Event-ID` by undoing the
//!   commits after it), and hands a [`HubMsg::Subscribe`] to the project's fan-out task, the
//!   *hub*. Snapshot and subscription are therefore atomic.
//! - Each write the actor makes, while the project has listeners, goes to the hub as one
//!   [`HubMsg::Commit`] with a durability ticket. The hub awaits the tickets in order, so it
//!   reports only durable commits, in `seq` order. The actor never loops over listeners.
//! - The hub keeps *groups*: one window per distinct (collection, filter, sort, limit, scope),
//!   shared by every stream listening to it, indexed by collection and by an equality condition
//!   of the filter or scope (`index`), so a write only evaluates the groups whose query its
//!   document matched before or matches after (e.g. one user's, not every user's). A group's
//!   change list is computed and encoded once per commit; [`Listener::evaluations`] counts the
//!   groups the hub evaluated.
//! - **Exact windows**: a window holds the first `limit` documents of the query (ids, sort keys,
//!   bytes). For a commit, its changed documents are taken out and put back where they now
//!   belong; when a full window loses members and nothing it knows of can fill it, the hub asks
//!   the actor for the window at exactly that commit's `seq` ([`window_at`]: the query now, with
//!   the commits after `seq` undone from their before-images). The event is the difference
//!   between the old and the new window, so the client's state is always a fresh first page.
//! - **Encoded once, shared**: streams with identical subscriptions form a *class*; a commit's
//!   `changes` event is encoded once per class as a complete SSE frame ([`bytes::Bytes`]) and
//!   the same bytes are queued on each of its streams (`hub`). Each stream's connection task
//!   drains its queue into one chunk per socket write (`stream`), so fan-out spreads over the
//!   runtime's threads and a stream that fell behind catches up in one write.
//! - Bounds: each stream has a queue of [`MAX_QUEUED_EVENTS`] events and [`MAX_QUEUED_BYTES`];
//!   overflowing it ends the stream with `error` (`unavailable`). Every [`LIVENESS_EVERY`] the
//!   hub re-checks each distinct credential of its streams with the actor; a dead one ends them
//!   with `error` (`unauthorized`). Every [`PING_EVERY`] it queues `: ping` on idle streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Duration;

use bytes::Bytes;
use mammoth_storage::Ticket;

use crate::commitlog::Commit;
use crate::error::{ErrorCode, ProjectError};
use crate::project::Access;
use crate::query::Query;

mod hub;
mod index;
mod stream;
mod window;

pub(crate) use hub::Hub;
pub use stream::Listener;
use stream::{Frame, Sink, StreamCount, StreamShared};
pub use window::{Entry, Spec};
pub(crate) use window::{window_at, window_now};

/// Most queries in one listen request.
pub const MAX_QUERIES: usize = 100;
/// Most streams one project serves at once.
pub const MAX_STREAMS: usize = 10_000;
/// Most events waiting to be sent on one stream.
pub const MAX_QUEUED_EVENTS: usize = 1_000;
/// Most bytes waiting to be sent on one stream.
pub const MAX_QUEUED_BYTES: usize = 8 << 20;
/// How often the hub re-checks its streams' credentials.
pub const LIVENESS_EVERY: Duration = Duration::from_millis(400);
/// How often the hub queues a `: ping` comment on streams with nothing queued (the contract
/// asks for one at least every 15 s).
pub const PING_EVERY: Duration = Duration::from_secs(10);

/// One named query of a listen request.
#[derive(Debug, Clone)]
pub struct ListenQuery {
    /// The name events use for it, `^[A-Za-z0-9_-]{1,64}$`.
    pub name: String,
    /// The collection.
    pub collection: String,
    /// The query (no paging).
    pub query: Query,
}

/// One Server-Sent Event, decoded (see [`Listener::next`]; the HTTP layer writes the encoded
/// frames of [`Listener::next_chunk`] instead).
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// `snapshot`, `changes`, `reset` or `error`.
    pub event: &'static str,
    /// The `seq` it reports (none for `reset` and `error`).
    pub id: Option<u64>,
    /// The JSON payload (one line).
    pub data: String,
}

/// The `error` event for `err`.
pub fn error_event(err: &ProjectError) -> StreamEvent {
    let code = match err.code {
        ErrorCode::Unauthorized => "unauthorized",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::Internal => "internal",
        _ => "unavailable",
    };
    StreamEvent {
        event: "error",
        id: None,
        data: serde_json::json!({"error": {"code": code, "message": err.message}}).to_string(),
    }
}

/// The SSE text of the `error` event for `err`, to end a stream with.
pub fn error_chunk(err: &ProjectError) -> Bytes {
    let event = error_event(err);
    Frame::new(event.event, None, event.data.as_bytes()).bytes
}

/// What the actor hands the hub.
#[derive(Debug)]
pub(crate) enum HubMsg {
    /// A commit, to report once `durable` completes.
    Commit {
        commit: Arc<Commit>,
        durable: Ticket,
    },
    /// A new stream.
    Subscribe(Box<Subscription>),
    /// End every stream (the project was reset).
    CloseAll(ProjectError),
}

/// A new stream, as the actor set it up in one message.
#[derive(Debug)]
pub(crate) struct Subscription {
    sink: Sink,
    opening: Opening,
}

/// What the actor decided when a stream opened, in its listen message.
#[derive(Debug)]
pub(crate) struct Opening {
    /// Who listens.
    pub(crate) access: Access,
    /// Names, specs and windows at `start`.
    pub(crate) queries: Vec<(String, Spec, Vec<Entry>)>,
    /// The `seq` the windows are at.
    pub(crate) start: u64,
    /// The commits after `start` the hub already reported to others (a resume).
    pub(crate) replay: Vec<Arc<Commit>>,
    /// Send `reset` with this reason, then the snapshot.
    pub(crate) reset: Option<&'static str>,
    /// Send the snapshot (not on a resume).
    pub(crate) snapshot: bool,
    /// Completes once everything up to `start` is durable.
    pub(crate) durable: Ticket,
}

/// Builds a stream: called by the actor inside its listen message.
pub(crate) fn subscribe(
    count: &Arc<AtomicUsize>,
    opening: Opening,
) -> Result<(Listener, Subscription), ProjectError> {
    let before = count.fetch_add(1, AtomicOrdering::AcqRel);
    let guard = StreamCount(count.clone());
    if before >= MAX_STREAMS {
        return Err(ProjectError::unavailable(format!(
            "this project already serves {MAX_STREAMS} streams; retry later"
        )));
    }
    let shared = Arc::new(StreamShared::default());
    let listener = Listener::new(shared.clone(), guard);
    let sub = Subscription {
        sink: Sink { shared },
        opening,
    };
    Ok((listener, sub))
}
