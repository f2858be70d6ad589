//! `ClearProject` and `load_project`: one project's rows, exactly.

use tempfile::TempDir;

use super::*;
use crate::{Mutation, StorageError};

/// Every kind of row for `p`, with the same names in every project.
fn fill(p: &str) -> Vec<Mutation> {
    vec![
        project(p),
        Mutation::PutKey {
            project: p.into(),
            key_id: "k".into(),
            record: b("key"),
        },
        put_doc(p, "todos", "1", "doc"),
        put_doc(p, "todos.x", "2", "doc"),
        Mutation::PutUser {
            project: p.into(),
            user_id: "u".into(),
            record: b("user"),
        },
        Mutation::PutSession {
            project: p.into(),
            token_hash: "s".into(),
            record: b("session"),
        },
        Mutation::PutMagicLink {
            project: p.into(),
            token_hash: "m".into(),
            record: b("link"),
        },
    ]
}

#[test]
fn clear_project_keeps_record_keys_and_other_projects() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    // "a" is a prefix of the others: a careless prefix delete would take them too.
    let projects = ["a", "a.b", "a-", "a_", "ab", "b"];
    let all: Vec<Mutation> = projects.iter().flat_map(|p| fill(p)).collect();
    storage
        .submit(all)
        .expect("submit")
        .wait()
        .expect("durable");
    storage
        .submit(vec![Mutation::ClearProject {
            project: "a".into(),
        }])
        .expect("submit")
        .wait()
        .expect("durable");

    let (storage, loaded) = reopen(storage, &config);
    let a = &loaded.projects["a"];
    assert_eq!(a.record, b("record of a"), "the record stays");
    assert_eq!(a.keys["k"], b("key"), "keys stay");
    assert!(a.docs.is_empty() && a.users.is_empty(), "{a:?}");
    assert!(a.sessions.is_empty() && a.magic_links.is_empty(), "{a:?}");
    for other in &projects[1..] {
        let p = &loaded.projects[*other];
        assert_eq!(p.doc_count(), 2, "{other}");
        assert_eq!(
            (p.users.len(), p.sessions.len(), p.magic_links.len()),
            (1, 1, 1),
            "{other}"
        );
        assert_eq!(p.keys.len(), 1, "{other}");
    }
    storage.close().expect("close");
}

#[test]
fn load_project_reads_one_projects_committed_state() {
    let dir = TempDir::new().expect("tempdir");
    let (storage, _) = open(&sync_config(&dir));
    assert_eq!(storage.load_project("a"), Ok(None));

    let mut setup = fill("a");
    setup.extend(fill("ab"));
    // Rows of a project that has no record: not a project as far as loading goes.
    setup.push(put_doc("ghost", "c", "1", "orphan"));
    storage
        .submit(setup)
        .expect("submit")
        .wait()
        .expect("durable");

    let a = storage
        .load_project("a")
        .expect("load")
        .expect("a has a record");
    assert_eq!(a.record, b("record of a"));
    assert_eq!(a.keys.len(), 1);
    assert_eq!(a.docs.keys().collect::<Vec<_>>(), ["todos", "todos.x"]);
    assert_eq!(a.doc_count(), 2, "none of ab's documents");
    assert_eq!(
        (a.users.len(), a.sessions.len(), a.magic_links.len()),
        (1, 1, 1)
    );
    assert_eq!(storage.load_project("ghost"), Ok(None));
    assert_eq!(storage.load_project(""), Ok(None));

    // A mutation is visible once committed; `flush` is the way to wait for that.
    let _ticket = storage.submit(vec![Mutation::ClearProject {
        project: "a".into(),
    }]);
    storage.flush().wait().expect("flush");
    let cleared = storage
        .load_project("a")
        .expect("load")
        .expect("record stays");
    assert_eq!(cleared.doc_count(), 0);
    assert_eq!(cleared.keys.len(), 1);
    assert_eq!(
        storage
            .load_project("ab")
            .expect("load")
            .expect("ab")
            .doc_count(),
        2
    );

    assert_eq!(
        storage.load_project("a\0b"),
        Err(StorageError::InvalidName("a\0b".into()))
    );
    storage.close().expect("close");
    assert_eq!(storage.load_project("a"), Err(StorageError::Closed));
}

#[test]
fn orphan_rows_are_not_loaded_as_projects() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    let orphan = put_doc("ghost", "c", "1", "orphan");
    storage
        .submit(vec![orphan, project("real")])
        .expect("submit")
        .wait()
        .expect("durable");
    let (storage, loaded) = reopen(storage, &config);
    assert_eq!(loaded.projects.keys().collect::<Vec<_>>(), ["real"]);
    storage.close().expect("close");
}

#[test]
fn commit_seq_survives_reopen_and_clear_and_loads_per_project() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, _) = open(&config);
    let seq = |p: &str, seq: u64| Mutation::PutSeq {
        project: p.into(),
        seq,
    };
    let (t, watch) = storage
        .submit_watched(vec![project("a"), project("b"), seq("a", 7), seq("b", 2)])
        .expect("submit");
    watch
        .wait()
        .expect("watch ticket completes after the commit");
    t.wait().expect("durable");
    assert_eq!(storage.load_project("a").unwrap().unwrap().seq, 7);
    storage
        .submit(vec![
            Mutation::ClearProject {
                project: "a".into(),
            },
            seq("a", 8),
        ])
        .expect("submit")
        .wait()
        .expect("durable");
    let (storage, loaded) = reopen(storage, &config);
    assert_eq!(
        loaded.projects["a"].seq, 8,
        "a reset never winds the seq back"
    );
    assert_eq!(loaded.projects["b"].seq, 2);
    assert_eq!(storage.load_project("b").unwrap().unwrap().seq, 2);
    storage.close().expect("close");
}
