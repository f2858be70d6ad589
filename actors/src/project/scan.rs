//! Queries and aggregates no index serves, run in slices (issue 13): the actor spends at most
//! [`SLICE_MICROS`] of CPU on one slice, then re-enqueues the rest of the scan behind the
//! messages that arrived meanwhile, so a GET on the same project waits for one slice, not for
//! the scan.
//!
//! The answer is exact as of the moment the scan began: see [`crate::query::sliced`].
//!
//! The call keeps its place in the in-flight bound until it answers; a caller that gave up
//! (its reply port closed) ends the scan at its next slice.

use serde_json::{Map, Value};

use super::{ProjectMsg, ProjectState, Reply, Slot};
use crate::error::ProjectError;
use crate::query::sliced::{AggBegun, Begun, Budget, SlicedAggregate, SlicedQuery, deadline};
use crate::query::{Aggregation, Filter, Page, Query};

/// Collections of at most this many documents are scanned in one go (well under a slice).
pub const SLICE_DOCS: usize = 1024;

/// The CPU one slice may take, in microseconds (read every few dozen documents).
const SLICE_MICROS: u64 = 150;

/// Most documents one slice visits, whatever the clock says.
const SLICE_MAX_DOCS: usize = 64 * 1024;

/// A sliced query or aggregate and where its answer goes.
enum Work {
    Query(SlicedQuery, Reply<Page>),
    Aggregate(SlicedAggregate, Reply<Map<String, Value>>),
}

/// A sliced scan between two slices.
pub(crate) struct SlicedScan {
    collection: String,
    work: Work,
    /// The call's place in the in-flight bound, held until it answers.
    _slot: Option<Slot>,
}

impl std::fmt::Debug for SlicedScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("SlicedScan");
        d.field("collection", &self.collection);
        match &self.work {
            Work::Query(scan, _) => d.field("query", scan),
            Work::Aggregate(scan, _) => d.field("aggregate", scan),
        };
        d.finish()
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
            Ok(Begun::Sliced(scan)) => self.start_scan(collection, Work::Query(scan, reply)),
        }
    }

    /// Answers aggregates at once when the indexes serve them (or the collection is small),
    /// else starts a sliced scan.
    pub(super) fn start_aggregate(
        &mut self,
        collection: String,
        aggregation: Box<Aggregation>,
        scope: Option<Filter>,
        reply: Reply<Map<String, Value>>,
    ) {
        let Some(c) = self
            .collections
            .get_mut(&collection)
            .filter(|c| c.len() > SLICE_DOCS)
        else {
            let _ = reply.send(Ok(self.aggregate(
                &collection,
                &aggregation,
                scope.as_ref(),
            )));
            return;
        };
        match SlicedAggregate::begin(c, aggregation, scope, SLICE_DOCS) {
            AggBegun::Answered(values) => {
                let _ = reply.send(Ok(values));
            }
            AggBegun::Sliced(scan) => self.start_scan(collection, Work::Aggregate(scan, reply)),
        }
    }

    fn start_scan(&mut self, collection: String, work: Work) {
        let scan = SlicedScan {
            collection,
            work,
            _slot: self.taken_slot.take(),
        };
        self.scan_slice(Box::new(scan));
    }

    /// Runs one slice; re-enqueues the scan, or answers when it is complete.
    pub(super) fn scan_slice(&mut self, mut scan: Box<SlicedScan>) {
        let budget = Budget {
            max: SLICE_MAX_DOCS,
            until: Some(deadline(SLICE_MICROS)),
        };
        let c = self.collections.get(&scan.collection);
        let complete = match &mut scan.work {
            Work::Query(q, reply) if !reply.is_closed() => q.step_within(c, budget),
            Work::Aggregate(a, reply) if !reply.is_closed() => a.step_within(c, budget),
            // The caller gave up.
            _ => return,
        };
        match self.myself.clone() {
            Some(myself) if !complete => {
                if let Err(ractor::MessagingErr::SendErr(ProjectMsg::ScanSlice(scan))) =
                    myself.cast(ProjectMsg::ScanSlice(scan))
                {
                    let e = ProjectError::unavailable("the project is restarting; retry shortly");
                    match scan.work {
                        Work::Query(_, reply) => drop(reply.send(Err(e))),
                        Work::Aggregate(_, reply) => drop(reply.send(Err(e))),
                    }
                }
            }
            _ => match scan.work {
                Work::Query(q, reply) => drop(reply.send(q.finish().map_err(Into::into))),
                Work::Aggregate(a, reply) => drop(reply.send(Ok(a.finish()))),
            },
        }
    }
}
