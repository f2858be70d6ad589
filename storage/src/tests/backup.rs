//! Online backups and exports: a copy opens as a data file holding exactly the committed state,
//! an export reads one project's documents and `seq` from one read transaction.

use super::*;
use crate::StorageError;

fn seeded(dir: &TempDir, docs: usize) -> (Storage, StorageConfig) {
    let config = sync_config(dir);
    let (storage, _) = open(&config);
    let mut batch = vec![project("p"), project("q")];
    for i in 0..docs {
        batch.push(put_doc(
            "p",
            "todos",
            &format!("{i:06}"),
            &format!("{{\"n\":{i}}}"),
        ));
    }
    batch.push(put_doc("p", "notes", "x", "{}"));
    batch.push(put_doc("q", "todos", "a", "{\"q\":1}"));
    batch.push(Mutation::PutKey {
        project: "p".into(),
        key_id: "k1".into(),
        record: b("key"),
    });
    batch.push(Mutation::PutSeq {
        project: "p".into(),
        seq: 7,
    });
    storage
        .submit(batch)
        .expect("submit")
        .wait()
        .expect("commit");
    (storage, config)
}

#[test]
fn a_backup_opens_as_the_same_state() {
    let dir = TempDir::new().unwrap();
    // More rows than one copy commit holds, so the copy commits several times.
    let (storage, config) = seeded(&dir, 60_000);
    let before = storage.load_project("p").unwrap();
    let dest = dir.path().join("copy.redb");
    let info = storage.backup_to(&dest).expect("backup");
    assert_eq!(info.docs, 60_002);
    assert_eq!(info.seqs.get("p"), Some(&7));
    assert!(info.bytes > 0);
    assert!(
        matches!(storage.backup_to(&dest), Err(StorageError::Io(_))),
        "a backup never overwrites"
    );
    let (_, original) = reopen(storage, &config);
    let (copy, snapshot) = open(&StorageConfig {
        path: Some(dest),
        ..StorageConfig::default()
    });
    assert_eq!(snapshot, original);
    assert_eq!(copy.load_project("p").unwrap(), before);
}

#[test]
fn an_export_is_one_projects_documents_in_key_order() {
    let dir = TempDir::new().unwrap();
    let (storage, _) = seeded(&dir, 3);
    let export = storage.export("p").expect("export");
    assert_eq!(export.seq(), 7);
    // A write after the export began is not in it.
    storage
        .submit(vec![put_doc("p", "todos", "zzz", "{}")])
        .unwrap()
        .wait()
        .unwrap();
    let rows: Vec<_> = export.map(Result::unwrap).collect();
    let want = vec![
        ("notes".to_owned(), b("{}")),
        ("todos".to_owned(), b("{\"n\":0}")),
        ("todos".to_owned(), b("{\"n\":1}")),
        ("todos".to_owned(), b("{\"n\":2}")),
    ];
    assert_eq!(rows, want);
    assert_eq!(storage.export("q").unwrap().seq(), 0);
    assert_eq!(storage.export("q").unwrap().count(), 1);
}
