//! Criterion benches of the hot path, in process (issue 6): API-key verification (cached and
//! not), get by id through the project actor, a merge patch, and the example query's plan.
//! Group commit has its own bench (`cargo bench -p mammoth-storage --bench commit`).
//!
//! Run: `cargo bench --bench hotpath`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use mammoth::keys::KeySigner;
use mammoth_actors::collection::{Collection, StoredDoc};
use mammoth_actors::env::Env;
use mammoth_actors::project::{Access, KeyRef, Principal, WriteOp, merge_patch};
use mammoth_actors::query::Query;
use mammoth_actors::records::{KeyClaims, Permission};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageConfig};
use serde_json::{Value, json};

fn document(i: usize) -> Value {
    let status = ["active", "inactive", "pending"][i % 3];
    json!({
        "name": format!("user-{i}"),
        "status": status,
        "age": 18 + (i * 7919) % 62,
        "score": ((i * 104_729) % 10_000) as f64 / 100.0,
        "address": {"city": format!("city{}", i % 97), "zip": format!("{:05}", (i * 31) % 100_000)},
        "tags": ["a", "b"],
    })
}

fn keys(c: &mut Criterion) {
    let signer = KeySigner::new(b"bench secret");
    let claims = |i: usize| KeyClaims {
        pid: "project".into(),
        kid: format!("key{i}"),
        perm: Permission::Write,
        n: "0123456789abcdef0123456789abcdef".into(),
    };
    let key = signer.mint(&claims(0));
    c.bench_function("key verify (cached, the hot path)", |b| {
        b.iter(|| black_box(signer.verify(black_box(&key))))
    });
    // More distinct keys than a thread's cache holds: every verification checks the signature.
    let many: Vec<String> = (0..3000).map(|i| signer.mint(&claims(i))).collect();
    let mut i = 0;
    c.bench_function("key verify (signature checked)", |b| {
        b.iter(|| {
            i = (i + 1) % many.len();
            black_box(signer.verify(&many[i]))
        })
    });
}

fn get_by_id(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (handle, access) = runtime.block_on(async {
        let (storage, snapshot) = Storage::open(StorageConfig::default()).expect("in memory");
        let minter = Arc::new(|c: &KeyClaims| format!("mm_{}.{}", c.kid, c.n));
        let registry = Registry::start(storage, snapshot, Env::default(), minter)
            .await
            .expect("starts");
        let (project, key) = registry
            .create_project("bench".into())
            .await
            .expect("created");
        let handle = registry.project(&project.id).expect("exists");
        let (key_id, nonce) = key.key["mm_".len()..].split_once('.').expect("demo key");
        let access = Access::new(Principal::Key(KeyRef {
            key_id: key_id.into(),
            nonce: nonce.into(),
        }));
        for i in 0..10_000 {
            let Value::Object(body) = document(i) else {
                unreachable!()
            };
            let op = WriteOp::Create {
                id: Some(format!("u{i:05}")),
                body,
            };
            let written = handle
                .write(access.clone(), "users".into(), op)
                .await
                .expect("written");
            handle.durable(written.ticket).await.expect("durable");
        }
        (handle, access)
    });
    // Timed inside a task on the runtime's workers, as an HTTP handler calls the actor.
    c.bench_function("get by id through the project actor (10k docs)", |b| {
        b.iter_custom(|iterations| {
            let (handle, access) = (handle.clone(), access.clone());
            runtime.block_on(async move {
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    for i in 0..iterations {
                        let id = format!("u{:05}", (i * 7) % 10_000);
                        black_box(handle.get(access.clone(), "users".into(), id).await.ok());
                    }
                    started.elapsed()
                })
                .await
                .expect("the bench task")
            })
        })
    });
}

fn merge(c: &mut Criterion) {
    let target = document(42);
    let patch =
        json!({"status": "inactive", "address": {"zip": null, "street": "Main"}, "tags": null});
    c.bench_function("merge patch (RFC 7396) on a ~200 B document", |b| {
        b.iter(|| {
            let mut doc = target.clone();
            merge_patch(&mut doc, patch.clone());
            black_box(doc)
        })
    });
}

fn query_plan(c: &mut Criterion) {
    let mut collection = Collection::new();
    for i in 0..100_000 {
        let Value::Object(mut doc) = document(i) else {
            unreachable!()
        };
        doc.insert("id".into(), json!(format!("u{i:06}")));
        collection.insert(format!("u{i:06}"), StoredDoc::new(doc));
    }
    let query = Query::parse(&json!({
        "filter": {"status": "active", "age": {"$gte": 21}},
        "sort": [{"field": "age", "order": "desc"}],
        "limit": 20
    }))
    .expect("valid");
    c.bench_function("example query plan + run (100k docs)", |b| {
        b.iter(|| black_box(collection.query(&query, None)))
    });
}

criterion_group!(benches, keys, get_by_id, merge, query_plan);
criterion_main!(benches);
