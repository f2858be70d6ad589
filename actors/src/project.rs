//! The project actor: the one owner of a project's collections, keys and records.
//!
//! Every request for a project becomes one message to its actor. The actor checks the caller's key
//! against its live key table, hands the mutation to the storage writer, applies it to memory
//! and replies at once with a durability [`Ticket`]: the HTTP handler waits for the disk, the
//! actor never does. User errors travel in the reply; only a bug (a panic) ends the actor, and
//! the supervisor in [`crate::registry`] then restarts it from storage.

mod access;
mod admin;
mod auth;
mod batch;
mod documents;
mod import;
mod listen;
mod scan;
mod ttl;
mod users_admin;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use mammoth_storage::{ProjectSnapshot, Storage, Ticket};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{Map, Value};

use crate::collection::Collection;
use crate::commitlog::CommitLog;
use crate::env::Env;
use crate::error::ProjectError;
use crate::etag::Precondition;
use crate::query::{Aggregation, Page, Query};
use crate::realtime::{Entry, HubMsg, ListenQuery, Listener, Spec};
use crate::records::{IssuedKey, KeyInfo, KeyMinter, KeyRecord, Permission, ProjectRecord};
use crate::users::Users;

pub use crate::access::{Access, KeyRef, Principal};
pub(crate) use admin::encode;
pub use auth::{AuthMsg, IssuedLink};
pub use batch::{Applied, BatchError, BatchOp, MAX_BATCH_OPS, OpResult};
pub use documents::{MAX_DOC_BYTES, merge_patch};
pub use import::{ImportDoc, ImportOutcome};
pub use scan::SLICE_DOCS;
pub use users_admin::UsersMsg;

/// How long a caller waits for a project actor before answering 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a caller waits for the disk to confirm a write before answering 503.
const DURABILITY_TIMEOUT: Duration = Duration::from_secs(30);

/// Most requests that may wait on one project at once; past it callers get 503 instead of growing
/// the (unbounded) ractor mailbox.
const MAX_IN_FLIGHT: usize = 4_096;

/// A change to one document.
#[derive(Debug)]
pub enum WriteOp {
    /// Create, with the client's id or a generated one; 409 when the id exists.
    Create {
        /// Validated id, when the body had one.
        id: Option<String>,
        /// The body without `id`.
        body: Map<String, Value>,
    },
    /// Replace entirely, or create when missing.
    Replace {
        /// Validated id.
        id: String,
        /// The body without `id`.
        body: Map<String, Value>,
    },
    /// JSON Merge Patch (RFC 7396) into an existing document.
    Merge {
        /// Validated id.
        id: String,
        /// The patch without `id`.
        patch: Map<String, Value>,
    },
    /// Delete.
    Delete {
        /// Validated id.
        id: String,
    },
}

/// The outcome of a write.
#[derive(Debug)]
pub struct Written {
    /// The stored document (none for a delete).
    pub doc: Option<Bytes>,
    /// Whether the write created the document.
    pub created: bool,
    /// Completes when the write is durable.
    pub ticket: Ticket,
    /// The commit's `seq`: the document's new ETag ([`crate::etag`]).
    pub seq: u64,
}

/// A collection and how many documents it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// Name.
    pub name: String,
    /// Documents in it.
    pub count: usize,
}

type Reply<T> = RpcReplyPort<Result<T, ProjectError>>;

/// The messages a project actor handles. Build them through [`ProjectHandle`].
#[derive(Debug)]
pub enum ProjectMsg {
    /// Read one document's stored bytes.
    Get {
        /// Who is asking.
        access: Access,
        /// The collection's name.
        collection: String,
        /// The document id.
        id: String,
        /// Where the answer goes: the bytes and the `seq` of its last write (its ETag).
        reply: Reply<(Bytes, u64)>,
    },
    /// Change one document.
    Write {
        /// Who is asking.
        access: Access,
        /// The collection's name.
        collection: String,
        /// The change.
        op: WriteOp,
        /// What must hold of the document first (`If-Match`, `If-None-Match`).
        precondition: Precondition,
        /// Where the answer goes.
        reply: Reply<Written>,
    },
    /// Apply several writes as one commit, all or nothing (CONTRACT section 12).
    Batch {
        /// Who is asking.
        access: Access,
        /// The ops, in order.
        ops: Vec<BatchOp>,
        /// Most ops allowed.
        max_ops: usize,
        /// Where the answer goes (an op's error carries its index).
        reply: Reply<Result<Applied, BatchError>>,
    },
    /// Run a query.
    Query {
        /// Who is asking.
        access: Access,
        /// The collection's name.
        collection: String,
        /// The parsed query.
        query: Box<Query>,
        /// Where the answer goes.
        reply: Reply<Page>,
    },
    /// Compute aggregates (CONTRACT section 13); confined exactly as a query.
    Aggregate {
        /// Who is asking.
        access: Access,
        /// The collection's name.
        collection: String,
        /// The parsed aggregates.
        aggregation: Box<Aggregation>,
        /// Where the answer goes: alias to value.
        reply: Reply<serde_json::Map<String, serde_json::Value>>,
    },
    /// List collections with their counts, sorted by name.
    Collections {
        /// Who is asking.
        access: Access,
        /// Where the answer goes.
        reply: Reply<Vec<CollectionInfo>>,
    },
    /// Check that the caller may read (or write) data at all, before its body is looked at, so
    /// that a credential error is never masked by a body error.
    AuthorizeData {
        /// Who is asking.
        access: Access,
        /// Whether the call would write.
        write: bool,
        /// Where the answer goes.
        reply: Reply<()>,
    },
    /// Check that a key is live; answers its effective permission.
    Authenticate {
        /// Who is asking.
        access: Access,
        /// Where the answer goes.
        reply: Reply<Permission>,
    },
    /// Open a realtime stream: check the credential, compute every query's window at one
    /// `seq` and subscribe, in this one message.
    Listen {
        /// Who is asking.
        access: Access,
        /// The named queries.
        queries: Vec<ListenQuery>,
        /// The client's `Last-Event-ID`, to resume after.
        last_event_id: Option<u64>,
        /// Where the answer goes.
        reply: Reply<Listener>,
    },
    /// The fan-out's question: a query's window right after commit `seq` (`None` when the log no
    /// longer holds the commits after it).
    WindowAt {
        /// The query.
        spec: Arc<Spec>,
        /// The commit.
        seq: u64,
        /// Where the answer goes.
        reply: RpcReplyPort<Option<Vec<Entry>>>,
    },
    /// The fan-out's liveness check: for each credential, why it is no longer accepted (if so).
    CheckAccess {
        /// Credentials of open streams.
        accesses: Vec<Access>,
        /// Where the answer goes, one entry per credential.
        reply: RpcReplyPort<Vec<Option<ProjectError>>>,
    },
    /// Operator calls.
    Admin(AdminMsg),
    /// End-user sign-up, sign-in, sessions and magic links.
    Auth(AuthMsg),
    /// Operator calls on end users (list, revoke sessions, delete).
    Users(UsersMsg),
    /// The TTL timer: expire due documents (done before every message) and retry refused deletes.
    Expire,
    /// Test hook: panic inside the actor, to exercise supervision.
    Crash,
    /// Ends the actor so that the supervisor reloads it from storage: sent after a failed
    /// commit, when memory holds writes the disk does not.
    Reload,
    /// A call from [`ProjectHandle`], with its place in the in-flight bound: applied only if
    /// its caller has not given up waiting; freed once the actor is done with it.
    Admitted {
        /// The call's place in the bound.
        slot: Slot,
        /// The call itself.
        msg: Box<ProjectMsg>,
    },
    /// The rest of a query no index serves (`project/scan.rs`), after the messages that arrived
    /// during its last slice.
    ScanSlice(Box<scan::SlicedScan>),
    /// Test hook: the actor takes no other message until the sender fires or is dropped.
    #[doc(hidden)]
    Stall(tokio::sync::oneshot::Receiver<()>),
}

/// A call's place in its project's in-flight bound, carried inside its message so that the
/// place is freed when the actor is done with the message (applied or dropped), not when the
/// caller stops waiting: a timed-out message still sits in the unbounded mailbox.
#[derive(Debug)]
pub struct Slot {
    fate: Arc<AtomicU8>,
    in_flight: Arc<AtomicUsize>,
}

const WAITING: u8 = 0;
const TAKEN: u8 = 1;
const ABANDONED: u8 = 2;

impl Slot {
    fn new(in_flight: Arc<AtomicUsize>) -> Slot {
        Slot {
            fate: Arc::new(AtomicU8::new(WAITING)),
            in_flight,
        }
    }

    /// The actor's side: whether the caller still waits (then the message is applied).
    fn take(&self) -> bool {
        self.fate
            .compare_exchange(WAITING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The caller's side: true when the actor had not taken the message, which it now drops unapplied.
fn abandon(fate: &AtomicU8) -> bool {
    fate.compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Settings an operator changes with `PATCH /admin/v1/projects/{id}`; `None` keeps a setting.
#[derive(Debug, Default)]
pub struct ProjectUpdate {
    /// The new name.
    pub name: Option<String>,
    /// Canonical origins magic links may redirect to and browsers may call from.
    pub allowed_origins: Option<Vec<String>>,
    /// The new session scope (`Some(None)` removes it); validated by the actor.
    pub session_scope: Option<Option<Value>>,
    /// TTL policies to set (`Some(path)`) or remove (`None`), by collection (CONTRACT section 14).
    pub ttl: Option<crate::ttl::PolicyUpdate>,
}

/// Operator calls on one project.
#[derive(Debug)]
pub enum AdminMsg {
    /// The project's record.
    Describe {
        /// Where the answer goes.
        reply: Reply<ProjectRecord>,
    },
    /// Change the project's settings.
    Update {
        /// What to change.
        update: ProjectUpdate,
        /// Where the answer goes.
        reply: Reply<(ProjectRecord, Ticket)>,
    },
    /// Remove every collection, user and session; keys stay.
    Reset {
        /// Where the answer goes.
        reply: Reply<Ticket>,
    },
    /// Make a new key.
    CreateKey {
        /// The key's name, e.g. `staging`.
        name: String,
        /// What the key may do.
        permission: Permission,
        /// Where the answer goes.
        reply: Reply<(IssuedKey, Ticket)>,
    },
    /// List keys without secrets.
    ListKeys {
        /// Where the answer goes.
        reply: Reply<Vec<KeyInfo>>,
    },
    /// Replace a key's secret; the old one dies at once.
    RegenerateKey {
        /// The key's id.
        key_id: String,
        /// Where the answer goes.
        reply: Reply<(IssuedKey, Ticket)>,
    },
    /// Delete a key.
    DeleteKey {
        /// The key's id.
        key_id: String,
        /// Where the answer goes.
        reply: Reply<Ticket>,
    },
    /// Number of documents in the project.
    DocumentCount {
        /// Where the answer goes.
        reply: Reply<usize>,
    },
    /// Apply a chunk of imported documents in one commit (`project/import.rs`).
    Import {
        /// The documents, with their line numbers.
        docs: Vec<ImportDoc>,
        /// Where the answer goes.
        reply: Reply<ImportOutcome>,
    },
}

/// What a project actor starts from.
pub struct ProjectArgs {
    /// The project's record.
    pub record: ProjectRecord,
    /// Its stored state (empty for a new project).
    pub snapshot: ProjectSnapshot,
    /// Where mutations go.
    pub storage: Storage,
    /// Clock and randomness.
    pub env: Env,
    /// Signs new keys.
    pub minter: KeyMinter,
    /// The project's byte quota over its stored documents (`--max-project-bytes`); 0 = none.
    pub max_bytes: u64,
}

/// The actor; stateless, its state lives in [`ProjectState`].
#[derive(Debug, Default)]
pub struct ProjectActor;

/// Everything one project owns.
pub struct ProjectState {
    record: ProjectRecord,
    /// The live key table by key id: a key whose id or nonce is not here is dead.
    keys: HashMap<String, KeyRecord>,
    /// Collections by name; a collection is removed when its last document is.
    collections: BTreeMap<String, Collection>,
    /// End users, their sessions and magic links, and sign-in throttles.
    users: Users,
    storage: Storage,
    env: Env,
    minter: KeyMinter,
    /// The commit sequence and the ring of recent commits.
    log: CommitLog,
    /// The realtime fan-out task of this project.
    hub: tokio::sync::mpsc::UnboundedSender<HubMsg>,
    /// Open realtime streams; commits go to the hub only while there are some.
    streams: Arc<AtomicUsize>,
    /// Sum of the encoded sizes of every stored document, kept on every write and on load.
    bytes: u64,
    /// The byte quota `bytes` may not grow past; 0 = no limit.
    max_bytes: u64,
    /// Due times of documents under a TTL policy, and the expiry timer.
    ttl: ttl::Ttl,
    /// The actor's own address, for work it re-enqueues (a sliced scan's next slice).
    myself: Option<ActorRef<ProjectMsg>>,
    /// The in-flight place of the call being handled, for a handler that answers later.
    taken_slot: Option<Slot>,
}

impl Actor for ProjectActor {
    type Msg = ProjectMsg;
    type State = ProjectState;
    /// Built beforehand by [`ProjectState::load`] on a blocking thread (see `registry`), so
    /// spawning never parses documents or builds indexes on an async worker.
    type Arguments = ProjectState;

    async fn pre_start(
        &self,
        myself: ActorRef<ProjectMsg>,
        mut state: ProjectState,
    ) -> Result<ProjectState, ActorProcessingErr> {
        // The state was built on a blocking thread before this actor existed; its realtime hub
        // needs the actor's address, so it starts here.
        state.hub = crate::realtime::Hub::spawn(myself.clone());
        state.myself = Some(myself.clone());
        state.attach_timer(myself);
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<ProjectMsg>,
        msg: ProjectMsg,
        state: &mut ProjectState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ProjectMsg::Reload => Err("reloading from storage after a failed commit".into()),
            ProjectMsg::Stall(released) => {
                let _ = released.await;
                Ok(())
            }
            ProjectMsg::Admitted { slot, msg } => {
                // A caller that gave up was told its request was not applied: keep that true.
                if slot.take() {
                    state.taken_slot = Some(slot);
                    state.handle(*msg);
                    drop(state.taken_slot.take());
                }
                Ok(())
            }
            msg @ ProjectMsg::ScanSlice(_) => {
                state.handle(msg);
                // Let the tasks queued on this worker (an HTTP request for a GET, say) run
                // between slices: the mailbox alone would not yield for up to 128 messages.
                tokio::task::yield_now().await;
                Ok(())
            }
            msg => {
                state.handle(msg);
                Ok(())
            }
        }
    }
}

impl ProjectState {
    /// Parses a project's stored state and builds its indexes: CPU-bound, so callers run it
    /// on a blocking thread.
    pub(crate) fn load(args: ProjectArgs) -> Result<ProjectState, ActorProcessingErr> {
        let ProjectArgs {
            record,
            snapshot,
            storage,
            env,
            minter,
            max_bytes,
        } = args;
        let mut keys = HashMap::with_capacity(snapshot.keys.len());
        for (id, bytes) in &snapshot.keys {
            let key: KeyRecord = serde_json::from_slice(bytes)
                .map_err(|e| format!("key {id} of project {} is corrupt: {e}", record.id))?;
            keys.insert(id.clone(), key);
        }
        let users = Users::load(&snapshot.users, &snapshot.sessions, &snapshot.magic_links)
            .map_err(|e| format!("project {}: {e}", record.id))?;
        let log = CommitLog::new(record.id.clone(), snapshot.seq);
        let mut collections = BTreeMap::new();
        let mut stored_bytes = 0u64;
        let mut expiries = crate::ttl::Expiries::default();
        for (name, docs) in snapshot.docs {
            let seqs = snapshot.doc_seqs.get(&name);
            stored_bytes += docs.values().map(|b| b.len() as u64).sum::<u64>();
            let mut collection = Collection::from_stored(docs).map_err(|(id, e)| {
                format!(
                    "document {name}/{id} of project {} is corrupt: {e}",
                    record.id
                )
            })?;
            // A document written before per-document seqs were stored takes the project's
            // last seq: later writes get higher ones, so its ETag still never repeats.
            collection.restore_seqs(|id| seqs.and_then(|s| s.get(id).copied()), snapshot.seq);
            if record.ttl.contains_key(name.as_str()) {
                let name_arc: Arc<str> = name.as_str().into();
                for id in collection.ids() {
                    let doc = collection.get(id).expect("listed ids are present");
                    if let Some(due) = ttl::due_at_load(&record.ttl, &name, doc) {
                        expiries.set(&name_arc, &id.into(), Some(due));
                    }
                }
            }
            if !collection.is_empty() {
                collections.insert(name, collection);
            }
        }
        let mut state = ProjectState {
            record,
            keys,
            collections,
            users,
            storage,
            env,
            minter,
            log,
            // Replaced by the actor's own hub in `pre_start`.
            hub: tokio::sync::mpsc::unbounded_channel().0,
            streams: Arc::new(AtomicUsize::new(0)),
            bytes: stored_bytes,
            max_bytes,
            ttl: ttl::Ttl::new(expiries),
            myself: None,
            taken_slot: None,
        };
        // Documents already due are gone before anything is served (their deletes submitted).
        state.expire_due();
        Ok(state)
    }

    fn handle(&mut self, msg: ProjectMsg) {
        // No message ever meets a due document (CONTRACT section 14; see `project/ttl.rs`): a
        // get checks its one document itself, so it (and the timer) sweep one step only.
        if matches!(msg, ProjectMsg::Get { .. } | ProjectMsg::Expire) {
            self.expire_step();
        } else {
            self.expire_due();
        }
        self.dispatch(msg);
        self.arm_timer();
    }

    fn dispatch(&mut self, msg: ProjectMsg) {
        match msg {
            ProjectMsg::Get {
                access,
                collection,
                id,
                reply,
            } => {
                let result = self
                    .authorize(&access, false)
                    .and_then(|reach| self.get(&collection, &id, reach.filter(&collection)?));
                let _ = reply.send(result);
            }
            ProjectMsg::Write {
                access,
                collection,
                op,
                precondition,
                reply,
            } => {
                let result = self.authorize(&access, true).and_then(|reach| {
                    let scope = reach.filter(&collection)?;
                    self.write_if(collection, op, precondition, scope)
                });
                let _ = reply.send(result);
            }
            ProjectMsg::Batch {
                access,
                ops,
                max_ops,
                reply,
            } => {
                let result = self.authorize(&access, true).map(|reach| {
                    self.commit_ops(ops, max_ops, &|collection| reach.filter(collection))
                });
                let _ = reply.send(result);
            }
            ProjectMsg::Query {
                access,
                collection,
                query,
                reply,
            } => {
                let scope = self
                    .authorize(&access, false)
                    .and_then(|reach| Ok(reach.filter(&collection)?.cloned()));
                match scope {
                    Ok(scope) => self.start_query(collection, query, scope, reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            ProjectMsg::Aggregate {
                access,
                collection,
                aggregation,
                reply,
            } => {
                let scope = self
                    .authorize(&access, false)
                    .and_then(|reach| Ok(reach.filter(&collection)?.cloned()));
                match scope {
                    Ok(scope) => self.start_aggregate(collection, aggregation, scope, reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            ProjectMsg::Collections { access, reply } => {
                let result = self
                    .authorize(&access, false)
                    .map(|reach| self.list(&reach));
                let _ = reply.send(result);
            }
            ProjectMsg::AuthorizeData {
                access,
                write,
                reply,
            } => {
                let _ = reply.send(self.authorize(&access, write).map(|_| ()));
            }
            ProjectMsg::Authenticate { access, reply } => {
                let _ = reply.send(self.authorize_auth(&access, false));
            }
            ProjectMsg::Listen {
                access,
                queries,
                last_event_id,
                reply,
            } => {
                let _ = reply.send(self.listen(access, queries, last_event_id));
            }
            ProjectMsg::WindowAt { spec, seq, reply } => {
                let _ = reply.send(self.window_at(&spec, seq));
            }
            ProjectMsg::CheckAccess { accesses, reply } => {
                let results = accesses
                    .iter()
                    .map(|a| self.authorize(a, false).err())
                    .collect();
                let _ = reply.send(results);
            }
            ProjectMsg::Admin(msg) => self.admin(msg),
            ProjectMsg::Auth(msg) => self.auth(msg),
            ProjectMsg::Users(msg) => self.users_admin(msg),
            ProjectMsg::Expire => self.timer_fired(),
            ProjectMsg::ScanSlice(scan) => self.scan_slice(scan),
            ProjectMsg::Reload | ProjectMsg::Stall(_) | ProjectMsg::Admitted { .. } => {
                unreachable!("handled before dispatch")
            }
            ProjectMsg::Crash => {
                panic!("test hook: crash requested for project {}", self.record.id)
            }
        }
    }
}

/// A cheap, cloneable handle to one project's actor, with typed calls that time out and refuse
/// work past a bound instead of queueing without limit.
#[derive(Clone)]
pub struct ProjectHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    id: String,
    /// The current actor; the supervisor swaps in a new one after a restart.
    actor: ArcSwap<ActorRef<ProjectMsg>>,
    /// Calls in the actor's mailbox or being handled now; bounded by [`MAX_IN_FLIGHT`]. Each
    /// message's [`Slot`] gives its place back when the actor is done with it.
    in_flight: Arc<AtomicUsize>,
    /// Data requests (document reads, writes, queries, collection listings) since start, for the
    /// dashboard's usage page. Not persisted.
    requests: AtomicU64,
}

impl std::fmt::Debug for ProjectHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectHandle")
            .field("id", &self.inner.id)
            .finish()
    }
}

impl ProjectHandle {
    pub(crate) fn new(id: String, actor: ActorRef<ProjectMsg>) -> ProjectHandle {
        ProjectHandle {
            inner: Arc::new(HandleInner {
                id,
                actor: ArcSwap::from_pointee(actor),
                in_flight: Arc::new(AtomicUsize::new(0)),
                requests: AtomicU64::new(0),
            }),
        }
    }

    /// The project's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Calls waiting on the actor now (its mailbox depth, as seen by callers).
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// Data requests made through this handle since the server started.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    fn count_request(&self) {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn replace_actor(&self, actor: ActorRef<ProjectMsg>) {
        self.inner.actor.store(Arc::new(actor));
    }

    /// Swaps in a new actor and answers the one it replaces (cluster reload).
    pub(crate) fn swap_actor(&self, actor: ActorRef<ProjectMsg>) -> Arc<ActorRef<ProjectMsg>> {
        self.inner.actor.swap(Arc::new(actor))
    }

    /// Stops the project's actor (a project that is gone after a cluster reload).
    pub(crate) fn stop(&self) {
        self.inner.actor.load().stop(None);
    }

    async fn call<T: Send + 'static>(
        &self,
        build: impl FnOnce(Reply<T>) -> ProjectMsg,
    ) -> Result<T, ProjectError> {
        let waiting = self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        let slot = Slot::new(self.inner.in_flight.clone());
        if waiting >= MAX_IN_FLIGHT {
            return Err(ProjectError::unavailable(
                "this project has too many requests in flight; retry after a short pause",
            ));
        }
        let fate = slot.fate.clone();
        let actor = self.inner.actor.load_full();
        let build = move |reply| ProjectMsg::Admitted {
            slot,
            msg: Box::new(build(reply)),
        };
        match actor.call(build, Some(CALL_TIMEOUT)).await {
            Ok(CallResult::Success(result)) => result,
            Ok(CallResult::Timeout) if abandon(&fate) => Err(ProjectError::unavailable(
                "the project did not answer in time; the request was not applied, so retrying is safe",
            )),
            Ok(CallResult::Timeout) => Err(ProjectError::unavailable(
                "the project did not answer in time; the request may have been applied, so read it back before retrying a write",
            )),
            // The actor dropped the reply: it failed while handling this very request.
            Ok(CallResult::SenderError) => Err(ProjectError::internal("internal error")),
            Err(_) => Err(ProjectError::unavailable(
                "the project is restarting; retry shortly",
            )),
        }
    }

    /// A document's stored bytes.
    pub async fn get(
        &self,
        access: Access,
        collection: String,
        id: String,
    ) -> Result<Bytes, ProjectError> {
        Ok(self.get_tagged(access, collection, id).await?.0)
    }

    /// A document's stored bytes and the `seq` of its last write (its ETag, [`crate::etag`]).
    pub async fn get_tagged(
        &self,
        access: Access,
        collection: String,
        id: String,
    ) -> Result<(Bytes, u64), ProjectError> {
        self.count_request();
        self.call(|reply| ProjectMsg::Get {
            access,
            collection,
            id,
            reply,
        })
        .await
    }

    /// Applies a write; await the returned ticket before acknowledging it.
    pub async fn write(
        &self,
        access: Access,
        collection: String,
        op: WriteOp,
    ) -> Result<Written, ProjectError> {
        self.write_if(access, collection, op, Precondition::none())
            .await
    }

    /// Applies a write when `precondition` holds (else 412 `precondition_failed`).
    pub async fn write_if(
        &self,
        access: Access,
        collection: String,
        op: WriteOp,
        precondition: Precondition,
    ) -> Result<Written, ProjectError> {
        self.count_request();
        self.call(|reply| ProjectMsg::Write {
            access,
            collection,
            op,
            precondition,
            reply,
        })
        .await
    }

    /// Applies 1 to `max_ops` ops as one commit, all or nothing, with one `seq` and one
    /// durability ticket (await [`Applied::ticket`] before acknowledging). Each op is checked as
    /// its single call would be; the first that fails is named by its index and nothing is
    /// applied. `POST /v1/batch` caps at [`MAX_BATCH_OPS`]; bulk loaders may choose more.
    pub async fn batch(
        &self,
        access: Access,
        ops: Vec<BatchOp>,
        max_ops: usize,
    ) -> Result<Applied, BatchError> {
        self.count_request();
        self.call(|reply| ProjectMsg::Batch {
            access,
            ops,
            max_ops,
            reply,
        })
        .await?
    }

    /// Runs a query.
    pub async fn query(
        &self,
        access: Access,
        collection: String,
        query: Query,
    ) -> Result<Page, ProjectError> {
        self.count_request();
        let query = Box::new(query);
        self.call(|reply| ProjectMsg::Query {
            access,
            collection,
            query,
            reply,
        })
        .await
    }

    /// Computes aggregates over a collection.
    pub async fn aggregate(
        &self,
        access: Access,
        collection: String,
        aggregation: Aggregation,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ProjectError> {
        self.count_request();
        let aggregation = Box::new(aggregation);
        self.call(|reply| ProjectMsg::Aggregate {
            access,
            collection,
            aggregation,
            reply,
        })
        .await
    }

    /// Opens a realtime stream (CONTRACT section 11).
    pub async fn listen(
        &self,
        access: Access,
        queries: Vec<ListenQuery>,
        last_event_id: Option<u64>,
    ) -> Result<Listener, ProjectError> {
        self.count_request();
        self.call(|reply| ProjectMsg::Listen {
            access,
            queries,
            last_event_id,
            reply,
        })
        .await
    }

    /// Lists collections.
    pub async fn collections(&self, access: Access) -> Result<Vec<CollectionInfo>, ProjectError> {
        self.count_request();
        self.call(|reply| ProjectMsg::Collections { access, reply })
            .await
    }

    /// Checks that `access` may reach data at all (writes when `write`); used when a request's
    /// body is invalid, so the credential error wins over the body error.
    pub async fn authorize_data(&self, access: Access, write: bool) -> Result<(), ProjectError> {
        self.call(|reply| ProjectMsg::AuthorizeData {
            access,
            write,
            reply,
        })
        .await
    }

    /// Checks a key; answers its effective permission.
    pub async fn authenticate(&self, access: Access) -> Result<Permission, ProjectError> {
        self.call(|reply| ProjectMsg::Authenticate { access, reply })
            .await
    }

    /// The project's record.
    pub async fn describe(&self) -> Result<ProjectRecord, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::Describe { reply }))
            .await
    }

    /// Changes the project's settings; durable on return. 400 for an invalid session scope.
    pub async fn update(&self, update: ProjectUpdate) -> Result<ProjectRecord, ProjectError> {
        let (record, ticket) = self
            .call(|reply| ProjectMsg::Admin(AdminMsg::Update { update, reply }))
            .await?;
        self.durable(ticket).await?;
        Ok(record)
    }

    /// Removes every collection, user and session; durable on return.
    pub async fn reset(&self) -> Result<(), ProjectError> {
        let ticket = self
            .call(|reply| ProjectMsg::Admin(AdminMsg::Reset { reply }))
            .await?;
        self.durable(ticket).await
    }

    /// Makes a key; durable on return.
    pub async fn create_key(
        &self,
        name: String,
        permission: Permission,
    ) -> Result<IssuedKey, ProjectError> {
        let (key, ticket) = self
            .call(|reply| {
                ProjectMsg::Admin(AdminMsg::CreateKey {
                    name,
                    permission,
                    reply,
                })
            })
            .await?;
        self.durable(ticket).await?;
        Ok(key)
    }

    /// Lists keys without secrets.
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::ListKeys { reply }))
            .await
    }

    /// Replaces a key's secret; durable on return.
    pub async fn regenerate_key(&self, key_id: String) -> Result<IssuedKey, ProjectError> {
        let (key, ticket) = self
            .call(|reply| ProjectMsg::Admin(AdminMsg::RegenerateKey { key_id, reply }))
            .await?;
        self.durable(ticket).await?;
        Ok(key)
    }

    /// Deletes a key; durable on return.
    pub async fn delete_key(&self, key_id: String) -> Result<(), ProjectError> {
        let ticket = self
            .call(|reply| ProjectMsg::Admin(AdminMsg::DeleteKey { key_id, reply }))
            .await?;
        self.durable(ticket).await
    }

    /// Number of documents.
    pub async fn document_count(&self) -> Result<usize, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::DocumentCount { reply }))
            .await
    }

    /// Applies a chunk of imported documents as one commit; await the outcome's ticket before
    /// reporting them imported.
    pub async fn import(&self, docs: Vec<ImportDoc>) -> Result<ImportOutcome, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::Import { docs, reply }))
            .await
    }

    /// Awaits a durability ticket. When the commit failed, memory holds a write the disk does
    /// not, so the actor is reloaded from storage and the caller gets 503.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), ProjectError> {
        match tokio::time::timeout(DURABILITY_TIMEOUT, ticket).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                let _ = self.inner.actor.load().cast(ProjectMsg::Reload);
                Err(e.into())
            }
            // The write stays queued and may still commit; the client was not told it did.
            Err(_) => Err(ProjectError::unavailable(
                "the disk did not confirm the write in time; it may or may not have been stored, so read it back before retrying",
            )),
        }
    }

    /// Test hook: makes the actor panic.
    pub fn crash(&self) {
        let _ = self.inner.actor.load().cast(ProjectMsg::Crash);
    }

    /// Test hook: the actor takes no other message until the answered sender fires or drops.
    #[doc(hidden)]
    pub fn stall(&self) -> tokio::sync::oneshot::Sender<()> {
        let (release, released) = tokio::sync::oneshot::channel();
        let _ = self.inner.actor.load().cast(ProjectMsg::Stall(released));
        release
    }
}
