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

/// Where the format-1 fixture lives. Never regenerate it after the format changes: it is the
/// file a format-1 build wrote, which every later build must keep loading.
fn fixture_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1.redb")
}

/// What the fixture holds: one of every kind of row, some deleted, one project cleared.
fn fixture_mutations() -> Vec<crate::Mutation> {
    use crate::Mutation;
    vec![
        Mutation::PutMeta {
            key: "signing_secret".into(),
            value: b("secret"),
        },
        project("alpha"),
        project("alpha.beta"),
        Mutation::PutKey {
            project: "alpha".into(),
            key_id: "k1".into(),
            record: b("key"),
        },
        Mutation::PutKey {
            project: "alpha".into(),
            key_id: "k2".into(),
            record: b("gone"),
        },
        Mutation::DeleteKey {
            project: "alpha".into(),
            key_id: "k2".into(),
        },
        put_doc("alpha", "todos", "01J0000000", "{\"id\":\"01J0000000\"}"),
        put_doc("alpha", "todos", "01J0000001", "{\"id\":\"01J0000001\"}"),
        put_doc("alpha", "notes", "n-1", "{}"),
        delete_doc("alpha", "notes", "n-1"),
        put_doc("alpha.beta", "todos", "x", "cleared"),
        Mutation::PutUser {
            project: "alpha".into(),
            user_id: "u1".into(),
            record: b("user"),
        },
        Mutation::PutSession {
            project: "alpha".into(),
            token_hash: "s1".into(),
            record: b("session"),
        },
        Mutation::PutMagicLink {
            project: "alpha".into(),
            token_hash: "m1".into(),
            record: b("link"),
        },
        Mutation::ClearProject {
            project: "alpha.beta".into(),
        },
        put_doc("alpha.beta", "after", "y", "kept"),
    ]
}

#[test]
fn the_format_1_fixture_still_loads() {
    let dir = TempDir::new().expect("tempdir");
    let path = dir.path().join("copy.redb");
    std::fs::copy(fixture_path(), &path).expect("copy the fixture");
    let mut expected = crate::Snapshot::default();
    fixture_mutations()
        .iter()
        .for_each(|m| super::model::apply(&mut expected, m));
    // The fixture predates the per-document seq table (ETags, issue 15): its documents load
    // without one, and the actor gives them the project's last seq.
    for p in expected.projects.values_mut() {
        p.doc_seqs.clear();
    }

    let config = crate::StorageConfig {
        path: Some(path),
        ..crate::StorageConfig::default()
    };
    let (storage, loaded) = open(&config);
    assert_eq!(loaded, expected);
    storage.close().expect("close");
}

/// Regenerates the fixture. Only for a format-1 build:
/// `MAMMOTH_WRITE_FIXTURE=1 cargo test -p mammoth-storage write_format_1_fixture -- --ignored`.
#[test]
#[ignore = "writes tests/fixtures/format-v1.redb; run by hand, only while FORMAT_VERSION is 1"]
fn write_format_1_fixture() {
    assert_eq!(
        FORMAT_VERSION, 1,
        "the format-1 fixture must come from a format-1 build"
    );
    if std::env::var_os("MAMMOTH_WRITE_FIXTURE").is_none() {
        return;
    }
    let path = fixture_path();
    let _ = std::fs::remove_file(&path);
    let config = crate::StorageConfig {
        path: Some(path),
        ..crate::StorageConfig::default()
    };
    let (storage, _) = open(&config);
    for mutation in fixture_mutations() {
        storage
            .submit(vec![mutation])
            .expect("submit")
            .wait()
            .expect("durable");
    }
    storage.close().expect("close");
}
