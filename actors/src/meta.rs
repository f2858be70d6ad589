//! Server-wide records that belong to no project: operator accounts, links and sessions, the
//! signing secret, request totals. They are string keys to bytes in storage's meta table, and
//! the server crate changes them only through [`apply`], so it never builds storage mutations
//! itself (`src` over `actors` over `storage`, each floor talking only to the one below).

use bytes::Bytes;
use mammoth_storage::{Mutation, Storage, StorageError};

/// A change to one meta record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaChange {
    /// Create or replace a record.
    Put {
        /// The record's key, e.g. `operator_session:<hash>`.
        key: String,
        /// Its value.
        value: Bytes,
    },
    /// Remove a record.
    Delete {
        /// The record's key.
        key: String,
    },
}

/// Stores `changes` in one commit; durable on return. No commit for no changes.
pub async fn apply(storage: &Storage, changes: Vec<MetaChange>) -> Result<(), StorageError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mutations = changes
        .into_iter()
        .map(|change| match change {
            MetaChange::Put { key, value } => Mutation::PutMeta { key, value },
            MetaChange::Delete { key } => Mutation::DeleteMeta { key },
        })
        .collect();
    storage.submit(mutations)?.await
}
