//! Issue 15: a model test of writes at the actor level. Random single writes and batches, with
//! random preconditions (`if_match` with the current, a stale or a foreign ETag; `exists`), and
//! restarts (a crash that reloads the project from storage, or a full stop and reopen of the
//! data file), are applied to a project actor and to a plain `BTreeMap` reference written from
//! CONTRACT sections 6 and 12. After every step the answers (status kind, failing op index,
//! `seq`) agree, and every few steps every document and its ETag agree.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mammoth_actors::env::Env;
use mammoth_actors::etag::{self, Precondition};
use mammoth_actors::project::{
    Access, BatchOp, KeyRef, Principal, ProjectHandle, WriteOp, merge_patch,
};
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_actors::{ErrorCode, ProjectError};
use mammoth_storage::{Storage, StorageConfig};
use serde_json::{Map, Value, json};

const COLLECTIONS: [&str; 2] = ["a", "b"];
const IDS: [&str; 4] = ["x", "y", "z", "w"];

/// A small deterministic generator (xorshift64*), seeded per run so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The reference: each document's body (server fields aside) and the seq of its last write.
#[derive(Clone, Default, Debug)]
struct Model {
    docs: BTreeMap<(String, String), (Map<String, Value>, u64)>,
    seq: u64,
}

#[derive(Debug, Clone)]
enum Kind {
    Create,
    Replace,
    Merge,
    Delete,
}

#[derive(Debug, Clone)]
struct Op {
    kind: Kind,
    collection: String,
    id: String,
    body: Map<String, Value>,
    precondition: Precondition,
}

impl Op {
    fn to_batch_op(&self) -> BatchOp {
        let id = self.id.clone();
        let body = self.body.clone();
        let op = match self.kind {
            Kind::Create => WriteOp::Create { id: Some(id), body },
            Kind::Replace => WriteOp::Replace { id, body },
            Kind::Merge => WriteOp::Merge { id, patch: body },
            Kind::Delete => WriteOp::Delete { id },
        };
        BatchOp {
            collection: self.collection.clone(),
            op,
            precondition: self.precondition.clone(),
        }
    }
}

impl Model {
    /// Applies one op to `self` (a working copy); the error kind when it fails.
    fn apply(&mut self, op: &Op, seq: u64) -> Result<(), ErrorCode> {
        let key = (op.collection.clone(), op.id.clone());
        let current = self.docs.get(&key).map(|(_, s)| *s);
        if !holds(&op.precondition, current) {
            return Err(ErrorCode::PreconditionFailed);
        }
        match op.kind {
            Kind::Create if current.is_some() => return Err(ErrorCode::Conflict),
            Kind::Merge | Kind::Delete if current.is_none() => return Err(ErrorCode::NotFound),
            _ => {}
        }
        match op.kind {
            Kind::Create | Kind::Replace => {
                self.docs.insert(key, (op.body.clone(), seq));
            }
            Kind::Merge => {
                let (body, _) = self.docs.remove(&key).expect("checked above");
                let mut value = Value::Object(body);
                merge_patch(&mut value, Value::Object(op.body.clone()));
                let Value::Object(body) = value else {
                    unreachable!()
                };
                self.docs.insert(key, (body, seq));
            }
            Kind::Delete => {
                self.docs.remove(&key);
            }
        }
        Ok(())
    }

    /// A batch: all or nothing, one seq; the failing op's index and error kind.
    fn batch(&mut self, ops: &[Op]) -> Result<u64, (usize, ErrorCode)> {
        let seq = self.seq + 1;
        let mut work = self.clone();
        for (i, op) in ops.iter().enumerate() {
            work.apply(op, seq).map_err(|e| (i, e))?;
        }
        work.seq = seq;
        *self = work;
        Ok(seq)
    }
}

/// CONTRACT section 12's preconditions, written out again for the reference: `exists` says
/// whether the document must exist; `if_match` needs it to exist with that exact ETag.
fn holds(p: &Precondition, current: Option<u64>) -> bool {
    let exists_ok = p.exists.is_none_or(|e| e == current.is_some());
    let tag_ok = match (&p.if_match, current) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(tags), Some(seq)) => tags.iter().any(|t| *t == format!("\"{seq}\"")),
    };
    exists_ok && tag_ok
}

fn random_op(rng: &mut Rng, model: &Model) -> Op {
    let collection = rng.pick(&COLLECTIONS).to_owned();
    let id = rng.pick(&IDS).to_owned();
    let kind = match rng.below(4) {
        0 => Kind::Create,
        1 => Kind::Replace,
        2 => Kind::Merge,
        _ => Kind::Delete,
    };
    let mut body = Map::new();
    body.insert("n".into(), json!(rng.below(5)));
    if rng.below(3) == 0 {
        // A merge patch that deletes a field.
        body.insert("m".into(), Value::Null);
    } else if rng.below(2) == 0 {
        body.insert("m".into(), json!({"deep": rng.below(3)}));
    }
    let current = model
        .docs
        .get(&(collection.clone(), id.clone()))
        .map(|(_, s)| *s);
    let mut precondition = Precondition::none();
    match rng.below(6) {
        0 => {
            precondition.if_match = Some(vec![etag::format(current.unwrap_or(model.seq))]);
        }
        1 => {
            let stale = current.unwrap_or(1).saturating_sub(1 + rng.below(3));
            precondition.if_match = Some(vec![etag::format(stale)]);
        }
        2 => precondition.exists = Some(rng.below(2) == 0),
        _ => {}
    }
    Op {
        kind,
        collection,
        id,
        body,
        precondition,
    }
}

fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

struct Server {
    registry: Registry,
    storage: Storage,
    handle: ProjectHandle,
}

async fn open(path: &std::path::Path, project: Option<&str>) -> (Server, Option<Access>) {
    let config = StorageConfig {
        path: Some(path.to_owned()),
        ..StorageConfig::default()
    };
    let (storage, snapshot) = Storage::open(config).unwrap();
    let registry = Registry::start(storage.clone(), snapshot, Env::default(), minter())
        .await
        .unwrap();
    let (handle, access) = match project {
        Some(id) => (registry.project(id).unwrap(), None),
        None => {
            let (project, issued) = registry.create_project("p".into()).await.unwrap();
            let claims: KeyClaims = serde_json::from_str(&issued.key).unwrap();
            let access = Access::new(Principal::Key(KeyRef {
                key_id: claims.kid,
                nonce: claims.n,
            }));
            (registry.project(&project.id).unwrap(), Some(access))
        }
    };
    (
        Server {
            registry,
            storage,
            handle,
        },
        access,
    )
}

async fn check_state(handle: &ProjectHandle, access: &Access, model: &Model, context: &str) {
    for c in COLLECTIONS {
        for id in IDS {
            let got = handle.get_tagged(access.clone(), c.into(), id.into()).await;
            match (got, model.docs.get(&(c.to_owned(), id.to_owned()))) {
                (Err(e), None) => assert_eq!(e.code, ErrorCode::NotFound, "{context}"),
                (Ok((bytes, seq)), Some((body, want_seq))) => {
                    let mut doc: Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
                    assert_eq!(doc.remove("id"), Some(json!(id)));
                    doc.remove("created_at");
                    doc.remove("updated_at");
                    assert_eq!(&doc, body, "{context}: {c}/{id}");
                    assert_eq!(seq, *want_seq, "{context}: ETag of {c}/{id}");
                }
                (got, want) => panic!("{context}: {c}/{id}: actor {got:?}, model {want:?}"),
            }
        }
    }
}

fn kind_of(result: &Result<u64, (Option<usize>, ErrorCode)>) -> String {
    format!("{result:?}")
}

#[tokio::test]
async fn random_writes_and_batches_with_restarts_match_the_reference() {
    for seed in 1..=4u64 {
        run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).await;
    }
}

async fn run(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.redb");
    let (mut server, access) = open(&path, None).await;
    let access = access.unwrap();
    let project = server.handle.id().to_owned();
    let mut rng = Rng(seed);
    let mut model = Model::default();
    // The project's creation itself took no seq; documents start at 1.
    for step in 0..160 {
        let context = format!("seed {seed:#x} step {step}");
        match rng.below(20) {
            0 => {
                // Crash: the supervisor reloads the project from storage.
                let mut restarts = server.registry.restarts();
                let before = *restarts.borrow_and_update();
                server.handle.crash();
                tokio::time::timeout(Duration::from_secs(30), restarts.wait_for(|n| *n > before))
                    .await
                    .expect("restarted")
                    .unwrap();
            }
            1 => {
                // Full restart: stop everything, close the file, open it again.
                server.registry.stop();
                server.storage.flush().await.unwrap();
                server.storage.close().unwrap();
                drop(server);
                server = open(&path, Some(&project)).await.0;
            }
            2..=11 => {
                let op = random_op(&mut rng, &model);
                let want = model
                    .batch(std::slice::from_ref(&op))
                    .map_err(|(_, e)| (None, e));
                let got = server
                    .handle
                    .write_if(
                        access.clone(),
                        op.collection.clone(),
                        op.to_batch_op().op,
                        op.precondition.clone(),
                    )
                    .await;
                let got = match got {
                    Ok(written) => {
                        server.handle.durable(written.ticket).await.unwrap();
                        Ok(written.seq)
                    }
                    Err(ProjectError { code, .. }) => Err((None, code)),
                };
                assert_eq!(kind_of(&got), kind_of(&want), "{context}: {op:?}");
            }
            _ => {
                let n = 1 + rng.below(6) as usize;
                // Plan against a working model so later ops often see earlier ones' ETags.
                let mut planning = model.clone();
                let mut ops = Vec::with_capacity(n);
                for _ in 0..n {
                    let op = random_op(&mut rng, &planning);
                    let _ = planning.apply(&op, planning.seq + 1);
                    ops.push(op);
                }
                let want = model.batch(&ops).map_err(|(i, e)| (Some(i), e));
                let got = server
                    .handle
                    .batch(
                        access.clone(),
                        ops.iter().map(Op::to_batch_op).collect(),
                        500,
                    )
                    .await;
                let got = match got {
                    Ok(applied) => {
                        assert_eq!(applied.results.len(), n);
                        server.handle.durable(applied.ticket).await.unwrap();
                        Ok(applied.seq)
                    }
                    Err(e) => Err((e.op, e.error.code)),
                };
                assert_eq!(kind_of(&got), kind_of(&want), "{context}: {ops:?}");
            }
        }
        if step % 8 == 0 {
            check_state(&server.handle, &access, &model, &context).await;
        }
    }
    check_state(&server.handle, &access, &model, "end").await;
    // The op cap is the caller's: over it, nothing applies.
    let ops = (0..3)
        .map(|_| random_op(&mut rng, &model).to_batch_op())
        .collect();
    let err = server
        .handle
        .batch(access.clone(), ops, 2)
        .await
        .unwrap_err();
    assert_eq!((err.op, err.error.code), (None, ErrorCode::BadRequest));
    check_state(&server.handle, &access, &model, "after the capped batch").await;
    server.registry.stop();
    server.storage.close().unwrap();
}
