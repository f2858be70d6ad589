//! Scoped tokens' grants (CONTRACT section 9): which collections a token reaches and the filter
//! every document it touches must match. The filter is the query engine's own [`Filter`], so a
//! scope and a query can never disagree about what matches.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{ErrorCode, ProjectError};
use crate::ids::valid_collection_name;
use crate::query::Filter;
use crate::records::Permission;

/// Largest scope, as compact JSON.
pub const MAX_SCOPE_BYTES: usize = 8 * 1024;
/// Most conditions in a scope, over all its collections (`$or`/`$and` branches counted).
pub const MAX_SCOPE_CONDITIONS: usize = 64;

/// Conditions in a filter's JSON: each field test (each operator of an operator object) counts
/// one; logical operators count their branches.
fn conditions(filter: &Value) -> usize {
    let Value::Object(fields) = filter else {
        return 0;
    };
    fields
        .iter()
        .map(|(key, value)| match (key.as_str(), value) {
            ("$and" | "$or" | "$nor", Value::Array(branches)) => {
                branches.iter().map(conditions).sum::<usize>().max(1)
            }
            ("$not", inner) => conditions(inner).max(1),
            (_, Value::Object(ops)) if ops.keys().all(|k| k.starts_with('$')) => ops.len().max(1),
            _ => 1,
        })
        .sum()
}

/// Collections a token may reach, each with the filter its documents must match.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Named collections; a named entry wins over `*`.
    named: BTreeMap<String, Filter>,
    /// The `*` entry: every other collection.
    wildcard: Option<Filter>,
}

impl Scope {
    /// Parses and validates a scope object: `{"todos": {"user_id": "abc"}, "*": {}}`. At most
    /// [`MAX_SCOPE_BYTES`] as JSON and [`MAX_SCOPE_CONDITIONS`] conditions (CONTRACT 18).
    pub fn parse(value: &Value) -> Result<Scope, ProjectError> {
        let Value::Object(entries) = value else {
            return Err(ProjectError::bad_request(
                "\"scope\" must be an object mapping collection names (or \"*\") to filters, e.g. {\"todos\": {\"user_id\": \"abc123\"}}",
            ));
        };
        let bytes = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
        if bytes > MAX_SCOPE_BYTES {
            return Err(ProjectError::bad_request(format!(
                "\"scope\" is {bytes} bytes as JSON; at most {MAX_SCOPE_BYTES} are allowed"
            )));
        }
        let count: usize = entries.values().map(conditions).sum();
        if count > MAX_SCOPE_CONDITIONS {
            return Err(ProjectError::bad_request(format!(
                "\"scope\" has {count} conditions; at most {MAX_SCOPE_CONDITIONS} are allowed"
            )));
        }
        if entries.is_empty() {
            return Err(ProjectError::bad_request(
                "\"scope\" names no collection; add at least one collection name or \"*\"",
            ));
        }
        let mut named = BTreeMap::new();
        let mut wildcard = None;
        for (name, filter) in entries {
            if name != "*" && !valid_collection_name(name) {
                return Err(ProjectError::bad_request(format!(
                    "scope key '{name}' is not a collection name ([A-Za-z0-9_-]{{1,64}}) or \"*\""
                )));
            }
            let filter = Filter::parse(filter).map_err(|e| {
                let e = ProjectError::from(e);
                ProjectError::new(
                    ErrorCode::InvalidQuery,
                    format!("scope of '{name}': {}", e.message),
                )
            })?;
            if name == "*" {
                wildcard = Some(filter);
            } else {
                named.insert(name.clone(), filter);
            }
        }
        Ok(Scope { named, wildcard })
    }

    /// The filter for a collection, or `None` when the scope does not reach it.
    pub fn filter_for(&self, collection: &str) -> Option<&Filter> {
        self.named.get(collection).or(self.wildcard.as_ref())
    }

    /// The filter for a collection, or 403 when the scope does not reach it.
    pub fn require(&self, collection: &str) -> Result<&Filter, ProjectError> {
        self.filter_for(collection).ok_or_else(|| {
            ProjectError::forbidden(format!(
                "this token's scope does not include collection '{collection}'"
            ))
        })
    }

    /// Whether the scope reaches every collection.
    pub fn reaches_all(&self) -> bool {
        self.wildcard.is_some()
    }
}

/// What a verified scoped token grants.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The API key that minted the token; revoking or regenerating it kills the token.
    pub key_id: String,
    /// That key's nonce at minting time.
    pub nonce: String,
    /// At most the minting key's permission.
    pub permission: Permission,
    /// Where the token reaches.
    pub scope: Scope,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scopes_are_bounded_in_bytes_and_conditions() {
        let fields: serde_json::Map<String, Value> =
            (0..64).map(|i| (format!("f{i}"), json!(i))).collect();
        assert!(
            Scope::parse(&json!({ "todos": fields })).is_ok(),
            "64 conditions pass"
        );
        let mut more = fields.clone();
        more.insert("one_more".into(), json!(1));
        let err = Scope::parse(&json!({ "todos": more })).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(err.message.contains("65 conditions"), "{}", err.message);
        let branches: Vec<Value> = (0..65).map(|i| json!({ "a": i })).collect();
        let err = Scope::parse(&json!({ "todos": { "$or": branches } })).unwrap_err();
        assert!(err.message.contains("conditions"), "{}", err.message);
        let big = "x".repeat(9_000);
        let err = Scope::parse(&json!({ "todos": { "a": big } })).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(err.message.contains("bytes"), "{}", err.message);
    }
}
