//! One collection: documents by id, each kept as the exact bytes a GET serves, plus the secondary
//! indexes that answer queries.
//!
//! A document is stored once, encoded ([`StoredDoc::bytes`]); its parsed form is not kept,
//! because a `serde_json::Map` costs several times the JSON's size. What queries need from it,
//! the value key of every field path, lives in the compact per-document key list of
//! [`crate::index`], computed when the document is inserted, from those same bytes (so the index
//! always describes exactly what GET serves). [`StoredDoc::value`] parses on demand, for the rare
//! callers that need the `Map` (merge patches, scope checks on a single document).

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::index::{DocId, DocKeys, Indexes};
use crate::query::sliced::Pins;
use crate::query::{Filter, Page, Query, QueryError, plan};

/// A stored document: the exact bytes a GET serves, and (once inserted in a [`Collection`]) the
/// value keys of its fields.
///
/// Build one with [`StoredDoc::new`] (encodes a `Map`), [`StoredDoc::from_parts`] (a `Map` and
/// its encoding, when the caller already encoded it) or [`StoredDoc::from_bytes`] (as loaded
/// from storage). Read it with [`StoredDoc::bytes`] and [`StoredDoc::value`].
#[derive(Debug, Clone)]
pub struct StoredDoc {
    /// The document (including `id`, `created_at` and `updated_at`) encoded once as a JSON
    /// object.
    pub(crate) bytes: Bytes,
    /// The value key of each of its field paths, interned by the collection holding it; empty
    /// until inserted.
    pub(crate) keys: DocKeys,
    /// The parsed document between construction and [`Collection::insert`], which indexes it
    /// and drops it, so that no write parses its own bytes again. Always `None` inside a
    /// collection.
    parsed: Option<Box<Map<String, Value>>>,
    /// The `seq` of the commit that last wrote it: its ETag (CONTRACT section 12, see
    /// [`crate::etag`]). 0 until the writing commit is numbered.
    pub(crate) seq: u64,
}

impl StoredDoc {
    /// Encodes a document.
    pub fn new(value: Map<String, Value>) -> StoredDoc {
        // Serialising a Map of serde_json Values cannot fail.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        StoredDoc::from_parts(value, Bytes::from(bytes))
    }

    /// A document and its encoding, for callers that encoded it already (to check its size,
    /// say). `bytes` must be `value` encoded: GET serves the bytes, queries see the value.
    pub fn from_parts(value: Map<String, Value>, bytes: Bytes) -> StoredDoc {
        debug_assert_eq!(
            serde_json::from_slice::<Map<String, Value>>(&bytes)
                .ok()
                .as_ref(),
            Some(&value),
            "StoredDoc::from_parts: the bytes are not the value encoded"
        );
        StoredDoc {
            bytes,
            keys: DocKeys::default(),
            parsed: Some(Box::new(value)),
            seq: 0,
        }
    }

    /// Wraps the bytes of a document encoded earlier (as loaded from storage); they must be a
    /// JSON object.
    pub fn from_bytes(bytes: Bytes) -> Result<StoredDoc, serde_json::Error> {
        let value = serde_json::from_slice::<Map<String, Value>>(&bytes)?;
        Ok(StoredDoc {
            bytes,
            keys: DocKeys::default(),
            parsed: Some(Box::new(value)),
            seq: 0,
        })
    }

    /// The full key of the value at `path` (`None`: missing), read from the bytes: for the
    /// rare comparisons a capped index key cannot decide ([`crate::value::is_capped`]).
    pub(crate) fn full_key(&self, path: &str) -> Option<Vec<u8>> {
        let doc = match &self.parsed {
            Some(value) => return crate::query::lookup(value, path).map(key_bytes),
            None => parse(&self.bytes),
        };
        crate::query::lookup(&doc, path).map(key_bytes)
    }

    /// The `seq` of the commit that last wrote it (its ETag, [`crate::etag`]).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The same document, as written by commit `seq`.
    pub fn with_seq(mut self, seq: u64) -> StoredDoc {
        self.seq = seq;
        self
    }

    /// The encoded document, served as is.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The document, parsed from its bytes (a fresh `Map` on each call: a stored document keeps
    /// no parsed copy, which would cost several times its size).
    pub fn value(&self) -> Map<String, Value> {
        match &self.parsed {
            Some(value) => (**value).clone(),
            None => parse(&self.bytes),
        }
    }
}

fn key_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    crate::value::encode_into(value, &mut out);
    out
}

/// The `Map` in `bytes`; every constructor of [`StoredDoc`] guarantees they hold one.
fn parse(bytes: &[u8]) -> Map<String, Value> {
    let parsed = serde_json::from_slice(bytes);
    debug_assert!(parsed.is_ok(), "a StoredDoc holds a JSON object");
    parsed.unwrap_or_default()
}

/// The documents of a collection: found by id in O(1) (a query fetches every candidate it
/// takes from an index by id, so this lookup is on the hot path), and listed in id order (the
/// default query order and the tie break of every sort).
#[derive(Debug, Default, Clone)]
pub(crate) struct Docs {
    /// Every document by id. SipHash, not a faster unkeyed hash: ids are chosen by users.
    by_id: HashMap<DocId, StoredDoc>,
    /// The same ids, ascending; each is the same `Arc` as the key in `by_id` and in the index
    /// postings.
    order: BTreeSet<DocId>,
}

impl Docs {
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&StoredDoc> {
        self.by_id.get(id)
    }

    pub(crate) fn get_key_value(&self, id: &str) -> Option<(&DocId, &StoredDoc)> {
        self.by_id.get_key_value(id)
    }

    /// Documents in ascending id order, starting after `after` when given.
    pub(crate) fn ordered_after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a DocId, &'a StoredDoc)> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range::<str, _>((lower, Bound::Unbounded))
            .filter_map(|id| Some((id, self.by_id.get(id)?)))
    }

    /// Every document, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&DocId, &StoredDoc)> {
        self.by_id.iter()
    }

    fn remove_entry(&mut self, id: &str) -> Option<(DocId, StoredDoc)> {
        let entry = self.by_id.remove_entry(id)?;
        self.order.remove(id);
        Some(entry)
    }

    fn insert(&mut self, id: DocId, doc: StoredDoc) {
        self.order.insert(id.clone());
        self.by_id.insert(id, doc);
    }
}

/// Documents of one collection by id, and their indexes.
#[derive(Debug, Default, Clone)]
pub struct Collection {
    /// Every document, by id and in id order.
    docs: Docs,
    /// One ordered index per field path that some document carries; always holds exactly the
    /// `(path, value, id)` triples of `docs` (checked by `debug_assert`s on every change, and by
    /// [`Collection::check_consistency`]).
    indexes: Indexes,
    /// Sliced scans in progress over this collection (`project/scan.rs`): every document changed
    /// while one runs has its state from before the scan began pinned there, first change wins.
    scans: Vec<Weak<Pins>>,
}

impl Drop for Collection {
    /// A collection dropped under a running scan (a reset, the last document deleted) pins every
    /// document it still holds, so the scan still answers as of its start.
    fn drop(&mut self) {
        for pins in self.live_scans() {
            pins.pin_all(self.docs.iter().map(|(id, doc)| (id, &doc.bytes)));
        }
    }
}

impl Collection {
    fn live_scans(&self) -> impl Iterator<Item = Arc<Pins>> + '_ {
        self.scans.iter().filter_map(Weak::upgrade)
    }

    /// Records `id`'s state before a change, for every scan that has not pinned it yet.
    fn pin(&self, id: &DocId, before: Option<&StoredDoc>) {
        for pins in self.live_scans() {
            pins.pin(id, before.map(|d| &d.bytes));
        }
    }

    /// Starts recording before-states for a sliced scan; it ends when the answer is dropped.
    pub(crate) fn register_scan(&mut self) -> Arc<Pins> {
        self.scans.retain(|w| w.strong_count() > 0);
        let pins = Arc::new(Pins::default());
        self.scans.push(Arc::downgrade(&pins));
        pins
    }

    /// Whether this is the collection `pins` was registered on (or a copy of it).
    pub(crate) fn records(&self, pins: &Arc<Pins>) -> bool {
        let target = Arc::downgrade(pins);
        self.scans.iter().any(|w| w.ptr_eq(&target))
    }

    /// A small collection of these documents, indexed afresh (a sliced scan's candidates).
    pub(crate) fn of_docs(docs: impl IntoIterator<Item = (DocId, Bytes)>) -> Collection {
        let mut c = Collection::new();
        for (id, bytes) in docs {
            if let Ok(doc) = StoredDoc::from_bytes(bytes) {
                c.insert(id.to_string(), doc);
            }
        }
        c
    }

    /// [`Self::query`], unless no index serves it and it would visit more than `above`
    /// documents (`Ok(None)`: scan it in slices).
    pub(crate) fn query_indexed(
        &self,
        query: &Query,
        scope: Option<&Filter>,
        above: usize,
    ) -> Result<Option<Page>, QueryError> {
        plan::execute_indexed(&self.docs, &self.indexes, query, scope, above)
    }

    /// A document's interned id and bytes.
    pub(crate) fn get_key_value_bytes(&self, id: &str) -> Option<(&DocId, &Bytes)> {
        self.docs
            .get_key_value(id)
            .map(|(id, doc)| (id, &doc.bytes))
    }

    /// `query`'s start position as of now (see [`plan::start_pos`]).
    pub(crate) fn start_pos(&self, query: &Query) -> Option<plan::StartPos> {
        plan::start_pos(&self.docs, &self.indexes, query)
    }

    /// Its documents and indexes (for the sliced scans of `query/plan/slice.rs`).
    pub(crate) fn parts(&self) -> (&Docs, &Indexes) {
        (&self.docs, &self.indexes)
    }

    /// An empty collection.
    pub fn new() -> Collection {
        Collection::default()
    }

    /// A collection of stored documents (as loaded at start-up), built at once: parsed and
    /// indexed on every core, each index bulk-loaded from sorted entries (see
    /// `index::bulk`). Equal to inserting them one by one. A document that is not a JSON object
    /// is an error naming its id.
    pub fn from_stored(
        docs: impl IntoIterator<Item = (String, Bytes)>,
    ) -> Result<Collection, (String, serde_json::Error)> {
        let mut docs: Vec<(DocId, Bytes)> = docs
            .into_iter()
            .map(|(id, bytes)| (DocId::from(id), bytes))
            .collect();
        if !docs.windows(2).all(|w| w[0].0 < w[1].0) {
            // Ascending, distinct ids (the later of two equal ones wins, as with `insert`).
            docs.reverse();
            docs.sort_by(|a, b| a.0.cmp(&b.0));
            docs.dedup_by(|later, kept| later.0 == kept.0);
        }
        let (indexes, keys) =
            crate::index::build_all(&docs).map_err(|(i, err)| (docs[i].0.to_string(), err))?;
        let mut by_id = HashMap::with_capacity(docs.len());
        let mut order = Vec::with_capacity(docs.len());
        for ((id, bytes), keys) in docs.into_iter().zip(keys) {
            order.push(id.clone());
            let doc = StoredDoc {
                bytes,
                keys,
                parsed: None,
                seq: 0,
            };
            by_id.insert(id, doc);
        }
        Ok(Collection {
            docs: Docs {
                by_id,
                // Sorted: bulk-loaded.
                order: order.into_iter().collect(),
            },
            indexes,
            scans: Vec::new(),
        })
    }

    /// Sets each document's last-write seq after a bulk load: `seq_of(id)` when stored, else
    /// `default` (a document written before per-document seqs were stored).
    pub(crate) fn restore_seqs(&mut self, seq_of: impl Fn(&str) -> Option<u64>, default: u64) {
        for (id, doc) in self.docs.by_id.iter_mut() {
            doc.seq = seq_of(id).unwrap_or(default);
        }
    }

    /// How many documents it holds.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether it holds no document.
    pub fn is_empty(&self) -> bool {
        self.docs.len() == 0
    }

    /// The document with this id.
    pub fn get(&self, id: &str) -> Option<&StoredDoc> {
        self.docs.get(id)
    }

    /// The document with this id if it also matches `scope` (when given); a document outside
    /// the scope is reported as absent, as CONTRACT section 9 asks.
    pub fn get_in_scope(&self, id: &str, scope: Option<&Filter>) -> Option<&StoredDoc> {
        let doc = self.docs.get(id)?;
        match scope {
            Some(scope) if !self.doc_matches(doc, scope) => None,
            _ => Some(doc),
        }
    }

    /// How many documents match `scope`: the documents of one equality's posting checked one by
    /// one when the scope has an equality (a single equality is its posting's length), else a
    /// scan. Matching is [`Self::get_in_scope`]'s, so a listing counts exactly what reads show.
    pub fn count_in_scope(&self, scope: &Filter) -> usize {
        use crate::query::filter::Op;
        let posting = scope.conds.iter().find_map(|c| match &c.op {
            Op::Eq(key) => Some(
                self.indexes
                    .path_id(&c.path)
                    .and_then(|pid| self.indexes.field(pid))
                    .and_then(|field| field.entries.get(key.as_bytes())),
            ),
            _ => None,
        });
        match posting {
            Some(None) => 0,
            Some(Some(posting)) if scope.conds.len() == 1 => posting.len(),
            Some(Some(posting)) => posting
                .ids_after(None)
                .filter_map(|id| self.docs.get(id))
                .filter(|doc| self.doc_matches(doc, scope))
                .count(),
            None => self
                .docs
                .iter()
                .filter(|(_, doc)| self.doc_matches(doc, scope))
                .count(),
        }
    }

    fn doc_matches(&self, doc: &StoredDoc, filter: &Filter) -> bool {
        plan::doc_matches(&self.indexes, doc, filter)
    }

    /// Inserts or replaces a document, updating every index; returns the previous one.
    pub fn insert(&mut self, id: String, mut doc: StoredDoc) -> Option<StoredDoc> {
        if !self.scans.is_empty() {
            match self.docs.get_key_value(id.as_str()) {
                Some((key, old)) => self.pin(&key.clone(), Some(old)),
                None => self.pin(&Arc::from(id.as_str()), None),
            }
        }
        let (id, previous) = match self.docs.remove_entry(id.as_str()) {
            Some((id, mut old)) => {
                self.indexes.remove_doc(&id, &old.keys);
                old.keys = DocKeys::default();
                (id, Some(old))
            }
            None => (Arc::from(id), None),
        };
        let value = match doc.parsed.take() {
            Some(value) => *value,
            None => parse(&doc.bytes),
        };
        doc.keys = self.indexes.add_doc(&id, &value);
        debug_assert!(
            doc.keys
                .iter()
                .all(|(pid, key)| self.indexes.contains(pid, key, &id)),
            "every field of {id} is indexed"
        );
        self.docs.insert(id, doc);
        previous
    }

    /// Removes a document and its index entries.
    pub fn remove(&mut self, id: &str) -> Option<StoredDoc> {
        if !self.scans.is_empty()
            && let Some((key, old)) = self.docs.get_key_value(id)
        {
            self.pin(&key.clone(), Some(old));
        }
        let (id, mut doc) = self.docs.remove_entry(id)?;
        self.indexes.remove_doc(&id, &doc.keys);
        debug_assert!(
            doc.keys
                .iter()
                .all(|(pid, key)| !self.indexes.contains(pid, key, &id)),
            "no entry of {id} remains"
        );
        doc.keys = DocKeys::default();
        Some(doc)
    }

    /// Answers a query, restricted to the documents that also match `scope` when given.
    pub fn query(&self, query: &Query, scope: Option<&Filter>) -> Result<Page, QueryError> {
        plan::execute(&self.docs, &self.indexes, query, scope)
    }

    /// Computes aggregates (CONTRACT section 13), restricted to `scope` when given.
    pub fn aggregate(
        &self,
        agg: &crate::query::Aggregation,
        scope: Option<&Filter>,
    ) -> serde_json::Map<String, Value> {
        crate::query::aggregate::run(&self.docs, &self.indexes, agg, scope)
    }

    /// Every document id, ascending.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.docs.order.iter().map(|id| &**id)
    }

    /// Checks that the indexes hold exactly the fields of the documents (a full pass: for
    /// tests and diagnostics).
    pub fn check_consistency(&self) -> Result<(), String> {
        let mut entries = 0usize;
        if self.docs.order.len() != self.docs.by_id.len() {
            return Err("id order and documents disagree".into());
        }
        for (id, doc) in self.docs.iter() {
            let fresh = {
                let mut scratch = Indexes::default();
                let keys = scratch.add_doc(id, &parse(&doc.bytes));
                keys.iter()
                    .map(|(pid, key)| {
                        let path = scratch
                            .field(pid)
                            .map(|f| f.path.clone())
                            .unwrap_or_default();
                        (path, key.to_vec())
                    })
                    .collect::<Vec<_>>()
            };
            let mut stored: Vec<_> = doc
                .keys
                .iter()
                .map(|(pid, key)| {
                    let path = self
                        .indexes
                        .field(pid)
                        .map(|f| f.path.clone())
                        .unwrap_or_default();
                    (path, key.to_vec())
                })
                .collect();
            let mut fresh = fresh;
            fresh.sort();
            stored.sort();
            if fresh != stored {
                return Err(format!("document {id}: key list does not match its bytes"));
            }
            for (pid, key) in doc.keys.iter() {
                if !self.indexes.contains(pid, key, id) {
                    return Err(format!("document {id}: missing index entry"));
                }
                entries += 1;
            }
        }
        let mut indexed = 0usize;
        for (_, field) in self.indexes.iter() {
            let sum: usize = field.entries.values().map(|p| p.len()).sum();
            if sum != field.docs || sum == 0 {
                return Err(format!(
                    "index '{}': count {} but {sum} ids",
                    field.path, field.docs
                ));
            }
            indexed += sum;
        }
        if indexed != entries {
            return Err(format!(
                "indexes hold {indexed} entries, documents {entries}"
            ));
        }
        Ok(())
    }

    /// Approximate heap bytes held by documents, key lists and indexes, counting element sizes
    /// but not allocator or B-tree node overhead (the benchmark measures RSS for the real
    /// figure).
    pub fn approx_bytes(&self) -> usize {
        let docs: usize = self
            .docs
            .iter()
            .map(|(id, d)| id.len() + d.bytes.len() + d.keys.byte_len() + 64)
            .sum();
        let index: usize = self
            .indexes
            .iter()
            .map(|(_, f)| {
                f.entries
                    .iter()
                    .map(|(k, p)| k.as_bytes().len() + 48 + 16 * p.len())
                    .sum::<usize>()
            })
            .sum();
        docs + index
    }
}
