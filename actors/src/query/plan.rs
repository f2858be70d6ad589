//! Planning and running a query inside the project actor.
//!
//! This file chooses the plan; [`ranges`] turns conditions into index ranges and counts them;
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

mod ranges;
mod run;

pub(crate) use self::run::key_at;

use std::borrow::Cow;
use std::ops::Bound::Unbounded;

use self::ranges::{KeyRange, PathRanges, estimate, path_ranges, single_point};
use self::run::{Group, Pos, Resolved, Run, Sorter, matches_all, matches_groups, resolve_filter};
use super::filter::Filter;
use super::{Page, Query, QueryError, Start};
use crate::collection::{Docs, StoredDoc};
use crate::index::{DocId, FieldIndex, Indexes, PathId};

/// The candidate count at or below which collecting every candidate beats an ordered walk.
fn cheap(want: usize) -> usize {
    8 * want + 64
}

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

/// A candidate a sliced scan keeps: its exact sort keys (`None`: missing), id and bytes.
pub(crate) struct Kept {
    keys: Vec<Option<Vec<u8>>>,
    pub(crate) id: DocId,
    pub(crate) bytes: bytes::Bytes,
}

/// A query's start position, owned: sort keys and id.
pub(crate) type StartPos = (Vec<Option<Vec<u8>>>, Box<str>);

fn sorter_of<'q>(indexes: &Indexes, query: &'q Query) -> Sorter<'q> {
    Sorter {
        fields: query
            .sort
            .iter()
            .map(|f| (indexes.path_id(&f.path), f.desc))
            .collect(),
        paths: query.sort.iter().map(|f| &*f.path).collect(),
    }
}

fn owned_keys(sorter: &Sorter<'_>, doc: &StoredDoc) -> Vec<Option<Vec<u8>>> {
    sorter
        .keys(doc)
        .into_iter()
        .map(|k| k.map(|k| k.into_owned()))
        .collect()
}

/// The result order on owned keys: sort fields (each asc or desc), then id.
fn cmp_owned(
    desc: &[bool],
    a: &[Option<Vec<u8>>],
    a_id: &str,
    b: &[Option<Vec<u8>>],
    b_id: &str,
) -> std::cmp::Ordering {
    for (i, desc) in desc.iter().enumerate() {
        let o = a[i].cmp(&b[i]);
        if o != std::cmp::Ordering::Equal {
            return if *desc { o.reverse() } else { o };
        }
    }
    a_id.cmp(b_id)
}

/// `query`'s start position as of now (the caller checked it names a position: the query
/// passed [`execute_indexed`]).
pub(crate) fn start_pos(docs: &Docs, indexes: &Indexes, query: &Query) -> Option<StartPos> {
    match &query.start {
        None => None,
        Some(Start::Cursor(p)) => Some((
            p.values
                .iter()
                .map(|v| v.as_ref().map(|k| k.as_bytes().to_vec()))
                .collect(),
            p.id.clone(),
        )),
        Some(Start::After(id)) => {
            let doc = docs.get(id)?;
            Some((owned_keys(&sorter_of(indexes, query), doc), id.clone()))
        }
    }
}

/// One slice of a sliced scan: visits the documents after `after` in id order, at most `max`
/// of them, skipping those `skip` names, and keeps in `kept` those matching the query's filter
/// and `scope` and after `start`, trimmed to the best `limit` + 1 (no other can make the
/// page). Answers the last id visited, or `None` when the scan is complete (the end reached,
/// or, in id order, the page already full).
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_slice(
    docs: &Docs,
    indexes: &Indexes,
    query: &Query,
    scope: Option<&Filter>,
    start: Option<&StartPos>,
    after: Option<&str>,
    max: usize,
    skip: impl Fn(&str) -> bool,
    kept: &mut Vec<Kept>,
) -> Option<DocId> {
    let (Some((conds, group)), Some((scope_conds, scope_group))) = (
        resolve_filter(indexes, &query.filter),
        match scope {
            Some(scope) => resolve_filter(indexes, scope),
            None => Some((Vec::new(), None)),
        },
    ) else {
        // A condition names a path no document carries now: no unchanged document matches.
        return None;
    };
    let groups: Vec<Group<'_>> = group.into_iter().chain(scope_group).collect();
    let sorter = sorter_of(indexes, query);
    let desc: Vec<bool> = query.sort.iter().map(|f| f.desc).collect();
    let want = query.limit + 1;
    let trim = |kept: &mut Vec<Kept>| {
        if kept.len() > want {
            kept.select_nth_unstable_by(want - 1, |a, b| {
                cmp_owned(&desc, &a.keys, &a.id, &b.keys, &b.id)
            });
            kept.truncate(want);
        }
    };
    let mut last = None;
    for (visited, (id, doc)) in docs.ordered_after(after).enumerate() {
        if visited == max {
            trim(kept);
            return last;
        }
        last = Some(id.clone());
        if skip(id)
            || !matches_all(&conds, doc)
            || !matches_all(&scope_conds, doc)
            || !matches_groups(&groups, doc)
        {
            continue;
        }
        let keys = owned_keys(&sorter, doc);
        if start.is_some_and(|(s, s_id)| {
            cmp_owned(&desc, &keys, id, s, s_id) != std::cmp::Ordering::Greater
        }) {
            continue;
        }
        kept.push(Kept {
            keys,
            id: id.clone(),
            bytes: doc.bytes().clone(),
        });
        if kept.len() >= 2 * want {
            trim(kept);
        }
        // In id order, a later document can no longer make a full page.
        if desc.is_empty() && kept.len() >= want {
            return None;
        }
    }
    trim(kept);
    None
}

/// Every document matching `filter` (and `scope`), in id order, through the same plans as a
/// query.
/// `query` must have no sort and no start, and a limit of at least the collection's size.
pub(crate) fn matching<'d>(
    docs: &'d Docs,
    indexes: &'d Indexes,
    query: &'d Query,
    scope: Option<&'d Filter>,
) -> Vec<&'d StoredDoc> {
    debug_assert!(query.sort.is_empty() && query.start.is_none() && query.limit >= docs.len());
    run_query(docs, indexes, query, scope, None, |run| {
        run.out.into_iter().map(|e| e.doc).collect()
    })
    .ok()
    .flatten()
    .unwrap_or_default()
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

/// How to find the candidates.
enum Plan<'a> {
    /// Some condition can match no value.
    Empty,
    /// Every document, in id order; `ordered` when that is the result order.
    Scan { ordered: bool },
    /// The documents in these ranges of one index; `ordered` when walking them in order (by the
    /// first sort field's direction) yields the result order, group by group.
    Walk {
        field: &'a FieldIndex,
        ranges: Vec<KeyRange<'a>>,
        ordered: bool,
    },
    /// Sorted descending on a field some documents lack: they come last, so walk the whole
    /// index in order, and only if that does not fill the page, scan for the lacking ones.
    WalkThenMissing { field: &'a FieldIndex, pid: PathId },
    /// Sorted ascending on one field only, which some documents lack: they come first, in id
    /// order, so an id-ordered scan for them stops once the page is full; then the index walk.
    MissingThenWalk { field: &'a FieldIndex, pid: PathId },
}

impl Plan<'_> {
    /// Whether running it may visit every document of the collection.
    fn scans(&self) -> bool {
        matches!(
            self,
            Plan::Scan { .. } | Plan::WalkThenMissing { .. } | Plan::MissingThenWalk { .. }
        )
    }
}

/// A plan with its estimated cost (documents visited) and an estimate of how many documents
/// match the conditions (the most selective one's count; `n` when none restricts).
struct Costed<'a> {
    plan: Plan<'a>,
    cost: usize,
    matches: usize,
}

impl Costed<'_> {
    /// Whether the plan stops once the page is full (so a rarer extra condition makes it visit
    /// proportionally more), rather than visiting every candidate.
    fn stops_early(&self) -> bool {
        matches!(
            self.plan,
            Plan::Walk { ordered: true, .. }
                | Plan::Scan { ordered: true }
                | Plan::WalkThenMissing { .. }
                | Plan::MissingThenWalk { .. }
        )
    }
}

fn choose_costed<'a>(
    n: usize,
    indexes: &'a Indexes,
    conds: &[Resolved<'a>],
    sorter: &Sorter,
    want: usize,
) -> Costed<'a> {
    let mut paths: Vec<PathRanges<'a>> = Vec::new();
    let mut pids: Vec<PathId> = conds.iter().map(|c| c.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    for pid in pids {
        let pr = path_ranges(pid, conds.iter().filter(|c| c.pid == pid).map(|c| c.op));
        if pr.ranges.is_empty() {
            return Costed {
                plan: Plan::Empty,
                cost: 0,
                matches: 0,
            };
        }
        paths.push(pr);
    }
    // Restricted paths with an index, and their candidate counts: exact for points, counted up
    // to `cheap` for ranges (a lower bound when above it).
    let mut cands: Vec<Candidate<'_, 'a>> = paths
        .iter()
        .filter(|p| p.restricted)
        .filter_map(|p| {
            let field = indexes.field(p.pid)?;
            let est = estimate(field, &p.ranges, cheap(want));
            Some(Candidate {
                path: p,
                field,
                est,
            })
        })
        .collect();
    let first_sort = sorter.fields.first().map(|(pid, _)| *pid);
    let n = n.max(1);
    // Documents an ordered walk visits before `want` matches, if the conditions not served by
    // the walk (the most selective of them, taken as independent of the walked one) pass
    // `est / n` of the documents.
    let ordered_cost = |walked: Option<PathId>, walked_est: usize, cands: &[Candidate<'_, '_>]| {
        let other = cands
            .iter()
            .filter(|c| Some(c.path.pid) != walked)
            .map(|c| c.est)
            .min();
        let visits = match other {
            Some(e) => want.saturating_mul(n) / e.max(1),
            None => want,
        };
        visits.min(walked_est).min(n)
    };

    // The best ordered plan and its cost.
    let ordered: Option<(usize, Plan<'a>)> = match first_sort {
        // No sort: id order. The scan, or one value's posting (ids ascending).
        None => {
            let scan = (ordered_cost(None, n, &cands), Plan::Scan { ordered: true });
            let points = cands.iter().filter(|c| single_point(c.path)).map(|c| {
                let cost = ordered_cost(Some(c.path.pid), c.est, &cands);
                (
                    cost,
                    Plan::Walk {
                        field: c.field,
                        ranges: c.path.ranges.clone(),
                        ordered: true,
                    },
                )
            });
            std::iter::once(scan)
                .chain(points)
                .min_by_key(|(cost, _)| *cost)
        }
        // The first sort field's index: through its conditions, or whole when every document
        // has the field (documents missing it sort first and are in no index).
        Some(Some(pid)) => {
            let field = indexes.field(pid);
            match (paths.iter().find(|p| p.pid == pid), field) {
                (Some(pr), Some(field)) => {
                    // Its own count bounds the visits only when it was counted exactly.
                    let est = match cands.iter().find(|c| c.path.pid == pid) {
                        Some(c) if c.est <= cheap(want) => c.est,
                        _ => n,
                    };
                    let walk = Plan::Walk {
                        field,
                        ranges: pr.ranges.clone(),
                        ordered: true,
                    };
                    Some((ordered_cost(Some(pid), est, &cands), walk))
                }
                (None, Some(field)) if field.docs == n => {
                    let walk = Plan::Walk {
                        field,
                        ranges: vec![(Unbounded, Unbounded)],
                        ordered: true,
                    };
                    Some((ordered_cost(Some(pid), n, &cands), walk))
                }
                (None, Some(field)) if sorter.fields[0].1 => {
                    // Will the present documents fill the page, or is the tail scan likely?
                    let other = cands
                        .iter()
                        .filter(|c| c.path.pid != pid)
                        .map(|c| c.est)
                        .min();
                    let matching = field.docs.saturating_mul(other.unwrap_or(n)) / n;
                    let cost = if matching >= 2 * want {
                        ordered_cost(Some(pid), field.docs, &cands)
                    } else {
                        n
                    };
                    Some((cost, Plan::WalkThenMissing { field, pid }))
                }
                (None, Some(field)) if sorter.fields.len() == 1 => {
                    // The scan visits about `want` over the share of documents that lack the
                    // field and pass the other conditions; all of them if that share is small.
                    let other = cands.iter().map(|c| c.est).min().unwrap_or(n);
                    let missing = n - field.docs.min(n);
                    let matching = missing.saturating_mul(other) / n;
                    let cost = if matching >= 2 * want {
                        want.saturating_mul(n) / matching.max(1)
                    } else {
                        n
                    };
                    Some((cost, Plan::MissingThenWalk { field, pid }))
                }
                _ => None,
            }
        }
        Some(None) => None,
    };
    let budget = ordered.as_ref().map_or(n / 2, |(cost, _)| *cost);
    // Count the ranges that passed `cheap` further, up to what the ordered plan would cost.
    for c in &mut cands {
        if c.est > cheap(want) {
            c.est = estimate(c.field, &c.path.ranges, budget);
        }
    }
    let matches = cands.iter().map(|c| c.est).min().unwrap_or(n);
    let best = cands.iter().min_by_key(|c| (c.est, !single_point(c.path)));
    let (cost, plan) = match (best, ordered) {
        (Some(c), ordered) if c.est < ordered.as_ref().map_or(n / 2 + 1, |(cost, _)| *cost) => {
            // Collecting this path's candidates is cheapest; when it is the first sort field
            // (or, unsorted, a single value), walking it in order is never worse.
            let in_order = match first_sort {
                Some(pid) => pid == Some(c.path.pid),
                None => single_point(c.path),
            };
            let walk = Plan::Walk {
                field: c.field,
                ranges: c.path.ranges.clone(),
                ordered: in_order,
            };
            (c.est, walk)
        }
        (_, Some((cost, plan))) => (cost, plan),
        (_, None) => (n, Plan::Scan { ordered: false }),
    };
    Costed {
        plan,
        cost,
        matches,
    }
}

/// A restricted path that could supply the candidates.
struct Candidate<'p, 'a> {
    path: &'p PathRanges<'a>,
    field: &'a FieldIndex,
    /// Its document count, exact when at most the last cap it was counted to.
    est: usize,
}
