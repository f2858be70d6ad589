//! Running a chosen plan: walking candidates, checking them against every condition, keeping
//! them in result order (or the best `limit` + 1 of them), and building the page.

use std::cmp::Ordering;
use std::ops::Bound::Included;

use super::ranges::{KeyRange, is_empty, max_lower, min_upper};
use crate::collection::{Docs, StoredDoc};
use crate::index::{DocId, DocKeys, FieldIndex, Indexes, PathId};
use crate::query::filter::{Filter, Op};
use crate::query::{Page, Query, cursor};

/// A condition whose path is interned.
pub(super) struct Resolved<'q> {
    pub(super) pid: PathId,
    pub(super) op: &'q Op,
}

/// The conditions of a filter, or `None` when one names a path no document has (so nothing can
/// match).
pub(super) fn resolve<'q>(indexes: &Indexes, filter: &'q Filter) -> Option<Vec<Resolved<'q>>> {
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

pub(super) fn matches_all(conds: &[Resolved<'_>], keys: &DocKeys) -> bool {
    conds.iter().all(|c| c.op.matches(keys.get(c.pid)))
}

/// A position in the result order, borrowed: sort keys (`None` = missing) and id.
pub(super) struct Pos<'a> {
    pub(super) keys: Vec<Option<&'a [u8]>>,
    pub(super) id: &'a str,
}

/// The result order: sort fields, each asc or desc, then id ascending.
pub(super) struct Sorter {
    /// Interned sort paths (`None`: no document has it) and whether descending.
    pub(super) fields: Vec<(Option<PathId>, bool)>,
}

impl Sorter {
    pub(super) fn keys<'d>(&self, keys: &'d DocKeys) -> Vec<Option<&'d [u8]>> {
        self.fields
            .iter()
            .map(|(pid, _)| pid.and_then(|p| keys.get(p)))
            .collect()
    }

    /// Compares a document with a position, from field `from` on.
    pub(super) fn cmp(&self, keys: &DocKeys, id: &str, pos: &Pos<'_>, from: usize) -> Ordering {
        for (i, (pid, desc)) in self.fields.iter().enumerate().skip(from) {
            let mine = pid.and_then(|p| keys.get(p));
            let o = mine.cmp(&pos.keys[i]);
            if o != Ordering::Equal {
                return if *desc { o.reverse() } else { o };
            }
        }
        id.cmp(pos.id)
    }

    pub(super) fn cmp_entries(&self, a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
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
pub(super) struct Entry<'d> {
    pub(super) keys: Vec<Option<&'d [u8]>>,
    pub(super) id: &'d DocId,
    pub(super) doc: &'d StoredDoc,
}

/// One query's execution state.
pub(super) struct Run<'d, 'q> {
    pub(super) docs: &'d Docs,
    pub(super) conds: &'q [Resolved<'q>],
    pub(super) sorter: &'q Sorter,
    pub(super) start: Option<&'q Pos<'q>>,
    /// `limit` + 1.
    pub(super) want: usize,
    /// Results so far: in order for ordered plans; a bounded, unsorted buffer otherwise.
    pub(super) out: Vec<Entry<'d>>,
    /// Unordered plans: the last of the best `want` found at the latest trim.
    pub(super) worst: Option<Pos<'d>>,
}

impl<'d> Run<'d, '_> {
    pub(super) fn entry(&self, id: &'d DocId, doc: &'d StoredDoc) -> Entry<'d> {
        Entry {
            keys: self.sorter.keys(&doc.keys),
            id,
            doc,
        }
    }

    pub(super) fn after_start(&self, doc: &StoredDoc, id: &str, from: usize) -> bool {
        self.start
            .is_none_or(|p| self.sorter.cmp(&doc.keys, id, p, from) == Ordering::Greater)
    }

    /// Unordered: keeps the best `want` candidates seen, in O(1) amortised per candidate.
    pub(super) fn collect(&mut self, id: &'d DocId, doc: &'d StoredDoc) {
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

    pub(super) fn trim(&mut self) {
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
    pub(super) fn missing_head(&mut self, pid: PathId) {
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
    pub(super) fn missing_tail(&mut self, pid: PathId) {
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

    pub(super) fn finish_unordered(&mut self) {
        self.trim();
        let sorter = self.sorter;
        self.out.sort_unstable_by(|a, b| sorter.cmp_entries(a, b));
    }

    pub(super) fn scan(&mut self, ordered: bool) {
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

    pub(super) fn walk(&mut self, field: &'d FieldIndex, ranges: &[KeyRange<'_>], ordered: bool) {
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
    pub(super) fn walk_sorted(&mut self, field: &'d FieldIndex, ranges: &[KeyRange<'_>]) {
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

    pub(super) fn page(mut self, query: &Query) -> Page {
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
