//! Which groups a commit must evaluate: groups indexed by collection and, when their filter or
//! scope holds an equality condition, by that condition's (path, value).
//!
//! A group's window can only change through a document that matched the group's query before
//! the commit (it may be in the window) or matches it after (it may enter). A group whose query
//! requires `path == v` (a top-level `$eq`, a one-value `$in`, in the filter or in the scope,
//! both ANDed) is therefore reached only by changes whose before OR after state has `v` at
//! `path`: both states are looked up, so the index never skips a group a commit changes.
//! Groups without such a condition sit in a per-collection list and see every change of their
//! collection.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::window::Spec;
use crate::commitlog::Commit;
use crate::query::filter::Op;
use crate::query::lookup;
use crate::value::ValueKey;

/// The equality a group is indexed under: (path, the value's key bytes).
type EqKey = (Box<str>, Box<[u8]>);

/// The first top-level equality condition of the spec's filter, else of its scope.
pub(super) fn eq_key(spec: &Spec) -> Option<EqKey> {
    let filters = std::iter::once(&spec.filter).chain(spec.scope.as_ref());
    for filter in filters {
        for cond in &filter.conds {
            let value = match &cond.op {
                Op::Eq(v) => v,
                Op::In(vs) if vs.len() == 1 => &vs[0],
                _ => continue,
            };
            return Some((cond.path.clone(), value.as_bytes().into()));
        }
    }
    None
}

/// Value key -> the groups requiring that value at one path.
type ByValue = HashMap<Box<[u8]>, Vec<u64>>;

#[derive(Default)]
struct CollectionIndex {
    /// Groups without an equality condition: every change of the collection reaches them.
    rest: Vec<u64>,
    /// Path -> value key -> the groups requiring that value there.
    eq: HashMap<Box<str>, ByValue>,
}

impl CollectionIndex {
    fn is_empty(&self) -> bool {
        self.rest.is_empty() && self.eq.is_empty()
    }
}

/// The hub's index of its groups.
#[derive(Default)]
pub(super) struct SubIndex {
    by_collection: HashMap<Arc<str>, CollectionIndex>,
}

impl SubIndex {
    /// Indexes group `gid` of `spec`.
    pub(super) fn insert(&mut self, gid: u64, spec: &Spec) {
        let index = self
            .by_collection
            .entry(spec.collection.clone())
            .or_default();
        match eq_key(spec) {
            Some((path, value)) => index
                .eq
                .entry(path)
                .or_default()
                .entry(value)
                .or_default()
                .push(gid),
            None => index.rest.push(gid),
        }
    }

    /// Forgets group `gid` of `spec`.
    pub(super) fn remove(&mut self, gid: u64, spec: &Spec) {
        let Some(index) = self.by_collection.get_mut(&spec.collection) else {
            return;
        };
        match eq_key(spec) {
            Some((path, value)) => {
                if let Some(values) = index.eq.get_mut(&path) {
                    if let Some(list) = values.get_mut(&value) {
                        list.retain(|g| *g != gid);
                        if list.is_empty() {
                            values.remove(&value);
                        }
                    }
                    if values.is_empty() {
                        index.eq.remove(&path);
                    }
                }
            }
            None => index.rest.retain(|g| *g != gid),
        }
        if index.is_empty() {
            self.by_collection.remove(&spec.collection);
        }
    }

    /// Forgets every group.
    pub(super) fn clear(&mut self) {
        self.by_collection.clear();
    }

    /// The groups `commit` may change, ascending (each once). `after[i]` is change `i`'s parsed
    /// after-state; before-states are parsed here, only where an equality index needs them.
    pub(super) fn candidates(
        &self,
        commit: &Commit,
        after: &[Option<Map<String, Value>>],
    ) -> Vec<u64> {
        let mut out = Vec::new();
        let mut seen_collections: Vec<&str> = Vec::new();
        for (i, change) in commit.changes.iter().enumerate() {
            let Some(index) = self.by_collection.get(&change.collection) else {
                continue;
            };
            if !seen_collections.contains(&&*change.collection) {
                seen_collections.push(&change.collection);
                out.extend_from_slice(&index.rest);
            }
            if index.eq.is_empty() {
                continue;
            }
            let before = change.before.as_deref().map(super::window::parse);
            for state in [before.as_ref(), after[i].as_ref()].into_iter().flatten() {
                for (path, values) in &index.eq {
                    if let Some(value) = lookup(state, path)
                        && let Some(groups) = values.get(ValueKey::of(value).as_bytes())
                    {
                        out.extend_from_slice(groups);
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use serde_json::json;

    use super::*;
    use crate::commitlog::{DocChange, Reason};
    use crate::query::{Filter, Query};

    fn spec(collection: &str, filter: Value, scope: Option<Value>) -> Spec {
        let query = Query {
            filter: Filter::parse(&filter).unwrap(),
            ..Query::default()
        };
        let scope = scope.map(|s| Filter::parse(&s).unwrap());
        Spec::new(collection, &query, scope.as_ref())
    }

    fn change(collection: &str, before: Option<Value>, after: Option<Value>) -> DocChange {
        let bytes = |v: Value| Bytes::from(serde_json::to_vec(&v).unwrap());
        DocChange {
            collection: collection.into(),
            id: "d".into(),
            before: before.map(bytes),
            after: after.map(bytes),
            reason: Reason::Write,
        }
    }

    fn candidates(index: &SubIndex, changes: Vec<DocChange>) -> Vec<u64> {
        let commit = Commit { seq: 1, changes };
        let after: Vec<_> = commit
            .changes
            .iter()
            .map(|c| c.after.as_deref().map(super::super::window::parse))
            .collect();
        index.candidates(&commit, &after)
    }

    #[test]
    fn equality_groups_see_only_their_value_before_or_after() {
        let mut index = SubIndex::default();
        let specs: Vec<Spec> = (0..100)
            .map(|u| spec("notes", json!({"owner": format!("u{u}")}), None))
            .collect();
        for (gid, s) in specs.iter().enumerate() {
            index.insert(gid as u64, s);
        }
        // Scoped without a filter condition: indexed by the scope's equality.
        let scoped = spec("notes", json!({}), Some(json!({"owner": "u7"})));
        index.insert(100, &scoped);
        // No equality at all: sees every change of the collection.
        let open = spec("notes", json!({"n": {"$gt": 1}}), None);
        index.insert(101, &open);
        let other = spec("other", json!({}), None);
        index.insert(102, &other);

        let created = candidates(
            &index,
            vec![change(
                "notes",
                None,
                Some(json!({"id": "d", "owner": "u3"})),
            )],
        );
        assert_eq!(created, vec![3, 101]);
        let moved = candidates(
            &index,
            vec![change(
                "notes",
                Some(json!({"id": "d", "owner": "u3"})),
                Some(json!({"id": "d", "owner": "u7"})),
            )],
        );
        assert_eq!(
            moved,
            vec![3, 7, 100, 101],
            "before AND after are looked up"
        );
        let deleted = candidates(
            &index,
            vec![change(
                "notes",
                Some(json!({"id": "d", "owner": "u9"})),
                None,
            )],
        );
        assert_eq!(deleted, vec![9, 101]);
        let untouched = candidates(
            &index,
            vec![change("notes", None, Some(json!({"id": "d", "owner": 5})))],
        );
        assert_eq!(untouched, vec![101], "a number 5 is not the string u5");

        for (gid, s) in specs.iter().enumerate() {
            index.remove(gid as u64, s);
        }
        index.remove(100, &scoped);
        index.remove(101, &open);
        assert_eq!(
            candidates(
                &index,
                vec![change(
                    "notes",
                    None,
                    Some(json!({"id": "d", "owner": "u3"}))
                )]
            ),
            Vec::<u64>::new()
        );
        index.remove(102, &other);
        assert!(index.by_collection.is_empty());
    }

    #[test]
    fn nested_paths_and_single_value_in_are_indexed() {
        let mut index = SubIndex::default();
        index.insert(1, &spec("c", json!({"a.b": {"$in": [2]}}), None));
        index.insert(2, &spec("c", json!({"a.b": {"$in": [2, 3]}}), None));
        let got = candidates(
            &index,
            vec![change("c", None, Some(json!({"id": "d", "a": {"b": 4}})))],
        );
        assert_eq!(got, vec![2], "a two-value $in is not indexed; 1 is skipped");
        let got = candidates(
            &index,
            vec![change("c", None, Some(json!({"id": "d", "a": {"b": 2.0}})))],
        );
        assert_eq!(got, vec![1, 2], "2.0 and 2 are one key");
    }
}
