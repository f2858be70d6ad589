//! Choosing a plan: the cheapest way, in documents visited, to find a query's candidates.

use std::ops::Bound::Unbounded;

use super::ranges::{KeyRange, PathRanges, estimate, path_ranges, single_point};
use super::run::{Resolved, Sorter};
use crate::index::{FieldIndex, Indexes, PathId};

/// The candidate count at or below which collecting every candidate beats an ordered walk.
fn cheap(want: usize) -> usize {
    8 * want + 64
}

/// How to find the candidates.
pub(super) enum Plan<'a> {
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
    pub(super) fn scans(&self) -> bool {
        matches!(
            self,
            Plan::Scan { .. } | Plan::WalkThenMissing { .. } | Plan::MissingThenWalk { .. }
        )
    }
}

/// A plan with its estimated cost (documents visited) and an estimate of how many documents
/// match the conditions (the most selective one's count; `n` when none restricts).
pub(super) struct Costed<'a> {
    pub(super) plan: Plan<'a>,
    pub(super) cost: usize,
    pub(super) matches: usize,
}

impl Costed<'_> {
    /// Whether the plan stops once the page is full (so a rarer extra condition makes it visit
    /// proportionally more), rather than visiting every candidate.
    pub(super) fn stops_early(&self) -> bool {
        matches!(
            self.plan,
            Plan::Walk { ordered: true, .. }
                | Plan::Scan { ordered: true }
                | Plan::WalkThenMissing { .. }
                | Plan::MissingThenWalk { .. }
        )
    }
}

pub(super) fn choose_costed<'a>(
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
