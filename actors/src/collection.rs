//! One collection: documents by id, each kept with its encoded bytes, plus the secondary indexes
//! that answer queries.
//!
//! STUB: the query engine replaces this file (full-scan semantics only for now).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::query::{Filter, Page, Query, QueryError};

/// A stored document: its JSON value and the exact bytes a GET serves.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    /// The document, including `id`, `created_at` and `updated_at`.
    pub value: Map<String, Value>,
    /// `value` encoded once, served as is.
    pub bytes: Bytes,
}

/// Documents of one collection by id, and their indexes.
#[derive(Debug, Default)]
pub struct Collection {
    docs: BTreeMap<String, StoredDoc>,
}

impl Collection {
    /// An empty collection.
    pub fn new() -> Collection {
        Collection::default()
    }

    /// How many documents it holds.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether it holds no document.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The document with this id.
    pub fn get(&self, id: &str) -> Option<&StoredDoc> {
        self.docs.get(id)
    }

    /// Inserts or replaces a document, updating every index; returns the previous one.
    pub fn insert(&mut self, id: String, doc: StoredDoc) -> Option<StoredDoc> {
        self.docs.insert(id, doc)
    }

    /// Removes a document and its index entries.
    pub fn remove(&mut self, id: &str) -> Option<StoredDoc> {
        self.docs.remove(id)
    }

    /// Answers a query, restricted to the documents that also match `scope` when given.
    pub fn query(&self, query: &Query, scope: Option<&Filter>) -> Result<Page, QueryError> {
        let _ = (query, scope);
        Err(QueryError::InvalidQuery(
            "queries are not implemented yet".into(),
        ))
    }
}
