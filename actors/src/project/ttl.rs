//! Time to live inside the project actor (CONTRACT section 14).
//!
//! Exactness comes from the actor being single-threaded: before every message except a get,
//! [`ProjectState::expire_due`] removes from memory every document due at that instant, so no
//! query, aggregate, listing, listen snapshot, window, write or admin call ever meets a due
//! document. A get looks at one document only, and asks [`ProjectState::is_expired`] about it;
//! so before a get (and on a timer tick) the sweep advances by one step of [`CHUNK`] documents
//! only ([`ProjectState::expire_step`]) and the timer is re-armed at once while documents are
//! still due: 100,000 documents due in the same millisecond never stall the gets that arrive
//! meanwhile, and never become visible to them.
//!
//! Each step is one commit (one `seq`, [`Reason::Expired`], so listeners get `removed` with
//! reason `expired`) whose deletes go through the normal commit path. A timer armed for the
//! earliest due time (at most [`MAX_TIMER_WAIT`] away) sends [`super::ProjectMsg::Expire`], so
//! deletes happen within a second with no traffic at all.
//!
//! Visibility never waits on the disk: whether a document is expired is a function of its
//! stored bytes and the clock, so a delete the writer refuses (overloaded) or loses (crash)
//! changes nothing a client can see: the document is gone from memory anyway, the delete is
//! retried on the next timer tick, and a restart drops every due document while loading.

use std::sync::Arc;
use std::time::Duration;

use mammoth_storage::Mutation;
use ractor::ActorRef;

use super::{ProjectMsg, ProjectState};
use crate::collection::StoredDoc;
use crate::commitlog::{DocChange, Reason};
use crate::ttl::{Expiries, PolicyUpdate, due_of};

/// Most documents one expiry commit deletes: one step of the sweep, between two gets.
pub(crate) const CHUNK: usize = 1_024;

/// Longest the timer sleeps, so that a clock that jumps (or a test's manual clock) is noticed
/// within a second.
const MAX_TIMER_WAIT: Duration = Duration::from_secs(1);

/// The project's TTL state: due times, the timer, and deletes still to submit.
#[derive(Debug)]
pub(crate) struct Ttl {
    /// Due times of covered documents and their min-heap.
    pub(crate) expiries: Expiries,
    /// The actor, for the timer to write to (set in `pre_start`).
    actor: Option<ActorRef<ProjectMsg>>,
    /// When the armed timer fires (epoch millis), and its task.
    armed: Option<(u64, tokio::task::AbortHandle)>,
    /// Expired documents whose storage delete was refused; resubmitted on the next tick.
    retry: Vec<(Arc<str>, Arc<str>)>,
}

impl Ttl {
    pub(crate) fn new(expiries: Expiries) -> Ttl {
        Ttl {
            expiries,
            actor: None,
            armed: None,
            retry: Vec::new(),
        }
    }
}

impl Drop for Ttl {
    fn drop(&mut self) {
        if let Some((_, timer)) = self.armed.take() {
            timer.abort();
        }
    }
}

impl ProjectState {
    /// THE rule of CONTRACT section 14: whether a document is expired now (its TTL field holds
    /// a timestamp at or before now). Memory never holds such a document when a message is
    /// handled ([`ProjectState::expire_due`] runs first); this answers for the instant it is
    /// called, for callers that check again at merge time (batch preconditions) and for get.
    pub(crate) fn is_expired(&self, collection: &str, id: &str) -> bool {
        self.ttl
            .expiries
            .due(collection, id)
            .is_some_and(|at| at <= self.env.now_millis())
    }

    /// Removes every document due now, one commit per [`CHUNK`]; run before every message.
    pub(super) fn expire_due(&mut self) {
        let now = self.env.now_millis();
        loop {
            let due = self.ttl.expiries.pop_due(now, CHUNK);
            if due.is_empty() {
                break;
            }
            self.expire(due);
        }
    }

    /// One step of the sweep: at most [`CHUNK`] due documents (before a get and on a tick; the
    /// timer is re-armed at once while more are due).
    pub(super) fn expire_step(&mut self) {
        let due = self.ttl.expiries.pop_due(self.env.now_millis(), CHUNK);
        if !due.is_empty() {
            self.expire(due);
        }
    }

    /// Removes these documents from memory and submits their deletes as one commit.
    fn expire(&mut self, due: Vec<(Arc<str>, Arc<str>)>) {
        let mut mutations = Vec::with_capacity(due.len() + 1);
        let mut changes = Vec::with_capacity(due.len());
        for (collection, id) in due {
            let Some(c) = self.collections.get_mut(&*collection) else {
                continue;
            };
            let Some(doc) = c.remove(&id) else {
                continue;
            };
            if c.is_empty() {
                self.collections.remove(&*collection);
            }
            self.bytes = self.bytes.saturating_sub(doc.bytes().len() as u64);
            mutations.push(Mutation::DeleteDoc {
                project: self.record.id.clone(),
                collection: collection.to_string(),
                id: id.to_string(),
            });
            changes.push(DocChange {
                collection,
                id,
                before: Some(doc.bytes().clone()),
                after: None,
                reason: Reason::Expired,
            });
        }
        if changes.is_empty() {
            return;
        }
        match self.submit_commit(mutations) {
            // The sweep's durability is nobody's reply: the ticket is not awaited.
            Ok((_ticket, watch)) => self.publish(changes, watch),
            Err(e) => {
                tracing::warn!(project = %self.record.id, error = %e, "expiry deletes refused; retrying on the next tick");
                self.ttl
                    .retry
                    .extend(changes.iter().map(|c| (c.collection.clone(), c.id.clone())));
                // Still one commit of the log: listeners learn of the expiry as of now (it is
                // true whatever the disk holds).
                let watch = (self.streams.load(std::sync::atomic::Ordering::Acquire) > 0)
                    .then(|| self.storage.durable_point());
                self.publish(changes, watch);
            }
        }
    }

    /// Resubmits refused expiry deletes, for documents memory still does not hold (one written
    /// again since then has a later put queued, which the delete must not overtake).
    fn retry_deletes(&mut self) {
        if self.ttl.retry.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.ttl.retry);
        for chunk in pending.chunks(CHUNK) {
            let mut mutations: Vec<Mutation> = chunk
                .iter()
                .filter(|(c, id)| {
                    self.collections
                        .get(&**c)
                        .is_none_or(|c| c.get(id).is_none())
                })
                .map(|(c, id)| Mutation::DeleteDoc {
                    project: self.record.id.clone(),
                    collection: c.to_string(),
                    id: id.to_string(),
                })
                .collect();
            if mutations.is_empty() {
                continue;
            }
            mutations.push(self.log.seq_mutation(self.log.last_seq()));
            if self.storage.submit(mutations).is_err() {
                self.ttl.retry.extend_from_slice(chunk);
            }
        }
    }

    /// Keeps due times in step with a commit's writes (every write path publishes its commit
    /// here, batches included): called by `publish`.
    pub(super) fn track_expiries(&mut self, changes: &[DocChange]) {
        if self.record.ttl.is_empty() {
            return;
        }
        for change in changes {
            if change.reason == Reason::Expired {
                continue;
            }
            let Some(path) = self.record.ttl.get(&*change.collection) else {
                continue;
            };
            let due = change.after.as_ref().and_then(|bytes| {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
                    .ok()
                    .and_then(|doc| due_of(&doc, path))
            });
            self.ttl.expiries.set(&change.collection, &change.id, due);
        }
    }

    /// Applies changed policies (the record already holds them): forgets the due times of each
    /// changed collection and computes them again under its new field, if any. Documents due
    /// under the new policy are removed before the next message.
    pub(super) fn apply_policies(&mut self, update: &PolicyUpdate) {
        for collection in update.keys() {
            self.ttl.expiries.clear_collection(collection);
            let (Some(path), Some(c)) = (
                self.record.ttl.get(collection),
                self.collections.get(collection),
            ) else {
                continue;
            };
            let name: Arc<str> = collection.as_str().into();
            let dues: Vec<(Arc<str>, u64)> = c
                .ids()
                .filter_map(|id| {
                    let due = due_of(&c.get(id)?.value(), path)?;
                    Some((Arc::from(id), due))
                })
                .collect();
            for (id, due) in dues {
                self.ttl.expiries.set(&name, &id, Some(due));
            }
        }
    }

    /// Lets the timer write to the actor, and arms it (from `pre_start`).
    pub(super) fn attach_timer(&mut self, actor: ActorRef<ProjectMsg>) {
        self.ttl.actor = Some(actor);
        self.arm_timer();
    }

    /// The timer fired.
    pub(super) fn timer_fired(&mut self) {
        self.ttl.armed = None;
        self.retry_deletes();
    }

    /// After every message: makes sure a timer fires no later than the earliest due time (or
    /// [`MAX_TIMER_WAIT`] from now), and that refused deletes get retried.
    pub(super) fn arm_timer(&mut self) {
        let next = match self.ttl.expiries.next_due() {
            Some(at) => Some(at),
            None if !self.ttl.retry.is_empty() => Some(0),
            None => None,
        };
        let Some(at) = next else {
            return;
        };
        let Some(actor) = self.ttl.actor.clone() else {
            return;
        };
        let now = self.env.now_millis();
        let wait = Duration::from_millis(at.saturating_sub(now)).min(MAX_TIMER_WAIT);
        let fires = now + wait.as_millis() as u64;
        if let Some((armed, _)) = &self.ttl.armed
            && *armed <= fires
        {
            return;
        }
        if let Some((_, old)) = self.ttl.armed.take() {
            old.abort();
        }
        let task = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = actor.cast(ProjectMsg::Expire);
        });
        self.ttl.armed = Some((fires, task.abort_handle()));
    }

    /// Forgets every due time (project reset).
    pub(super) fn clear_expiries(&mut self) {
        self.ttl.expiries.clear();
        self.ttl.retry.clear();
    }
}

/// While loading: the due time of a document of `collection` under `policies`.
pub(super) fn due_at_load(
    policies: &crate::ttl::Policies,
    collection: &str,
    doc: &StoredDoc,
) -> Option<u64> {
    let path = policies.get(collection)?;
    due_of(&doc.value(), path)
}
