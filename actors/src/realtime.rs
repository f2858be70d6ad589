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
//! - Bounds: each stream has a queue of [`MAX_QUEUED_EVENTS`] events and [`MAX_QUEUED_BYTES`];
//!   overflowing it ends the stream with `error` (`unavailable`). Every [`LIVENESS_EVERY`] the
//!   hub re-checks each distinct credential of its streams with the actor; a dead one ends them
//!   with `error` (`unauthorized`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use mammoth_storage::Ticket;
use ractor::ActorRef;
use ractor::rpc::CallResult;
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc};

use crate::commitlog::Commit;
use crate::error::{ErrorCode, ProjectError};
use crate::project::{Access, ProjectMsg};
use crate::query::Query;

mod index;
mod window;

use index::SubIndex;
pub use window::{Entry, Spec};
use window::{NamedFragment, Update, diff, encode_changes, local_update, parse, push_json_str};
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

/// One Server-Sent Event, ready to be written.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// `snapshot`, `changes`, `reset` or `error`.
    pub event: &'static str,
    /// The `seq` it reports (none for `reset` and `error`).
    pub id: Option<u64>,
    /// The JSON payload (one line).
    pub data: String,
}

/// What a stream's two ends share.
#[derive(Debug, Default)]
struct StreamShared {
    queued_bytes: AtomicUsize,
    /// Set once: why the stream ends; the reader sends it as an `error` event and stops.
    failure: Mutex<Option<ProjectError>>,
    wake: Notify,
    /// The hub's count of group evaluations, set when the hub takes the stream.
    evaluations: OnceLock<Arc<AtomicU64>>,
}

impl StreamShared {
    fn fail(&self, err: ProjectError) {
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if failure.is_none() {
            *failure = Some(err);
        }
        drop(failure);
        self.wake.notify_one();
    }
}

/// The reading end of a stream: the HTTP layer turns its events into SSE.
#[derive(Debug)]
pub struct Listener {
    rx: mpsc::Receiver<StreamEvent>,
    shared: Arc<StreamShared>,
    _count: StreamCount,
    done: bool,
}

impl Listener {
    /// How many times the project's hub has evaluated a subscription group against a commit
    /// since it started (0 until the hub took this stream): the matching work, for tests and
    /// metrics.
    pub fn evaluations(&self) -> u64 {
        self.shared
            .evaluations
            .get()
            .map_or(0, |c| c.load(AtomicOrdering::Relaxed))
    }

    /// The next event; after an `error` event, `None`.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        loop {
            if self.done {
                return None;
            }
            let failure = self
                .shared
                .failure
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(err) = failure {
                self.done = true;
                return Some(error_event(&err));
            }
            tokio::select! {
                biased;
                () = self.shared.wake.notified() => {}
                event = self.rx.recv() => match event {
                    Some(event) => {
                        self.shared.queued_bytes.fetch_sub(event.data.len(), AtomicOrdering::Relaxed);
                        return Some(event);
                    }
                    None => self.shared.fail(ProjectError::unavailable(
                        "the project restarted; reconnect with Last-Event-ID to resume",
                    )),
                },
            }
        }
    }
}

/// Counts a live stream against [`MAX_STREAMS`] until dropped.
#[derive(Debug)]
struct StreamCount(Arc<AtomicUsize>);

impl Drop for StreamCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, AtomicOrdering::AcqRel);
    }
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
    let (tx, rx) = mpsc::channel(MAX_QUEUED_EVENTS);
    let shared = Arc::new(StreamShared::default());
    let listener = Listener {
        rx,
        shared: shared.clone(),
        _count: guard,
        done: false,
    };
    let sub = Subscription {
        sink: Sink { tx, shared },
        opening,
    };
    Ok((listener, sub))
}

/// The hub's end of a stream.
#[derive(Debug)]
struct Sink {
    tx: mpsc::Sender<StreamEvent>,
    shared: Arc<StreamShared>,
}

impl Sink {
    /// Queues an event; false when the stream is gone or has just been failed for being slow.
    fn send(&self, event: StreamEvent) -> bool {
        let len = event.data.len();
        let queued = self
            .shared
            .queued_bytes
            .fetch_add(len, AtomicOrdering::Relaxed);
        if queued + len > MAX_QUEUED_BYTES {
            self.shared.fail(too_slow());
            return false;
        }
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.fail(too_slow());
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

fn too_slow() -> ProjectError {
    ProjectError::unavailable(format!(
        "the client fell more than {MAX_QUEUED_EVENTS} events or {} MiB behind; reconnect with Last-Event-ID to resume",
        MAX_QUEUED_BYTES >> 20
    ))
}

struct Group {
    spec: Arc<Spec>,
    window: Vec<Entry>,
    /// The streams reading it, with the query's name.
    readers: Vec<(u64, Arc<str>)>,
    /// Whether new streams at the hub's position may join it.
    shared: bool,
}

struct StreamEntry {
    sink: Sink,
    access: Access,
    groups: Vec<u64>,
}

/// The per-project fan-out task.
pub(crate) struct Hub {
    actor: ActorRef<ProjectMsg>,
    groups: HashMap<u64, Group>,
    shared_groups: HashMap<String, u64>,
    index: SubIndex,
    streams: HashMap<u64, StreamEntry>,
    next_id: u64,
    evaluations: Arc<AtomicU64>,
}

impl Hub {
    /// Starts the hub of a project; it ends when the actor drops the sender.
    pub(crate) fn spawn(actor: ActorRef<ProjectMsg>) -> mpsc::UnboundedSender<HubMsg> {
        let (tx, rx) = mpsc::unbounded_channel();
        let hub = Hub {
            actor,
            groups: HashMap::new(),
            shared_groups: HashMap::new(),
            index: SubIndex::default(),
            streams: HashMap::new(),
            next_id: 0,
            evaluations: Arc::new(AtomicU64::new(0)),
        };
        tokio::spawn(hub.run(rx));
        tx
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<HubMsg>) {
        let mut tick = tokio::time::interval(LIVENESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    None => break,
                    Some(HubMsg::Commit { commit, durable }) => {
                        if durable.await.is_err() {
                            self.close_all(ProjectError::unavailable(
                                "a write failed to reach the disk; reconnect with Last-Event-ID to resume",
                            ));
                            continue;
                        }
                        self.process(&commit, None).await;
                    }
                    Some(HubMsg::Subscribe(sub)) => self.add(*sub).await,
                    Some(HubMsg::CloseAll(err)) => self.close_all(err),
                },
                _ = tick.tick() => self.check_liveness().await,
            }
        }
        self.close_all(ProjectError::unavailable(
            "the project restarted; reconnect with Last-Event-ID to resume",
        ));
    }

    fn close_all(&mut self, err: ProjectError) {
        for (_, stream) in self.streams.drain() {
            stream.sink.shared.fail(err.clone());
        }
        self.groups.clear();
        self.shared_groups.clear();
        self.index.clear();
    }

    async fn add(&mut self, sub: Subscription) {
        self.prune();
        let Subscription {
            sink,
            opening:
                Opening {
                    access,
                    queries,
                    start,
                    replay,
                    reset,
                    snapshot,
                    durable,
                },
        } = sub;
        if durable.await.is_err() {
            sink.shared.fail(ProjectError::unavailable(
                "a write failed to reach the disk; retry",
            ));
            return;
        }
        let _ = sink.shared.evaluations.set(self.evaluations.clone());
        let sid = self.next_id;
        self.next_id += 1;
        let mut snapshot_data = String::from("{\"queries\":{");
        let mut group_ids = Vec::with_capacity(queries.len());
        let shareable = replay.is_empty();
        for (i, (name, spec, window)) in queries.into_iter().enumerate() {
            if i > 0 {
                snapshot_data.push(',');
            }
            push_json_str(&mut snapshot_data, &name);
            snapshot_data.push_str(":[");
            for (j, e) in window.iter().enumerate() {
                if j > 0 {
                    snapshot_data.push(',');
                }
                snapshot_data.push_str(&String::from_utf8_lossy(&e.bytes));
            }
            snapshot_data.push(']');
            let name: Arc<str> = name.into();
            let existing = shareable
                .then(|| self.shared_groups.get(&spec.key).copied())
                .flatten();
            let gid = match existing {
                Some(gid) => gid,
                None => {
                    let gid = self.next_id;
                    self.next_id += 1;
                    if shareable {
                        self.shared_groups.insert(spec.key.clone(), gid);
                    }
                    self.index.insert(gid, &spec);
                    self.groups.insert(
                        gid,
                        Group {
                            spec: Arc::new(spec),
                            window,
                            readers: Vec::new(),
                            shared: shareable,
                        },
                    );
                    gid
                }
            };
            if let Some(group) = self.groups.get_mut(&gid) {
                group.readers.push((sid, name));
            }
            group_ids.push(gid);
        }
        snapshot_data.push_str("}}");
        if let Some(reason) = reset {
            sink.send(StreamEvent {
                event: "reset",
                id: None,
                data: serde_json::json!({ "reason": reason }).to_string(),
            });
        }
        if snapshot {
            sink.send(StreamEvent {
                event: "snapshot",
                id: Some(start),
                data: snapshot_data,
            });
        }
        let private = if shareable {
            Vec::new()
        } else {
            group_ids.clone()
        };
        self.streams.insert(
            sid,
            StreamEntry {
                sink,
                access,
                groups: group_ids,
            },
        );
        for commit in replay {
            self.process(&commit, Some(&private)).await;
        }
    }

    /// Drops streams whose client went away, and groups nobody reads.
    fn prune(&mut self) {
        let dead: Vec<u64> = self
            .streams
            .iter()
            .filter(|(_, s)| s.sink.is_closed() || has_failed(&s.sink))
            .map(|(id, _)| *id)
            .collect();
        for sid in dead {
            self.remove_stream(sid);
        }
    }

    fn remove_stream(&mut self, sid: u64) {
        let Some(stream) = self.streams.remove(&sid) else {
            return;
        };
        for gid in stream.groups {
            let Some(group) = self.groups.get_mut(&gid) else {
                continue;
            };
            group.readers.retain(|(s, _)| *s != sid);
            if group.readers.is_empty() {
                let group = self.groups.remove(&gid).expect("present");
                if group.shared {
                    self.shared_groups.remove(&group.spec.key);
                }
                self.index.remove(gid, &group.spec);
            }
        }
    }

    /// Reports one commit to the readers of `groups` (`None`: the groups the index says it may
    /// change).
    async fn process(&mut self, commit: &Commit, groups: Option<&[u64]>) {
        if groups.is_some_and(<[u64]>::is_empty) || self.groups.is_empty() {
            return;
        }
        // Each changed document parsed once, shared by every group.
        let parsed: Vec<Option<Map<String, Value>>> = commit
            .changes
            .iter()
            .map(|c| c.after.as_deref().map(parse))
            .collect();
        let candidates;
        let groups = match groups {
            Some(groups) => groups,
            None => {
                candidates = self.index.candidates(commit, &parsed);
                &candidates[..]
            }
        };
        self.evaluations
            .fetch_add(groups.len() as u64, AtomicOrdering::Relaxed);
        let mut per_stream: HashMap<u64, Vec<NamedFragment>> = HashMap::new();
        let mut failed_groups = Vec::new();
        for &gid in groups {
            let Some(group) = self.groups.get(&gid) else {
                continue;
            };
            let spec = group.spec.clone();
            let touched: Vec<usize> = (0..commit.changes.len())
                .filter(|&i| commit.changes[i].collection == spec.collection)
                .collect();
            let new_window = match local_update(&spec, &group.window, commit, &touched, &parsed) {
                Update::Same => continue,
                Update::Window(w) => w,
                Update::Refill => match self.refill(&spec, commit.seq).await {
                    Some(w) => w,
                    None => {
                        failed_groups.push(gid);
                        continue;
                    }
                },
            };
            let Some(group) = self.groups.get_mut(&gid) else {
                continue;
            };
            let changes = diff(&group.window, &new_window, commit, &touched);
            group.window = new_window;
            if changes.is_empty() {
                continue;
            }
            let fragment: Arc<str> = encode_changes(&changes).into();
            for (sid, name) in &group.readers {
                per_stream
                    .entry(*sid)
                    .or_default()
                    .push((name.clone(), fragment.clone()));
            }
        }
        for gid in failed_groups {
            let readers: Vec<u64> = self
                .groups
                .get(&gid)
                .map(|g| g.readers.iter().map(|(s, _)| *s).collect())
                .unwrap_or_default();
            for sid in readers {
                if let Some(stream) = self.streams.get(&sid) {
                    stream.sink.shared.fail(ProjectError::unavailable(
                        "the stream fell too far behind; reconnect with Last-Event-ID",
                    ));
                }
                self.remove_stream(sid);
            }
        }
        let mut gone = Vec::new();
        for (sid, parts) in per_stream {
            let Some(stream) = self.streams.get(&sid) else {
                continue;
            };
            let mut data = String::with_capacity(
                16 + parts
                    .iter()
                    .map(|(n, f)| n.len() + f.len() + 4)
                    .sum::<usize>(),
            );
            data.push_str("{\"changes\":{");
            for (i, (name, fragment)) in parts.iter().enumerate() {
                if i > 0 {
                    data.push(',');
                }
                push_json_str(&mut data, name);
                data.push(':');
                data.push_str(fragment);
            }
            data.push_str("}}");
            let sent = stream.sink.send(StreamEvent {
                event: "changes",
                id: Some(commit.seq),
                data,
            });
            if !sent {
                gone.push(sid);
            }
        }
        for sid in gone {
            self.remove_stream(sid);
        }
    }

    async fn refill(&self, spec: &Arc<Spec>, seq: u64) -> Option<Vec<Entry>> {
        let spec = spec.clone();
        match self
            .actor
            .call(
                |reply| ProjectMsg::WindowAt { spec, seq, reply },
                Some(Duration::from_secs(10)),
            )
            .await
        {
            Ok(CallResult::Success(window)) => window,
            _ => None,
        }
    }

    async fn check_liveness(&mut self) {
        self.prune();
        if self.streams.is_empty() {
            return;
        }
        let mut distinct: HashMap<String, (Access, Vec<u64>)> = HashMap::new();
        for (sid, stream) in &self.streams {
            let a = &stream.access;
            let key = format!("{:?}\u{0}{:?}", a.principal, a.origin);
            distinct
                .entry(key)
                .or_insert_with(|| (a.clone(), Vec::new()))
                .1
                .push(*sid);
        }
        let (accesses, sids): (Vec<Access>, Vec<Vec<u64>>) = distinct.into_values().unzip();
        let answer = self
            .actor
            .call(
                |reply| ProjectMsg::CheckAccess { accesses, reply },
                Some(Duration::from_secs(10)),
            )
            .await;
        let Ok(CallResult::Success(results)) = answer else {
            return;
        };
        for (result, sids) in results.into_iter().zip(sids) {
            if let Some(err) = result {
                for sid in sids {
                    if let Some(stream) = self.streams.get(&sid) {
                        stream.sink.shared.fail(err.clone());
                    }
                    self.remove_stream(sid);
                }
            }
        }
    }
}

fn has_failed(sink: &Sink) -> bool {
    sink.shared
        .failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some()
}
