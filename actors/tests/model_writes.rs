//! Issue 15: a model test of writes at the actor level. Random single writes and batches, with
//! random preconditions (`if_match` with the current, a stale or a foreign ETag; `exists`), and
//! restarts (a crash that reloads the project from storage, or a full stop and reopen of the
//! data file), are applied to a project actor and to a plain `BTreeMap` reference written from
//! CONTRACT sections 6 and 12. After every step the answers (status kind, failing op index,
//! `seq`) agree, and every few steps every document and its ETag agree.
//!
//! Time to live is part of the same model: collection `a` has a TTL policy on `exp`, writes
//! there often set `exp` a few seconds ahead of a `ManualClock`, and a step moves the clock.
//! The reference applies CONTRACT section 14 literally: at each clock move every document due
//! at the new instant is gone, by one expiry commit (one `seq`) before the next write. A write
//! right after each move (a probe document) observes that commit's `seq`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mammoth_actors::env::{Clock, Env, ManualClock, OsEntropy};
use mammoth_actors::etag::{self, Precondition};
use mammoth_actors::ids::rfc3339_millis;
use mammoth_actors::project::{
    Access, BatchOp, KeyRef, Principal, ProjectHandle, ProjectUpdate, WriteOp, merge_patch,
};
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_actors::{ErrorCode, ProjectError};
use mammoth_storage::{Storage, StorageConfig};
use serde_json::{Map, Value, json};

const COLLECTIONS: [&str; 2] = ["a", "b"];
const IDS: [&str; 4] = ["x", "y", "z", "w"];
/// The collection with a TTL policy (on [`TTL_FIELD`]).
const TTL_COLLECTION: &str = "a";
const TTL_FIELD: &str = "exp";
const T0: u64 = 1_800_000_000_000;

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
    /// Every `exp` timestamp the test wrote, to its epoch millis.
    times: BTreeMap<String, u64>,
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

    /// CONTRACT section 14 at instant `now`: every document of the TTL collection whose `exp`
    /// is at or before `now` is deleted, in one commit. Answers whether any was.
    fn expire(&mut self, now: u64) -> bool {
        let times = &self.times;
        let before = self.docs.len();
        self.docs.retain(|(c, _), (body, _)| {
            let due = match body.get(TTL_FIELD) {
                Some(Value::String(at)) => times.get(at).is_some_and(|&t| t <= now),
                _ => false,
            };
            !(c == TTL_COLLECTION && due)
        });
        let expired = self.docs.len() != before;
        if expired {
            self.seq += 1;
        }
        expired
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

fn random_op(rng: &mut Rng, model: &mut Model, now: u64) -> Op {
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
    if rng.below(2) == 0 {
        // Always ahead of the clock, so nothing is due before the clock moves.
        let at = now + 500 * (1 + rng.below(6));
        let text = rfc3339_millis(at);
        model.times.insert(text.clone(), at);
        body.insert(TTL_FIELD.into(), json!(text));
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

async fn open(
    path: &std::path::Path,
    project: Option<&str>,
    clock: &Arc<ManualClock>,
) -> (Server, Option<Access>) {
    let config = StorageConfig {
        path: Some(path.to_owned()),
        ..StorageConfig::default()
    };
    let (storage, snapshot) = Storage::open(config).unwrap();
    let env = Env {
        clock: clock.clone(),
        entropy: Arc::new(OsEntropy),
    };
    let registry = Registry::start(storage.clone(), snapshot, env, minter())
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
            let handle = registry.project(&project.id).unwrap();
            let ttl = BTreeMap::from([(TTL_COLLECTION.to_owned(), Some(TTL_FIELD.to_owned()))]);
            handle
                .update(ProjectUpdate {
                    ttl: Some(ttl),
                    ..Default::default()
                })
                .await
                .unwrap();
            (handle, Some(access))
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
    let clock = Arc::new(ManualClock::new(T0));
    let (mut server, access) = open(&path, None, &clock).await;
    let access = access.unwrap();
    let project = server.handle.id().to_owned();
    let mut rng = Rng(seed);
    let mut model = Model::default();
    // The project's creation itself took no seq; documents start at 1.
    for step in 0..160 {
        let context = format!("seed {seed:#x} step {step}");
        let now = clock.now_millis();
        match rng.below(24) {
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
                server = open(&path, Some(&project), &clock).await.0;
            }
            20..=23 => {
                // The clock moves: what is due now expires, in one commit before the probe.
                clock.advance(1 + 700 * rng.below(4));
                let expired = model.expire(clock.now_millis());
                let probe = Op {
                    kind: Kind::Replace,
                    collection: "b".into(),
                    id: "probe".into(),
                    body: Map::from_iter([("step".to_owned(), json!(step))]),
                    precondition: Precondition::none(),
                };
                let want = model.batch(std::slice::from_ref(&probe)).map_err(|_| ());
                let written = server
                    .handle
                    .write_if(
                        access.clone(),
                        probe.collection.clone(),
                        probe.to_batch_op().op,
                        Precondition::none(),
                    )
                    .await
                    .unwrap();
                server.handle.durable(written.ticket).await.unwrap();
                assert_eq!(
                    Ok(written.seq),
                    want,
                    "{context}: the probe after a clock move (expired: {expired})"
                );
            }
            2..=11 => {
                let op = random_op(&mut rng, &mut model, now);
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
                    let op = random_op(&mut rng, &mut planning, now);
                    model.times.extend(planning.times.clone());
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
        .map(|_| random_op(&mut rng, &mut model, clock.now_millis()).to_batch_op())
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
