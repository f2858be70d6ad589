//! What loading returns: everything on disk, grouped by project.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Everything one project has on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectSnapshot {
    /// The project's record.
    pub record: Bytes,
    /// API keys by key id.
    pub keys: BTreeMap<String, Bytes>,
    /// Documents by collection, then id, in id order. A collection is present only while it
    /// holds a document.
    pub docs: BTreeMap<String, BTreeMap<String, Bytes>>,
    /// The `seq` of each document's last write, by collection, then id; a document written by
    /// a build that did not record it has no entry.
    pub doc_seqs: BTreeMap<String, BTreeMap<String, u64>>,
    /// End users by user id.
    pub users: BTreeMap<String, Bytes>,
    /// Sessions by token hash.
    pub sessions: BTreeMap<String, Bytes>,
    /// Magic-link tokens by token hash.
    pub magic_links: BTreeMap<String, Bytes>,
    /// The `seq` of the project's last committed write (0 before the first).
    pub seq: u64,
}

impl ProjectSnapshot {
    /// Number of documents over all collections.
    pub fn doc_count(&self) -> usize {
        self.docs.values().map(BTreeMap::len).sum()
    }
}

/// Everything on disk, as loaded on start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Server-wide settings.
    pub meta: BTreeMap<String, Bytes>,
    /// Projects by id. Only projects with a record are listed (see `DESIGN.md`, orphans).
    pub projects: BTreeMap<String, ProjectSnapshot>,
}
