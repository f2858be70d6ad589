//! Loading a project: parse its stored state and build its indexes, on a blocking thread
//! before the actor exists (see `registry`), so restart is identical to first start.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use mammoth_storage::{ProjectSnapshot, Storage};
use ractor::ActorProcessingErr;

use super::{ProjectState, ttl};
use crate::collection::Collection;
use crate::commitlog::CommitLog;
use crate::env::Env;
use crate::records::{KeyMinter, KeyRecord, ProjectRecord};
use crate::users::Users;

/// What a project actor starts from.
pub(crate) struct ProjectArgs {
    /// The project's record.
    pub record: ProjectRecord,
    /// Its stored state (empty for a new project).
    pub snapshot: ProjectSnapshot,
    /// Where mutations go.
    pub storage: Storage,
    /// Clock and randomness.
    pub env: Env,
    /// Signs new keys.
    pub minter: KeyMinter,
    /// The project's byte quota over its stored documents (`--max-project-bytes`); 0 = none.
    pub max_bytes: u64,
}

impl ProjectState {
    /// Parses a project's stored state and builds its indexes: CPU-bound, so callers run it
    /// on a blocking thread.
    pub(crate) fn load(args: ProjectArgs) -> Result<ProjectState, ActorProcessingErr> {
        let ProjectArgs {
            record,
            snapshot,
            storage,
            env,
            minter,
            max_bytes,
        } = args;
        let mut keys = HashMap::with_capacity(snapshot.keys.len());
        for (id, bytes) in &snapshot.keys {
            let key: KeyRecord = serde_json::from_slice(bytes)
                .map_err(|e| format!("key {id} of project {} is corrupt: {e}", record.id))?;
            keys.insert(id.clone(), key);
        }
        let users = Users::load(&snapshot.users, &snapshot.sessions, &snapshot.magic_links)
            .map_err(|e| format!("project {}: {e}", record.id))?;
        let log = CommitLog::new(record.id.clone(), snapshot.seq);
        let mut collections = BTreeMap::new();
        let mut stored_bytes = 0u64;
        let mut expiries = crate::ttl::Expiries::default();
        for (name, docs) in snapshot.docs {
            let seqs = snapshot.doc_seqs.get(&name);
            stored_bytes += docs.values().map(|b| b.len() as u64).sum::<u64>();
            let mut collection = Collection::from_stored(docs).map_err(|(id, e)| {
                format!(
                    "document {name}/{id} of project {} is corrupt: {e}",
                    record.id
                )
            })?;
            // A document written before per-document seqs were stored takes the project's
            // last seq: later writes get higher ones, so its ETag still never repeats.
            collection.restore_seqs(|id| seqs.and_then(|s| s.get(id).copied()), snapshot.seq);
            if record.ttl.contains_key(name.as_str()) {
                let name_arc: Arc<str> = name.as_str().into();
                for id in collection.ids() {
                    let doc = collection.get(id).expect("listed ids are present");
                    if let Some(due) = ttl::due_at_load(&record.ttl, &name, doc) {
                        expiries.set(&name_arc, &id.into(), Some(due));
                    }
                }
            }
            if !collection.is_empty() {
                collections.insert(name, collection);
            }
        }
        let mut state = ProjectState {
            record,
            keys,
            collections,
            users,
            storage,
            env,
            minter,
            log,
            // Replaced by the actor's own hub in `pre_start`.
            hub: tokio::sync::mpsc::unbounded_channel().0,
            streams: Arc::new(AtomicUsize::new(0)),
            bytes: stored_bytes,
            max_bytes,
            ttl: ttl::Ttl::new(expiries),
            myself: None,
            taken_slot: None,
        };
        // Documents already due are gone before anything is served (their deletes submitted).
        state.expire_due();
        Ok(state)
    }
}
