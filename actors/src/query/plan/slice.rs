//! One slice of a sliced scan (`query/sliced.rs`): the documents after a position in id order,
//! within a budget.

use std::cmp::Ordering;
use std::time::Instant;

use super::run::{Group, Sorter, key_at, matches_all, matches_groups, resolve_filter};
use crate::collection::{Docs, StoredDoc};
use crate::index::{DocId, Indexes};
use crate::query::aggregate::{Acc, Aggregation};
use crate::query::filter::Filter;
use crate::query::{Query, Start};

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

/// The result order on keys (borrowed or owned): sort fields (each asc or desc), then id.
fn cmp_keys<A: AsRef<[u8]>, B: AsRef<[u8]>>(
    desc: &[bool],
    a: &[Option<A>],
    a_id: &str,
    b: &[Option<B>],
    b_id: &str,
) -> Ordering {
    for (i, desc) in desc.iter().enumerate() {
        let o = a[i]
            .as_ref()
            .map(AsRef::as_ref)
            .cmp(&b[i].as_ref().map(AsRef::as_ref));
        if o != Ordering::Equal {
            return if *desc { o.reverse() } else { o };
        }
    }
    a_id.cmp(b_id)
}

/// `query`'s start position as of now (the caller checked it names a position: the query
/// passed [`super::execute_indexed`]).
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

/// How far one slice may go: at most `max` documents, and not past `until` (read every
/// [`CLOCK_EVERY`] documents).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most documents visited.
    pub max: usize,
    /// When the slice must end (a CPU budget, not business time: the answer does not depend on
    /// it, only how many slices it takes).
    pub until: Option<Instant>,
}

/// Documents visited between two readings of the clock (~5-15 µs of matching).
const CLOCK_EVERY: usize = 32;

/// How a slice ended.
#[derive(Debug)]
pub(crate) enum Slice {
    /// Out of budget: this is the last id visited.
    Paused(DocId),
    /// Every document was reached.
    Ended,
    /// Nothing later can matter: the scan is complete before the end.
    Stopped,
}

/// Visits the documents after `after` in id order within `budget`, skipping those `skip`
/// names, calling `visit` on the others until it answers `false` (nothing later can matter).
fn visit_ids<'d>(
    docs: &'d Docs,
    after: Option<&str>,
    budget: Budget,
    mut skip: impl FnMut(&str) -> bool,
    mut visit: impl FnMut(&'d DocId, &'d StoredDoc) -> bool,
) -> Slice {
    let mut last: Option<&DocId> = None;
    for (visited, (id, doc)) in docs.ordered_after(after).enumerate() {
        // Out of budget (after one document at least, so every slice makes progress).
        if let Some(last) = last
            && (visited == budget.max
                || (visited % CLOCK_EVERY == 0
                    && budget.until.is_some_and(|until| Instant::now() >= until)))
        {
            return Slice::Paused(last.clone());
        }
        last = Some(id);
        if !skip(id) && !visit(id, doc) {
            return Slice::Stopped;
        }
    }
    Slice::Ended
}

/// The filter's and scope's conditions as of now, or `None` when some path is carried by no
/// document now (then no unchanged document matches).
fn resolved<'q>(
    indexes: &Indexes,
    filter: &'q Filter,
    scope: Option<&'q Filter>,
) -> Option<(Vec<super::run::Resolved<'q>>, Vec<Group<'q>>)> {
    let (mut conds, group) = resolve_filter(indexes, filter)?;
    let (scope_conds, scope_group) = match scope {
        Some(scope) => resolve_filter(indexes, scope)?,
        None => (Vec::new(), None),
    };
    conds.extend(scope_conds);
    Some((conds, group.into_iter().chain(scope_group).collect()))
}

/// One slice of a sliced scan: visits the documents after `after` in id order within
/// `budget`, skipping those `skip` names, and keeps in `kept` those matching the query's filter
/// and `scope` and after `start`, trimmed to the best `limit` + 1 (no other can make the
/// page). Stops early (in id order) once the page is full.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_slice(
    docs: &Docs,
    indexes: &Indexes,
    query: &Query,
    scope: Option<&Filter>,
    start: Option<&StartPos>,
    after: Option<&str>,
    budget: Budget,
    skip: impl FnMut(&str) -> bool,
    kept: &mut Vec<Kept>,
) -> Slice {
    let Some((conds, groups)) = resolved(indexes, &query.filter, scope) else {
        return Slice::Stopped;
    };
    let sorter = sorter_of(indexes, query);
    let desc: Vec<bool> = query.sort.iter().map(|f| f.desc).collect();
    let want = query.limit + 1;
    // Keeps the best `want`, the worst of them last; answers whether `want` are kept.
    let trim = |kept: &mut Vec<Kept>| {
        if kept.len() >= want {
            kept.select_nth_unstable_by(want - 1, |a, b| {
                cmp_keys(&desc, &a.keys, &a.id, &b.keys, &b.id)
            });
            kept.truncate(want);
        }
        kept.len() == want
    };
    // Once `want` are kept, the worst of them bounds the rest.
    let mut bounded = trim(kept);
    let mut keys = Vec::with_capacity(sorter.fields.len());
    let next = visit_ids(docs, after, budget, skip, |id, doc| {
        if !matches_all(&conds, doc) || !matches_groups(&groups, doc) {
            return true;
        }
        keys.clear();
        keys.extend(
            sorter
                .fields
                .iter()
                .zip(&sorter.paths)
                .map(|((pid, _), path)| pid.and_then(|p| key_at(doc, p, path))),
        );
        let worse = |o: Ordering| o != Ordering::Greater;
        if start.is_some_and(|(s, s_id)| worse(cmp_keys(&desc, &keys, id, s, s_id)))
            || (bounded && {
                let w = &kept[want - 1];
                cmp_keys(&desc, &keys, id, &w.keys, &w.id) == Ordering::Greater
            })
        {
            return true;
        }
        kept.push(Kept {
            keys: keys.drain(..).map(|k| k.map(|k| k.into_owned())).collect(),
            id: id.clone(),
            bytes: doc.bytes().clone(),
        });
        if kept.len() >= 2 * want {
            bounded = trim(kept);
        }
        // In id order, a later document can no longer make a full page.
        !(desc.is_empty() && kept.len() >= want)
    });
    trim(kept);
    next
}

/// One slice of a sliced aggregate: as [`scan_slice`], feeding every matching document to
/// `acc`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn aggregate_slice(
    docs: &Docs,
    indexes: &Indexes,
    agg: &Aggregation,
    scope: Option<&Filter>,
    after: Option<&str>,
    budget: Budget,
    skip: impl FnMut(&str) -> bool,
    acc: &mut Acc,
) -> Slice {
    let Some((conds, groups)) = resolved(indexes, agg.filter(), scope) else {
        return Slice::Stopped;
    };
    let pids = agg.path_ids(indexes);
    visit_ids(docs, after, budget, skip, |_, doc| {
        if matches_all(&conds, doc) && matches_groups(&groups, doc) {
            acc.add(agg, &pids, doc);
        }
        true
    })
}
