//! Windows: what one subscribed query selects, its first `limit` documents at a `seq`, and the
//! difference between two windows encoded as a `changes` fragment.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::collection::Collection;
use crate::commitlog::{Commit, CommitLog, Reason};
use crate::query::{Filter, Query, SortField, lookup};
use crate::value::ValueKey;

/// What one subscribed query selects (collection, filter, scope, sort, limit).
#[derive(Debug)]
pub struct Spec {
    pub(crate) collection: Arc<str>,
    pub(crate) filter: Filter,
    pub(crate) scope: Option<Filter>,
    pub(crate) sort: Vec<SortField>,
    pub(crate) limit: usize,
    /// Equal for specs that select the same documents in the same order.
    pub(super) key: String,
}

impl Spec {
    pub(crate) fn new(collection: &str, query: &Query, scope: Option<&Filter>) -> Spec {
        let key = format!(
            "{collection}\u{0}{:?}\u{0}{:?}\u{0}{}\u{0}{:?}",
            query.filter, query.sort, query.limit, scope
        );
        Spec {
            collection: collection.into(),
            filter: query.filter.clone(),
            scope: scope.cloned(),
            sort: query.sort.clone(),
            limit: query.limit,
            key,
        }
    }

    pub(super) fn matches(&self, doc: &Map<String, Value>) -> bool {
        self.filter.matches(doc) && self.scope.as_ref().is_none_or(|s| s.matches(doc))
    }

    pub(super) fn entry(&self, id: Arc<str>, bytes: Bytes, doc: &Map<String, Value>) -> Entry {
        let key = self
            .sort
            .iter()
            .map(|f| lookup(doc, &f.path).map(ValueKey::of))
            .collect();
        Entry { key, id, bytes }
    }

    /// The query's order: the sort fields (a missing field first), ties by id ascending.
    pub(super) fn cmp(&self, a: &Entry, b: &Entry) -> Ordering {
        for (i, field) in self.sort.iter().enumerate() {
            let ord = a.key[i].cmp(&b.key[i]);
            let ord = if field.desc { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.id.cmp(&b.id)
    }
}

/// One document of a window: its sort key, id and bytes.
#[derive(Debug, Clone)]
pub struct Entry {
    pub(super) key: Vec<Option<ValueKey>>,
    pub(super) id: Arc<str>,
    pub(super) bytes: Bytes,
}

pub(super) fn parse(bytes: &[u8]) -> Map<String, Value> {
    serde_json::from_slice(bytes).unwrap_or_default()
}

pub(super) fn id_of(doc: &Map<String, Value>) -> Arc<str> {
    match doc.get("id") {
        Some(Value::String(id)) => id.as_str().into(),
        _ => "".into(),
    }
}

/// The window of `spec` now.
pub(crate) fn window_now(collection: Option<&Collection>, spec: &Spec) -> Vec<Entry> {
    run_window(collection, spec, &HashMap::new())
}

/// The window of `spec` as it was right after commit `seq`: the query now, with every document
/// that the commits after `seq` changed put back to its state at `seq`. `None` when the log no
/// longer holds those commits.
pub(crate) fn window_at(
    collection: Option<&Collection>,
    log: &CommitLog,
    spec: &Spec,
    seq: u64,
) -> Option<Vec<Entry>> {
    let commits = log.since(seq)?;
    let mut touched: HashMap<Arc<str>, Option<Bytes>> = HashMap::new();
    for commit in &commits {
        for change in &commit.changes {
            if change.collection == spec.collection {
                touched
                    .entry(change.id.clone())
                    .or_insert_with(|| change.before.clone());
            }
        }
    }
    Some(run_window(collection, spec, &touched))
}

/// The first `limit` documents of `spec` where `touched` overrides the collection's state.
pub(super) fn run_window(
    collection: Option<&Collection>,
    spec: &Spec,
    touched: &HashMap<Arc<str>, Option<Bytes>>,
) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(spec.limit + touched.len());
    if let Some(collection) = collection {
        // Every untouched document of the first `limit` at `seq` is among the first
        // `limit + touched` now: at most `touched` documents can have moved ahead of it.
        let query = Query {
            filter: spec.filter.clone(),
            sort: spec.sort.clone(),
            limit: spec.limit + touched.len(),
            start: None,
            select: None,
        };
        if let Ok(page) = collection.query(&query, spec.scope.as_ref()) {
            for bytes in page.docs {
                let doc = parse(&bytes);
                let id = id_of(&doc);
                if !touched.contains_key(&id) {
                    entries.push(spec.entry(id, bytes, &doc));
                }
            }
        }
    }
    for (id, before) in touched {
        if let Some(bytes) = before {
            let doc = parse(bytes);
            if spec.matches(&doc) {
                entries.push(spec.entry(id.clone(), bytes.clone(), &doc));
            }
        }
    }
    entries.sort_by(|a, b| spec.cmp(a, b));
    entries.truncate(spec.limit);
    entries
}

/// One group's change to report: `(type, id, bytes or removal reason)`.
pub(super) enum Change {
    Added(Arc<str>, Bytes),
    Modified(Arc<str>, Bytes),
    Removed(Arc<str>, &'static str),
}

pub(super) enum Update {
    /// The commit changes nothing in the window.
    Same,
    /// The new window.
    Window(Vec<Entry>),
    /// A full window lost members: ask the actor for the window at the commit.
    Refill,
}

/// The window after `commit`, from what the window knows, when that suffices.
pub(super) fn local_update(
    spec: &Spec,
    window: &[Entry],
    commit: &Commit,
    touched: &[usize],
    parsed: &[Option<Map<String, Value>>],
) -> Update {
    let full = window.len() >= spec.limit;
    let boundary = if full { window.last() } else { None };
    let touched_ids: HashSet<&str> = touched.iter().map(|&i| &*commit.changes[i].id).collect();
    let mut incoming = Vec::new();
    for &i in touched {
        let change = &commit.changes[i];
        if let (Some(doc), Some(bytes)) = (&parsed[i], &change.after)
            && spec.matches(doc)
        {
            let entry = spec.entry(change.id.clone(), bytes.clone(), doc);
            if boundary.is_none_or(|b| spec.cmp(&entry, b) != Ordering::Greater) {
                incoming.push(entry);
            }
        }
    }
    let members = window
        .iter()
        .filter(|e| touched_ids.contains(&*e.id))
        .count();
    if members == 0 && incoming.is_empty() {
        return Update::Same;
    }
    let mut new: Vec<Entry> = window
        .iter()
        .filter(|e| !touched_ids.contains(&*e.id))
        .cloned()
        .collect();
    new.extend(incoming);
    new.sort_by(|a, b| spec.cmp(a, b));
    if new.len() >= spec.limit {
        new.truncate(spec.limit);
        Update::Window(new)
    } else if full {
        Update::Refill
    } else {
        Update::Window(new)
    }
}

/// The net change from `old` to `new`.
pub(super) fn diff(
    old: &[Entry],
    new: &[Entry],
    commit: &Commit,
    touched: &[usize],
) -> Vec<Change> {
    let old_ids: HashMap<&str, &Bytes> = old.iter().map(|e| (&*e.id, &e.bytes)).collect();
    let new_ids: HashSet<&str> = new.iter().map(|e| &*e.id).collect();
    let deleted: HashSet<&str> = touched
        .iter()
        .map(|&i| &commit.changes[i])
        .filter(|c| c.after.is_none())
        .map(|c| &*c.id)
        .collect();
    let expired: HashSet<&str> = touched
        .iter()
        .map(|&i| &commit.changes[i])
        .filter(|c| c.after.is_none() && c.reason == Reason::Expired)
        .map(|c| &*c.id)
        .collect();
    let mut changes = Vec::new();
    for e in old {
        if !new_ids.contains(&*e.id) {
            let reason = if expired.contains(&*e.id) {
                "expired"
            } else if deleted.contains(&*e.id) {
                "deleted"
            } else {
                "unmatched"
            };
            changes.push(Change::Removed(e.id.clone(), reason));
        }
    }
    for e in new {
        match old_ids.get(&*e.id) {
            None => changes.push(Change::Added(e.id.clone(), e.bytes.clone())),
            Some(bytes) if **bytes != e.bytes => {
                changes.push(Change::Modified(e.id.clone(), e.bytes.clone()));
            }
            Some(_) => {}
        }
    }
    changes
}

pub(super) fn encode_changes(changes: &[Change]) -> String {
    let mut out = String::from("[");
    for (i, change) in changes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match change {
            Change::Added(id, bytes) | Change::Modified(id, bytes) => {
                let kind = if matches!(change, Change::Added(..)) {
                    "added"
                } else {
                    "modified"
                };
                let _ = write!(out, "{{\"type\":\"{kind}\",\"id\":");
                push_json_str(&mut out, id);
                out.push_str(",\"document\":");
                out.push_str(&String::from_utf8_lossy(bytes));
                out.push('}');
            }
            Change::Removed(id, reason) => {
                out.push_str("{\"type\":\"removed\",\"id\":");
                push_json_str(&mut out, id);
                let _ = write!(out, ",\"reason\":\"{reason}\"}}");
            }
        }
    }
    out.push(']');
    out
}

pub(super) fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}
