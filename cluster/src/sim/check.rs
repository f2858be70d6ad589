//! The end-of-run checks, on the files each node left on disk (after the simulation has been
//! dropped, so every node's storage and log are closed, as after a whole-cluster restart).
//!
//! - State machine safety: every pair of nodes holds the same entry at every index both have
//!   applied.
//! - Prefix consistency: each node's applied state is exactly what applying its log's entries
//!   `1..=applied` in order gives (the `reg/*` registers many writes overwrite make a wrong
//!   order or a dropped apply visible).
//! - No acknowledged write lost: every acknowledged write is in every node's state, and (when its
//!   index is known) the entry at that index carries it.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use mammoth_storage::{Mutation, Storage, StorageConfig};
use openraft::{EntryPayload, RaftLogReader};

use super::Ack;
use super::net;
use crate::log::LogStore;
use crate::machine::APPLIED_KEY;
use crate::types::{Entry, LogId, NodeId};

/// What one node left on disk.
struct NodeFiles {
    id: NodeId,
    applied: u64,
    /// The log by index.
    log: BTreeMap<u64, Entry>,
    /// The state machine's meta table, `raft.*` keys left out.
    state: BTreeMap<String, Bytes>,
}

fn load(dir: &Path, id: NodeId) -> Result<NodeFiles, String> {
    let dir = dir.join(net::host(id));
    let (storage, snapshot) = Storage::open(StorageConfig {
        path: Some(dir.join("mammoth.redb")),
        ..StorageConfig::default()
    })
    .map_err(|e| format!("n{id}: open storage: {e}"))?;
    storage.close().map_err(|e| format!("n{id}: close: {e}"))?;
    let applied = match snapshot.meta.get(APPLIED_KEY) {
        Some(b) => {
            let id: LogId = serde_json::from_slice(b).map_err(|e| e.to_string())?;
            id.index
        }
        None => 0,
    };
    let state = snapshot
        .meta
        .into_iter()
        .filter(|(k, _)| !k.starts_with("raft."))
        .collect();
    let mut reader = LogStore::open(&dir.join("raft.redb"))?;
    let entries = futures_executor::block_on(reader.try_get_log_entries(0..))
        .map_err(|e| format!("n{id}: read log: {e}"))?;
    let log = entries.into_iter().map(|e| (e.log_id.index, e)).collect();
    Ok(NodeFiles {
        id,
        applied,
        log,
        state,
    })
}

/// What applying `log`'s entries up to `applied` gives.
fn fold(node: &NodeFiles) -> Result<BTreeMap<String, Bytes>, String> {
    let mut state = BTreeMap::new();
    for index in 1..=node.applied {
        let entry = node.log.get(&index).ok_or_else(|| {
            format!(
                "n{}: applied up to {} but its log has no entry {index}",
                node.id, node.applied
            )
        })?;
        if let EntryPayload::Normal(command) = &entry.payload {
            for m in &command.mutations {
                match m {
                    Mutation::PutMeta { key, value } => {
                        state.insert(key.clone(), value.clone());
                    }
                    Mutation::DeleteMeta { key } => {
                        state.remove(key);
                    }
                    other => return Err(format!("unexpected mutation in the log: {other:?}")),
                }
            }
        }
    }
    Ok(state)
}

/// Runs every check; the first violation found is the answer.
pub(crate) fn verify(dir: &Path, acks: &[Ack]) -> Result<String, String> {
    let nodes = (1..=3)
        .map(|id| load(dir, id))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            for index in 1..=a.applied.min(b.applied) {
                let (x, y) = (a.log.get(&index), b.log.get(&index));
                if x != y {
                    return Err(format!(
                        "n{} and n{} applied different entries at index {index}: {x:?} vs {y:?}",
                        a.id, b.id
                    ));
                }
            }
        }
    }
    for node in &nodes {
        let expected = fold(node)?;
        if expected != node.state {
            let key = expected
                .keys()
                .chain(node.state.keys())
                .find(|k| expected.get(*k) != node.state.get(*k))
                .cloned()
                .unwrap_or_default();
            return Err(format!(
                "n{}: its state is not its log's prefix 1..={} applied in order: key {key} is \
                 {:?} in the state, {:?} by the log",
                node.id,
                node.applied,
                node.state.get(&key),
                expected.get(&key)
            ));
        }
    }
    for ack in acks {
        let key = format!("w/{}", ack.key);
        for node in &nodes {
            if node.state.get(&key).map(|v| v.as_ref()) != Some(ack.value.as_bytes()) {
                return Err(format!(
                    "acknowledged write {} (index {}) lost on n{} (applied up to {})",
                    ack.key, ack.index, node.id, node.applied
                ));
            }
            if ack.index > 0 {
                let carries = node.log.get(&ack.index).is_some_and(|e| match &e.payload {
                    EntryPayload::Normal(c) => c
                        .mutations
                        .iter()
                        .any(|m| matches!(m, Mutation::PutMeta { key: k, .. } if *k == key)),
                    _ => false,
                });
                if !carries {
                    return Err(format!(
                        "n{}: the entry at index {} is not the acknowledged write {}",
                        node.id, ack.index, ack.key
                    ));
                }
            }
        }
    }
    let applied: Vec<String> = nodes
        .iter()
        .map(|n| format!("n{}@{}", n.id, n.applied))
        .collect();
    Ok(applied.join(" "))
}
