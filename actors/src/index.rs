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
//! * Postings hold `u32` document ordinals (`collection::docs`), not ids: a chunked list sorted
//!   by the ordinals' ids ([`OrdList`]), so iterating one still yields ids ascending, and an
//!   entry costs 4 bytes instead of a 16-byte `Arc<str>` in a B-tree node (issue 20).
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
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::value::{ValueKey, encode_index_key};

mod bulk;
mod keys;
mod ordlist;
mod posting;
pub(crate) use bulk::build_all;
pub(crate) use keys::DocKeys;
pub(crate) use ordlist::{IdOf, OrdList};
pub(crate) use posting::Posting;

/// A document id, shared between the collection's slots and whoever reads them.
pub(crate) type DocId = Arc<str>;

/// A document's number within its collection (`collection::docs`), reused after a delete.
pub(crate) type Ord32 = u32;

/// Ordinals are positions in a slice of ids (bulk builds and tests).
impl IdOf for [DocId] {
    fn id_of(&self, ord: Ord32) -> &str {
        &self[ord as usize]
    }
}

/// An interned field path.
pub(crate) type PathId = u32;

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

    /// Adds every (path, value) of `doc` under `ord` (live in `ids`); returns the document's
    /// key list.
    pub(crate) fn add_doc(
        &mut self,
        ord: Ord32,
        doc: &Map<String, Value>,
        ids: &(impl IdOf + ?Sized),
    ) -> DocKeys {
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
                Entry::Occupied(mut posting) => posting.get_mut().insert(ord, ids),
                Entry::Vacant(slot) => {
                    slot.insert(Posting::One(ord));
                }
            }
        }
        keys
    }

    /// Removes the entries `keys` (from [`Indexes::add_doc`]) made for `ord` (still live in
    /// `ids`).
    pub(crate) fn remove_doc(&mut self, ord: Ord32, keys: &DocKeys, ids: &(impl IdOf + ?Sized)) {
        for (pid, key) in keys.iter() {
            let Some(field) = self.fields.get_mut(pid as usize).and_then(Option::as_mut) else {
                debug_assert!(false, "document {ord} names unknown path id {pid}");
                continue;
            };
            let emptied = match field.entries.get_mut(key) {
                Some(posting) => {
                    debug_assert!(
                        posting.contains(ord, ids),
                        "index lacks ({key:02x?}, {ord})"
                    );
                    posting.remove(ord, ids)
                }
                None => {
                    debug_assert!(false, "index of '{}' lacks a key of {ord}", field.path);
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

    /// Whether the index of `pid` holds `(key, ord)`.
    pub(crate) fn contains(
        &self,
        pid: PathId,
        key: &[u8],
        ord: Ord32,
        ids: &(impl IdOf + ?Sized),
    ) -> bool {
        self.field(pid)
            .and_then(|f| f.entries.get(key))
            .is_some_and(|p| p.contains(ord, ids))
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
        let ids: Vec<DocId> = vec!["a".into(), "b".into()];
        let ids = ids.as_slice();
        let ka = ix.add_doc(0, &obj(json!({"s": "x", "n": 1})), ids);
        let kb = ix.add_doc(1, &obj(json!({"s": "x"})), ids);
        let s = ix.path_id("s").unwrap();
        let n = ix.path_id("n").unwrap();
        assert_eq!(ka.get(s), Some(ValueKey::of(&json!("x")).as_bytes()));
        assert_eq!(kb.get(n), None);
        let field = ix.field(s).unwrap();
        assert_eq!(field.docs, 2);
        assert_eq!(field.entries.len(), 1);
        ix.remove_doc(0, &ka, ids);
        assert_eq!(ix.path_id("n"), None, "the last holder of 'n' is gone");
        assert!(ix.contains(s, ValueKey::of(&json!("x")).as_bytes(), 1, ids));
        assert!(!ix.contains(s, ValueKey::of(&json!("x")).as_bytes(), 0, ids));
        ix.remove_doc(1, &kb, ids);
        assert_eq!(ix.iter().count(), 0);
    }

    #[test]
    fn postings_are_small() {
        assert_eq!(std::mem::size_of::<Posting>(), 16);
    }
}
