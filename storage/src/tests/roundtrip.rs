//! What is submitted is what a reopen loads: every mutation kind, ordering, and a randomized
//! comparison against the reference model across restarts.

use std::collections::BTreeSet;

use tempfile::TempDir;

use super::model::{apply, visible};
use super::*;
use crate::{Mutation, Snapshot, StorageConfig};

/// One of every kind, puts followed by some deletes, in several submits.
fn every_kind() -> Vec<Vec<Mutation>> {
    vec![
        vec![
            Mutation::PutMeta {
                key: "signing_secret".into(),
                value: b("s3cret"),
            },
            Mutation::PutMeta {
                key: "format".into(),
                value: b("1"),
            },
            project("p1"),
            project("p2"),
            Mutation::PutKey {
                project: "p1".into(),
                key_id: "k1".into(),
                record: b("key 1"),
            },
            Mutation::PutKey {
                project: "p1".into(),
                key_id: "k2".into(),
                record: b("key 2"),
            },
        ],
        vec![
            put_doc("p1", "todos", "a", "doc a"),
            put_doc("p1", "todos", "b", "doc b"),
            put_doc("p1", "notes", "n.1", "note"),
            put_doc("p2", "todos", "a", "other project's a"),
            Mutation::PutUser {
                project: "p1".into(),
                user_id: "u1".into(),
                record: b("alice"),
            },
            Mutation::PutSession {
                project: "p1".into(),
                token_hash: "h1".into(),
                record: b("session 1"),
            },
            Mutation::PutSession {
                project: "p1".into(),
                token_hash: "h2".into(),
                record: b("session 2"),
            },
            Mutation::PutMagicLink {
                project: "p1".into(),
                token_hash: "m1".into(),
                record: b("link 1"),
            },
            Mutation::PutMagicLink {
                project: "p2".into(),
                token_hash: "m2".into(),
                record: b("link 2"),
            },
        ],
        vec![
            Mutation::DeleteMeta {
                key: "format".into(),
            },
            Mutation::DeleteMeta {
                key: "never-set".into(),
            },
            Mutation::DeleteKey {
                project: "p1".into(),
                key_id: "k2".into(),
            },
            delete_doc("p1", "todos", "b"),
            delete_doc("p1", "notes", "n.1"),
            Mutation::DeleteSession {
                project: "p1".into(),
                token_hash: "h2".into(),
            },
            Mutation::DeleteMagicLink {
                project: "p1".into(),
                token_hash: "m1".into(),
            },
            put_doc("p1", "todos", "a", "doc a, replaced"),
            Mutation::PutProject {
                project: "p2".into(),
                record: b("p2 renamed"),
            },
            Mutation::ClearProject {
                project: "p2".into(),
            },
            put_doc("p2", "fresh", "x", "after clear"),
        ],
    ]
}

#[test]
fn every_mutation_kind_survives_close_and_reopen() {
    let dir = TempDir::new().expect("tempdir");
    let config = sync_config(&dir);
    let (storage, loaded) = open(&config);
    assert_eq!(loaded, Snapshot::default(), "a new file loads empty");

    let mut model = Snapshot::default();
    let mut tickets = Vec::new();
    for submit in every_kind() {
        submit.iter().for_each(|m| apply(&mut model, m));
        tickets.push(storage.submit(submit).expect("submit"));
    }
    for ticket in tickets {
        ticket.wait().expect("durable");
    }
    let (storage, loaded) = reopen(storage, &config);
    assert_eq!(loaded, model);

    // Spot checks, so that a wrong model cannot hide a wrong store.
    assert_eq!(
        loaded.meta.keys().collect::<Vec<_>>(),
        ["signing_secret"],
        "DeleteMeta removed \"format\""
    );
    let p1 = &loaded.projects["p1"];
    assert_eq!(p1.keys.keys().collect::<Vec<_>>(), ["k1"]);
    assert_eq!(
        p1.docs.keys().collect::<Vec<_>>(),
        ["todos"],
        "empty collections vanish"
    );
    assert_eq!(p1.docs["todos"]["a"], b("doc a, replaced"));
    assert_eq!(p1.sessions.keys().collect::<Vec<_>>(), ["h1"]);
    assert!(p1.magic_links.is_empty());
    assert_eq!(p1.users["u1"], b("alice"));
    let p2 = &loaded.projects["p2"];
    assert_eq!(p2.record, b("p2 renamed"));
    assert_eq!(p2.docs.keys().collect::<Vec<_>>(), ["fresh"]);
    assert!(p2.magic_links.is_empty());
    assert_eq!(loaded.meta["signing_secret"], b("s3cret"));
    storage.close().expect("close");
}

#[test]
fn put_then_delete_in_separate_submits_stays_deleted() {
    for durability in ["sync", "periodic"] {
        let dir = TempDir::new().expect("tempdir");
        let config = match durability {
            "sync" => sync_config(&dir),
            _ => periodic_config(&dir, Duration::from_secs(3600)),
        };
        let (storage, _) = open(&config);
        // Neither ticket is awaited before the next submit: order alone must decide.
        let first = storage
            .submit(vec![project("p"), put_doc("p", "c", "x", "v1")])
            .expect("submit put");
        let second = storage
            .submit(vec![delete_doc("p", "c", "x")])
            .expect("submit delete");
        let third = storage
            .submit(vec![put_doc("p", "c", "y", "v1")])
            .expect("submit");
        let fourth = storage
            .submit(vec![put_doc("p", "c", "y", "v2")])
            .expect("submit");
        for ticket in [first, second, third, fourth] {
            ticket.wait().expect("ticket");
        }
        let (storage, loaded) = reopen(storage, &config);
        let docs = &loaded.projects["p"].docs["c"];
        assert!(
            !docs.contains_key("x"),
            "{durability}: the delete came last"
        );
        assert_eq!(docs["y"], b("v2"), "{durability}: the second put came last");
        storage.close().expect("close");
    }
}

/// A small deterministic PRNG (xorshift64*), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn random_mutation(rng: &mut Rng, step: usize) -> Mutation {
    // Project names that are prefixes of each other test the key-range boundaries.
    let projects = ["a", "a.b", "a-", "ab", "b"];
    let names = ["x", "y", "z", "x.1", "x-1", "0"];
    let collections = ["c", "c.d", "cd"];
    let p = rng.pick(&projects).to_owned();
    let n = rng.pick(&names).to_owned();
    let value = b(&format!("value {step}"));
    match rng.below(20) {
        0 => Mutation::PutMeta { key: n, value },
        1 => Mutation::PutProject {
            project: p,
            record: value,
        },
        2 => Mutation::PutKey {
            project: p,
            key_id: n,
            record: value,
        },
        3 => Mutation::DeleteKey {
            project: p,
            key_id: n,
        },
        4..=7 => put_doc(&p, rng.pick(&collections), &n, &format!("doc {step}")),
        8..=9 => delete_doc(&p, rng.pick(&collections), &n),
        10 => Mutation::PutUser {
            project: p,
            user_id: n,
            record: value,
        },
        11 | 12 => Mutation::PutSession {
            project: p,
            token_hash: n,
            record: value,
        },
        13 => Mutation::DeleteSession {
            project: p,
            token_hash: n,
        },
        14 | 15 => Mutation::PutMagicLink {
            project: p,
            token_hash: n,
            record: value,
        },
        16 => Mutation::DeleteMagicLink {
            project: p,
            token_hash: n,
        },
        17 => Mutation::ClearProject { project: p },
        _ => put_doc(&p, "c", &format!("id{step:05}"), "sequential"),
    }
}

/// Random operations in random submit sizes, with restarts and `load_project` checks in
/// between, always compared with the model.
#[test]
fn random_operations_match_the_model_across_restarts() {
    for seed in [1_u64, 7, 42] {
        let dir = TempDir::new().expect("tempdir");
        let config = StorageConfig {
            max_batch_ops: 16,
            ..sync_config(&dir)
        };
        let (mut storage, _) = open(&config);
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut model = Snapshot::default();
        let mut with_record = BTreeSet::new();
        let mut tickets = Vec::new();
        for step in 0..600 {
            let size = 1 + rng.below(6);
            let submit: Vec<Mutation> = (0..size)
                .map(|i| random_mutation(&mut rng, step * 10 + i))
                .collect();
            for m in &submit {
                apply(&mut model, m);
                if let Mutation::PutProject { project, .. } = m {
                    with_record.insert(project.clone());
                }
            }
            tickets.push(storage.submit(submit).expect("submit"));
            match rng.below(60) {
                0 => {
                    tickets.drain(..).for_each(|t| t.wait().expect("ticket"));
                    let (reopened, loaded) = reopen(storage, &config);
                    storage = reopened;
                    let expected = visible(&model, |p| with_record.contains(p));
                    assert_eq!(loaded, expected, "seed {seed}, after step {step}");
                }
                1 => {
                    storage.flush().wait().expect("flush");
                    let p = rng.pick(&["a", "a.b", "a-", "ab", "b", "nope"]);
                    let expected = with_record.contains(p).then(|| model.projects[p].clone());
                    let loaded = storage.load_project(p).expect("load_project");
                    assert_eq!(loaded, expected, "seed {seed}, project {p}, step {step}");
                }
                _ => {}
            }
        }
        tickets.drain(..).for_each(|t| t.wait().expect("ticket"));
        let (storage, loaded) = reopen(storage, &config);
        assert_eq!(
            loaded,
            visible(&model, |p| with_record.contains(p)),
            "seed {seed}"
        );
        let stats = storage.stats();
        storage.close().expect("close");
        assert_eq!(stats.failed_commits, 0);
    }
}
