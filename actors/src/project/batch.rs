//! Writes applied as one commit: a batch (CONTRACT section 12) and, as a batch of one, every
//! single-document write.
//!
//! [`ProjectState::commit_ops`] plans every op in order against the committed state overlaid by
//! the earlier ops ([`Staged`]), checking each op's precondition, credentials and the quota as
//! it goes; only when every op passes does it submit one storage transaction (one `seq`, one
//! durability ticket), install the documents in memory and append one commit to the log (one
//! `changes` event per listener). An op that fails leaves no trace: nothing was submitted and
//! memory was not touched. Each document appears once in the commit, as its net change.
//!
//! Decisions where the contract is silent (also in `docs/DESIGN.md`):
//! - Ops see the earlier ops of their batch (a merge after a create of the same id merges into
//!   it); preconditions (`if_match`, `exists`) are checked against that state too. A document
//!   written by the batch has the batch's `seq` as its ETag.
//! - A precondition is checked against the document as the caller sees it: one outside the
//!   caller's scope does not exist for it, so a 412 never tells it apart from a missing one.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use mammoth_storage::{Mutation, Ticket};

use super::{ProjectState, WriteOp, Written};
use crate::collection::StoredDoc;
use crate::commitlog::{DocChange, Reason};
use crate::error::{ErrorCode, ProjectError};
use crate::etag::Precondition;
use crate::ids::rfc3339_millis;
use crate::query::Filter;

/// Most ops one `POST /v1/batch` may carry (CONTRACT section 12); other callers of
/// [`super::ProjectHandle::batch`] (bulk import) choose their own cap.
pub const MAX_BATCH_OPS: usize = 500;

/// One op of a batch: a write to one document, under a precondition.
#[derive(Debug)]
pub struct BatchOp {
    /// The collection.
    pub collection: String,
    /// The change, validated as for the single call.
    pub op: WriteOp,
    /// What must hold of the document first.
    pub precondition: Precondition,
}

/// What one op did.
#[derive(Debug, Clone)]
pub struct OpResult {
    /// The document as this op left it (none for a delete).
    pub doc: Option<Bytes>,
    /// Whether the op created the document.
    pub created: bool,
}

/// A batch applied in memory and submitted to storage as one commit.
#[derive(Debug)]
pub struct Applied {
    /// One result per op, in order.
    pub results: Vec<OpResult>,
    /// The commit's `seq`: the ETag of every document the batch wrote.
    pub seq: u64,
    /// Completes when the commit is durable.
    pub ticket: Ticket,
}

/// Why a batch was refused: one op's error (`op` is its index), or the batch's own (`op` is
/// `None`: too many ops, storage overloaded, credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    /// The index of the op that failed.
    pub op: Option<usize>,
    /// What went wrong.
    pub error: ProjectError,
}

impl From<ProjectError> for BatchError {
    fn from(error: ProjectError) -> BatchError {
        BatchError { op: None, error }
    }
}

/// What a batch needs to find a collection's scope: the caller's reach, or a fixed scope.
pub(super) type ScopeOf<'s> = dyn Fn(&str) -> Result<Option<&'s Filter>, ProjectError> + 's;

/// The documents the ops planned so far have changed, over the committed state.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// Collection, then id, to the document's place in `entries`: looked up by `&str`, so
    /// asking about a document allocates nothing.
    index: HashMap<String, HashMap<String, usize>>,
    /// Each touched document, in the order first touched (the order of the commit's changes),
    /// with its state after the last op on it (`None`: deleted).
    entries: Vec<(String, String, Option<StoredDoc>)>,
    /// Growth of the project's stored bytes so far (may be negative).
    growth: i64,
}

impl Staged {
    /// Whether no document was staged.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The staged state of a document: `None` when no op touched it, `Some(None)` when deleted.
    fn get(&self, collection: &str, id: &str) -> Option<&Option<StoredDoc>> {
        let at = *self.index.get(collection)?.get(id)?;
        self.entries.get(at).map(|(_, _, state)| state)
    }

    /// Sets a document's staged state.
    fn set(&mut self, collection: String, id: String, state: Option<StoredDoc>) {
        let next = self.entries.len();
        // The collection's name is copied only the first time it is touched.
        if !self.index.contains_key(&collection) {
            self.index.insert(collection.clone(), HashMap::new());
        }
        let Some(ids) = self.index.get_mut(&collection) else {
            unreachable!("the collection's map was just inserted")
        };
        match ids.get(&id) {
            Some(&at) => self.entries[at].2 = state,
            None => {
                ids.insert(id.clone(), next);
                self.entries.push((collection, id, state));
            }
        }
    }
}

/// What one op does to its document.
pub(crate) enum Planned {
    /// It now holds this document.
    Put {
        /// The new state.
        doc: StoredDoc,
        /// Whether it did not exist before this op.
        created: bool,
    },
    /// It no longer exists.
    Delete,
}

impl ProjectState {
    /// A single-document write under a precondition (`If-Match`, `If-None-Match`).
    pub(super) fn write_if(
        &mut self,
        collection: String,
        op: WriteOp,
        precondition: Precondition,
        scope: Option<&Filter>,
    ) -> Result<Written, ProjectError> {
        let op = BatchOp {
            collection,
            op,
            precondition,
        };
        let applied = self
            .commit_ops(vec![op], 1, &|_| Ok(scope))
            .map_err(|e| e.error)?;
        let Applied {
            results,
            seq,
            ticket,
        } = applied;
        let result = results.into_iter().next().ok_or_else(|| {
            ProjectError::internal("a one-op commit answered no result for its op")
        })?;
        Ok(Written {
            doc: result.doc,
            created: result.created,
            ticket,
            seq,
        })
    }

    /// Applies 1 to `max_ops` ops as one commit, all or nothing (see the module docs).
    /// `scope_of` answers each op's collection's scope, or the 403 the single call would get.
    pub(super) fn commit_ops(
        &mut self,
        ops: Vec<BatchOp>,
        max_ops: usize,
        scope_of: &ScopeOf<'_>,
    ) -> Result<Applied, BatchError> {
        if ops.is_empty() || ops.len() > max_ops {
            return Err(ProjectError::bad_request(format!(
                "a batch holds 1 to {max_ops} ops, found {}",
                ops.len()
            ))
            .into());
        }
        let now = rfc3339_millis(self.env.now_millis());
        let mut staged = Staged::default();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.into_iter().enumerate() {
            let at = |error| BatchError { op: Some(i), error };
            results.push(self.plan_op(&mut staged, op, &now, scope_of).map_err(at)?);
        }

        let (seq, ticket) = self.commit_staged(staged)?;
        Ok(Applied {
            results,
            seq,
            ticket,
        })
    }

    /// THE commit of every document write (single, batch, import): submits the staged net
    /// changes as one storage transaction with the next `seq`, installs them in memory (indexes,
    /// byte count), and appends one commit to the log (listeners, TTL). A storage refusal
    /// (overload, closed) leaves no trace. Answers the commit's `seq` and durability ticket.
    pub(super) fn commit_staged(&mut self, staged: Staged) -> Result<(u64, Ticket), ProjectError> {
        let seq = self.log.next_seq();
        let project = &self.record.id;
        let mut mutations = Vec::with_capacity(staged.entries.len() + 1);
        let mut finals = Vec::with_capacity(staged.entries.len());
        for (collection, id, state) in staged.entries {
            let existed = self.existing(&collection, &id).is_some();
            let state = state.map(|doc| doc.with_seq(seq));
            match &state {
                Some(doc) => mutations.push(Mutation::PutDoc {
                    project: project.clone(),
                    collection: collection.clone(),
                    id: id.clone(),
                    doc: doc.bytes().clone(),
                    seq,
                }),
                // Created and deleted within the batch: nothing to write or report.
                None if !existed => continue,
                None => mutations.push(Mutation::DeleteDoc {
                    project: project.clone(),
                    collection: collection.clone(),
                    id: id.clone(),
                }),
            }
            finals.push((collection, id, state));
        }
        let (ticket, watch) = self.submit_commit(mutations)?;

        let mut changes = Vec::with_capacity(finals.len());
        // A batch usually writes one collection: its name is shared, not copied per document.
        let mut name: Option<Arc<str>> = None;
        for (collection, id, state) in finals {
            let after = state.as_ref().map(|doc| doc.bytes().clone());
            let change_id: Arc<str> = Arc::from(id.as_str());
            let before = self.install(&collection, id, state);
            let shared = match &name {
                Some(n) if **n == *collection => Arc::clone(n),
                _ => {
                    let n: Arc<str> = collection.into();
                    name = Some(Arc::clone(&n));
                    n
                }
            };
            changes.push(DocChange {
                collection: shared,
                id: change_id,
                before,
                after,
                reason: Reason::Write,
            });
        }
        self.publish(changes, watch);
        debug_assert_eq!(self.log.last_seq(), seq);
        Ok((seq, ticket))
    }

    /// Stages `state` as a document's new state (`None`: deleted), after checking the byte
    /// quota against the project as the earlier staged ops leave it.
    pub(super) fn stage(
        &self,
        staged: &mut Staged,
        collection: String,
        id: String,
        state: Option<StoredDoc>,
    ) -> Result<(), ProjectError> {
        let old_len = self
            .current(staged, &collection, &id)
            .map_or(0, |doc| doc.bytes().len() as u64);
        match &state {
            Some(doc) => {
                let new_len = doc.bytes().len() as u64;
                // The quota counts the batch's earlier ops: the project as it would stand.
                let project_now = self.bytes.saturating_add_signed(staged.growth);
                self.check_quota(project_now, old_len, new_len)?;
                staged.growth += new_len as i64 - old_len as i64;
            }
            None => staged.growth -= old_len as i64,
        }
        staged.set(collection, id, state);
        Ok(())
    }

    /// Checks and plans one op against the staged state, and stages its outcome.
    fn plan_op(
        &self,
        staged: &mut Staged,
        op: BatchOp,
        now: &str,
        scope_of: &ScopeOf<'_>,
    ) -> Result<OpResult, ProjectError> {
        let BatchOp {
            collection,
            op,
            precondition,
        } = op;
        let scope = scope_of(&collection)?;
        if !precondition.is_none() {
            let current = match target_id(&op) {
                Some(id) => self
                    .current_in_scope(staged, &collection, id, scope)
                    .map(StoredDoc::seq),
                None => None,
            };
            if !precondition.holds(current) {
                return Err(precondition_failed(
                    &collection,
                    target_id(&op),
                    &precondition,
                ));
            }
        }
        let (id, planned) = self.plan_write(staged, &collection, op, scope, now)?;
        match planned {
            Planned::Put { doc, created } => {
                // Later ops of the batch see the document at the batch's seq.
                let doc = doc.with_seq(self.log.next_seq());
                let result = OpResult {
                    doc: Some(doc.bytes().clone()),
                    created,
                };
                self.stage(staged, collection, id, Some(doc))?;
                Ok(result)
            }
            Planned::Delete => {
                self.stage(staged, collection, id, None)?;
                Ok(OpResult {
                    doc: None,
                    created: false,
                })
            }
        }
    }

    /// The document as the batch's earlier ops left it.
    pub(super) fn current<'a>(
        &'a self,
        staged: &'a Staged,
        collection: &str,
        id: &str,
    ) -> Option<&'a StoredDoc> {
        match staged.get(collection, id) {
            Some(state) => state.as_ref(),
            None => self.existing(collection, id),
        }
    }

    /// [`Self::current`], when it matches `scope` (when there is one).
    pub(super) fn current_in_scope<'a>(
        &'a self,
        staged: &'a Staged,
        collection: &str,
        id: &str,
        scope: Option<&Filter>,
    ) -> Option<&'a StoredDoc> {
        match staged.get(collection, id) {
            Some(state) => state
                .as_ref()
                .filter(|doc| scope.is_none_or(|f| f.matches(&doc.value()))),
            None => self.in_scope(collection, id, scope),
        }
    }
}

/// The id an op names (a create without one names none: it makes a fresh id).
fn target_id(op: &WriteOp) -> Option<&str> {
    match op {
        WriteOp::Create { id, .. } => id.as_deref(),
        WriteOp::Replace { id, .. } | WriteOp::Merge { id, .. } | WriteOp::Delete { id } => {
            Some(id)
        }
    }
}

fn precondition_failed(collection: &str, id: Option<&str>, pre: &Precondition) -> ProjectError {
    let id = id.unwrap_or("(new)");
    let what = match (pre.exists, &pre.if_match) {
        (Some(false), _) => "must not exist, but it does",
        (Some(true), None) => "must exist, but it does not",
        _ => "does not exist with the ETag given (it changed or was deleted)",
    };
    ProjectError::new(
        ErrorCode::PreconditionFailed,
        format!(
            "precondition failed: document '{id}' in '{collection}' {what}; read it again (GET gives its current ETag) and retry"
        ),
    )
}
