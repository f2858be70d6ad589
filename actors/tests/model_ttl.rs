//! A model test of time to live (CONTRACT section 14) at the actor level: random writes,
//! merges, deletes, clock moves (a `ManualClock`), policy changes and actor restarts, checked
//! after every step against a plain map that applies the rule literally. After each step the
//! committed storage must hold exactly the model's documents too (expired ones are deleted
//! durably, not only hidden).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mammoth_actors::ErrorCode;
use mammoth_actors::env::{Env, ManualClock, OsEntropy};
use mammoth_actors::ids::rfc3339_millis;
use mammoth_actors::project::{Access, KeyRef, Principal, ProjectHandle, ProjectUpdate, WriteOp};
use mammoth_actors::query::{Aggregation, Query};
use mammoth_actors::records::{KeyClaims, KeyMinter};
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageConfig};
use serde_json::{Map, Value, json};

const T0: u64 = 1_800_000_000_000;
const C: &str = "s";
const IDS: u64 = 12;

/// xorshift64*: deterministic, so a failure names its seed and step.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The reference: documents by id with their TTL field value, and whether the policy is on.
#[derive(Default)]
struct Model {
    docs: BTreeMap<String, Map<String, Value>>,
    policy: bool,
}

impl Model {
    fn due(doc: &Map<String, Value>) -> Option<u64> {
        let Value::String(s) = doc.get("exp")? else {
            return None;
        };
        // The model keeps timestamps as `ms:<millis>`; anything else is junk, never due.
        parse_ours(s)
    }

    /// The rule, literally: at `now`, under a policy, a due document is gone for good.
    fn sweep(&mut self, now: u64) {
        if self.policy {
            self.docs
                .retain(|_, doc| Model::due(doc).is_none_or(|at| at > now));
        }
    }
}

/// Inverse of `rfc3339_millis` for the strings this test makes.
fn parse_ours(s: &str) -> Option<u64> {
    let millis = s.strip_prefix("ms:")?;
    millis.parse().ok()
}

fn minter() -> KeyMinter {
    Arc::new(|claims: &KeyClaims| serde_json::to_string(claims).unwrap())
}

struct World {
    registry: Registry,
    storage: Storage,
    handle: ProjectHandle,
    access: Access,
    clock: Arc<ManualClock>,
    project: String,
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(T0));
    let env = Env {
        clock: clock.clone(),
        entropy: Arc::new(OsEntropy),
    };
    let (storage, snapshot) = Storage::open(StorageConfig::default()).unwrap();
    let registry = Registry::start(storage.clone(), snapshot, env, minter())
        .await
        .unwrap();
    let (project, issued) = registry.create_project("p".into()).await.unwrap();
    let handle = registry.project(&project.id).unwrap();
    let claims: KeyClaims = serde_json::from_str(&issued.key).unwrap();
    let access = Access::new(Principal::Key(KeyRef {
        key_id: claims.kid,
        nonce: claims.n,
    }));
    World {
        registry,
        storage,
        handle,
        access,
        clock,
        project: project.id,
    }
}

impl World {
    async fn set_policy(&self, on: bool) {
        let mut ttl = BTreeMap::new();
        ttl.insert(C.to_owned(), on.then(|| "exp".to_owned()));
        self.handle
            .update(ProjectUpdate {
                ttl: Some(ttl),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    async fn restart(&self) {
        let mut restarts = self.registry.restarts();
        let before = *restarts.borrow_and_update();
        self.handle.crash();
        tokio::time::timeout(Duration::from_secs(30), restarts.wait_for(|n| *n > before))
            .await
            .expect("restarted")
            .unwrap();
    }

    /// The committed documents of the collection, after every submitted write is committed.
    async fn stored_ids(&self) -> Vec<String> {
        self.storage.flush().await.unwrap();
        let storage = self.storage.clone();
        let project = self.project.clone();
        let snap = tokio::task::spawn_blocking(move || storage.load_project(&project))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        snap.docs
            .get(C)
            .map(|docs| docs.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A TTL value: a timestamp around now (past, present or future), junk, or none.
fn exp_value(rng: &mut Rng, now: u64) -> Option<Value> {
    match rng.below(6) {
        0 => None,
        1 => Some(json!("soon")),
        2 => Some(json!(now)),
        _ => {
            let at = (now + rng.below(4000)).saturating_sub(500);
            Some(json!(rfc3339_millis(at)))
        }
    }
}

/// The model keeps `ms:<millis>` where the server holds the RFC 3339 string.
fn model_exp(v: &Option<Value>) -> Option<Value> {
    match v {
        Some(Value::String(s)) => Some(match time_of(s) {
            Some(at) => json!(format!("ms:{at}")),
            None => json!(s),
        }),
        other => other.clone(),
    }
}

fn time_of(s: &str) -> Option<u64> {
    // Our own format: YYYY-MM-DDTHH:MM:SS.mmmZ, produced by rfc3339_millis; find it by search
    // over the range the test uses (the clock never leaves [T0 - 1 s, T0 + 10 h]).
    if s.len() != 24 || !s.ends_with('Z') {
        return None;
    }
    let lo = T0 - 10_000;
    // Seconds and millis within the same hour as T0's range: compare formatted strings.
    let (mut a, mut b) = (lo, T0 + 40 * 3_600_000);
    while a < b {
        let mid = a + (b - a) / 2;
        if rfc3339_millis(mid).as_str() < s {
            a = mid + 1;
        } else {
            b = mid;
        }
    }
    (rfc3339_millis(a) == s).then_some(a)
}

async fn run(seed: u64, steps: usize) {
    let w = world().await;
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut model = Model::default();
    w.set_policy(true).await;
    model.policy = true;
    for step in 0..steps {
        let now = w.clock.now_millis_for_test();
        let ctx = format!("seed {seed} step {step}");
        let id = format!("d{}", rng.below(IDS));
        match rng.below(100) {
            0..=29 => {
                let exp = exp_value(&mut rng, now);
                let mut body = Map::new();
                body.insert("v".into(), json!(rng.below(10)));
                if let Some(e) = &exp {
                    body.insert("exp".into(), e.clone());
                }
                w.handle
                    .write(
                        w.access.clone(),
                        C.into(),
                        WriteOp::Replace {
                            id: id.clone(),
                            body: body.clone(),
                        },
                    )
                    .await
                    .unwrap();
                model.sweep(now);
                let mut m = body;
                if let Some(e) = model_exp(&exp) {
                    m.insert("exp".into(), e);
                }
                model.docs.insert(id, m);
            }
            30..=41 => {
                let exp = exp_value(&mut rng, now);
                let mut patch = Map::new();
                patch.insert("exp".into(), exp.clone().unwrap_or(Value::Null));
                let result = w
                    .handle
                    .write(
                        w.access.clone(),
                        C.into(),
                        WriteOp::Merge {
                            id: id.clone(),
                            patch,
                        },
                    )
                    .await;
                model.sweep(now);
                match model.docs.get_mut(&id) {
                    Some(doc) => {
                        result.unwrap_or_else(|e| panic!("{ctx}: merge {id}: {e}"));
                        match model_exp(&exp) {
                            Some(e) => doc.insert("exp".into(), e),
                            None => doc.remove("exp"),
                        };
                    }
                    None => assert_eq!(result.unwrap_err().code, ErrorCode::NotFound, "{ctx}"),
                }
            }
            42..=49 => {
                let result = w
                    .handle
                    .write(
                        w.access.clone(),
                        C.into(),
                        WriteOp::Delete { id: id.clone() },
                    )
                    .await;
                model.sweep(now);
                match model.docs.remove(&id) {
                    Some(_) => {
                        result.unwrap_or_else(|e| panic!("{ctx}: delete {id}: {e}"));
                    }
                    None => assert_eq!(result.unwrap_err().code, ErrorCode::NotFound, "{ctx}"),
                }
            }
            50..=74 => w.clock.advance(rng.below(1500)),
            75..=77 => {
                let on = !model.policy;
                w.set_policy(on).await;
                model.sweep(now);
                model.policy = on;
            }
            78..=80 => {
                w.restart().await;
            }
            _ => {}
        }
        // Every read agrees with the model at this instant.
        let now = w.clock.now_millis_for_test();
        model.sweep(now);
        let want: Vec<String> = model.docs.keys().cloned().collect();
        for i in 0..IDS {
            let id = format!("d{i}");
            let got = w.handle.get(w.access.clone(), C.into(), id.clone()).await;
            assert_eq!(got.is_ok(), model.docs.contains_key(&id), "{ctx}: get {id}");
        }
        let query = Query::parse(&json!({"limit": 1000})).unwrap();
        let page = w
            .handle
            .query(w.access.clone(), C.into(), query)
            .await
            .unwrap();
        let got: Vec<String> = page
            .docs
            .iter()
            .map(|b| {
                serde_json::from_slice::<Value>(b).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(got, want, "{ctx}: query");
        let agg = Aggregation::parse(&json!({"aggregates": {"n": {"count": {}}}})).unwrap();
        let counted = w
            .handle
            .aggregate(w.access.clone(), C.into(), agg)
            .await
            .unwrap();
        assert_eq!(counted["n"], json!(want.len()), "{ctx}: aggregate");
        let listed = w.handle.collections(w.access.clone()).await.unwrap();
        let listed = listed.iter().find(|c| c.name == C).map_or(0, |c| c.count);
        assert_eq!(listed, want.len(), "{ctx}: listing");
        // And storage holds exactly that: expired documents are deleted, not only hidden.
        assert_eq!(w.stored_ids().await, want, "{ctx}: storage");
    }
    w.registry.stop();
}

trait Now {
    fn now_millis_for_test(&self) -> u64;
}

impl Now for ManualClock {
    fn now_millis_for_test(&self) -> u64 {
        use mammoth_actors::env::Clock;
        self.now_millis()
    }
}

#[tokio::test]
async fn ttl_matches_a_reference_model() {
    for seed in 1..=6 {
        run(seed, 250).await;
    }
}

/// More documents due at once than one sweep step removes: the gets that run between the steps
/// never see one the sweep has not reached yet, and the sweep still finishes with no other
/// message (the timer re-arms itself while documents are due).
#[tokio::test]
async fn gets_between_sweep_steps_never_see_a_due_document() {
    let w = world().await;
    w.set_policy(true).await;
    const N: usize = 3_000;
    for i in 0..N {
        let body = json!({"exp": rfc3339_millis(T0 + 1000)});
        w.handle
            .write(
                w.access.clone(),
                C.into(),
                WriteOp::Replace {
                    id: format!("d{i:05}"),
                    body: body.as_object().unwrap().clone(),
                },
            )
            .await
            .unwrap();
    }
    w.handle
        .write(
            w.access.clone(),
            C.into(),
            WriteOp::Replace {
                id: "live".into(),
                body: Map::new(),
            },
        )
        .await
        .unwrap();
    w.clock.advance(1000);
    // The sweep goes in id order: ask for the last ones first.
    for i in (0..N).rev().step_by(7) {
        let got = w
            .handle
            .get(w.access.clone(), C.into(), format!("d{i:05}"))
            .await;
        assert_eq!(got.unwrap_err().code, ErrorCode::NotFound, "d{i:05}");
    }
    assert!(
        w.handle
            .get(w.access.clone(), C.into(), "live".into())
            .await
            .is_ok()
    );
    // No other message: the timer's steps delete every one on disk.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if w.stored_ids().await == ["live"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "swept within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    w.registry.stop();
}

/// With no message at all (no request, no stream), the actor's timer deletes a due document on
/// disk within a second of the (manual) clock passing its time.
#[tokio::test]
async fn the_timer_deletes_durably_with_no_traffic() {
    let w = world().await;
    w.set_policy(true).await;
    let body = json!({"exp": rfc3339_millis(T0 + 1000)});
    w.handle
        .write(
            w.access.clone(),
            C.into(),
            WriteOp::Replace {
                id: "a".into(),
                body: body.as_object().unwrap().clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(w.stored_ids().await, ["a"]);
    w.clock.advance(1000);
    let started = std::time::Instant::now();
    while !w.stored_ids().await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "deleted within a second (3 s allowed on a loaded machine)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.registry.stop();
}
