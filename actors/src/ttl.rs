//! Time to live (CONTRACT section 14): per-collection policies, and the expiry times of the
//! documents they cover.
//!
//! A policy names one field path per collection. A document of that collection whose field holds
//! an RFC 3339 timestamp is due at that instant (rounded up to the millisecond, so "at or before
//! now" is exact against the millisecond clock); any other value, or no value, never expires.
//!
//! [`Expiries`] keeps, for every covered document, its due time (the truth) and a min-heap of
//! `(due, collection, id)` (the schedule). A rewrite pushes a new heap entry and leaves the old
//! one where it is: an entry whose time no longer equals the document's due time is stale and
//! skipped when popped (lazy invalidation), and the heap is rebuilt from the truth when stale
//! entries outnumber live ones. The project actor (`project/ttl.rs`) owns one and removes every
//! due document before it handles any message.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::ProjectError;

/// Collection name to TTL field path, as stored in the project record.
pub type Policies = BTreeMap<String, String>;

/// A `PATCH` of policies: `Some(path)` sets a collection's field, `None` removes its policy.
pub type PolicyUpdate = BTreeMap<String, Option<String>>;

/// Parses the `"ttl"` member of `PATCH /admin/v1/projects/{id}`:
/// `{"COLLECTION": "FIELD_PATH" | null, ...}`. Collection names follow CONTRACT section 6 and
/// field paths the query rules of section 7 (non-empty segments, at most 32); the server-managed
/// fields are refused, since they would expire every document at once.
pub fn parse_update(value: &Value) -> Result<PolicyUpdate, ProjectError> {
    let Value::Object(entries) = value else {
        return Err(ProjectError::bad_request(
            "\"ttl\" must be an object mapping a collection to the field that holds its documents' expiry time, e.g. {\"sessions\": \"expires_at\"} (null removes a collection's policy)",
        ));
    };
    let mut update = PolicyUpdate::new();
    for (collection, path) in entries {
        if !crate::ids::valid_collection_name(collection) {
            return Err(ProjectError::bad_request(format!(
                "ttl: '{collection}' is not a collection name (1-64 of A-Z a-z 0-9 _ -)"
            )));
        }
        let path = match path {
            Value::Null => None,
            Value::String(path) => {
                crate::query::filter::check_path(path).map_err(|e| {
                    ProjectError::bad_request(format!("ttl: collection '{collection}': {e}"))
                })?;
                if matches!(path.as_str(), "id" | "created_at" | "updated_at") {
                    return Err(ProjectError::bad_request(format!(
                        "ttl: collection '{collection}': '{path}' is set by the server and would expire every document at once; name a field of your own, e.g. \"expires_at\""
                    )));
                }
                Some(path.clone())
            }
            other => {
                return Err(ProjectError::bad_request(format!(
                    "ttl: collection '{collection}' must map to a field path string like \"expires_at\", or null to remove its policy, not {}",
                    kind(other)
                )));
            }
        };
        update.insert(collection.clone(), path);
    }
    Ok(update)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The instant, in milliseconds since the epoch rounded up, that an RFC 3339 timestamp names;
/// `None` for any other value. Instants before 1970 are 0 (always due).
pub fn timestamp_millis(value: &Value) -> Option<u64> {
    let Value::String(s) = value else {
        return None;
    };
    let at = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let nanos = at.unix_timestamp_nanos();
    if nanos <= 0 {
        return Some(0);
    }
    let millis = (nanos + 999_999) / 1_000_000;
    Some(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// When a document is due under a policy's field path (`None`: never).
pub fn due_of(doc: &Map<String, Value>, path: &str) -> Option<u64> {
    crate::query::lookup(doc, path).and_then(timestamp_millis)
}

/// One scheduled expiry.
type Entry = Reverse<(u64, Arc<str>, Arc<str>)>;

/// Due times of the documents covered by a policy, and their schedule.
#[derive(Debug, Default)]
pub struct Expiries {
    /// Collection, then id, to due time: the truth.
    due: HashMap<Arc<str>, HashMap<Arc<str>, u64>>,
    /// Every due time set, earliest first; entries that no longer match `due` are stale.
    heap: BinaryHeap<Entry>,
    /// Documents in `due`.
    len: usize,
}

impl Expiries {
    /// Documents with a due time.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no document has a due time.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A document's due time, if it has one.
    pub fn due(&self, collection: &str, id: &str) -> Option<u64> {
        self.due.get(collection)?.get(id).copied()
    }

    /// Sets (or with `None` clears) a document's due time.
    pub fn set(&mut self, collection: &Arc<str>, id: &Arc<str>, due: Option<u64>) {
        match due {
            Some(at) => {
                let docs = self.due.entry(collection.clone()).or_default();
                match docs.insert(id.clone(), at) {
                    Some(old) if old == at => return,
                    Some(_) => {}
                    None => self.len += 1,
                }
                self.heap
                    .push(Reverse((at, collection.clone(), id.clone())));
                self.compact();
            }
            None => {
                if let Some(docs) = self.due.get_mut(collection)
                    && docs.remove(id).is_some()
                {
                    self.len -= 1;
                    if docs.is_empty() {
                        self.due.remove(collection);
                    }
                }
            }
        }
    }

    /// Forgets every due time of a collection (its policy was removed or changed).
    pub fn clear_collection(&mut self, collection: &str) {
        if let Some(docs) = self.due.remove(collection) {
            self.len -= docs.len();
            self.compact();
        }
    }

    /// Forgets everything (project reset).
    pub fn clear(&mut self) {
        *self = Expiries::default();
    }

    /// The earliest due time, skipping (and dropping) stale entries.
    pub fn next_due(&mut self) -> Option<u64> {
        while let Some(Reverse((at, collection, id))) = self.heap.peek() {
            if self.due(collection, id) == Some(*at) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and answers up to `max` documents due at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: u64, max: usize) -> Vec<(Arc<str>, Arc<str>)> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.next_due() {
                Some(at) if at <= now => {}
                _ => break,
            }
            let Some(Reverse((_, collection, id))) = self.heap.pop() else {
                break;
            };
            self.set(&collection, &id, None);
            out.push((collection, id));
        }
        out
    }

    /// Rebuilds the heap from the truth when stale entries outnumber live ones, so keep-alive
    /// rewrites cannot grow it without bound.
    fn compact(&mut self) {
        if self.heap.len() <= 2 * self.len + 1024 {
            return;
        }
        self.heap = self
            .due
            .iter()
            .flat_map(|(c, docs)| {
                docs.iter()
                    .map(|(id, at)| Reverse((*at, c.clone(), id.clone())))
            })
            .collect();
    }

    /// Heap entries, stale ones included (tests).
    pub fn scheduled(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_parse_and_round_up() {
        assert_eq!(timestamp_millis(&json!("1970-01-01T00:00:01Z")), Some(1000));
        assert_eq!(
            timestamp_millis(&json!("1970-01-01T00:00:01.0001Z")),
            Some(1001)
        );
        assert_eq!(
            timestamp_millis(&json!("1970-01-01T01:00:01+01:00")),
            Some(1000)
        );
        assert_eq!(timestamp_millis(&json!("1960-01-01T00:00:00Z")), Some(0));
        for never in [
            json!("tomorrow"),
            json!("2026-01-01"),
            json!(1_700_000_000),
            json!(null),
            json!({"t": "2026-01-01T00:00:00Z"}),
        ] {
            assert_eq!(timestamp_millis(&never), None, "{never}");
        }
    }

    #[test]
    fn updates_are_validated() {
        let ok = parse_update(&json!({"sessions": "expires_at", "old": null, "a": "x.y"}));
        assert_eq!(ok.unwrap().len(), 3);
        for bad in [
            json!("expires_at"),
            json!({"bad name": "x"}),
            json!({"s": ""}),
            json!({"s": "a..b"}),
            json!({"s": 5}),
            json!({"s": "updated_at"}),
            json!({"s": vec!["a"; 33].join(".")}),
        ] {
            let e = parse_update(&bad).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::BadRequest, "{bad}");
        }
    }

    #[test]
    fn heap_skips_stale_entries_and_stays_bounded() {
        let mut e = Expiries::default();
        let c: Arc<str> = "c".into();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        e.set(&c, &a, Some(10));
        e.set(&c, &b, Some(20));
        e.set(&c, &a, Some(30)); // keep-alive
        assert_eq!(e.next_due(), Some(20));
        assert!(e.pop_due(25, 10).iter().map(|(_, id)| &**id).eq(["b"]));
        assert_eq!(e.next_due(), Some(30));
        e.set(&c, &a, None);
        assert_eq!(e.next_due(), None);
        assert!(e.is_empty());
        for t in 0..10_000 {
            e.set(&c, &a, Some(100 + t));
        }
        assert!(e.scheduled() <= 2 * e.len() + 1025, "{}", e.scheduled());
        assert_eq!(e.pop_due(u64::MAX, 10).len(), 1);
    }
}
