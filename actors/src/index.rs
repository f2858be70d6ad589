//! The secondary indexes of one collection: for every field path that some document carries, an
//! ordered map from value key to the ids holding that value, plus, per document, the compact list
//! of its own (path, key) pairs.
//!
//! Users never declare indexes: every path is indexed, nested ones included (`address` and
//! `address.city` both), because a query may name any of them and a query must never fall back
//! to a slow scan merely because nobody predicted it. Arrays are leaves for equality and order
//! (CONTRACT section 7); for `$contains` (section 13) each distinct element of the array at
//! `tags` is also indexed under the path `tags.` (a path no query can spell), so a document has
//! several keys there.
//!
//! # Why this shape
//!
//! * `FieldIndex::entries` is a `BTreeMap<ValueKey, Posting>` rather than a
//!   `BTreeSet<(ValueKey, DocId)>`: a value shared by many documents (`"status": "active"`)
//!   stores its key once; an equality's candidate count is known in O(log n) from the posting's
//!   length, which is what the planner needs; and walking values backwards (`desc`) while walking
//!   each posting forwards gives exactly "value descending, id ascending", the contract's tie
//!   break, without buffering.
//! * Document ids are `Arc<str>`, shared by the document map and every posting.
//! * Paths are interned to a small integer (`PathId`) so that each document's own key list
//!   (`DocKeys`) is one compact byte blob. That blob is the "forward index": the query engine
//!   evaluates filters and sort keys on it without re-parsing the document, and `remove` uses it
//!   to find the entries to delete.
//! * Arrays and objects are kept under a capped key ([`crate::value::NODE_KEY_CAP`] bytes, a
//!   prefix of the full key): a document nested 31 levels deep would otherwise be indexed 31
//!   times over. The query engine re-reads such values from the document whenever a capped key
//!   decides nothing (see `query::plan::run::key_at`), so answers stay exact.
//! * Object keys that are empty or contain `.` cannot be named by a field path (a path's `.`
//!   always descends), so neither they nor anything below them is indexed.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::value::{ValueKey, encode_index_key};

mod bulk;
pub(crate) use bulk::build_all;

/// A document id, shared between the document map and every index posting.
pub(crate) type DocId = Arc<str>;

/// An interned field path.
pub(crate) type PathId = u32;

/// The ids of the documents that hold one value at one path.
#[derive(Debug, Clone)]
pub(crate) enum Posting {
    /// The common case for unique-ish values (ids, timestamps, names): no set allocated.
    One(DocId),
    /// Two or more ids, ascending. Boxed so that a posting is 16 bytes, not 32: most values
    /// of most fields are unique.
    #[allow(
        clippy::box_collection,
        reason = "a thin pointer keeps the common `One` case small"
    )]
    Many(Box<BTreeSet<DocId>>),
}

impl Posting {
    /// How many ids it holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            Posting::One(_) => 1,
            Posting::Many(ids) => ids.len(),
        }
    }

    /// Whether `id` is in it.
    pub(crate) fn contains(&self, id: &str) -> bool {
        match self {
            Posting::One(one) => &**one == id,
            Posting::Many(ids) => ids.contains(id),
        }
    }

    /// Its ids in ascending order, starting just after `after` when given.
    pub(crate) fn ids_after<'a>(&'a self, after: Option<&str>) -> PostingIter<'a> {
        use std::ops::Bound::{Excluded, Unbounded};
        match (self, after) {
            (Posting::One(id), None) => PostingIter::One(Some(id)),
            (Posting::One(id), Some(after)) => PostingIter::One((&**id > after).then_some(id)),
            (Posting::Many(ids), None) => PostingIter::Many(ids.range::<str, _>(..)),
            (Posting::Many(ids), Some(after)) => {
                PostingIter::Many(ids.range::<str, _>((Excluded(after), Unbounded)))
            }
        }
    }

    fn insert(&mut self, id: DocId) {
        match self {
            Posting::One(one) => {
                if *one != id {
                    let set = BTreeSet::from([one.clone(), id]);
                    *self = Posting::Many(Box::new(set));
                }
            }
            Posting::Many(ids) => {
                ids.insert(id);
            }
        }
    }

    /// Removes `id`; returns whether the posting is now empty.
    fn remove(&mut self, id: &str) -> bool {
        match self {
            Posting::One(one) => &**one == id,
            Posting::Many(ids) => {
                ids.remove(id);
                if ids.len() == 1
                    && let Some(last) = ids.pop_first()
                {
                    *self = Posting::One(last);
                }
                false
            }
        }
    }
}

/// Iterator over a posting's ids, ascending.
pub(crate) enum PostingIter<'a> {
    One(Option<&'a DocId>),
    Many(std::collections::btree_set::Range<'a, DocId>),
}

impl<'a> Iterator for PostingIter<'a> {
    type Item = &'a DocId;

    fn next(&mut self) -> Option<&'a DocId> {
        match self {
            PostingIter::One(one) => one.take(),
            PostingIter::Many(range) => range.next(),
        }
    }
}

/// The index of one field path.
#[derive(Debug, Clone)]
pub(crate) struct FieldIndex {
    /// The path, as queries spell it (`address.city`).
    pub(crate) path: Box<str>,
    /// Value key → the documents holding that value at `path`. Iterating keys ascending and each
    /// posting ascending yields `(value, id)` ascending: the order of `sort: [path asc]` with its
    /// id tie break. Postings are never empty.
    pub(crate) entries: BTreeMap<ValueKey, Posting>,
    /// How many documents carry `path` (the sum of the postings' lengths): when it equals the
    /// collection's size, no document is missing the field, so walking this index alone visits
    /// every document.
    pub(crate) docs: usize,
}

/// Every field index of a collection, by interned path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Indexes {
    /// Path → its id; only paths that at least one document carries.
    ids: HashMap<Box<str>, PathId>,
    /// By [`PathId`]; `None` for ids on the free list.
    fields: Vec<Option<FieldIndex>>,
    /// Ids freed when their last document went, reused first so the table stays small.
    free: Vec<PathId>,
}

impl Indexes {
    /// The id of `path`, if some document carries it.
    pub(crate) fn path_id(&self, path: &str) -> Option<PathId> {
        self.ids.get(path).copied()
    }

    /// The index of an interned path.
    pub(crate) fn field(&self, id: PathId) -> Option<&FieldIndex> {
        self.fields.get(id as usize).and_then(Option::as_ref)
    }

    /// Every live field index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (PathId, &FieldIndex)> {
        self.fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i as PathId, f)))
    }

    fn intern(&mut self, path: &str) -> PathId {
        if let Some(&id) = self.ids.get(path) {
            return id;
        }
        let field = FieldIndex {
            path: path.into(),
            entries: BTreeMap::new(),
            docs: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.fields[id as usize] = Some(field);
                id
            }
            None => {
                self.fields.push(Some(field));
                (self.fields.len() - 1) as PathId
            }
        };
        self.ids.insert(path.into(), id);
        id
    }

    /// Adds every (path, value) of `doc` under `id`; returns the document's key list.
    pub(crate) fn add_doc(&mut self, id: &DocId, doc: &Map<String, Value>) -> DocKeys {
        let pairs = doc_pairs(doc, &mut |path| self.intern(path));
        let keys = DocKeys::build(&pairs);
        for (pid, key) in pairs {
            let Some(field) = self.fields[pid as usize].as_mut() else {
                debug_assert!(false, "path id {pid} was just interned");
                continue;
            };
            field.docs += 1;
            // One descent of the B-tree whether the value is new or not (most values of most
            // fields are unique, so a lookup then an insert would descend twice).
            match field.entries.entry(ValueKey::from_raw(key)) {
                Entry::Occupied(mut posting) => posting.get_mut().insert(id.clone()),
                Entry::Vacant(slot) => {
                    slot.insert(Posting::One(id.clone()));
                }
            }
        }
        keys
    }

    /// Removes the entries `keys` (from [`Indexes::add_doc`]) made for `id`.
    pub(crate) fn remove_doc(&mut self, id: &str, keys: &DocKeys) {
        for (pid, key) in keys.iter() {
            let Some(field) = self.fields.get_mut(pid as usize).and_then(Option::as_mut) else {
                debug_assert!(false, "document {id} names unknown path id {pid}");
                continue;
            };
            let emptied = match field.entries.get_mut(key) {
                Some(posting) => {
                    debug_assert!(posting.contains(id), "index lacks ({key:02x?}, {id})");
                    posting.remove(id)
                }
                None => {
                    debug_assert!(false, "index of '{}' lacks a key of {id}", field.path);
                    false
                }
            };
            if emptied {
                field.entries.remove(key);
            }
            field.docs -= 1;
            if field.docs == 0 {
                debug_assert!(field.entries.is_empty());
                let path = field.path.clone();
                self.fields[pid as usize] = None;
                self.ids.remove(&path);
                self.free.push(pid);
            }
        }
    }

    /// Whether the index of `pid` holds `(key, id)`.
    pub(crate) fn contains(&self, pid: PathId, key: &[u8], id: &str) -> bool {
        self.field(pid)
            .and_then(|f| f.entries.get(key))
            .is_some_and(|p| p.contains(id))
    }
}

/// Every `(path id, value key)` pair of `doc`, ascending: one per addressable path, plus one
/// per distinct element of each non-empty array under its membership path. `intern` names the
/// paths.
pub(crate) fn doc_pairs(
    doc: &Map<String, Value>,
    intern: &mut impl FnMut(&str) -> PathId,
) -> Vec<(PathId, Vec<u8>)> {
    let mut pairs: Vec<(PathId, Vec<u8>)> = Vec::new();
    let mut path = String::new();
    flatten(doc, &mut path, &mut |path, value| {
        let mut key = Vec::with_capacity(16);
        encode_index_key(value, &mut key);
        pairs.push((intern(path), key));
        // The membership index: each distinct element under `path.`.
        if let Value::Array(items) = value
            && !items.is_empty()
        {
            let mut elems: Vec<Vec<u8>> = items
                .iter()
                .map(|item| {
                    let mut key = Vec::with_capacity(16);
                    encode_index_key(item, &mut key);
                    key
                })
                .collect();
            elems.sort_unstable();
            elems.dedup();
            let pid = intern(&crate::query::filter::membership_path(path));
            pairs.extend(elems.into_iter().map(|k| (pid, k)));
        }
    });
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    pairs
}

/// Calls `f(path, value)` for every addressable field path of `doc`, nested objects included,
/// arrays as leaves. `path` is scratch space.
pub(crate) fn flatten(
    doc: &Map<String, Value>,
    path: &mut String,
    f: &mut impl FnMut(&str, &Value),
) {
    let base = path.len();
    for (k, v) in doc {
        if k.is_empty() || k.contains('.') {
            continue;
        }
        if base > 0 {
            path.push('.');
        }
        path.push_str(k);
        f(path, v);
        if let Value::Object(inner) = v {
            flatten(inner, path, f);
        }
        path.truncate(base);
    }
}

/// One document's `(path id, value key)` pairs, ascending by path id, as one byte blob of
/// `varint(path id) varint(key length) key` records (a few bytes of overhead per field instead
/// of a map per document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DocKeys(Box<[u8]>);

impl DocKeys {
    pub(crate) fn build<K: AsRef<[u8]>>(pairs: &[(PathId, K)]) -> DocKeys {
        let size = pairs.iter().map(|(_, k)| k.as_ref().len() + 4).sum();
        let mut out = Vec::with_capacity(size);
        for (pid, key) in pairs {
            let key = key.as_ref();
            put_varint(&mut out, u64::from(*pid));
            put_varint(&mut out, key.len() as u64);
            out.extend_from_slice(key);
        }
        DocKeys(out.into_boxed_slice())
    }

    /// The pairs, ascending by path id.
    pub(crate) fn iter(&self) -> DocKeysIter<'_> {
        DocKeysIter { rest: &self.0 }
    }

    /// The key of the value at `pid`, or `None` when the document lacks that path.
    pub(crate) fn get(&self, pid: PathId) -> Option<&[u8]> {
        for (p, key) in self.iter() {
            if p == pid {
                return Some(key);
            }
            if p > pid {
                return None;
            }
        }
        None
    }

    /// Bytes held (for memory accounting).
    pub(crate) fn byte_len(&self) -> usize {
        self.0.len()
    }
}

/// Iterator over a [`DocKeys`] blob.
pub(crate) struct DocKeysIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for DocKeysIter<'a> {
    type Item = (PathId, &'a [u8]);

    fn next(&mut self) -> Option<(PathId, &'a [u8])> {
        let mut rest = self.rest;
        let pid = take_varint(&mut rest)?;
        let len = take_varint(&mut rest)? as usize;
        let key = rest.get(..len)?;
        self.rest = &rest[len..];
        Some((pid as PathId, key))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn flatten_reaches_nested_objects_not_arrays() {
        let doc = obj(json!({"a": {"b": {"c": 1}}, "t": [{"x": 1}], "d.e": 1, "": 2}));
        let mut seen = Vec::new();
        flatten(&doc, &mut String::new(), &mut |p, _| {
            seen.push(p.to_owned())
        });
        assert_eq!(seen, ["a", "a.b", "a.b.c", "t"]);
    }

    #[test]
    fn add_and_remove_keep_postings_exact() {
        let mut ix = Indexes::default();
        let a: DocId = "a".into();
        let b: DocId = "b".into();
        let ka = ix.add_doc(&a, &obj(json!({"s": "x", "n": 1})));
        let kb = ix.add_doc(&b, &obj(json!({"s": "x"})));
        let s = ix.path_id("s").unwrap();
        let n = ix.path_id("n").unwrap();
        assert_eq!(ka.get(s), Some(ValueKey::of(&json!("x")).as_bytes()));
        assert_eq!(kb.get(n), None);
        let field = ix.field(s).unwrap();
        assert_eq!(field.docs, 2);
        assert_eq!(field.entries.len(), 1);
        ix.remove_doc("a", &ka);
        assert_eq!(ix.path_id("n"), None, "the last holder of 'n' is gone");
        assert!(ix.contains(s, ValueKey::of(&json!("x")).as_bytes(), "b"));
        ix.remove_doc("b", &kb);
        assert_eq!(ix.iter().count(), 0);
    }

    #[test]
    fn postings_are_small() {
        assert_eq!(std::mem::size_of::<Posting>(), 16);
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX)] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut slice = out.as_slice();
            assert_eq!(take_varint(&mut slice), Some(v));
            assert!(slice.is_empty());
        }
    }
}
