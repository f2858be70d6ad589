//! Document reads and writes inside the project actor.
//!
//! A write is validated, turned into the stored document (server fields set, encoded once),
//! handed to storage, and only then applied to memory, so a write that storage refuses
//! (overload) leaves no trace.

use std::sync::LazyLock;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::batch::{Planned, Staged};
use super::{CollectionInfo, ProjectState, WriteOp};
use crate::access::Reach;
use crate::collection::{Collection, StoredDoc};
use crate::error::{ErrorCode, ProjectError};
use crate::query::{Filter, Page, Query};

/// Largest stored document, encoded (CONTRACT section 6).
pub const MAX_DOC_BYTES: usize = 1 << 20;

static EMPTY: LazyLock<Collection> = LazyLock::new(Collection::new);

impl ProjectState {
    /// A document's bytes and the `seq` of its last write (its ETag); one outside the scope is
    /// reported missing.
    pub(super) fn get(
        &self,
        collection: &str,
        id: &str,
        scope: Option<&Filter>,
    ) -> Result<(Bytes, u64), ProjectError> {
        self.in_scope(collection, id, scope)
            .filter(|_| !self.is_expired(collection, id))
            .map(|doc| (doc.bytes().clone(), doc.seq()))
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

    /// Decides what one write does to the document it targets, as it stands after the earlier
    /// ops of its batch (`staged`), without changing anything: the rules of CONTRACT sections 6
    /// and 9. Under a scope, the resulting document must match it (and, for replace and merge,
    /// the existing one too), else 403; a delete outside it is reported missing. Every write,
    /// single or in a batch, is planned here ([`ProjectState::commit_ops`]). Answers the
    /// document's id and its new state.
    pub(super) fn plan_write(
        &self,
        staged: &Staged,
        collection: &str,
        op: WriteOp,
        scope: Option<&Filter>,
        now: &str,
    ) -> Result<(String, Planned), ProjectError> {
        match op {
            WriteOp::Create { id, body } => {
                let id = match id {
                    Some(id) => id,
                    None => loop {
                        let id = self.env.new_id();
                        if self.current(staged, collection, &id).is_none() {
                            break id;
                        }
                    },
                };
                // The scope is checked on the result first, and a document outside the scope
                // is never named as existing (CONTRACT section 18).
                let doc = build_doc(body, &id, now.to_owned(), now.to_owned(), scope)?;
                if self.current(staged, collection, &id).is_some() {
                    if self
                        .current_in_scope(staged, collection, &id, scope)
                        .is_none()
                    {
                        return Err(outside_scope());
                    }
                    return Err(ProjectError::new(
                        ErrorCode::Conflict,
                        format!(
                            "document '{id}' already exists in '{collection}'; use PUT to replace it or pick another id"
                        ),
                    ));
                }
                Ok((id, Planned::Put { doc, created: true }))
            }
            WriteOp::Replace { id, body } => {
                let existing = self.current(staged, collection, &id);
                if existing.is_some()
                    && self
                        .current_in_scope(staged, collection, &id, scope)
                        .is_none()
                {
                    return Err(outside_scope());
                }
                let created_at = existing.map(|doc| created_at_of(&doc.value()));
                let created = created_at.is_none();
                let created_at = created_at.unwrap_or_else(|| now.to_owned());
                let doc = build_doc(body, &id, created_at, now.to_owned(), scope)?;
                Ok((id, Planned::Put { doc, created }))
            }
            WriteOp::Merge { id, patch } => {
                // Outside the scope is missing, as for get and delete (CONTRACT section 18).
                let Some(existing) = self.current_in_scope(staged, collection, &id, scope) else {
                    return Err(not_found(collection, &id));
                };
                let current = existing.value();
                let created_at = created_at_of(&current);
                let mut value = Value::Object(current);
                merge_patch(&mut value, Value::Object(patch));
                let Value::Object(body) = value else {
                    unreachable!("merging an object patch into an object gives an object")
                };
                let doc = build_doc(body, &id, created_at, now.to_owned(), scope)?;
                Ok((
                    id,
                    Planned::Put {
                        doc,
                        created: false,
                    },
                ))
            }
            WriteOp::Delete { id } => {
                if self
                    .current_in_scope(staged, collection, &id, scope)
                    .is_none()
                {
                    return Err(not_found(collection, &id));
                }
                Ok((id, Planned::Delete))
            }
        }
    }

    /// The committed document (before any op of the batch being applied).
    pub(super) fn existing(&self, collection: &str, id: &str) -> Option<&StoredDoc> {
        self.collections.get(collection).and_then(|c| c.get(id))
    }

    /// The document if it exists and matches the scope (when there is one).
    pub(super) fn in_scope(
        &self,
        collection: &str,
        id: &str,
        scope: Option<&Filter>,
    ) -> Option<&StoredDoc> {
        self.collections
            .get(collection)
            .and_then(|c| c.get_in_scope(id, scope))
    }

    /// Puts a document's new state in memory (`None` removes it), keeping the project's byte
    /// count and dropping a collection with its last document. Answers the previous bytes.
    pub(super) fn install(
        &mut self,
        collection: &str,
        id: String,
        doc: Option<StoredDoc>,
    ) -> Option<Bytes> {
        let before = match doc {
            Some(doc) => {
                let new_len = doc.bytes().len() as u64;
                let before = self
                    .collections
                    .entry(collection.to_owned())
                    .or_default()
                    .insert(id, doc)
                    .map(|old| old.bytes().clone());
                self.bytes += new_len;
                before
            }
            None => {
                let c = self.collections.get_mut(collection)?;
                let before = c.remove(&id).map(|doc| doc.bytes().clone());
                if c.is_empty() {
                    self.collections.remove(collection);
                }
                before
            }
        };
        let freed = before.as_ref().map_or(0, |b| b.len() as u64);
        self.bytes = self.bytes.saturating_sub(freed);
        before
    }
}

impl ProjectState {
    /// Refuses (413) a write that replaces `old_len` stored bytes by `new_len` when it would take
    /// a project holding `project_bytes` over its byte quota; writes that do not grow the project
    /// always pass, so a project over its quota (after the quota was lowered) can still shrink.
    pub(super) fn check_quota(
        &self,
        project_bytes: u64,
        old_len: u64,
        new_len: u64,
    ) -> Result<(), ProjectError> {
        if self.max_bytes == 0 || new_len <= old_len {
            return Ok(());
        }
        let after = project_bytes.saturating_sub(old_len) + new_len;
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
