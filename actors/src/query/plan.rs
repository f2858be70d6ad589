//! Planning and running a query inside the project actor.
//!
//! [`choose`] chooses the plan; [`ranges`] turns conditions into index ranges and counts them;
//! [`run`] executes the chosen plan and builds the page.
//!
//! The answer is defined by the full scan: every document matching the filter (and scope),
//! ordered by (sort keys, id), starting after the start position, `limit` + 1 of them (the extra
//! one only says whether another page exists). Every plan below produces exactly that; they
//! differ only in how many documents they look at.
//!
//! * **Ordered walk** (the design notes' (a) and (b)): walk one field's index in the order of
//!   the result, skip what fails the filter, stop at `limit` + 1. It applies when the walked
//!   field is the first sort field (its key groups come out in sort order; within a group the
//!   remaining sort fields are applied to the group), or when there is no sort and the walked
//!   range is one value (its posting lists ids ascending). Walking the first sort field without a
//!   condition on it is only correct when every document has that field (documents missing it
//!   sort first and are in no index), which [`FieldIndex::docs`] tells.
//! * **Candidate collection** ((c)): take every candidate of the most selective condition's
//!   index range and keep the best `limit` + 1 by (sort, id) in a bounded buffer.
//! * **Walk, then the missing**: sorted descending on a field some documents lack, those sort
//!   last; walk the field's index in order, and scan for the lacking documents only when the
//!   walk leaves the page short (the last page). Ascending on that one field, they come first
//!   and in id order: an id-ordered scan for them stops when the page is full, then the walk.
//! * **Scan**: every document, in id order (ordered when there is no sort).
//!
//! The choice compares costs in documents visited. A candidate set costs its size: exact for
//! `$eq`/`$in` (the postings' lengths), counted for ranges only as far as it could matter. An
//! ordered walk costs about `(limit + 1) / s` visits, where `s` is the fraction of documents
//! passing the most selective condition the walk does not serve (conditions taken as
//! independent), and never more than its range holds. The cheapest wins; with no usable index
//! and no order to exploit, the scan.
//!
//! Paging resumes inside the index: an ordered walk starts its range at the start position's
//! key (`Included`, then skips ids up to the position's id inside that one group), never from
//! the beginning.

mod choose;
mod ranges;
mod run;
mod slice;

pub(crate) use self::run::key_at;
pub use self::slice::Budget;
pub(crate) use self::slice::{Kept, Slice, StartPos, aggregate_slice, scan_slice, start_pos};

use std::borrow::Cow;
use std::ops::Bound::Unbounded;

use self::choose::{Costed, Plan, choose_costed};
use self::run::{Group, Pos, Resolved, Run, Sorter, matches_all, matches_groups, resolve_filter};
use super::filter::Filter;
use super::{Page, Query, QueryError, Start};
use crate::collection::{Docs, StoredDoc};
use crate::index::Indexes;

/// Answers `query` (restricted to `scope`) over `docs` and their `indexes`.
pub(crate) fn execute(
    docs: &Docs,
    indexes: &Indexes,
    query: &Query,
    scope: Option<&Filter>,
) -> Result<Page, QueryError> {
    let page = run_query(docs, indexes, query, scope, None, |run| run.page(query))?;
    Ok(page.unwrap_or_default())
}

/// As [`execute`], unless the chosen plan scans the collection (no index serves the query)
/// and is estimated to visit more than `above` documents: then `Ok(None)`, and the caller
/// runs it in slices (`query/sliced.rs`).
pub(crate) fn execute_indexed(
    docs: &Docs,
    indexes: &Indexes,
    query: &Query,
    scope: Option<&Filter>,
    above: usize,
) -> Result<Option<Page>, QueryError> {
    run_query(docs, indexes, query, scope, Some(above), |run| {
        run.page(query)
    })
}

/// Every document matching `filter` (and `scope`), through the same plans as a query; `None`
/// when `probe` is given and the plan scans more than that many documents (as
/// [`execute_indexed`]).
/// `query` must have no sort and no start, and a limit of at least the collection's size.
pub(crate) fn matching<'d>(
    docs: &'d Docs,
    indexes: &'d Indexes,
    query: &'d Query,
    scope: Option<&'d Filter>,
    probe: Option<usize>,
) -> Option<Vec<&'d StoredDoc>> {
    debug_assert!(query.sort.is_empty() && query.start.is_none() && query.limit >= docs.len());
    run_query(docs, indexes, query, scope, probe, |run| {
        run.out.into_iter().map(|e| e.doc).collect()
    })
    .unwrap_or_else(|_| Some(Vec::new()))
}

fn run_query<'d, T>(
    docs: &'d Docs,
    indexes: &'d Indexes,
    query: &'d Query,
    scope: Option<&'d Filter>,
    probe: Option<usize>,
    finish: impl FnOnce(Run<'d, '_>) -> T,
) -> Result<Option<T>, QueryError> {
    let sorter = Sorter {
        fields: query
            .sort
            .iter()
            .map(|f| (indexes.path_id(&f.path), f.desc))
            .collect(),
        paths: query.sort.iter().map(|f| &*f.path).collect(),
    };
    let scope = match scope {
        Some(scope) => resolve_filter(indexes, scope),
        None => Some((Vec::new(), None)),
    };
    let start = match &query.start {
        None => None,
        Some(Start::Cursor(p)) => Some(Pos {
            keys: p
                .values
                .iter()
                .map(|v| v.as_ref().map(|k| Cow::Borrowed(k.as_bytes())))
                .collect(),
            id: &p.id,
        }),
        Some(Start::After(id)) => {
            let anchor = docs.get_key_value(id).filter(|(_, doc)| {
                scope.as_ref().is_some_and(|(conds, group)| {
                    matches_all(conds, doc) && matches_groups(group.as_slice(), doc)
                })
            });
            let Some((id, doc)) = anchor else {
                return Err(QueryError::InvalidCursor(format!(
                    "start_after '{id}' is not a document of this collection; pass the \
                     next_start_after of the previous page (or its next_cursor as \"cursor\", \
                     which survives deletions)"
                )));
            };
            Some(Pos {
                keys: sorter.keys(doc),
                id,
            })
        }
    };
    let (Some((mut conds, or)), Some((scope_conds, scope_or))) =
        (resolve_filter(indexes, &query.filter), scope)
    else {
        let run = Run {
            docs,
            conds: &[],
            groups: &[],
            sorter: &sorter,
            start: start.as_ref(),
            want: query.limit + 1,
            out: Vec::new(),
            worst: None,
        };
        return Ok(Some(finish(run)));
    };
    conds.extend(scope_conds);
    let mut groups: Vec<Group<'_>> = scope_or.into_iter().collect();
    let want = query.limit + 1;

    // `$or`: one exact sub-query per branch (the rest of the filter ANDed in), merged in the
    // result order with duplicates dropped — when every branch has an index to walk.
    // Otherwise the `$or` is checked on each candidate of the rest of the filter's plan.
    if let Some(branches) = or {
        let branch_conds: Vec<Vec<Resolved<'_>>> = branches
            .iter()
            .map(|b| conds.iter().chain(b).copied().collect())
            .collect();
        let n = docs.len();
        let plans: Vec<Costed<'_>> = branch_conds
            .iter()
            .map(|c| choose_costed(n, indexes, c, &sorter, want))
            .collect();
        let union_cost: usize = plans.iter().map(|p| p.cost).sum();
        // The rest's plan, with the `$or` checked on its candidates: an early-stopping walk
        // visits more in inverse proportion to the share of documents the `$or` passes.
        let rest = choose_costed(n, indexes, &conds, &sorter, want);
        let rest_cost = if rest.stops_early() {
            let passing: usize = plans.iter().map(|p| p.matches).sum();
            (rest.cost.saturating_mul(n) / passing.clamp(1, n.max(1))).min(n)
        } else {
            rest.cost
        };
        let indexed = !plans.iter().any(|p| matches!(p.plan, Plan::Scan { .. }));
        if indexed && union_cost <= rest_cost {
            let mut merged = Vec::new();
            for (c, plan) in branch_conds.iter().zip(plans.into_iter().map(|p| p.plan)) {
                let mut run = Run {
                    docs,
                    conds: c,
                    groups: &groups,
                    sorter: &sorter,
                    start: start.as_ref(),
                    want,
                    out: Vec::new(),
                    worst: None,
                };
                run_plan(&mut run, plan);
                merged.extend(run.out);
            }
            merged.sort_unstable_by(|a, b| sorter.cmp_entries(a, b));
            merged.dedup_by(|a, b| a.id == b.id);
            merged.truncate(want);
            let run = Run {
                docs,
                conds: &conds,
                groups: &groups,
                sorter: &sorter,
                start: start.as_ref(),
                want,
                out: merged,
                worst: None,
            };
            return Ok(Some(finish(run)));
        }
        groups.push(branches);
    }

    let mut run = Run {
        docs,
        conds: &conds,
        groups: &groups,
        sorter: &sorter,
        start: start.as_ref(),
        want,
        out: Vec::new(),
        worst: None,
    };
    let Costed { plan, cost, .. } = choose_costed(docs.len(), indexes, &conds, &sorter, want);
    if plan.scans() && probe.is_some_and(|above| cost > above) {
        return Ok(None);
    }
    run_plan(&mut run, plan);
    Ok(Some(finish(run)))
}

fn run_plan<'d>(run: &mut Run<'d, '_>, plan: Plan<'d>) {
    match plan {
        Plan::Empty => {}
        Plan::Scan { ordered } => run.scan(ordered),
        Plan::Walk {
            field,
            ranges,
            ordered,
        } => run.walk(field, &ranges, ordered),
        Plan::MissingThenWalk { field, pid } => {
            run.missing_head(pid);
            run.walk_sorted(field, &[(Unbounded, Unbounded)]);
        }
        Plan::WalkThenMissing { field, pid } => {
            run.walk_sorted(field, &[(Unbounded, Unbounded)]);
            run.missing_tail(pid);
        }
    }
}

/// Whether one document matches `filter` (the single-document scope check).
pub(crate) fn doc_matches(indexes: &Indexes, doc: &StoredDoc, filter: &Filter) -> bool {
    resolve_filter(indexes, filter).is_some_and(|(conds, group)| {
        matches_all(&conds, doc) && matches_groups(group.as_slice(), doc)
    })
}
