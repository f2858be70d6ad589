//! Opening the redb file: its page cache size and its parent directories.

use std::path::Path;

use redb::Database;

use crate::error::{StorageError, describe};

/// redb's page cache (its default is 1 GiB). Every document already lives in memory, in its
/// collection, so the cache only needs the B-tree's interior pages that the writer's lookups
/// re-touch: a larger one just keeps a second copy of every page the start-up load read, which
/// measured as several hundred bytes resident per document (issue 20). The environment
/// variable `MAMMOTH_REDB_CACHE_BYTES` overrides it (to measure the difference).
const CACHE_BYTES: usize = 16 << 20;

fn cache_bytes() -> usize {
    std::env::var("MAMMOTH_REDB_CACHE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CACHE_BYTES)
}

/// Opens or creates the redb file, creating its parent directories.
pub(crate) fn open_file(path: &Path) -> Result<Database, StorageError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| {
            StorageError::Io(describe(
                &format!("create directory {}", parent.display()),
                &err,
            ))
        })?;
    }
    Database::builder()
        .set_cache_size(cache_bytes())
        .create(path)
        .map_err(|err| match err {
            redb::DatabaseError::DatabaseAlreadyOpen => StorageError::Io(format!(
                "{} is already open (by this or another process)",
                path.display()
            )),
            other => StorageError::Io(describe(&format!("open {}", path.display()), &other)),
        })
}
