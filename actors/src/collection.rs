//! One collection: documents by id, each kept as the exact bytes a GET serves, plus the secondary
//! indexes that answer queries.
//!
//! A document is stored once, encoded ([`StoredDoc::bytes`]); its parsed form is not kept,
//! because a `serde_json::Map` costs several times the JSON's size. What queries need from it,
//! the value key of every field path, lives in the compact per-document key list of
//! [`crate::index`], computed when the document is inserted, from those same bytes (so the index
//! always describes exactly what GET serves). [`StoredDoc::value`] parses on demand, for the rare
//! callers that need the `Map` (merge patches, scope checks on a single document).

use std::sync::{Arc, Weak};

use bytes::Bytes;
use serde_json::Value;

use crate::index::{DocId, DocKeys, Indexes};
use crate::query::sliced::Pins;
use crate::query::{Filter, Page, Query, QueryError, plan};

mod docs;
mod stored;
pub(crate) use docs::Docs;
pub use stored::StoredDoc;
use stored::parse;

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
        let docs = docs
            .into_iter()
            .zip(keys)
            .map(|((id, bytes), keys)| (id, StoredDoc::loaded(bytes, keys)))
            .collect();
        Ok(Collection {
            // Numbered by position, as `build_all` numbered them.
            docs: Docs::from_sorted(docs),
            indexes,
            scans: Vec::new(),
        })
    }

    /// Sets each document's last-write seq after a bulk load: `seq_of(id)` when stored, else
    /// `default` (a document written before per-document seqs were stored).
    pub(crate) fn restore_seqs(&mut self, seq_of: impl Fn(&str) -> Option<u64>, default: u64) {
        for (id, doc) in self.docs.iter_mut() {
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
            Some(Some(posting)) => self
                .docs
                .posting(posting, None)
                .filter(|(_, doc)| self.doc_matches(doc, scope))
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

    /// Inserts or replaces a document, updating every index; returns the previous one. A
    /// replaced document keeps its ordinal.
    pub fn insert(&mut self, id: String, mut doc: StoredDoc) -> Option<StoredDoc> {
        let ord = self.docs.ord_of(&id);
        if !self.scans.is_empty() {
            match ord.and_then(|o| self.docs.at(o)) {
                Some((key, old)) => self.pin(&key.clone(), Some(old)),
                None => self.pin(&Arc::from(id.as_str()), None),
            }
        }
        let value = match doc.parsed.take() {
            Some(value) => *value,
            None => parse(&doc.bytes),
        };
        let (ord, previous) = match ord {
            Some(ord) => {
                let old_keys = self.take_keys(ord);
                self.indexes.remove_doc(ord, &old_keys, &self.docs);
                let old = self
                    .docs
                    .at_mut(ord)
                    .map(|slot| std::mem::replace(slot, doc));
                (ord, old)
            }
            None => (self.docs.insert_new(Arc::from(id), doc), None),
        };
        let keys = self.indexes.add_doc(ord, &value, &self.docs);
        debug_assert!(
            keys.iter()
                .all(|(pid, key)| self.indexes.contains(pid, key, ord, &self.docs)),
            "every field of {ord} is indexed"
        );
        if let Some(doc) = self.docs.at_mut(ord) {
            doc.keys = keys;
        }
        previous
    }

    fn take_keys(&mut self, ord: u32) -> DocKeys {
        self.docs
            .at_mut(ord)
            .map(|doc| std::mem::take(&mut doc.keys))
            .unwrap_or_default()
    }

    /// Removes a document and its index entries.
    pub fn remove(&mut self, id: &str) -> Option<StoredDoc> {
        let ord = self.docs.ord_of(id)?;
        if !self.scans.is_empty()
            && let Some((key, old)) = self.docs.at(ord)
        {
            self.pin(&key.clone(), Some(old));
        }
        let keys = self.take_keys(ord);
        self.indexes.remove_doc(ord, &keys, &self.docs);
        debug_assert!(
            keys.iter()
                .all(|(pid, key)| !self.indexes.contains(pid, key, ord, &self.docs)),
            "no entry of {id} remains"
        );
        self.docs.remove(ord).map(|(_, doc)| doc)
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
        self.docs.ordered_after(None).map(|(id, _)| &**id)
    }

    /// Checks that the indexes hold exactly the fields of the documents (a full pass: for
    /// tests and diagnostics).
    pub fn check_consistency(&self) -> Result<(), String> {
        let mut entries = 0usize;
        if self.docs.ordered_after(None).count() != self.docs.iter().count()
            || self.docs.iter().any(|(id, _)| self.docs.get(id).is_none())
        {
            return Err("id order, id table and documents disagree".into());
        }
        for (ord, id, doc) in self.docs.iter_ords() {
            let fresh = {
                let mut scratch = Indexes::default();
                let keys = scratch.add_doc(0, &parse(&doc.bytes), std::slice::from_ref(id));
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
                if !self.indexes.contains(pid, key, ord, &self.docs) {
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
            .map(|(id, d)| id.len() + 16 + d.bytes.len() + d.keys.byte_len())
            .sum::<usize>()
            + self.docs.table_bytes();
        let index: usize = self
            .indexes
            .iter()
            .map(|(_, f)| {
                f.entries
                    .values()
                    .map(|p| std::mem::size_of::<crate::value::ValueKey>() + 16 + p.byte_len())
                    .sum::<usize>()
            })
            .sum();
        docs + index
    }
}
