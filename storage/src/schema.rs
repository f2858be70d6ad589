//! Every redb table, declared once, the encoding of their keys, and the format version check.
//!
//! `DESIGN.md` describes the same layout in prose. In short: project-scoped rows live in tables
//! keyed by raw bytes `project \0 name` (or `project \0 collection \0 id` for documents), so the
//! rows of one project are one contiguous key range, `[project \0, project \x01)`, which
//! [`project_bounds`] returns. Loading walks every table in key order and clearing a project is a
//! range delete over that prefix. Values are the caller's bytes, stored as they are.
//!
//! Data tables carry the format version in their name (`docs_v1`); the [`FORMAT`] table is the
//! one table whose name never changes, so any future build can read which format a file holds.

use std::ops::Range;

use redb::{Database, ReadableDatabase as _, TableDefinition};

use crate::error::{StorageError, io};

/// The on-disk format this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The format version, under [`FORMAT_VERSION_KEY`]. Never renamed.
pub(crate) const FORMAT: TableDefinition<&str, u32> = TableDefinition::new("mammoth_format");
/// The key of the version in [`FORMAT`].
pub(crate) const FORMAT_VERSION_KEY: &str = "version";

/// Server-wide settings: name -> caller's bytes.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta_v1");
/// Project records: project id -> record.
pub(crate) const PROJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("projects_v1");
/// API keys: `project \0 key_id` -> record.
pub(crate) const KEYS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("keys_v1");
/// Documents: `project \0 collection \0 id` -> stored document.
pub(crate) const DOCS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("docs_v1");
/// End users: `project \0 user_id` -> record.
pub(crate) const USERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("users_v1");
/// Sessions: `project \0 token_hash` -> record.
pub(crate) const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions_v1");
/// Magic-link tokens: `project \0 token_hash` -> record.
pub(crate) const MAGIC_LINKS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("magic_links_v1");

/// Commit sequence numbers: project id -> the `seq` of its last committed write. Written in the
/// same transaction as the write it numbers, never cleared, so it never goes back.
pub(crate) const SEQS: TableDefinition<&str, u64> = TableDefinition::new("commit_seq_v1");

/// The `seq` of each document's last write: `project \0 collection \0 id` -> seq. Written in the
/// same transaction as the document (and removed with it), so a document's ETag (CONTRACT
/// section 12) survives restarts. A file written before this table existed has no rows: such a
/// document takes its project's last `seq` on load.
pub(crate) const DOC_SEQS: TableDefinition<&[u8], u64> = TableDefinition::new("doc_seqs_v1");

/// Separates the parts of a key. Names never contain it (checked on submit).
const SEP: u8 = 0;

/// Writes `a \0 b` into `buf` and returns it.
pub(crate) fn key2<'b>(buf: &'b mut Vec<u8>, a: &str, b: &str) -> &'b [u8] {
    buf.clear();
    buf.extend_from_slice(a.as_bytes());
    buf.push(SEP);
    buf.extend_from_slice(b.as_bytes());
    buf
}

/// Writes `a \0 b \0 c` into `buf` and returns it.
pub(crate) fn key3<'b>(buf: &'b mut Vec<u8>, a: &str, b: &str, c: &str) -> &'b [u8] {
    buf.clear();
    buf.extend_from_slice(a.as_bytes());
    buf.push(SEP);
    buf.extend_from_slice(b.as_bytes());
    buf.push(SEP);
    buf.extend_from_slice(c.as_bytes());
    buf
}

/// The key range holding every row of `project` in a project-scoped table:
/// `[project \0, project \x01)`. Since names hold no NUL, a key is in it exactly when its first
/// part is `project` (`"a"` and `"a.b"` do not overlap: `"a\0" < "a\x01" < "a."`).
pub(crate) fn project_bounds(project: &str) -> Range<Vec<u8>> {
    let mut start = Vec::with_capacity(project.len() + 1);
    start.extend_from_slice(project.as_bytes());
    start.push(SEP);
    let mut end = start.clone();
    end[project.len()] = SEP + 1;
    start..end
}

/// Splits `a \0 b`. `None` for a key that is not two UTF-8 parts (a corrupt file).
pub(crate) fn split2(key: &[u8]) -> Option<(&str, &str)> {
    let at = key.iter().position(|&b| b == SEP)?;
    let (a, b) = (&key[..at], &key[at + 1..]);
    if b.contains(&SEP) {
        return None;
    }
    Some((std::str::from_utf8(a).ok()?, std::str::from_utf8(b).ok()?))
}

/// Splits `a \0 b \0 c`. `None` for a key that is not three UTF-8 parts.
pub(crate) fn split3(key: &[u8]) -> Option<(&str, &str, &str)> {
    let at = key.iter().position(|&b| b == SEP)?;
    let (b, c) = split2(&key[at + 1..])?;
    Some((std::str::from_utf8(&key[..at]).ok()?, b, c))
}

/// Creates every table and stamps the format version on a new file; refuses a file written in
/// another format. `durability` is the one the caller's mode commits with.
pub(crate) fn prepare(db: &Database, durability: redb::Durability) -> Result<(), StorageError> {
    if let Some(found) = stored_version(db)? {
        return match found {
            FORMAT_VERSION => Ok(()),
            newer if newer > FORMAT_VERSION => Err(StorageError::Io(format!(
                "the data file has format version {newer}, newer than the {FORMAT_VERSION} this \
                 build understands; run a newer mammoth or restore a backup"
            ))),
            older => Err(StorageError::Io(format!(
                "the data file has format version {older}, older than {FORMAT_VERSION}, and no \
                 migration from it exists"
            ))),
        };
    }
    let mut txn = db.begin_write().map_err(io("begin write transaction"))?;
    txn.set_durability(durability)
        .map_err(io("set durability"))?;
    {
        let mut format = txn.open_table(FORMAT).map_err(io("create table"))?;
        format
            .insert(FORMAT_VERSION_KEY, FORMAT_VERSION)
            .map_err(io("write the format version"))?;
        for table in [META, PROJECTS] {
            txn.open_table(table).map_err(io("create table"))?;
        }
        for table in [KEYS, DOCS, USERS, SESSIONS, MAGIC_LINKS] {
            txn.open_table(table).map_err(io("create table"))?;
        }
        txn.open_table(SEQS).map_err(io("create table"))?;
        txn.open_table(DOC_SEQS).map_err(io("create table"))?;
    }
    txn.commit().map_err(io("commit the new file's tables"))
}

/// The version stamped on the file, `None` for a new (empty) one.
fn stored_version(db: &Database) -> Result<Option<u32>, StorageError> {
    let txn = db.begin_read().map_err(io("begin read transaction"))?;
    let table = match txn.open_table(FORMAT) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(err) => return Err(io("open the format table")(err)),
    };
    let version = table
        .get(FORMAT_VERSION_KEY)
        .map_err(io("read the format version"))?;
    Ok(version.map(|v| v.value()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let mut buf = Vec::new();
        assert_eq!(
            split2(key2(&mut buf, "proj", "key-1")),
            Some(("proj", "key-1"))
        );
        assert_eq!(
            split3(key3(&mut buf, "p", "todos", "a.b")),
            Some(("p", "todos", "a.b"))
        );
        assert_eq!(split3(key3(&mut buf, "p", "c", "")), Some(("p", "c", "")));
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert_eq!(split2(b"no-separator"), None);
        assert_eq!(split2(b"a\0b\0c"), None);
        assert_eq!(split3(b"a\0b"), None);
        assert_eq!(split2(b"a\0\xff"), None);
    }

    #[test]
    fn project_bounds_hold_exactly_that_projects_keys() {
        let bounds = project_bounds("a");
        let mut buf = Vec::new();
        let inside = |k: &[u8]| bounds.start.as_slice() <= k && k < bounds.end.as_slice();
        assert!(inside(key3(&mut buf, "a", "c", "id")));
        assert!(inside(key2(&mut buf, "a", "")));
        assert!(inside(key2(&mut buf, "a", "~~~~")));
        for other in ["a.b", "a-", "a_", "ab", "A", "", "0"] {
            assert!(
                !inside(key3(&mut buf, other, "c", "id")),
                "{other:?} leaked into a's range"
            );
        }
    }
}
