//! Document reads and writes inside the project actor.
//!
//! A write is validated, turned into the stored document (server fields set, encoded once),
//! handed to storage, and only then applied to memory, so a write that storage refuses
//! (overload) leaves no trace.

use std::sync::LazyLock;

use bytes::Bytes;
use mammoth_storage::Mutation;
use serde_json::{Map, Value};

use super::{CollectionInfo, ProjectState, WriteOp, Written};
use crate::access::Reach;
use crate::collection::{Collection, StoredDoc};
use crate::commitlog::{DocChange, Reason};
use crate::error::{ErrorCode, ProjectError};
use crate::ids::rfc3339_millis;
use crate::query::{Filter, Page, Query};

/// Largest stored document, encoded (CONTRACT section 6).
pub const MAX_DOC_BYTES: usize = 1 << 20;

static EMPTY: LazyLock<Collection> = LazyLock::new(Collection::new);

impl ProjectState {
    /// A document's bytes; one outside the scope is reported missing.
    pub(super) fn get(
        &self,
        collection: &str,
        id: &str,
        scope: Option<&Filter>,
    ) -> Result<Bytes, ProjectError> {
        self.in_scope(collection, id, scope)
            .filter(|_| !self.is_expired(collection, id))
            .map(|doc| doc.bytes().clone())
            .ok_or_else(|| not_found(collection, id))
    }

    pub(super) fn query(
        &self,
        collection: &str,
        query: &Query,
        scope: Option<&Filter>,
    ) -> Result<Page, ProjectError> {
        let c = self.collections.get(collection).unwrap_or(&EMPTY);
        Ok(c.query(query, scope)?)
    }

    pub(super) fn aggregate(
        &self,
        collection: &str,
        aggregation: &crate::query::Aggregation,
        scope: Option<&Filter>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let c = self.collections.get(collection).unwrap_or(&EMPTY);
        c.aggregate(aggregation, scope)
    }

    /// The collections `reach` shows, each counting only the documents its scope shows
    /// (CONTRACT section 18: a scope learns nothing about the number of documents outside it).
    pub(super) fn list(&self, reach: &Reach) -> Vec<CollectionInfo> {
        self.collections
            .iter()
            .filter_map(|(name, c)| {
                let count = match reach.visible(name)? {
                    None => c.len(),
                    Some(filter) => c.count_in_scope(filter),
                };
                Some(CollectionInfo {
                    name: name.clone(),
                    count,
                })
            })
            .filter(|info| info.count > 0 || reach.scope().is_none())
            .collect()
    }

    /// Applies a write. Under a scope, the resulting document must match it (and, for replace and
    /// merge, the existing one too), else 403; a delete outside it is reported missing.
    pub(super) fn write(
        &mut self,
        collection: String,
        op: WriteOp,
        scope: Option<&Filter>,
    ) -> Result<Written, ProjectError> {
        let now = rfc3339_millis(self.env.now_millis());
        match op {
            WriteOp::Create { id, body } => {
                let id = match id {
                    Some(id) => id,
                    None => loop {
                        let id = self.env.new_id();
                        if self.existing(&collection, &id).is_none() {
                            break id;
                        }
                    },
                };
                // The scope is checked on the result first, and a document outside the scope
                // is never named as existing (CONTRACT section 18).
                let doc = build_doc(body, &id, now.clone(), now, scope)?;
                if self.existing(&collection, &id).is_some() {
                    self.check_existing_in_scope(&collection, &id, scope)?;
                    return Err(ProjectError::new(
                        ErrorCode::Conflict,
                        format!(
                            "document '{id}' already exists in '{collection}'; use PUT to replace it or pick another id"
                        ),
                    ));
                }
                self.store(collection, id, doc, true)
            }
            WriteOp::Replace { id, body } => {
                let existing = self.existing(&collection, &id);
                if existing.is_some() {
                    self.check_existing_in_scope(&collection, &id, scope)?;
                }
                let created_at = existing.map(|doc| created_at_of(&doc.value()));
                let created = created_at.is_none();
                let created_at = created_at.unwrap_or_else(|| now.clone());
                let doc = build_doc(body, &id, created_at, now, scope)?;
                self.store(collection, id, doc, created)
            }
            WriteOp::Merge { id, patch } => {
                // Outside the scope is missing, as for get and delete (CONTRACT section 18).
                let Some(existing) = self.in_scope(&collection, &id, scope) else {
                    return Err(not_found(&collection, &id));
                };
                let current = existing.value();
                let created_at = created_at_of(&current);
                let mut value = Value::Object(current);
                merge_patch(&mut value, Value::Object(patch));
                let Value::Object(body) = value else {
                    unreachable!("merging an object patch into an object gives an object")
                };
                let doc = build_doc(body, &id, created_at, now, scope)?;
                self.store(collection, id, doc, false)
            }
            WriteOp::Delete { id } => {
                if self.in_scope(&collection, &id, scope).is_none() {
                    return Err(not_found(&collection, &id));
                }
                let (ticket, watch) = self.submit_commit(vec![Mutation::DeleteDoc {
                    project: self.record.id.clone(),
                    collection: collection.clone(),
                    id: id.clone(),
                }])?;
                let mut before = None;
                if let Some(c) = self.collections.get_mut(&collection) {
                    before = c.remove(&id).map(|doc| doc.bytes().clone());
                    let freed = before.as_ref().map_or(0, |b| b.len() as u64);
                    self.bytes = self.bytes.saturating_sub(freed);
                    if c.is_empty() {
                        self.collections.remove(&collection);
                    }
                }
                self.publish(
                    vec![DocChange {
                        collection: collection.into(),
                        id: id.into(),
                        before,
                        after: None,
                        reason: Reason::Write,
                    }],
                    watch,
                );
                Ok(Written {
                    doc: None,
                    created: false,
                    ticket,
                })
            }
        }
    }

    fn existing(&self, collection: &str, id: &str) -> Option<&StoredDoc> {
        self.collections.get(collection).and_then(|c| c.get(id))
    }

    /// The document if it exists and matches the scope (when there is one).
    fn in_scope(&self, collection: &str, id: &str, scope: Option<&Filter>) -> Option<&StoredDoc> {
        self.collections
            .get(collection)
            .and_then(|c| c.get_in_scope(id, scope))
    }

    fn check_existing_in_scope(
        &self,
        collection: &str,
        id: &str,
        scope: Option<&Filter>,
    ) -> Result<(), ProjectError> {
        match self.in_scope(collection, id, scope) {
            Some(_) => Ok(()),
            None => Err(outside_scope()),
        }
    }

    fn store(
        &mut self,
        collection: String,
        id: String,
        doc: StoredDoc,
        created: bool,
    ) -> Result<Written, ProjectError> {
        let old_len = self
            .existing(&collection, &id)
            .map_or(0, |old| old.bytes().len() as u64);
        let new_len = doc.bytes().len() as u64;
        self.check_quota(old_len, new_len)?;
        let (ticket, watch) = self.submit_commit(vec![Mutation::PutDoc {
            project: self.record.id.clone(),
            collection: collection.clone(),
            id: id.clone(),
            doc: doc.bytes().clone(),
        }])?;
        let bytes = doc.bytes().clone();
        let before = self
            .collections
            .entry(collection.clone())
            .or_default()
            .insert(id.clone(), doc)
            .map(|old| old.bytes().clone());
        self.bytes = self.bytes.saturating_sub(old_len) + new_len;
        self.publish(
            vec![DocChange {
                collection: collection.into(),
                id: id.into(),
                before,
                after: Some(bytes.clone()),
                reason: Reason::Write,
            }],
            watch,
        );
        Ok(Written {
            doc: Some(bytes),
            created,
            ticket,
        })
    }
}

impl ProjectState {
    /// Refuses (413) a write that replaces `old_len` stored bytes by `new_len` when it would take
    /// the project over its byte quota; writes that do not grow the project always pass, so a
    /// project over its quota (after the quota was lowered) can still shrink.
    fn check_quota(&self, old_len: u64, new_len: u64) -> Result<(), ProjectError> {
        if self.max_bytes == 0 || new_len <= old_len {
            return Ok(());
        }
        let after = self.bytes.saturating_sub(old_len) + new_len;
        if after <= self.max_bytes {
            return Ok(());
        }
        Err(ProjectError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "this write would take the project to {after} bytes of documents, over its quota of {} bytes (--max-project-bytes); delete documents or ask the operator to raise --max-project-bytes",
                self.max_bytes
            ),
        ))
    }
}

fn not_found(collection: &str, id: &str) -> ProjectError {
    ProjectError::not_found(format!("no document '{id}' in collection '{collection}'"))
}

/// One answer for every write a scope refuses, whether the id exists outside the scope or the
/// body does not match it, so the refusal tells nothing about documents the scope hides.
fn outside_scope() -> ProjectError {
    ProjectError::forbidden(
        "this write is outside this credential's scope: the document must match the scope (set the fields it requires) and the id must be free or already yours",
    )
}

fn created_at_of(doc: &Map<String, Value>) -> String {
    match doc.get("created_at") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// The stored form: the body with the server-managed fields set, encoded once. Under a scope the
/// result must match it (403 otherwise).
fn build_doc(
    mut body: Map<String, Value>,
    id: &str,
    created_at: String,
    updated_at: String,
    scope: Option<&Filter>,
) -> Result<StoredDoc, ProjectError> {
    body.insert("id".into(), Value::String(id.to_owned()));
    body.insert("created_at".into(), Value::String(created_at));
    body.insert("updated_at".into(), Value::String(updated_at));
    if scope.is_some_and(|filter| !filter.matches(&body)) {
        return Err(outside_scope());
    }
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| ProjectError::internal(format!("encoding a document failed: {e}")))?;
    if bytes.len() > MAX_DOC_BYTES {
        return Err(ProjectError::bad_request(format!(
            "the document would be {} bytes encoded; the limit is {MAX_DOC_BYTES} (1 MiB): make it smaller",
            bytes.len()
        )));
    }
    Ok(StoredDoc::from_parts(body, Bytes::from(bytes)))
}

/// JSON Merge Patch (RFC 7396): objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        unreachable!("target was just made an object")
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(&key);
        } else {
            merge_patch(map.entry(key).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, patch.clone());
            assert_eq!(target, want, "patch {patch}");
        }
    }
}
