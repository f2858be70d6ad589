//! Reading a consistent picture of the committed state while the writer keeps going: an online
//! backup into a new redb file ([`Storage::backup_to`]) and a project's documents in key order
//! ([`Storage::export`]).
//!
//! Both stand on one redb read transaction (MVCC): it sees exactly one committed transaction,
//! so every project's rows and its `seq` row agree, and it never blocks the writer (the writer
//! only keeps the pages the reader still sees from being reused, so the file may grow a little
//! while a long read runs). Both `flush` first, so in `Periodic` mode the picture includes every
//! write accepted before the call.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use redb::{
    Database, ReadTransaction, ReadableDatabase as _, ReadableTable as _, TableDefinition,
    TableHandle as _,
};

use crate::error::{StorageError, io};
use crate::handle::Storage;
use crate::schema::{
    self, DOC_SEQS, DOCS, FORMAT, KEYS, MAGIC_LINKS, META, PROJECTS, SEQS, SESSIONS, USERS, split3,
};

/// Rows copied per write transaction of the backup file: bounds the memory a copy holds, since
/// one huge redb write transaction keeps its dirty pages until it commits.
const ROWS_PER_COPY_COMMIT: usize = 50_000;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// Size of the backup file in bytes.
    pub bytes: u64,
    /// Every project's last commit `seq` in the copy.
    pub seqs: BTreeMap<String, u64>,
    /// Documents copied.
    pub docs: u64,
}

/// One project's documents at one `seq`, in key order (collection, then id), read lazily from
/// a read transaction that stays open until this is dropped.
pub struct Export {
    seq: u64,
    rows: redb::Range<'static, &'static [u8], &'static [u8]>,
}

impl Export {
    /// The `seq` of the project's last commit in this picture.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl Iterator for Export {
    /// `(collection, stored document)`.
    type Item = Result<(String, Bytes), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.next()?;
        Some(row.map_err(io("read documents")).and_then(|(key, value)| {
            let (_, collection, _) = split3(key.value()).ok_or_else(|| {
                StorageError::Io(format!(
                    "corrupt document key {:?}",
                    String::from_utf8_lossy(key.value())
                ))
            })?;
            Ok((collection.to_owned(), Bytes::copy_from_slice(value.value())))
        }))
    }
}

impl Storage {
    /// Writes a consistent copy of everything committed (after a flush of what was submitted
    /// before the call) into a new redb file at `dest`, which must not exist. Opening that file
    /// as a data file gives back exactly that state. Blocking IO for as long as the copy takes:
    /// call it from `spawn_blocking`; the writer keeps committing meanwhile.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupInfo, StorageError> {
        let txn = self.read_after_flush()?;
        if dest.exists() {
            return Err(StorageError::Io(format!(
                "{} exists already; a backup never overwrites a file",
                dest.display()
            )));
        }
        let target = Database::builder().create(dest).map_err(|err| {
            StorageError::Io(crate::error::describe(
                &format!("create {}", dest.display()),
                &err,
            ))
        })?;
        refuse_unknown_tables(&txn)?;
        let mut copier = Copier::new(&target);
        copier.table(&txn, FORMAT)?;
        copier.table(&txn, META)?;
        copier.table(&txn, PROJECTS)?;
        copier.table(&txn, SEQS)?;
        for table in [KEYS, USERS, SESSIONS, MAGIC_LINKS] {
            copier.table(&txn, table)?;
        }
        let docs = copier.table(&txn, DOCS)?;
        copier.table(&txn, DOC_SEQS)?;
        copier.finish()?;
        let seqs = read_all_seqs(&txn)?;
        drop(target);
        let bytes = std::fs::metadata(dest)
            .map_err(io("read the backup file's size"))?
            .len();
        Ok(BackupInfo {
            bytes,
            seqs,
            docs: docs as u64,
        })
    }

    /// One project's documents and `seq` as committed (after a flush of what was submitted
    /// before the call), streamed from a read transaction. Blocking IO while iterating: drive it
    /// from `spawn_blocking`.
    pub fn export(&self, project: &str) -> Result<Export, StorageError> {
        if project.as_bytes().contains(&0) {
            return Err(StorageError::InvalidName(project.to_owned()));
        }
        let txn = self.read_after_flush()?;
        let seq = {
            let table = txn.open_table(SEQS).map_err(io("open table"))?;
            let found = table.get(project).map_err(io("read commit seq"))?;
            found.map_or(0, |v| v.value())
        };
        let bounds = schema::project_bounds(project);
        let table = txn.open_table(DOCS).map_err(io("open table"))?;
        let rows = table
            .range::<&[u8]>(bounds.start.as_slice()..bounds.end.as_slice())
            .map_err(io("read documents"))?;
        Ok(Export { seq, rows })
    }

    fn read_after_flush(&self) -> Result<ReadTransaction, StorageError> {
        self.flush().wait()?;
        let db = self.database()?;
        db.begin_read().map_err(io("begin read transaction"))
    }
}

/// Every table the file may hold must be one [`Storage::backup_to`] copies: a table added to
/// `schema.rs` and forgotten here fails backups loudly instead of being left out of them.
fn refuse_unknown_tables(txn: &ReadTransaction) -> Result<(), StorageError> {
    let known = [
        FORMAT.name(),
        META.name(),
        PROJECTS.name(),
        SEQS.name(),
        KEYS.name(),
        USERS.name(),
        SESSIONS.name(),
        MAGIC_LINKS.name(),
        DOCS.name(),
        DOC_SEQS.name(),
    ];
    for table in txn.list_tables().map_err(io("list tables"))? {
        if !known.contains(&table.name()) {
            return Err(StorageError::Io(format!(
                "table {} is not known to the backup; add it to storage/src/backup.rs",
                table.name()
            )));
        }
    }
    Ok(())
}

fn read_all_seqs(txn: &ReadTransaction) -> Result<BTreeMap<String, u64>, StorageError> {
    let table = txn.open_table(SEQS).map_err(io("open table"))?;
    let mut seqs = BTreeMap::new();
    for row in table.iter().map_err(io("read table"))? {
        let (key, value) = row.map_err(io("read table"))?;
        seqs.insert(key.value().to_owned(), value.value());
    }
    Ok(seqs)
}

/// Copies tables row by row into the backup file, committing every [`ROWS_PER_COPY_COMMIT`]
/// rows without fsync and the last one with it: the copy's consistency comes from the source's
/// one read transaction, so the intermediate commits of the target need no durability.
struct Copier<'a> {
    target: &'a Database,
    txn: Option<redb::WriteTransaction>,
    rows: usize,
}

impl<'a> Copier<'a> {
    fn new(target: &'a Database) -> Copier<'a> {
        Copier {
            target,
            txn: None,
            rows: 0,
        }
    }

    fn txn(&mut self) -> Result<&redb::WriteTransaction, StorageError> {
        if self.txn.is_none() {
            let mut txn = self
                .target
                .begin_write()
                .map_err(io("begin write transaction"))?;
            // Durability is given by the final commit (see the type's comment).
            txn.set_durability(redb::Durability::None)
                .map_err(io("set durability"))?;
            self.txn = Some(txn);
        }
        Ok(self.txn.as_ref().expect("just opened"))
    }

    /// Copies one table; returns how many rows it held.
    fn table<K, V>(
        &mut self,
        source: &ReadTransaction,
        def: TableDefinition<'static, K, V>,
    ) -> Result<usize, StorageError>
    where
        K: redb::Key + 'static,
        V: redb::Value + 'static,
    {
        let table = match source.open_table(def) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(err) => return Err(io("open table")(err)),
        };
        let mut copied = 0;
        let mut rows = table.iter().map_err(io("read table"))?.peekable();
        // Opens the table in the target even when it is empty, as `schema::prepare` would.
        self.txn()?.open_table(def).map_err(io("create table"))?;
        while rows.peek().is_some() {
            self.txn()?;
            let txn = self.txn.as_ref().expect("just opened");
            {
                let mut out = txn.open_table(def).map_err(io("create table"))?;
                for row in rows.by_ref() {
                    let (key, value) = row.map_err(io("read table"))?;
                    out.insert(key.value(), value.value())
                        .map_err(io("write the backup"))?;
                    copied += 1;
                    self.rows += 1;
                    if self.rows.is_multiple_of(ROWS_PER_COPY_COMMIT) {
                        break;
                    }
                }
            }
            if self.rows.is_multiple_of(ROWS_PER_COPY_COMMIT)
                && let Some(txn) = self.txn.take()
            {
                txn.commit().map_err(io("commit the backup"))?;
            }
        }
        Ok(copied)
    }

    /// The last commit, with fsync.
    fn finish(mut self) -> Result<(), StorageError> {
        self.txn()?;
        let mut txn = self.txn.take().expect("just opened");
        txn.set_durability(redb::Durability::Immediate)
            .map_err(io("set durability"))?;
        txn.commit().map_err(io("commit the backup"))
    }
}
