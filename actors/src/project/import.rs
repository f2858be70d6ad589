//! Import (CONTRACT section 15): a chunk of documents applied in ONE commit (one `seq`, one
//! durability wait), through the same structures a single write uses, so indexes, listeners and
//! the byte quota see every imported document.
//!
//! Each chunk goes through the batch's commit ([`ProjectState::commit_staged`], the one write
//! path): every valid line is staged like a batch op (the byte quota counts the earlier lines),
//! then the chunk is submitted as one transaction, installed and published. Unlike a batch, a
//! refused line does not refuse the chunk: it is reported with its line number and skipped.
//!
//! An imported document is stored as the export wrote it: its `id` (generated when missing),
//! `created_at` and `updated_at` are kept (set to now when missing or not strings), so an export
//! imported elsewhere gives byte-identical documents. An id that exists is replaced (upsert), so
//! re-running an import converges instead of failing on every line.

use mammoth_storage::Ticket;
use serde_json::{Map, Value};

use super::ProjectState;
use super::batch::Staged;
use super::documents::MAX_DOC_BYTES;
use crate::collection::StoredDoc;
use crate::error::ProjectError;
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

impl ProjectState {
    /// Validates every document and stages the valid ones, then commits them as one commit
    /// through the batch path. Only a storage refusal (overload, closed) fails the whole chunk.
    /// A document named twice in a chunk is stored once, as its last line.
    pub(super) fn import(&mut self, docs: Vec<ImportDoc>) -> Result<ImportOutcome, ProjectError> {
        let now = rfc3339_millis(self.env.now_millis());
        let mut errors = Vec::new();
        let mut staged = Staged::default();
        let mut imported = 0;
        for ImportDoc {
            line,
            collection,
            doc,
        } in docs
        {
            let result = self
                .import_doc(&staged, &collection, doc, &now)
                .and_then(|(id, stored)| self.stage(&mut staged, collection, id, Some(stored)));
            match result {
                Ok(()) => imported += 1,
                Err(e) => errors.push((line, e)),
            }
        }
        if staged.is_empty() {
            return Ok(ImportOutcome {
                imported: 0,
                errors,
                ticket: None,
            });
        }
        let (_, ticket) = self.commit_staged(staged)?;
        Ok(ImportOutcome {
            imported,
            errors,
            ticket: Some(ticket),
        })
    }

    /// One document's id and stored form, or why it cannot be imported.
    fn import_doc(
        &self,
        staged: &Staged,
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
                if self.current(staged, collection, &id).is_none() {
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
