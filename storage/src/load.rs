//! Reading committed state: everything on start ([`load_all`]) and one project on an actor
//! restart ([`load_project`]).
//!
//! Both walk tables in key order inside one read transaction (MVCC: the writer keeps going).
//! Keys are grouped as they stream past: the rows of one project (and of one collection) are
//! contiguous, so each group is collected into a sorted `Vec` and turned into a `BTreeMap` in one
//! bulk build, with no per-row tree descent. Project and collection names are allocated once per
//! group; each row costs one `String` for its id and one copy of its value.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Instant;

use bytes::Bytes;
use redb::{
    Database, ReadTransaction, ReadableDatabase as _, ReadableTable as _,
    ReadableTableMetadata as _, TableDefinition,
};
use tracing::{info, warn};

use crate::error::{StorageError, io};
use crate::progress::LoadProgress;
use crate::schema::{
    self, DOC_SEQS, DOCS, KEYS, MAGIC_LINKS, META, PROJECTS, SEQS, SESSIONS, USERS, split2, split3,
};
use crate::snapshot::{ProjectSnapshot, Snapshot};

/// A range of raw keys.
type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

const EVERYTHING: KeyRange<'static> = (Bound::Unbounded, Bound::Unbounded);

/// Rows in key order, before the bulk build into a `BTreeMap`.
type Rows = Vec<(String, Bytes)>;
/// Rows of one project in a `project \0 name` table.
type Group = (String, BTreeMap<String, Bytes>);
/// One collection's document seqs: project, collection, id to last-write seq.
type SeqGroup = (String, String, BTreeMap<String, u64>);
/// The rows of a [`SeqGroup`] as read, in key order.
type SeqRows = (String, String, Vec<(String, u64)>);
/// Documents of one collection of one project.
type DocGroup = (String, String, BTreeMap<String, Bytes>);

/// Reads everything committed.
pub(crate) fn load_all(db: &Database) -> Result<Snapshot, StorageError> {
    let started = Instant::now();
    let txn = db.begin_read().map_err(io("begin read transaction"))?;
    let meta = read_named(&txn, META)?;
    let mut projects: BTreeMap<String, ProjectSnapshot> = read_named(&txn, PROJECTS)?
        .into_iter()
        .map(|(id, record)| {
            (
                id,
                ProjectSnapshot {
                    record,
                    ..ProjectSnapshot::default()
                },
            )
        })
        .collect();

    let mut orphans = 0;
    orphans += attach(&mut projects, read_grouped(&txn, KEYS, EVERYTHING)?, |p| {
        &mut p.keys
    });
    orphans += attach(&mut projects, read_grouped(&txn, USERS, EVERYTHING)?, |p| {
        &mut p.users
    });
    orphans += attach(
        &mut projects,
        read_grouped(&txn, SESSIONS, EVERYTHING)?,
        |p| &mut p.sessions,
    );
    orphans += attach(
        &mut projects,
        read_grouped(&txn, MAGIC_LINKS, EVERYTHING)?,
        |p| &mut p.magic_links,
    );
    for (project, seq) in read_seqs(&txn)? {
        if let Some(p) = projects.get_mut(&project) {
            p.seq = seq;
        }
    }
    for (project, collection, rows) in read_doc_seqs(&txn, EVERYTHING)? {
        if let Some(p) = projects.get_mut(&project) {
            p.doc_seqs.insert(collection, rows);
        }
    }
    let mut docs = 0;
    let total = txn
        .open_table(DOCS)
        .map_err(io("open table"))?
        .len()
        .map_err(io("count documents"))?;
    let progress = LoadProgress::start(total);
    for (project, collection, rows) in read_docs(&txn, EVERYTHING, Some(&progress))? {
        docs += rows.len();
        match projects.get_mut(&project) {
            Some(p) => {
                p.docs.insert(collection, rows);
            }
            None => orphans += rows.len(),
        }
    }
    if orphans > 0 {
        warn!(
            rows = orphans,
            "rows of projects without a project record were not loaded"
        );
    }
    let elapsed = started.elapsed();
    info!(
        projects = projects.len(),
        docs,
        elapsed_ms = elapsed.as_millis() as u64,
        docs_per_sec = (docs as f64 / elapsed.as_secs_f64().max(1e-9)) as u64,
        "storage loaded"
    );
    Ok(Snapshot { meta, projects })
}

/// Reads one project's committed state; `None` when it has no record.
pub(crate) fn load_project(
    db: &Database,
    project: &str,
) -> Result<Option<ProjectSnapshot>, StorageError> {
    let txn = db.begin_read().map_err(io("begin read transaction"))?;
    let record = {
        let table = txn.open_table(PROJECTS).map_err(io("open table"))?;
        let found = table.get(project).map_err(io("read project record"))?;
        match found {
            Some(record) => Bytes::copy_from_slice(record.value()),
            None => return Ok(None),
        }
    };
    let bounds = schema::project_bounds(project);
    let range: KeyRange<'_> = (
        Bound::Included(bounds.start.as_slice()),
        Bound::Excluded(bounds.end.as_slice()),
    );
    let only = |groups: Vec<Group>| -> BTreeMap<String, Bytes> {
        debug_assert!(groups.len() <= 1 && groups.iter().all(|(p, _)| p == project));
        groups
            .into_iter()
            .next()
            .map(|(_, rows)| rows)
            .unwrap_or_default()
    };
    let mut snapshot = ProjectSnapshot {
        record,
        keys: only(read_grouped(&txn, KEYS, range)?),
        docs: BTreeMap::new(),
        doc_seqs: BTreeMap::new(),
        users: only(read_grouped(&txn, USERS, range)?),
        sessions: only(read_grouped(&txn, SESSIONS, range)?),
        magic_links: only(read_grouped(&txn, MAGIC_LINKS, range)?),
        seq: read_seq(&txn, project)?,
    };
    for (p, collection, rows) in read_docs(&txn, range, None)? {
        debug_assert_eq!(p, project);
        snapshot.docs.insert(collection, rows);
    }
    for (p, collection, rows) in read_doc_seqs(&txn, range)? {
        debug_assert_eq!(p, project);
        snapshot.doc_seqs.insert(collection, rows);
    }
    Ok(Some(snapshot))
}

/// Every project's last commit `seq`. A file written before the table existed has none: 0.
fn read_seqs(txn: &ReadTransaction) -> Result<Vec<(String, u64)>, StorageError> {
    let table = match txn.open_table(SEQS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(err) => return Err(io("open table")(err)),
    };
    let mut rows = Vec::new();
    for entry in table.iter().map_err(io("read table"))? {
        let (key, value) = entry.map_err(io("read table"))?;
        rows.push((key.value().to_owned(), value.value()));
    }
    Ok(rows)
}

/// One project's last commit `seq` (0 when none was recorded).
fn read_seq(txn: &ReadTransaction, project: &str) -> Result<u64, StorageError> {
    let table = match txn.open_table(SEQS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(err) => return Err(io("open table")(err)),
    };
    let found = table.get(project).map_err(io("read commit seq"))?;
    Ok(found.map_or(0, |v| v.value()))
}

/// Gives each group to its project; returns how many rows had no project.
fn attach(
    projects: &mut BTreeMap<String, ProjectSnapshot>,
    groups: Vec<Group>,
    field: fn(&mut ProjectSnapshot) -> &mut BTreeMap<String, Bytes>,
) -> usize {
    let mut orphans = 0;
    for (project, rows) in groups {
        match projects.get_mut(&project) {
            Some(p) => *field(p) = rows,
            None => orphans += rows.len(),
        }
    }
    orphans
}

/// A whole table keyed by a plain name.
fn read_named(
    txn: &ReadTransaction,
    def: TableDefinition<&str, &[u8]>,
) -> Result<BTreeMap<String, Bytes>, StorageError> {
    let table = txn.open_table(def).map_err(io("open table"))?;
    let mut rows = Vec::new();
    for entry in table.iter().map_err(io("read table"))? {
        let (key, value) = entry.map_err(io("read table"))?;
        rows.push((
            key.value().to_owned(),
            Bytes::copy_from_slice(value.value()),
        ));
    }
    // Already in key order: the BTreeMap is bulk-built.
    Ok(rows.into_iter().collect())
}

/// The rows of a `project \0 name` table within `range`, grouped by project, in key order.
fn read_grouped(
    txn: &ReadTransaction,
    def: TableDefinition<&[u8], &[u8]>,
    range: KeyRange<'_>,
) -> Result<Vec<Group>, StorageError> {
    let table = txn.open_table(def).map_err(io("open table"))?;
    let mut groups = Vec::new();
    let mut current: Option<(String, Rows)> = None;
    for entry in table.range::<&[u8]>(range).map_err(io("read table"))? {
        let (key, value) = entry.map_err(io("read table"))?;
        let (project, name) = split2(key.value()).ok_or_else(|| corrupt(def, key.value()))?;
        if !matches!(&current, Some((p, _)) if p == project) {
            if let Some((p, rows)) = current.take() {
                groups.push((p, rows.into_iter().collect()));
            }
            current = Some((project.to_owned(), Vec::new()));
        }
        if let Some((_, rows)) = &mut current {
            rows.push((name.to_owned(), Bytes::copy_from_slice(value.value())));
        }
    }
    if let Some((p, rows)) = current {
        groups.push((p, rows.into_iter().collect()));
    }
    Ok(groups)
}

/// The documents within `range`, grouped by project and collection, in key order.
/// Start-up counts the rows into `progress`, a batch at a time.
fn read_docs(
    txn: &ReadTransaction,
    range: KeyRange<'_>,
    progress: Option<&LoadProgress>,
) -> Result<Vec<DocGroup>, StorageError> {
    const COUNT_EVERY: u64 = 1024;
    let table = txn.open_table(DOCS).map_err(io("open table"))?;
    let mut groups = Vec::new();
    let mut current: Option<(String, String, Rows)> = None;
    let mut uncounted = 0u64;
    for entry in table.range::<&[u8]>(range).map_err(io("read documents"))? {
        let (key, value) = entry.map_err(io("read documents"))?;
        uncounted += 1;
        if uncounted == COUNT_EVERY {
            if let Some(p) = progress {
                p.add(uncounted);
            }
            uncounted = 0;
        }
        let (project, collection, id) =
            split3(key.value()).ok_or_else(|| corrupt(DOCS, key.value()))?;
        if !matches!(&current, Some((p, c, _)) if p == project && c == collection) {
            if let Some((p, c, rows)) = current.take() {
                groups.push((p, c, rows.into_iter().collect()));
            }
            current = Some((project.to_owned(), collection.to_owned(), Vec::new()));
        }
        if let Some((_, _, rows)) = &mut current {
            rows.push((id.to_owned(), Bytes::copy_from_slice(value.value())));
        }
    }
    if let Some((p, c, rows)) = current {
        groups.push((p, c, rows.into_iter().collect()));
    }
    if let Some(p) = progress {
        p.add(uncounted);
    }
    Ok(groups)
}

/// Each document's last-write `seq` within `range`, grouped by project and collection. A file
/// written before the table existed has none.
fn read_doc_seqs(
    txn: &ReadTransaction,
    range: KeyRange<'_>,
) -> Result<Vec<SeqGroup>, StorageError> {
    let table = match txn.open_table(DOC_SEQS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(err) => return Err(io("open table")(err)),
    };
    let mut groups = Vec::new();
    let mut current: Option<SeqRows> = None;
    for entry in table
        .range::<&[u8]>(range)
        .map_err(io("read document seqs"))?
    {
        let (key, value) = entry.map_err(io("read document seqs"))?;
        let (project, collection, id) = split3(key.value()).ok_or_else(|| {
            StorageError::Io(format!(
                "corrupt key {:?} in table doc_seqs_v1: expected NUL-separated UTF-8 names",
                String::from_utf8_lossy(key.value())
            ))
        })?;
        if !matches!(&current, Some((p, c, _)) if p == project && c == collection) {
            if let Some((p, c, rows)) = current.take() {
                groups.push((p, c, rows.into_iter().collect()));
            }
            current = Some((project.to_owned(), collection.to_owned(), Vec::new()));
        }
        if let Some((_, _, rows)) = &mut current {
            rows.push((id.to_owned(), value.value()));
        }
    }
    if let Some((p, c, rows)) = current {
        groups.push((p, c, rows.into_iter().collect()));
    }
    Ok(groups)
}

fn corrupt(def: TableDefinition<&[u8], &[u8]>, key: &[u8]) -> StorageError {
    StorageError::Io(format!(
        "corrupt key {:?} in table {}: expected NUL-separated UTF-8 names",
        String::from_utf8_lossy(key),
        redb::TableHandle::name(&def)
    ))
}
