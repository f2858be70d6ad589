//! A query no index serves, answered in slices that other work may interleave with, exactly
//! as of the moment it began (issue 13; driven by the project actor in `project/scan.rs`).
//!
//! # Exact as of one seq
//!
//! The answer is the query's over the collection as it was when [`SlicedQuery::begin`] ran.
//! The collection pins the before-state of every document changed from then on
//! ([`Collection::register_scan`]: recorded by `insert` and `remove`, first change wins, and
//! by `Drop` for every document left when the collection itself goes). So each document is
//! either
//!
//! * unchanged and not pinned: the slices see it in its starting state, once, in id order; or
//! * pinned: the slices skip it (whatever its current state), and [`SlicedQuery::finish`] adds
//!   its starting state (nothing for a document created since).
//!
//! A slice keeps only the best `limit` + 1 candidates (no other can make the page); `finish`
//! answers the query exactly over those, the pinned before-states and the `start_after`
//! anchor's starting state, through the ordinary planner on a small collection indexed afresh.
//! A document scanned, then pinned, appears in both with the same bytes, and the small
//! collection holds it once.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::plan::{Kept, StartPos};
use super::{Filter, Page, Query, QueryError, Start};
use crate::collection::{Collection, Pins};
use crate::index::DocId;

/// A query between two slices.
pub struct SlicedQuery {
    query: Box<Query>,
    scope: Option<Filter>,
    start: Option<StartPos>,
    /// The `start_after` anchor's starting bytes (`finish` needs it to place the start).
    anchor: Option<(DocId, Bytes)>,
    pins: Arc<Pins>,
    /// The last id visited; `None` before the first slice.
    after: Option<DocId>,
    kept: Vec<Kept>,
    done: bool,
}

impl std::fmt::Debug for SlicedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlicedQuery")
            .field("after", &self.after)
            .field("kept", &self.kept.len())
            .field("done", &self.done)
            .finish()
    }
}

/// What [`SlicedQuery::begin`] found.
#[derive(Debug)]
pub enum Begun {
    /// An index serves the query: here is its page.
    Answered(Page),
    /// No index serves it: run it in slices.
    Sliced(SlicedQuery),
}

impl SlicedQuery {
    /// Answers `query` at once when an index serves it or its scan would visit at most
    /// `above` documents, else starts recording the collection's changes and returns the
    /// scan, positioned before the first document.
    pub fn begin(
        c: &mut Collection,
        query: Box<Query>,
        scope: Option<Filter>,
        above: usize,
    ) -> Result<Begun, QueryError> {
        if let Some(page) = c.query_indexed(&query, scope.as_ref(), above)? {
            return Ok(Begun::Answered(page));
        }
        let start = c.start_pos(&query);
        let anchor = match &query.start {
            Some(Start::After(id)) => c
                .get_key_value_bytes(id)
                .map(|(id, bytes)| (id.clone(), bytes.clone())),
            _ => None,
        };
        let pins = c.register_scan();
        Ok(Begun::Sliced(SlicedQuery {
            query,
            scope,
            start,
            anchor,
            pins,
            after: None,
            kept: Vec::new(),
            done: false,
        }))
    }

    /// Visits up to `max` more documents of `c` (pass the collection the scan began on as it
    /// is now, or `None` when it is gone); answers whether the scan is complete.
    pub fn step(&mut self, c: Option<&Collection>, max: usize) -> bool {
        if self.done {
            return true;
        }
        let next = match c.filter(|c| c.records(&self.pins)) {
            Some(c) => {
                let pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
                c.scan_slice(
                    &self.query,
                    self.scope.as_ref(),
                    self.start.as_ref(),
                    self.after.as_deref(),
                    max,
                    |id| pins.contains_key(id),
                    &mut self.kept,
                )
            }
            // Gone (reset, or its last document deleted): its `Drop` pinned every document
            // the slices had not reached. A collection of that name made since is another.
            None => None,
        };
        match next {
            Some(after) => self.after = Some(after),
            None => self.done = true,
        }
        self.done
    }

    /// The page, exact as of [`Self::begin`]; call once [`Self::step`] says complete.
    pub fn finish(self) -> Result<Page, QueryError> {
        debug_assert!(self.done, "finish before the scan is complete");
        let pinned: Vec<(DocId, Option<Bytes>)> = self
            .pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        let mut docs: HashMap<DocId, Bytes> =
            self.kept.into_iter().map(|k| (k.id, k.bytes)).collect();
        if let Some((id, bytes)) = self.anchor {
            docs.insert(id, bytes);
        }
        for (id, before) in pinned {
            match before {
                Some(bytes) => docs.insert(id, bytes),
                None => docs.remove(&id),
            };
        }
        Collection::of_docs(docs).query(&self.query, self.scope.as_ref())
    }
}
