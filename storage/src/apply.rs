//! One write transaction: how a batch of mutations changes the tables.
//!
//! Only the writer thread calls [`write_batch`]; redb allows one write transaction at a time and
//! this is the single path into it.

use std::time::{Duration, Instant};

use redb::{Database, Table, WriteTransaction};

use crate::error::{StorageError, io};
use crate::mutation::Mutation;
use crate::schema::{
    self, DOC_SEQS, DOCS, KEYS, MAGIC_LINKS, META, PROJECTS, SEQS, SESSIONS, USERS, key2, key3,
};

/// Applies `writes` in order in one transaction and commits it with `durability`. Returns how
/// long the commit itself (page writes and, with `Immediate`, the fsync) took. On any error the
/// transaction is aborted and nothing of the batch is visible.
pub(crate) fn write_batch<'a>(
    db: &Database,
    writes: impl IntoIterator<Item = &'a Mutation>,
    durability: redb::Durability,
) -> Result<Duration, StorageError> {
    let mut txn = db.begin_write().map_err(io("begin write transaction"))?;
    txn.set_durability(durability)
        .map_err(io("set durability"))?;
    if let Err(err) = apply_all(&txn, writes) {
        if let Err(abort) = txn.abort() {
            tracing::warn!(error = %abort, "aborting a failed write transaction failed too");
        }
        return Err(err);
    }
    let started = Instant::now();
    txn.commit().map_err(io("commit"))?;
    Ok(started.elapsed())
}

fn apply_all<'a>(
    txn: &WriteTransaction,
    writes: impl IntoIterator<Item = &'a Mutation>,
) -> Result<(), StorageError> {
    let mut tables = Tables::open(txn)?;
    let mut key = Vec::with_capacity(256);
    for mutation in writes {
        tables.apply(mutation, &mut key).map_err(io("write"))?;
    }
    Ok(())
}

/// Every table, opened once per transaction.
struct Tables<'txn> {
    meta: Table<'txn, &'static str, &'static [u8]>,
    projects: Table<'txn, &'static str, &'static [u8]>,
    keys: Table<'txn, &'static [u8], &'static [u8]>,
    docs: Table<'txn, &'static [u8], &'static [u8]>,
    doc_seqs: Table<'txn, &'static [u8], u64>,
    users: Table<'txn, &'static [u8], &'static [u8]>,
    sessions: Table<'txn, &'static [u8], &'static [u8]>,
    magic_links: Table<'txn, &'static [u8], &'static [u8]>,
    seqs: Table<'txn, &'static str, u64>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, StorageError> {
        Ok(Tables {
            meta: txn.open_table(META).map_err(io("open table"))?,
            projects: txn.open_table(PROJECTS).map_err(io("open table"))?,
            keys: txn.open_table(KEYS).map_err(io("open table"))?,
            docs: txn.open_table(DOCS).map_err(io("open table"))?,
            // Created here on a file written before the table existed.
            doc_seqs: txn.open_table(DOC_SEQS).map_err(io("open table"))?,
            users: txn.open_table(USERS).map_err(io("open table"))?,
            sessions: txn.open_table(SESSIONS).map_err(io("open table"))?,
            magic_links: txn.open_table(MAGIC_LINKS).map_err(io("open table"))?,
            seqs: txn.open_table(SEQS).map_err(io("open table"))?,
        })
    }

    /// `key` is a scratch buffer for encoding keys.
    fn apply(&mut self, mutation: &Mutation, key: &mut Vec<u8>) -> Result<(), redb::StorageError> {
        match mutation {
            Mutation::PutMeta { key: name, value } => {
                self.meta.insert(name.as_str(), &value[..])?;
            }
            Mutation::DeleteMeta { key: name } => {
                self.meta.remove(name.as_str())?;
            }
            Mutation::PutProject { project, record } => {
                self.projects.insert(project.as_str(), &record[..])?;
            }
            Mutation::PutKey {
                project,
                key_id,
                record,
            } => {
                self.keys.insert(key2(key, project, key_id), &record[..])?;
            }
            Mutation::DeleteKey { project, key_id } => {
                self.keys.remove(key2(key, project, key_id))?;
            }
            Mutation::PutDoc {
                project,
                collection,
                id,
                doc,
                seq,
            } => {
                let k = key3(key, project, collection, id);
                self.docs.insert(k, &doc[..])?;
                self.doc_seqs.insert(k, *seq)?;
            }
            Mutation::DeleteDoc {
                project,
                collection,
                id,
            } => {
                let k = key3(key, project, collection, id);
                self.docs.remove(k)?;
                self.doc_seqs.remove(k)?;
            }
            Mutation::PutUser {
                project,
                user_id,
                record,
            } => {
                self.users
                    .insert(key2(key, project, user_id), &record[..])?;
            }
            Mutation::DeleteUser { project, user_id } => {
                self.users.remove(key2(key, project, user_id))?;
            }
            Mutation::PutSession {
                project,
                token_hash,
                record,
            } => {
                self.sessions
                    .insert(key2(key, project, token_hash), &record[..])?;
            }
            Mutation::DeleteSession {
                project,
                token_hash,
            } => {
                self.sessions.remove(key2(key, project, token_hash))?;
            }
            Mutation::PutMagicLink {
                project,
                token_hash,
                record,
            } => {
                self.magic_links
                    .insert(key2(key, project, token_hash), &record[..])?;
            }
            Mutation::DeleteMagicLink {
                project,
                token_hash,
            } => {
                self.magic_links.remove(key2(key, project, token_hash))?;
            }
            Mutation::PutSeq { project, seq } => {
                self.seqs.insert(project.as_str(), *seq)?;
            }
            Mutation::ClearProject { project } => {
                // A range delete over the project's key prefix: only its own rows are visited.
                let bounds = schema::project_bounds(project);
                let range = bounds.start.as_slice()..bounds.end.as_slice();
                for table in [
                    &mut self.docs,
                    &mut self.users,
                    &mut self.sessions,
                    &mut self.magic_links,
                ] {
                    table.retain_in::<&[u8], _>(range.clone(), |_, _| false)?;
                }
                self.doc_seqs
                    .retain_in::<&[u8], _>(range.clone(), |_, _| false)?;
            }
        }
        Ok(())
    }
}
