//! Queries no index serves, run in slices (issue 13): the actor visits at most
//! [`SLICE_DOCS`] documents, then re-enqueues the rest of the scan behind the messages that
//! arrived meanwhile, so a GET on the same project waits for one slice, not for the scan.
//!
//! The answer is exact as of the moment the scan began: see [`crate::query::sliced`].
//!
//! The call keeps its place in the in-flight bound until it answers; a caller that gave up
//! (its reply port closed) ends the scan at its next slice.

use super::{ProjectMsg, ProjectState, Reply, Slot};
use crate::error::ProjectError;
use crate::query::sliced::{Begun, SlicedQuery};
use crate::query::{Filter, Page, Query};

/// Most documents one slice visits (~0.3 ms of matching on a 2-core machine).
pub const SLICE_DOCS: usize = 1024;

/// A sliced scan between two slices.
pub(crate) struct SlicedScan {
    collection: String,
    scan: SlicedQuery,
    reply: Reply<Page>,
    /// The call's place in the in-flight bound, held until it answers.
    _slot: Option<Slot>,
}

impl std::fmt::Debug for SlicedScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlicedScan")
            .field("collection", &self.collection)
            .field("scan", &self.scan)
            .finish()
    }
}

impl ProjectState {
    /// Answers a query at once when an index serves it (or the collection is small), else
    /// starts a sliced scan.
    pub(super) fn start_query(
        &mut self,
        collection: String,
        query: Box<Query>,
        scope: Option<Filter>,
        reply: Reply<Page>,
    ) {
        let Some(c) = self
            .collections
            .get_mut(&collection)
            .filter(|c| c.len() > SLICE_DOCS)
        else {
            let _ = reply.send(self.query(&collection, &query, scope.as_ref()));
            return;
        };
        match SlicedQuery::begin(c, query, scope, SLICE_DOCS) {
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
            Ok(Begun::Answered(page)) => {
                let _ = reply.send(Ok(page));
            }
            Ok(Begun::Sliced(scan)) => {
                let scan = SlicedScan {
                    collection,
                    scan,
                    reply,
                    _slot: self.taken_slot.take(),
                };
                self.scan_slice(Box::new(scan));
            }
        }
    }

    /// Runs one slice; re-enqueues the scan, or answers when it is complete.
    pub(super) fn scan_slice(&mut self, mut scan: Box<SlicedScan>) {
        if scan.reply.is_closed() {
            return;
        }
        let complete = scan
            .scan
            .step(self.collections.get(&scan.collection), SLICE_DOCS);
        match self.myself.clone() {
            Some(myself) if !complete => {
                if let Err(ractor::MessagingErr::SendErr(ProjectMsg::ScanSlice(scan))) =
                    myself.cast(ProjectMsg::ScanSlice(scan))
                {
                    let _ = scan.reply.send(Err(ProjectError::unavailable(
                        "the project is restarting; retry shortly",
                    )));
                }
            }
            _ => {
                let SlicedScan { scan, reply, .. } = *scan;
                let _ = reply.send(scan.finish().map_err(Into::into));
            }
        }
    }
}
