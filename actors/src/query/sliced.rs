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
//!
//! A [`SlicedAggregate`] does the same for aggregates: the slices feed the matching unchanged
//! documents to the running aggregates, and `finish` feeds the pinned before-states that match
//! (found by the planner over a small collection of them), so each document of the starting
//! state counts once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::aggregate::{Acc, Aggregation};
pub use super::plan::Budget;
use super::plan::{Kept, Slice, StartPos};
use super::{Filter, Page, Query, QueryError, Start};
use crate::collection::Collection;
use crate::index::DocId;

/// The before-states of the documents changed since a sliced scan began, recorded by the
/// collection ([`Collection::register_scan`]), first change wins.
#[derive(Debug, Default)]
pub(crate) struct Pins(Mutex<PinState>);

#[derive(Debug, Default)]
struct PinState {
    pinned: HashMap<DocId, Pinned>,
    /// The last id the slices visited (`None`: none yet).
    reached: Option<DocId>,
}

/// One document's starting state.
#[derive(Debug)]
struct Pinned {
    /// Its bytes; `None` when it did not exist.
    before: Option<Bytes>,
    /// Whether the slices had visited it (in this state) when it was pinned.
    visited: bool,
}

impl Pins {
    fn state(&self) -> std::sync::MutexGuard<'_, PinState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `id`'s state before a change, unless a change pinned it already.
    pub(crate) fn pin(&self, id: &DocId, before: Option<&Bytes>) {
        let mut state = self.state();
        let visited = state.reached.as_deref().is_some_and(|r| **id <= *r);
        state.pinned.entry(id.clone()).or_insert_with(|| Pinned {
            before: before.cloned(),
            visited,
        });
    }

    /// Records these documents' states (their collection goes).
    pub(crate) fn pin_all<'a>(&self, docs: impl Iterator<Item = (&'a DocId, &'a Bytes)>) {
        let mut state = self.state();
        let state = &mut *state;
        for (id, bytes) in docs {
            let visited = state.reached.as_deref().is_some_and(|r| **id <= *r);
            state.pinned.entry(id.clone()).or_insert_with(|| Pinned {
                before: Some(bytes.clone()),
                visited,
            });
        }
    }
}

/// Where a sliced scan is: the pins it reads, the last id visited, whether it is complete.
struct Position {
    pins: Arc<Pins>,
    /// The last id visited; `None` before the first slice.
    after: Option<DocId>,
    done: bool,
}

impl Position {
    fn new(c: &mut Collection) -> Position {
        Position {
            pins: c.register_scan(),
            after: None,
            done: false,
        }
    }

    /// Runs `slice` over `c` if it is still the collection the scan began on (with the last id
    /// visited and a test for pinned ids); answers whether the scan is complete.
    fn step(
        &mut self,
        c: Option<&Collection>,
        slice: impl FnOnce(&Collection, Option<&str>, &mut dyn FnMut(&str) -> bool) -> Slice,
    ) -> bool {
        if self.done {
            return true;
        }
        let next = match c.filter(|c| c.records(&self.pins)) {
            Some(c) => {
                let mut state = self.pins.state();
                let next = {
                    let pinned = &state.pinned;
                    let mut skip = |id: &str| !pinned.is_empty() && pinned.contains_key(id);
                    slice(c, self.after.as_deref(), &mut skip)
                };
                if let Slice::Paused(after) = &next {
                    state.reached = Some(after.clone());
                }
                next
            }
            // Gone (reset, or its last document deleted): its `Drop` pinned every document
            // the slices had not reached. A collection of that name made since is another.
            None => Slice::Stopped,
        };
        match next {
            Slice::Paused(after) => self.after = Some(after),
            Slice::Ended | Slice::Stopped => self.done = true,
        }
        self.done
    }

    /// The pinned documents, each with its starting bytes (`None`: created since) and whether
    /// a slice visited it in that state; ends the recording.
    fn take_pins(&self) -> Vec<(DocId, Option<Bytes>, bool)> {
        debug_assert!(self.done, "finish before the scan is complete");
        self.pins
            .state()
            .pinned
            .drain()
            .map(|(id, p)| (id, p.before, p.visited))
            .collect()
    }
}

/// A query between two slices.
pub struct SlicedQuery {
    query: Box<Query>,
    scope: Option<Filter>,
    start: Option<StartPos>,
    /// The `start_after` anchor's starting bytes (`finish` needs it to place the start).
    anchor: Option<(DocId, Bytes)>,
    at: Position,
    kept: Vec<Kept>,
}

impl std::fmt::Debug for SlicedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlicedQuery")
            .field("after", &self.at.after)
            .field("kept", &self.kept.len())
            .field("done", &self.at.done)
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
        Ok(Begun::Sliced(SlicedQuery {
            query,
            scope,
            start,
            anchor,
            at: Position::new(c),
            kept: Vec::new(),
        }))
    }

    /// Visits up to `max` more documents of `c` (pass the collection the scan began on as it
    /// is now, or `None` when it is gone); answers whether the scan is complete.
    pub fn step(&mut self, c: Option<&Collection>, max: usize) -> bool {
        self.step_within(c, Budget { max, until: None })
    }

    /// As [`Self::step`], within `budget`.
    pub fn step_within(&mut self, c: Option<&Collection>, budget: Budget) -> bool {
        let Self {
            query,
            scope,
            start,
            kept,
            ..
        } = self;
        self.at.step(c, |c, after, skip| {
            let (docs, indexes) = c.parts();
            super::plan::scan_slice(
                docs,
                indexes,
                query,
                scope.as_ref(),
                start.as_ref(),
                after,
                budget,
                skip,
                kept,
            )
        })
    }

    /// The page, exact as of [`Self::begin`]; call once [`Self::step`] says complete.
    pub fn finish(self) -> Result<Page, QueryError> {
        let pinned = self.at.take_pins();
        let mut docs: HashMap<DocId, Bytes> =
            self.kept.into_iter().map(|k| (k.id, k.bytes)).collect();
        if let Some((id, bytes)) = self.anchor {
            docs.insert(id, bytes);
        }
        for (id, before, _) in pinned {
            match before {
                Some(bytes) => docs.insert(id, bytes),
                None => docs.remove(&id),
            };
        }
        Collection::of_docs(docs).query(&self.query, self.scope.as_ref())
    }
}

/// What [`SlicedAggregate::begin`] found.
#[derive(Debug)]
pub enum AggBegun {
    /// The indexes serve it: here are the values.
    Answered(Map<String, Value>),
    /// No index serves its filter: run it in slices.
    Sliced(SlicedAggregate),
}

/// Aggregates between two slices.
pub struct SlicedAggregate {
    agg: Box<Aggregation>,
    scope: Option<Filter>,
    at: Position,
    acc: Acc,
}

impl std::fmt::Debug for SlicedAggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlicedAggregate")
            .field("after", &self.at.after)
            .field("done", &self.at.done)
            .finish()
    }
}

impl SlicedAggregate {
    /// Answers at once when the indexes serve `agg` or finding its documents would visit at
    /// most `above` of them, else starts recording the collection's changes and returns the
    /// scan, positioned before the first document.
    pub fn begin(
        c: &mut Collection,
        agg: Box<Aggregation>,
        scope: Option<Filter>,
        above: usize,
    ) -> AggBegun {
        let (docs, indexes) = c.parts();
        if let Some(values) =
            super::aggregate::run_indexed(docs, indexes, &agg, scope.as_ref(), above)
        {
            return AggBegun::Answered(values);
        }
        let acc = Acc::new(&agg);
        AggBegun::Sliced(SlicedAggregate {
            agg,
            scope,
            at: Position::new(c),
            acc,
        })
    }

    /// As [`SlicedQuery::step`].
    pub fn step(&mut self, c: Option<&Collection>, max: usize) -> bool {
        self.step_within(c, Budget { max, until: None })
    }

    /// As [`SlicedQuery::step_within`].
    pub fn step_within(&mut self, c: Option<&Collection>, budget: Budget) -> bool {
        let Self {
            agg, scope, acc, ..
        } = self;
        self.at.step(c, |c, after, skip| {
            let (docs, indexes) = c.parts();
            super::plan::aggregate_slice(
                docs,
                indexes,
                agg,
                scope.as_ref(),
                after,
                budget,
                skip,
                acc,
            )
        })
    }

    /// The values, exact as of [`Self::begin`]; call once [`Self::step`] says complete.
    pub fn finish(mut self) -> Map<String, Value> {
        // The pinned documents the slices did not count, in their starting state.
        let before = self
            .at
            .take_pins()
            .into_iter()
            .filter(|(_, _, visited)| !visited)
            .filter_map(|(id, bytes, _)| Some((id, bytes?)));
        let small = Collection::of_docs(before);
        let (docs, indexes) = small.parts();
        let query = self.agg.query(docs.len());
        let pids = self.agg.path_ids(indexes);
        for doc in super::plan::matching(docs, indexes, &query, self.scope.as_ref(), None)
            .unwrap_or_default()
        {
            self.acc.add(&self.agg, &pids, doc);
        }
        self.acc.values(&self.agg)
    }
}

/// When a slice that starts now must end, for a CPU budget of `micros`.
pub fn deadline(micros: u64) -> Instant {
    Instant::now() + std::time::Duration::from_micros(micros)
}
