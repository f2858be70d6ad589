//! The one way in to a project actor: [`ProjectHandle`]. Every call takes a place in the
//! project's in-flight bound ([`MAX_IN_FLIGHT`], else 503), times out after [`CALL_TIMEOUT`],
//! and tells its caller whether a timed-out request was applied. [`ProjectHandle::durable`]
//! awaits a write's durability ticket and reloads the actor when the commit failed. The typed
//! methods of each message family live with that family (`data.rs`, `admin.rs`, `auth.rs`,
//! `users_admin.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use mammoth_storage::Ticket;
use ractor::ActorRef;
use ractor::rpc::CallResult;

use super::{ProjectMsg, Reply};
use crate::error::ProjectError;

/// One incarnation of a project's actor: its ractor id, new at every (re)start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(ractor::ActorId);

impl Generation {
    pub(super) fn of(actor: &ActorRef<ProjectMsg>) -> Generation {
        Generation(actor.get_id())
    }
}

/// How long a caller waits for a project actor before answering 503.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a caller waits for the disk to confirm a write before answering 503.
const DURABILITY_TIMEOUT: Duration = Duration::from_secs(30);

/// Most requests that may wait on one project at once; past it callers get 503 instead of growing
/// the (unbounded) ractor mailbox.
const MAX_IN_FLIGHT: usize = 4_096;

/// A call's place in its project's in-flight bound, carried inside its message so that the
/// place is freed when the actor is done with the message (applied or dropped), not when the
/// caller stops waiting: a timed-out message still sits in the unbounded mailbox.
#[derive(Debug)]
pub(crate) struct Slot {
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
    pub(super) fn take(&self) -> bool {
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

    pub(super) fn count_request(&self) {
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

    pub(super) async fn call<T: Send + 'static>(
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

    /// The generation of the actor serving this handle now; a restart makes a new one.
    pub fn generation(&self) -> Generation {
        Generation::of(&self.inner.actor.load())
    }

    /// Awaits a durability ticket. When the commit failed, memory holds a write the disk does
    /// not, so the actor that wrote it is reloaded from storage and the caller gets 503. The
    /// writer is the actor serving the handle when the wait starts (tickets are awaited right
    /// after the reply that carried them); the reload names its generation, so a failure that
    /// arrives after a restart leaves the fresh actor alone.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), ProjectError> {
        let writer = self.generation();
        match tokio::time::timeout(DURABILITY_TIMEOUT, ticket).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.reload(writer);
                Err(e.into())
            }
            // The write stays queued and may still commit; the client was not told it did.
            Err(_) => Err(ProjectError::unavailable(
                "the disk did not confirm the write in time; it may or may not have been stored, so read it back before retrying",
            )),
        }
    }

    /// Asks the actor of `generation` to end and be reloaded from storage; an actor of another
    /// generation ignores it. Sent by [`ProjectHandle::durable`]; public as a test hook.
    #[doc(hidden)]
    pub fn reload(&self, generation: Generation) {
        let _ = self.inner.actor.load().cast(ProjectMsg::Reload(generation));
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
