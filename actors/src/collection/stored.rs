//! A stored document: its bytes, its key list, its ETag seq.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::index::DocKeys;

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
    pub(super) parsed: Option<Box<Map<String, Value>>>,
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

    /// A document loaded at start-up, with its key list built by `index::build_all`.
    pub(super) fn loaded(bytes: Bytes, keys: DocKeys) -> StoredDoc {
        StoredDoc {
            bytes,
            keys,
            parsed: None,
            seq: 0,
        }
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
pub(super) fn parse(bytes: &[u8]) -> Map<String, Value> {
    let parsed = serde_json::from_slice(bytes);
    debug_assert!(parsed.is_ok(), "a StoredDoc holds a JSON object");
    parsed.unwrap_or_default()
}
