//! The openraft type configuration: what one log entry carries, and the node descriptor.

use std::io::Cursor;

use mammoth_storage::Mutation;
use serde::{Deserialize, Serialize};

/// One replicated commit: the mutations of one write, applied in one storage transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Command {
    pub(crate) mutations: Vec<Mutation>,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "commit of {} mutations", self.mutations.len())
    }
}

/// What applying a command answers (nothing: the proposer already has its document).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Applied;

openraft::declare_raft_types!(
    /// Mammoth's raft types: node ids are the `--node-id` numbers, nodes are peer addresses.
    pub(crate) TypeConfig:
        D = Command,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

pub(crate) type NodeId = u64;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type LogId = openraft::LogId<NodeId>;
pub(crate) type Vote = openraft::Vote<NodeId>;
pub(crate) type RaftStorageError = openraft::StorageError<NodeId>;
pub(crate) type Membership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub(crate) type Raft = openraft::Raft<TypeConfig>;
