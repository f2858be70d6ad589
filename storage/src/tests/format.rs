//! The format version: stamped on creation, checked on open.

use redb::{Database, ReadableDatabase as _};
use tempfile::TempDir;

use super::*;
use crate::StorageError;
use crate::schema::{FORMAT, FORMAT_VERSION, FORMAT_VERSION_KEY};

fn stored_version(path: &std::path::Path) -> Option<u32> {
    let db = Database::open(path).expect("open with redb");
    let txn = db.begin_read().expect("read");
    let table = txn.open_table(FORMAT).expect("format table");
    table
        .get(FORMAT_VERSION_KEY)
        .expect("get")
        .map(|v| v.value())
}

fn set_version(path: &std::path::Path, version: u32) {
    let db = Database::open(path).expect("open with redb");
    let txn = db.begin_write().expect("write");
    txn.open_table(FORMAT)
        .expect("table")
        .insert(FORMAT_VERSION_KEY, version)
        .expect("insert");
    txn.commit().expect("commit");
}

#[test]
fn a_new_file_is_stamped_with_the_current_version() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    storage.close().expect("close");
    assert_eq!(stored_version(&data_file(&dir)), Some(FORMAT_VERSION));
}

#[test]
fn a_newer_or_older_format_is_refused_with_a_clear_message() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    storage
        .submit(vec![project("p")])
        .expect("submit")
        .wait()
        .expect("durable");
    storage.close().expect("close");

    set_version(&data_file(&dir), FORMAT_VERSION + 1);
    match Storage::open(config.clone()) {
        Err(StorageError::Io(message)) => {
            assert!(message.contains("newer"), "{message}");
            assert!(
                message.contains(&(FORMAT_VERSION + 1).to_string()),
                "{message}"
            );
        }
        other => panic!("a newer format must be refused, got {other:?}"),
    }
    set_version(&data_file(&dir), 0);
    assert!(
        matches!(Storage::open(config.clone()), Err(StorageError::Io(m)) if m.contains("older"))
    );

    set_version(&data_file(&dir), FORMAT_VERSION);
    let (storage, loaded) = open(&config);
    assert!(
        loaded.projects.contains_key("p"),
        "the data was never touched"
    );
    storage.close().expect("close");
}

#[test]
fn a_file_that_is_not_redb_is_an_io_error() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("garbage.redb");
    std::fs::write(&path, vec![0x5a; 8192]).expect("write");
    let config = crate::StorageConfig {
        path: Some(path),
        ..crate::StorageConfig::default()
    };
    assert!(matches!(Storage::open(config), Err(StorageError::Io(_))));
}

#[test]
fn a_file_open_elsewhere_is_an_io_error() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    match Storage::open(config) {
        Err(StorageError::Io(message)) => assert!(message.contains("already open"), "{message}"),
        other => panic!("expected an io error, got {other:?}"),
    }
    storage.close().expect("close");
}
