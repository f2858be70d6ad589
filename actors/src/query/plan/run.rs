//! Running a chosen plan: walking candidates, checking them against every condition, keeping
//! them in result order (or the best `limit` + 1 of them), and building the page.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Bound::Included;

use super::ranges::{KeyRange, is_empty, max_lower, min_upper};
use crate::collection::{Docs, StoredDoc};
use crate::index::{DocId, FieldIndex, Indexes, PathId};
use crate::query::filter::{Filter, Op, membership_path};
use crate::query::{Page, Query, cursor};
use crate::value::{index_form, is_capped};

/// A condition whose path is interned.
#[derive(Clone, Copy)]
pub(super) struct Resolved<'q> {
    pub(super) pid: PathId,
    pub(super) path: &'q str,
    pub(super) op: &'q Op,
}

/// The conditions of a filter, or `None` when one names a path no document has (so nothing can
/// match).
pub(super) fn resolve<'q>(indexes: &Indexes, filter: &'q Filter) -> Option<Vec<Resolved<'q>>> {
    filter
        .conds
        .iter()
        .map(|c| {
            let pid = match c.op {
                Op::Contains(_) => indexes.path_id(&membership_path(&c.path)),
                _ => indexes.path_id(&c.path),
            };
            pid.map(|pid| Resolved {
                pid,
                path: &c.path,
                op: &c.op,
            })
        })
        .collect()
}

/// Whether `doc` satisfies every condition.
pub(super) fn matches_all(conds: &[Resolved<'_>], doc: &StoredDoc) -> bool {
    conds.iter().all(|c| cond_matches(c, doc))
}

/// An `$or` resolved: its branches that can match (a branch naming a path no document has is
/// dropped).
pub(super) type Group<'q> = Vec<Vec<Resolved<'q>>>;

/// A filter's conditions and its `$or` group (if it has one), or `None` when nothing can match.
pub(super) fn resolve_filter<'q>(
    indexes: &Indexes,
    filter: &'q Filter,
) -> Option<(Vec<Resolved<'q>>, Option<Group<'q>>)> {
    let conds = resolve(indexes, filter)?;
    if filter.any.is_empty() {
        return Some((conds, None));
    }
    let group: Group<'q> = filter
        .any
        .iter()
        .filter_map(|b| resolve(indexes, b))
        .collect();
    (!group.is_empty()).then_some((conds, Some(group)))
}

/// Whether `doc` satisfies one branch of every group.
pub(super) fn matches_groups(groups: &[Group<'_>], doc: &StoredDoc) -> bool {
    groups
        .iter()
        .all(|g| g.iter().any(|branch| matches_all(branch, doc)))
}

/// Whether `doc` satisfies `c`; a capped key (a long array or object) is re-read in full.
fn cond_matches(c: &Resolved<'_>, doc: &StoredDoc) -> bool {
    if let Op::Contains(values) = c.op {
        // `c.pid` is the membership path: one key per distinct element.
        let mut capped = false;
        for (pid, key) in doc.keys.iter() {
            if pid < c.pid {
                continue;
            }
            if pid > c.pid {
                break;
            }
            if is_capped(key) {
                capped = true;
            } else if values.binary_search_by(|v| v.as_bytes().cmp(key)).is_ok() {
                return true;
            }
        }
        return capped && c.op.matches(doc.full_key(c.path).as_deref());
    }
    match doc.keys.get(c.pid) {
        Some(k) if is_capped(k) => c.op.matches(doc.full_key(c.path).as_deref()),
        k => c.op.matches(k),
    }
}

/// The exact key of `doc` at `pid` (`path`): its index key, or for a capped one the full key
/// read from the document.
pub(crate) fn key_at<'d>(doc: &'d StoredDoc, pid: PathId, path: &str) -> Option<Cow<'d, [u8]>> {
    match doc.keys.get(pid)? {
        k if is_capped(k) => doc.full_key(path).map(Cow::Owned),
        k => Some(Cow::Borrowed(k)),
    }
}

/// A position in the result order: exact sort keys (`None` = missing) and id.
pub(super) struct Pos<'a> {
    pub(super) keys: Vec<Option<Cow<'a, [u8]>>>,
    pub(super) id: &'a str,
}

/// The result order: sort fields, each asc or desc, then id ascending.
pub(super) struct Sorter<'q> {
    /// Interned sort paths (`None`: no document has it) and whether descending.
    pub(super) fields: Vec<(Option<PathId>, bool)>,
    /// The same paths, spelled out (to re-read capped keys).
    pub(super) paths: Vec<&'q str>,
}

impl Sorter<'_> {
    pub(super) fn keys<'d>(&self, doc: &'d StoredDoc) -> Vec<Option<Cow<'d, [u8]>>> {
        self.fields
            .iter()
            .zip(&self.paths)
            .map(|((pid, _), path)| pid.and_then(|p| key_at(doc, p, path)))
            .collect()
    }

    /// Compares a document with a position, from field `from` on.
    pub(super) fn cmp(&self, doc: &StoredDoc, id: &str, pos: &Pos<'_>, from: usize) -> Ordering {
        for (i, (pid, desc)) in self.fields.iter().enumerate().skip(from) {
            let mine = pid.and_then(|p| key_at(doc, p, self.paths[i]));
            let o = mine.as_deref().cmp(&pos.keys[i].as_deref());
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
pub(crate) struct Entry<'d> {
    pub(super) keys: Vec<Option<Cow<'d, [u8]>>>,
    pub(super) id: &'d DocId,
    pub(super) doc: &'d StoredDoc,
}

/// One query's execution state.
pub(crate) struct Run<'d, 'q> {
    pub(super) docs: &'d Docs,
    pub(super) conds: &'q [Resolved<'q>],
    /// `$or` groups that must hold as well (one branch each).
    pub(super) groups: &'q [Group<'q>],
    pub(super) sorter: &'q Sorter<'q>,
    pub(super) start: Option<&'q Pos<'q>>,
    /// `limit` + 1.
    pub(super) want: usize,
    /// Results so far: in order for ordered plans; a bounded, unsorted buffer otherwise.
    pub(super) out: Vec<Entry<'d>>,
    /// Unordered plans: the last of the best `want` found at the latest trim.
    pub(super) worst: Option<Pos<'d>>,
}

impl<'d> Run<'d, '_> {
    fn matches(&self, doc: &StoredDoc) -> bool {
        matches_all(self.conds, doc) && matches_groups(self.groups, doc)
    }

    pub(super) fn entry(&self, id: &'d DocId, doc: &'d StoredDoc) -> Entry<'d> {
        Entry {
            keys: self.sorter.keys(doc),
            id,
            doc,
        }
    }

    pub(super) fn after_start(&self, doc: &StoredDoc, id: &str, from: usize) -> bool {
        self.start
            .is_none_or(|p| self.sorter.cmp(doc, id, p, from) == Ordering::Greater)
    }

    /// Unordered: keeps the best `want` candidates seen, in O(1) amortised per candidate.
    pub(super) fn collect(&mut self, id: &'d DocId, doc: &'d StoredDoc) {
        if !self.matches(doc) || !self.after_start(doc, id, 0) {
            return;
        }
        // Once `want` are kept, a candidate after the worst of them cannot make the page.
        if let Some(worst) = &self.worst
            && self.sorter.cmp(doc, id, worst, 0) == Ordering::Greater
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
            if doc.keys.get(pid).is_none() && self.matches(doc) {
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
                if self.matches(doc) {
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
            // A document sits in several postings of a membership index: collect it once.
            let mut seen = std::collections::HashSet::new();
            let several = ranges.len() > 1;
            for r in ranges {
                for (_, posting) in field.entries.range::<[u8], _>(*r) {
                    for (id, doc) in docs.posting(posting, None) {
                        if several && !seen.insert(&**id) {
                            continue;
                        }
                        self.collect(id, doc);
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
                for (id, doc) in docs.posting(posting, after) {
                    if self.matches(doc) {
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
        let start_key: Option<Option<&[u8]>> = self.start.map(|p| p.keys[0].as_deref());
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
                            (l, min_upper(u, Included(index_form(k))))
                        } else {
                            (max_lower(l, Included(index_form(k))), u)
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
                // A capped key's group may hold several values: it is sorted in full, like a
                // group that more sort fields order.
                let capped = is_capped(key.as_bytes());
                let grouped = more_fields || capped;
                let at_start = start_key.is_some_and(|s| s.map(index_form) == Some(key.as_bytes()));
                // Inside the start's group: by id alone when there is one sort field.
                let after = match self.start {
                    Some(p) if at_start && !grouped => Some(p.id),
                    _ => None,
                };
                for (id, doc) in docs.posting(posting, after) {
                    if !self.matches(doc) {
                        continue;
                    }
                    if grouped {
                        if at_start && !self.after_start(doc, id, usize::from(!capped)) {
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
                if grouped && !group.is_empty() {
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
            Some(last) if more => {
                let keys: Vec<Option<&[u8]>> = last.keys.iter().map(|k| k.as_deref()).collect();
                (
                    Some(last.id.to_string()),
                    Some(cursor::encode(&query.sort, &keys, last.id)),
                )
            }
            _ => (None, None),
        };
        Page {
            docs: match &query.select {
                None => self.out.iter().map(|e| e.doc.bytes.clone()).collect(),
                Some(select) => self
                    .out
                    .iter()
                    .map(|e| crate::query::project(&e.doc.bytes, select))
                    .collect(),
            },
            next_start_after,
            next_cursor,
        }
    }
}
