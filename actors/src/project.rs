//! The project actor: the one owner of a project's collections, keys and records.
//!
//! Every request for a project becomes one message to its actor. The actor checks the caller's
//! credential against its live key table ([`crate::access`], `project/access.rs`), stages the
//! change, submits it to the storage writer and applies it to memory once the writer took it,
//! then replies at once with a durability [`Ticket`]: the HTTP handler waits for the disk, the
//! actor never does. User errors travel in the reply; only a bug (a panic) ends the actor, and
//! the supervisor in [`crate::registry`] then restarts it from storage.
//!
//! # Layout
//!
//! - this file: the message protocol's root ([`ProjectMsg`]), the actor and its state;
//! - `load.rs`: building the state from storage (on a blocking thread, before spawning);
//! - `handle.rs`: [`ProjectHandle`], the only way in (`call`, `durable`, the in-flight bound);
//! - `access.rs`: resolving a credential into what it may reach;
//! - one file per message family, each holding its enum, its handlers and its handle methods:
//!   `data.rs` (documents, queries), `admin.rs` (operator calls), `auth.rs` (end-user auth),
//!   `users_admin.rs` (operator calls on users); and the helpers they share: `documents.rs`,
//!   `batch.rs`, `import.rs`, `scan.rs`, `listen.rs`, `ttl.rs`.

mod access;
mod admin;
mod auth;
mod batch;
mod data;
mod documents;
mod handle;
mod import;
mod listen;
mod load;
mod scan;
mod ttl;
mod users_admin;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use mammoth_storage::Storage;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::collection::Collection;
use crate::commitlog::CommitLog;
use crate::env::Env;
use crate::error::ProjectError;
use crate::realtime::{Entry, HubMsg, ListenQuery, Listener, Spec};
use crate::records::{KeyMinter, KeyRecord, ProjectRecord};
use crate::users::Users;

pub use crate::access::{Access, KeyRef, Principal};
pub(crate) use crate::records::encode;
pub(crate) use admin::AdminMsg;
pub use admin::{ProjectOverview, ProjectUpdate};
pub(crate) use auth::AuthMsg;
pub use auth::IssuedLink;
pub use batch::{Applied, BatchError, BatchOp, MAX_BATCH_OPS, OpResult};
pub(crate) use data::DataMsg;
pub use data::{CollectionInfo, WriteOp, Written};
pub use documents::{MAX_DOC_BYTES, merge_patch};
pub(crate) use handle::Slot;
pub use handle::{Generation, ProjectHandle};
pub use import::{ImportDoc, ImportOutcome};
pub(crate) use load::ProjectArgs;
pub use scan::SLICE_DOCS;
pub(crate) use users_admin::UsersMsg;

type Reply<T> = RpcReplyPort<Result<T, ProjectError>>;

/// The messages a project actor handles. Build them through [`ProjectHandle`].
#[derive(Debug)]
pub(crate) enum ProjectMsg {
    /// Reads and writes of documents, queries, aggregates (`project/data.rs`).
    Data(DataMsg),
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
    /// commit, when memory holds writes the disk does not. Only the actor of that generation
    /// obeys: a failure reported late must not end the fresh actor that replaced the writer.
    Reload(Generation),
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

/// The actor; stateless, its state lives in [`ProjectState`].
#[derive(Debug, Default)]
pub(crate) struct ProjectActor;

/// Everything one project owns.
pub(crate) struct ProjectState {
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
        myself: ActorRef<ProjectMsg>,
        msg: ProjectMsg,
        state: &mut ProjectState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ProjectMsg::Reload(generation) if generation == Generation::of(&myself) => {
                Err("reloading from storage after a failed commit".into())
            }
            // A late failure of a write by an actor this one replaced: this one loaded the
            // disk's state after that failure, so it holds nothing the disk lacks.
            ProjectMsg::Reload(_) => Ok(()),
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
    fn handle(&mut self, msg: ProjectMsg) {
        // No message ever meets a due document (CONTRACT section 14; see `project/ttl.rs`): a
        // get checks its one document itself, so it (and the timer) sweep one step only.
        if matches!(
            msg,
            ProjectMsg::Data(DataMsg::Get { .. }) | ProjectMsg::Expire
        ) {
            self.expire_step();
        } else {
            self.expire_due();
        }
        self.dispatch(msg);
        self.arm_timer();
    }

    fn dispatch(&mut self, msg: ProjectMsg) {
        match msg {
            ProjectMsg::Data(msg) => self.data(msg),
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
            ProjectMsg::Reload(_) | ProjectMsg::Stall(_) | ProjectMsg::Admitted { .. } => {
                unreachable!("handled before dispatch")
            }
            ProjectMsg::Crash => {
                panic!("test hook: crash requested for project {}", self.record.id)
            }
        }
    }
}
