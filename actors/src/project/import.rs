//! Import (CONTRACT section 15): a chunk of documents applied in ONE commit (one `seq`, one
//! durability wait), through the same structures a single write uses, so indexes, listeners and
//! the byte quota see every imported document.
//!
//! MERGE NOTE: `POST /v1/batch` (branch `batch`) builds an actor call that applies many ops in
//! one commit. This file is the import's small version of that path; at merge, `import` should
//! become a caller of the batch path (staged ops -> one submit -> apply -> one publish) instead
//! of keeping its own loop.
//!
//! An imported document is stored as the export wrote it: its `id` (generated when missing),
//! `created_at` and `updated_at` are kept (set to now when missing or not strings), so an export
//! imported elsewhere gives byte-identical documents. An id that exists is replaced (upsert), so
//! re-running an import converges instead of failing on every line.

use std::collections::HashMap;

use mammoth_storage::{Mutation, Ticket};
use serde_json::{Map, Value};

use super::ProjectState;
use super::documents::MAX_DOC_BYTES;
use crate::collection::StoredDoc;
use crate::commitlog::{DocChange, Reason};
use crate::error::{ErrorCode, ProjectError};
use crate::ids::{rfc3339_millis, valid_collection_name, valid_doc_id};

/// One line of an import: a collection and the document as exported.
#[derive(Debug)]
pub struct ImportDoc {
    /// The line number in the caller's input (1-based), for error reports.
    pub line: u64,
    /// The collection.
    pub collection: String,
    /// The document, server fields included.
    pub doc: Map<String, Value>,
}

/// What one chunk did.
#[derive(Debug)]
pub struct ImportOutcome {
    /// Documents applied.
    pub imported: usize,
    /// Lines refused, with why.
    pub errors: Vec<(u64, ProjectError)>,
    /// Completes when the chunk's commit is durable; `None` when nothing was applied.
    pub ticket: Option<Ticket>,
}

/// A document ready to be stored.
struct Staged {
    collection: String,
    id: String,
    doc: StoredDoc,
}

impl ProjectState {
    /// Validates every document, submits the valid ones as one commit, applies them and
    /// publishes that commit. Only a storage refusal (overload, closed) fails the whole chunk.
    pub(super) fn import(&mut self, docs: Vec<ImportDoc>) -> Result<ImportOutcome, ProjectError> {
        let now = rfc3339_millis(self.env.now_millis());
        let mut errors = Vec::new();
        let mut staged: Vec<Staged> = Vec::with_capacity(docs.len());
        // (collection, id) -> index in `staged`: a document named twice in a chunk is stored
        // once, as its last line, so the commit changes each document at most once.
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        let mut bytes = self.bytes;
        for ImportDoc {
            line,
            collection,
            doc,
        } in docs
        {
            let staged_len = |s: &Staged| s.doc.bytes().len() as u64;
            let result = self.stage(&collection, doc, &now).and_then(|(id, stored)| {
                let key = (collection.clone(), id.clone());
                let old_len = match seen.get(&key) {
                    Some(&at) => staged_len(&staged[at]),
                    None => self
                        .collections
                        .get(&collection)
                        .and_then(|c| c.get(&id))
                        .map_or(0, |d| d.bytes().len() as u64),
                };
                let new_len = stored.bytes().len() as u64;
                let after = bytes.saturating_sub(old_len) + new_len;
                if self.max_bytes > 0 && new_len > old_len && after > self.max_bytes {
                    return Err(ProjectError::new(
                        ErrorCode::PayloadTooLarge,
                        format!(
                            "this document would take the project to {after} bytes of documents, over its quota of {} bytes (--max-project-bytes)",
                            self.max_bytes
                        ),
                    ));
                }
                bytes = after;
                let item = Staged {
                    collection,
                    id,
                    doc: stored,
                };
                match seen.get(&key) {
                    Some(&at) => staged[at] = item,
                    None => {
                        seen.insert(key, staged.len());
                        staged.push(item);
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                errors.push((line, e));
            }
        }
        if staged.is_empty() {
            return Ok(ImportOutcome {
                imported: 0,
                errors,
                ticket: None,
            });
        }
        let seq = self.log.next_seq();
        let mutations = staged
            .iter()
            .map(|s| Mutation::PutDoc {
                seq,
                project: self.record.id.clone(),
                collection: s.collection.clone(),
                id: s.id.clone(),
                doc: s.doc.bytes().clone(),
            })
            .collect();
        let (ticket, watch) = self.submit_commit(mutations)?;
        let imported = staged.len();
        let mut changes = Vec::with_capacity(imported);
        for Staged {
            collection,
            id,
            doc,
        } in staged
        {
            let doc = doc.with_seq(seq);
            let after = doc.bytes().clone();
            let before = self
                .collections
                .entry(collection.clone())
                .or_default()
                .insert(id.clone(), doc)
                .map(|old| old.bytes().clone());
            changes.push(DocChange {
                collection: collection.into(),
                id: id.into(),
                before,
                after: Some(after),
                reason: Reason::Write,
            });
        }
        self.bytes = bytes;
        self.publish(changes, watch);
        Ok(ImportOutcome {
            imported,
            errors,
            ticket: Some(ticket),
        })
    }

    /// One document's id and stored form, or why it cannot be imported.
    fn stage(
        &self,
        collection: &str,
        mut doc: Map<String, Value>,
        now: &str,
    ) -> Result<(String, StoredDoc), ProjectError> {
        if !valid_collection_name(collection) {
            return Err(ProjectError::bad_request(format!(
                "invalid collection name '{collection}': use 1-64 characters from [A-Za-z0-9_-]"
            )));
        }
        let id = match doc.get("id") {
            None => loop {
                let id = self.env.new_id();
                if self
                    .collections
                    .get(collection)
                    .and_then(|c| c.get(&id))
                    .is_none()
                {
                    break id;
                }
            },
            Some(Value::String(id)) if valid_doc_id(id) => id.clone(),
            Some(other) => {
                return Err(ProjectError::bad_request(format!(
                    "invalid document id {other}: use a string of 1-128 characters from [A-Za-z0-9_.-]"
                )));
            }
        };
        doc.insert("id".into(), Value::String(id.clone()));
        for field in ["created_at", "updated_at"] {
            if !matches!(doc.get(field), Some(Value::String(_))) {
                doc.insert(field.into(), Value::String(now.to_owned()));
            }
        }
        let encoded = serde_json::to_vec(&doc)
            .map_err(|e| ProjectError::internal(format!("encoding a document failed: {e}")))?;
        if encoded.len() > MAX_DOC_BYTES {
            return Err(ProjectError::bad_request(format!(
                "the document is {} bytes encoded; the limit is {MAX_DOC_BYTES} (1 MiB)",
                encoded.len()
            )));
        }
        Ok((id, StoredDoc::from_parts(doc, encoded.into())))
    }
}
