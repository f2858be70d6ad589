//! Planning and running a query inside the project actor.
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

use std::cmp::Ordering;
use std::ops::Bound::{self, Excluded, Included, Unbounded};

use super::filter::{Filter, Op};
use super::{Page, Query, QueryError, Start, cursor};
use crate::collection::{Docs, StoredDoc};
use crate::index::{DocId, DocKeys, FieldIndex, Indexes, PathId};

/// An interval of value keys.
type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// A condition whose path is interned.
struct Resolved<'q> {
    pid: PathId,
    op: &'q Op,
}

/// The conditions of a filter, or `None` when one names a path no document has (so nothing can
/// match).
fn resolve<'q>(indexes: &Indexes, filter: &'q Filter) -> Option<Vec<Resolved<'q>>> {
    filter
        .conds
        .iter()
        .map(|c| {
            indexes
                .path_id(&c.path)
                .map(|pid| Resolved { pid, op: &c.op })
        })
        .collect()
}

fn matches_all(conds: &[Resolved<'_>], keys: &DocKeys) -> bool {
    conds.iter().all(|c| c.op.matches(keys.get(c.pid)))
}

/// A position in the result order, borrowed: sort keys (`None` = missing) and id.
struct Pos<'a> {
    keys: Vec<Option<&'a [u8]>>,
    id: &'a str,
}

/// The result order: sort fields, each asc or desc, then id ascending.
struct Sorter {
    /// Interned sort paths (`None`: no document has it) and whether descending.
    fields: Vec<(Option<PathId>, bool)>,
}

impl Sorter {
    fn keys<'d>(&self, keys: &'d DocKeys) -> Vec<Option<&'d [u8]>> {
        self.fields
            .iter()
            .map(|(pid, _)| pid.and_then(|p| keys.get(p)))
            .collect()
    }

    /// Compares a document with a position, from field `from` on.
    fn cmp(&self, keys: &DocKeys, id: &str, pos: &Pos<'_>, from: usize) -> Ordering {
        for (i, (pid, desc)) in self.fields.iter().enumerate().skip(from) {
            let mine = pid.and_then(|p| keys.get(p));
            let o = mine.cmp(&pos.keys[i]);
            if o != Ordering::Equal {
                return if *desc { o.reverse() } else { o };
            }
        }
        id.cmp(pos.id)
    }

    fn cmp_entries(&self, a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
        for (i, (_, desc)) in self.fields.iter().enumerate() {
            let o = a.keys[i].cmp(&b.keys[i]);
            if o != Ordering::Equal {
                return if *desc { o.reverse() } else { o };
            }
        }
        a.id.cmp(b.id)
    }
}

/// A matching document with its sort keys.
struct Entry<'d> {
    keys: Vec<Option<&'d [u8]>>,
    id: &'d DocId,
    doc: &'d StoredDoc,
}

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
    let sorter = Sorter {
        fields: query
            .sort
            .iter()
            .map(|f| (indexes.path_id(&f.path), f.desc))
            .collect(),
    };
    let scope_conds = match scope {
        Some(scope) => resolve(indexes, scope),
        None => Some(Vec::new()),
    };
    let start = match &query.start {
        None => None,
        Some(Start::Cursor(p)) => Some(Pos {
            keys: p
                .values
                .iter()
                .map(|v| v.as_ref().map(|k| k.as_bytes()))
                .collect(),
            id: &p.id,
        }),
        Some(Start::After(id)) => {
            let anchor = docs.get_key_value(id).filter(|(_, doc)| {
                scope_conds
                    .as_deref()
                    .is_some_and(|conds| matches_all(conds, &doc.keys))
            });
            let Some((id, doc)) = anchor else {
                return Err(QueryError::InvalidCursor(format!(
                    "start_after '{id}' is not a document of this collection; pass the \
                     next_start_after of the previous page (or its next_cursor as \"cursor\", \
                     which survives deletions)"
                )));
            };
            Some(Pos {
                keys: sorter.keys(&doc.keys),
                id,
            })
        }
    };
    let (Some(mut conds), Some(scope_conds)) = (resolve(indexes, &query.filter), scope_conds)
    else {
        return Ok(Page::default());
    };
    conds.extend(scope_conds);

    let want = query.limit + 1;
    let mut run = Run {
        docs,
        conds: &conds,
        sorter: &sorter,
        start: start.as_ref(),
        want,
        out: Vec::new(),
        worst: None,
    };
    match choose(docs.len(), indexes, &conds, &sorter, want) {
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
    Ok(run.page(query))
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

/// What the conditions on one path allow.
struct PathRanges<'a> {
    pid: PathId,
    /// Disjoint, ascending.
    ranges: Vec<KeyRange<'a>>,
    /// Whether some condition other than `$ne` restricts the values (else `ranges` is
    /// everything: any condition still excludes documents missing the path).
    restricted: bool,
}

fn choose<'a>(
    n: usize,
    indexes: &'a Indexes,
    conds: &[Resolved<'a>],
    sorter: &Sorter,
    want: usize,
) -> Plan<'a> {
    let mut paths: Vec<PathRanges<'a>> = Vec::new();
    let mut pids: Vec<PathId> = conds.iter().map(|c| c.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    for pid in pids {
        let pr = path_ranges(pid, conds.iter().filter(|c| c.pid == pid).map(|c| c.op));
        if pr.ranges.is_empty() {
            return Plan::Empty;
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
    let best = cands.iter().min_by_key(|c| (c.est, !single_point(c.path)));
    match (best, ordered) {
        (Some(c), ordered) if c.est < ordered.as_ref().map_or(n / 2 + 1, |(cost, _)| *cost) => {
            // Collecting this path's candidates is cheapest; when it is the first sort field
            // (or, unsorted, a single value), walking it in order is never worse.
            let in_order = match first_sort {
                Some(pid) => pid == Some(c.path.pid),
                None => single_point(c.path),
            };
            Plan::Walk {
                field: c.field,
                ranges: c.path.ranges.clone(),
                ordered: in_order,
            }
        }
        (_, Some((_, plan))) => plan,
        (_, None) => Plan::Scan { ordered: false },
    }
}

/// A restricted path that could supply the candidates.
struct Candidate<'p, 'a> {
    path: &'p PathRanges<'a>,
    field: &'a FieldIndex,
    /// Its document count, exact when at most the last cap it was counted to.
    est: usize,
}

fn single_point(p: &PathRanges<'_>) -> bool {
    p.ranges.len() == 1 && is_point(&p.ranges[0])
}

fn is_point(r: &KeyRange<'_>) -> bool {
    matches!(r, (Included(a), Included(b)) if a == b)
}

/// How many documents the ranges hold, counted up to a little past `cap`.
fn estimate(field: &FieldIndex, ranges: &[KeyRange<'_>], cap: usize) -> usize {
    let mut total = 0;
    for r in ranges {
        if let (Included(a), Included(b)) = r
            && a == b
        {
            total += field.entries.get(*a).map_or(0, |p| p.len());
            continue;
        }
        for (_, posting) in field.entries.range::<[u8], _>(*r) {
            total += posting.len();
            if total > cap {
                return total;
            }
        }
    }
    total
}

/// The ranges of values that satisfy every restricting condition on one path.
fn path_ranges<'a>(pid: PathId, ops: impl Iterator<Item = &'a Op>) -> PathRanges<'a> {
    let mut lower: Bound<&'a [u8]> = Unbounded;
    let mut upper: Bound<&'a [u8]> = Unbounded;
    let mut points: Option<Vec<&'a [u8]>> = None;
    let mut restricted = false;
    for op in ops {
        match op {
            Op::Eq(k) => {
                restricted = true;
                points = Some(intersect(points, &[k.as_bytes()]));
            }
            Op::In(ks) => {
                restricted = true;
                let ks: Vec<&[u8]> = ks.iter().map(|k| k.as_bytes()).collect();
                points = Some(intersect(points, &ks));
            }
            Op::Range { lower: l, upper: u } => {
                restricted = true;
                lower = max_lower(lower, as_bytes(l));
                upper = min_upper(upper, as_bytes(u));
            }
            Op::Prefix { prefix, end } => {
                restricted = true;
                lower = max_lower(lower, Included(prefix.as_bytes()));
                if let Some(end) = end {
                    upper = min_upper(upper, Excluded(end.as_bytes()));
                }
            }
            Op::Ne(_) => {}
        }
    }
    let ranges = match points {
        Some(points) => points
            .into_iter()
            .filter(|p| contains(lower, upper, p))
            .map(|p| (Included(p), Included(p)))
            .collect(),
        None if is_empty(lower, upper) => Vec::new(),
        None => vec![(lower, upper)],
    };
    PathRanges {
        pid,
        ranges,
        restricted,
    }
}

fn as_bytes(b: &Bound<crate::value::ValueKey>) -> Bound<&[u8]> {
    match b {
        Included(k) => Included(k.as_bytes()),
        Excluded(k) => Excluded(k.as_bytes()),
        Unbounded => Unbounded,
    }
}

/// Sorted-set intersection (`None` = no constraint yet).
fn intersect<'a>(current: Option<Vec<&'a [u8]>>, with: &[&'a [u8]]) -> Vec<&'a [u8]> {
    match current {
        None => with.to_vec(),
        Some(cur) => cur
            .into_iter()
            .filter(|k| with.binary_search(k).is_ok())
            .collect(),
    }
}

fn max_lower<'a>(a: Bound<&'a [u8]>, b: Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    match (a, b) {
        (Unbounded, x) | (x, Unbounded) => x,
        (Included(x), Included(y)) => Included(x.max(y)),
        (Excluded(x), Excluded(y)) => Excluded(x.max(y)),
        (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
            if i > e {
                Included(i)
            } else {
                Excluded(e)
            }
        }
    }
}

fn min_upper<'a>(a: Bound<&'a [u8]>, b: Bound<&'a [u8]>) -> Bound<&'a [u8]> {
    match (a, b) {
        (Unbounded, x) | (x, Unbounded) => x,
        (Included(x), Included(y)) => Included(x.min(y)),
        (Excluded(x), Excluded(y)) => Excluded(x.min(y)),
        (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
            if i < e {
                Included(i)
            } else {
                Excluded(e)
            }
        }
    }
}

fn contains(lower: Bound<&[u8]>, upper: Bound<&[u8]>, k: &[u8]) -> bool {
    let above = match lower {
        Included(l) => k >= l,
        Excluded(l) => k > l,
        Unbounded => true,
    };
    let below = match upper {
        Included(u) => k <= u,
        Excluded(u) => k < u,
        Unbounded => true,
    };
    above && below
}

/// Whether no key lies between the bounds (`BTreeMap::range` panics on such bounds).
fn is_empty(lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> bool {
    match (lower, upper) {
        (Included(l), Included(u)) => l > u,
        (Included(l), Excluded(u)) | (Excluded(l), Included(u)) | (Excluded(l), Excluded(u)) => {
            l >= u
        }
        _ => false,
    }
}

/// One query's execution state.
struct Run<'d, 'q> {
    docs: &'d Docs,
    conds: &'q [Resolved<'q>],
    sorter: &'q Sorter,
    start: Option<&'q Pos<'q>>,
    /// `limit` + 1.
    want: usize,
    /// Results so far: in order for ordered plans; a bounded, unsorted buffer otherwise.
    out: Vec<Entry<'d>>,
    /// Unordered plans: the last of the best `want` found at the latest trim.
    worst: Option<Pos<'d>>,
}

impl<'d> Run<'d, '_> {
    fn entry(&self, id: &'d DocId, doc: &'d StoredDoc) -> Entry<'d> {
        Entry {
            keys: self.sorter.keys(&doc.keys),
            id,
            doc,
        }
    }

    fn after_start(&self, doc: &StoredDoc, id: &str, from: usize) -> bool {
        self.start
            .is_none_or(|p| self.sorter.cmp(&doc.keys, id, p, from) == Ordering::Greater)
    }

    /// Unordered: keeps the best `want` candidates seen, in O(1) amortised per candidate.
    fn collect(&mut self, id: &'d DocId, doc: &'d StoredDoc) {
        if !matches_all(self.conds, &doc.keys) || !self.after_start(doc, id, 0) {
            return;
        }
        // Once `want` are kept, a candidate after the worst of them cannot make the page.
        if let Some(worst) = &self.worst
            && self.sorter.cmp(&doc.keys, id, worst, 0) == Ordering::Greater
        {
            return;
        }
        let entry = self.entry(id, doc);
        self.out.push(entry);
        if self.out.len() >= 2 * self.want {
            self.trim();
        }
    }

    fn trim(&mut self) {
        let sorter = self.sorter;
        if self.out.len() > self.want {
            self.out
                .select_nth_unstable_by(self.want - 1, |a, b| sorter.cmp_entries(a, b));
            self.out.truncate(self.want);
            let worst = &self.out[self.want - 1];
            self.worst = Some(Pos {
                keys: worst.keys.clone(),
                id: worst.id,
            });
        }
    }

    /// Before an ascending walk of `pid`'s index (the only sort field): the documents lacking
    /// `pid`, which sort first, among themselves by id.
    fn missing_head(&mut self, pid: PathId) {
        let after = match self.start {
            None => None,
            Some(p) if p.keys[0].is_none() => Some(p.id),
            // The start is on a present value: every lacking document is before it.
            Some(_) => return,
        };
        for (id, doc) in self.docs.ordered_after(after) {
            if doc.keys.get(pid).is_none() && matches_all(self.conds, &doc.keys) {
                self.out.push(self.entry(id, doc));
                if self.out.len() == self.want {
                    return;
                }
            }
        }
    }

    /// After a descending walk of `pid`'s index: the documents lacking `pid`, which sort after
    /// every present value, found by a scan when the page still has room.
    fn missing_tail(&mut self, pid: PathId) {
        if self.out.len() >= self.want {
            return;
        }
        let walked = std::mem::take(&mut self.out);
        let want = self.want;
        self.want -= walked.len();
        for (id, doc) in self.docs.iter() {
            if doc.keys.get(pid).is_none() {
                self.collect(id, doc);
            }
        }
        self.finish_unordered();
        self.want = want;
        let tail = std::mem::replace(&mut self.out, walked);
        self.out.extend(tail);
    }

    fn finish_unordered(&mut self) {
        self.trim();
        let sorter = self.sorter;
        self.out.sort_unstable_by(|a, b| sorter.cmp_entries(a, b));
    }

    fn scan(&mut self, ordered: bool) {
        let docs = self.docs;
        if ordered {
            for (id, doc) in docs.ordered_after(self.start.map(|p| p.id)) {
                if matches_all(self.conds, &doc.keys) {
                    self.out.push(self.entry(id, doc));
                    if self.out.len() == self.want {
                        return;
                    }
                }
            }
        } else {
            for (id, doc) in docs.iter() {
                self.collect(id, doc);
            }
            self.finish_unordered();
        }
    }

    fn walk(&mut self, field: &'d FieldIndex, ranges: &[KeyRange<'_>], ordered: bool) {
        let docs = self.docs;
        if !ordered {
            for r in ranges {
                for (_, posting) in field.entries.range::<[u8], _>(*r) {
                    for id in posting.ids_after(None) {
                        if let Some(doc) = docs.get(id) {
                            self.collect(id, doc);
                        }
                    }
                }
            }
            self.finish_unordered();
            return;
        }
        if self.sorter.fields.is_empty() {
            // One posting, ids ascending: exactly the result order.
            let after = self.start.map(|p| p.id);
            for (_, posting) in ranges
                .iter()
                .flat_map(|r| field.entries.range::<[u8], _>(*r))
            {
                for id in posting.ids_after(after) {
                    let Some(doc) = docs.get(id) else { continue };
                    if matches_all(self.conds, &doc.keys) {
                        self.out.push(self.entry(id, doc));
                        if self.out.len() == self.want {
                            return;
                        }
                    }
                }
            }
            return;
        }
        self.walk_sorted(field, ranges);
    }

    /// Walks the first sort field's index in result order, one value group at a time.
    fn walk_sorted(&mut self, field: &'d FieldIndex, ranges: &[KeyRange<'_>]) {
        if self.out.len() >= self.want {
            return;
        }
        let docs = self.docs;
        let desc = self.sorter.fields[0].1;
        let more_fields = self.sorter.fields.len() > 1;
        let start_key: Option<Option<&[u8]>> = self.start.map(|p| p.keys[0]);
        let mut ranges: Vec<KeyRange<'_>> = ranges.to_vec();
        match start_key {
            None => {}
            // A start on a missing value: ascending, every present value comes after it;
            // descending, none does.
            Some(None) if desc => return,
            Some(None) => {}
            Some(Some(k)) => {
                ranges = ranges
                    .into_iter()
                    .map(|(l, u)| {
                        if desc {
                            (l, min_upper(u, Included(k)))
                        } else {
                            (max_lower(l, Included(k)), u)
                        }
                    })
                    .filter(|(l, u)| !is_empty(*l, *u))
                    .collect();
            }
        }
        if desc {
            ranges.reverse();
        }
        let mut group: Vec<Entry<'d>> = Vec::new();
        for r in ranges {
            let iter = field.entries.range::<[u8], _>(r);
            let iter: Box<dyn Iterator<Item = _>> = if desc {
                Box::new(iter.rev())
            } else {
                Box::new(iter)
            };
            for (key, posting) in iter {
                let at_start = start_key == Some(Some(key.as_bytes()));
                // Inside the start's group: by id alone when there is one sort field.
                let after = match self.start {
                    Some(p) if at_start && !more_fields => Some(p.id),
                    _ => None,
                };
                for id in posting.ids_after(after) {
                    let Some(doc) = docs.get(id) else { continue };
                    if !matches_all(self.conds, &doc.keys) {
                        continue;
                    }
                    if more_fields {
                        if at_start && !self.after_start(doc, id, 1) {
                            continue;
                        }
                        group.push(self.entry(id, doc));
                    } else {
                        self.out.push(self.entry(id, doc));
                        if self.out.len() == self.want {
                            return;
                        }
                    }
                }
                if more_fields && !group.is_empty() {
                    let sorter = self.sorter;
                    group.sort_unstable_by(|a, b| sorter.cmp_entries(a, b));
                    let room = self.want - self.out.len();
                    self.out.extend(group.drain(..).take(room));
                    if self.out.len() == self.want {
                        return;
                    }
                }
            }
        }
    }

    fn page(mut self, query: &Query) -> Page {
        let more = self.out.len() > query.limit;
        self.out.truncate(query.limit);
        let (next_start_after, next_cursor) = match self.out.last() {
            Some(last) if more => (
                Some(last.id.to_string()),
                Some(cursor::encode(&query.sort, &last.keys, last.id)),
            ),
            _ => (None, None),
        };
        Page {
            docs: self.out.iter().map(|e| e.doc.bytes.clone()).collect(),
            next_start_after,
            next_cursor,
        }
    }
}
