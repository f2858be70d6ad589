//! A reference model: the snapshot that a sequence of mutations should leave on disk, computed
//! with plain `BTreeMap`s. Also the failure-injecting backend.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::StorageBackend;
use redb::backends::InMemoryBackend;

use crate::{Mutation, Snapshot};

/// Applies `mutation` to `model` as storage should apply it to disk. Projects without a record
/// are dropped by [`visible`], as loading drops them.
pub(super) fn apply(model: &mut Snapshot, mutation: &Mutation) {
    match mutation.clone() {
        Mutation::PutMeta { key, value } => {
            model.meta.insert(key, value);
        }
        Mutation::DeleteMeta { key } => {
            model.meta.remove(&key);
        }
        Mutation::PutProject { project, record } => {
            model.projects.entry(project).or_default().record = record;
        }
        Mutation::PutKey {
            project,
            key_id,
            record,
        } => {
            model
                .projects
                .entry(project)
                .or_default()
                .keys
                .insert(key_id, record);
        }
        Mutation::DeleteKey { project, key_id } => {
            model
                .projects
                .entry(project)
                .or_default()
                .keys
                .remove(&key_id);
        }
        Mutation::PutDoc {
            project,
            collection,
            id,
            doc,
            seq,
        } => {
            let p = model.projects.entry(project).or_default();
            p.doc_seqs
                .entry(collection.clone())
                .or_default()
                .insert(id.clone(), seq);
            p.docs.entry(collection).or_default().insert(id, doc);
        }
        Mutation::DeleteDoc {
            project,
            collection,
            id,
        } => {
            let p = model.projects.entry(project).or_default();
            if let Some(docs) = p.docs.get_mut(&collection) {
                docs.remove(&id);
                if docs.is_empty() {
                    p.docs.remove(&collection);
                }
            }
            if let Some(seqs) = p.doc_seqs.get_mut(&collection) {
                seqs.remove(&id);
                if seqs.is_empty() {
                    p.doc_seqs.remove(&collection);
                }
            }
        }
        Mutation::PutUser {
            project,
            user_id,
            record,
        } => {
            model
                .projects
                .entry(project)
                .or_default()
                .users
                .insert(user_id, record);
        }
        Mutation::DeleteUser { project, user_id } => {
            model
                .projects
                .entry(project)
                .or_default()
                .users
                .remove(&user_id);
        }
        Mutation::PutSession {
            project,
            token_hash,
            record,
        } => {
            model
                .projects
                .entry(project)
                .or_default()
                .sessions
                .insert(token_hash, record);
        }
        Mutation::DeleteSession {
            project,
            token_hash,
        } => {
            model
                .projects
                .entry(project)
                .or_default()
                .sessions
                .remove(&token_hash);
        }
        Mutation::PutMagicLink {
            project,
            token_hash,
            record,
        } => {
            model
                .projects
                .entry(project)
                .or_default()
                .magic_links
                .insert(token_hash, record);
        }
        Mutation::DeleteMagicLink {
            project,
            token_hash,
        } => {
            model
                .projects
                .entry(project)
                .or_default()
                .magic_links
                .remove(&token_hash);
        }
        Mutation::ClearProject { project } => {
            let p = model.projects.entry(project).or_default();
            p.docs.clear();
            p.doc_seqs.clear();
            p.users.clear();
            p.sessions.clear();
            p.magic_links.clear();
        }
        Mutation::PutSeq { project, seq } => {
            model.projects.entry(project).or_default().seq = seq;
        }
    }
}

/// The model as loading would show it: only projects that have a record.
pub(super) fn visible(model: &Snapshot, has_record: impl Fn(&str) -> bool) -> Snapshot {
    Snapshot {
        meta: model.meta.clone(),
        projects: model
            .projects
            .iter()
            .filter(|(id, _)| has_record(id))
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect(),
    }
}

/// An in-memory backend whose writes and syncs fail while `fail` is set. Clones share the
/// memory, so a clone opened after a failure sees what was committed, as a file would.
#[derive(Debug, Default, Clone)]
pub(super) struct FlakyBackend {
    inner: Arc<InMemoryBackend>,
    pub(super) fail: Arc<AtomicBool>,
}

impl FlakyBackend {
    /// Opens a database on (a clone of) this backend, now and again after each IO error.
    pub(super) fn opener(&self) -> crate::writer::Reopen {
        let backend = self.clone();
        Box::new(move || {
            redb::Database::builder()
                .create_with_backend(backend.clone())
                .map_err(crate::error::io("open the flaky database"))
        })
    }

    fn check(&self) -> Result<(), io::Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected write failure"));
        }
        Ok(())
    }
}

impl StorageBackend for FlakyBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.check()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.check()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.check()?;
        self.inner.write(offset, data)
    }
}
