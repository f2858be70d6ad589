//! CONTRACT section 11 as a model test over real HTTP: random writes (create, replace, merge,
//! delete; single calls and `POST /v1/batch`; failing ones too) from several clients, while
//! subscribers (API keys and a scoped token; with and without limits; nested paths) disconnect at
//! random and resume with `Last-Event-ID`. Writes are issued one at a time, so after each
//! committed write a fresh query per subscribed query records the exact answer at that `seq`.
//! Afterwards every subscriber's log is replayed: after every event its state equals the fresh
//! answer at the event's `seq`, no commit that changed its result is skipped, no `id` repeats, and
//! no event lists a query the commit did not change (so no half batch).
//!
//! Seeded: the seed is printed; `MAMMOTH_MODEL_SEED=N` replays one. Writes run for
//! `MAMMOTH_MODEL_SECS` seconds (default 20, so about 21 s in CI; longer runs find more).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::{Instance, read};

/// splitmix64: small, seeded, good enough for test choices.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// Documents by id: what a client holds for one query.
type Held = BTreeMap<String, Value>;
/// Per query name.
type Results = HashMap<String, Held>;

/// Who listens, and with what.
#[derive(Clone)]
struct Sub {
    label: &'static str,
    key: String,
    bearer: Option<String>,
    queries: Value,
}

/// One line of a subscriber's log.
#[derive(Debug)]
enum Logged {
    /// A (re)connection, with the `Last-Event-ID` it sent.
    Open(Option<u64>),
    Event {
        event: String,
        id: Option<u64>,
        data: Value,
    },
}

fn random_body(rng: &mut Rng, owners: &[String]) -> Value {
    let owner = &owners[rng.below(owners.len() as u64) as usize];
    let mut body = json!({"g": rng.below(3), "owner": owner, "sub": {"k": rng.below(4), "t": "x"}});
    if !rng.chance(5) {
        body["n"] = json!(rng.below(10));
    }
    body
}

fn random_patch(rng: &mut Rng, owners: &[String]) -> Value {
    match rng.below(6) {
        5 => json!({"owner": owners[rng.below(owners.len() as u64) as usize]}),
        0 => json!({"n": rng.below(10)}),
        1 => json!({"sub": {"k": rng.below(4)}}),
        2 => json!({"g": rng.below(3)}),
        3 => json!({"n": null}),
        _ => json!({"sub": {"k": rng.below(4)}, "g": rng.below(3)}),
    }
}

fn random_id(rng: &mut Rng) -> String {
    format!("d{:02}", rng.below(24))
}

/// A request with a key and an optional bearer; answers status and body.
async fn send(
    client: &Client,
    url: &str,
    key: &str,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client
        .request(method, format!("{url}{path}"))
        .header("X-API-Key", key);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
}

/// The fresh answer of every query of `sub`, as held sets.
async fn fresh(client: &Client, url: &str, sub: &Sub) -> Results {
    let mut out = Results::new();
    for (name, q) in sub.queries["queries"].as_object().unwrap() {
        let mut body = q.clone();
        let collection = body.as_object_mut().unwrap().remove("collection").unwrap();
        let (status, answer) = send(
            client,
            url,
            &sub.key,
            sub.bearer.as_deref(),
            Method::POST,
            &format!("/v1/collections/{}/query", collection.as_str().unwrap()),
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let held = answer["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["id"].as_str().unwrap().to_owned(), d.clone()))
            .collect();
        out.insert(name.clone(), held);
    }
    out
}

/// Parses one SSE block; `None` for comments (pings).
fn parse(block: &str) -> Option<Logged> {
    let (mut event, mut id, mut data, mut any) = ("message".to_owned(), None, Value::Null, false);
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            event = v.into();
            any = true;
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse().unwrap());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = serde_json::from_str(v).unwrap();
            any = true;
        }
    }
    any.then_some(Logged::Event { event, id, data })
}

/// Listens as `sub`, dropping the connection at random and resuming from the last id, until the
/// writer names a target `seq` and the stream has reached it. Answers the log.
async fn listen(
    url: String,
    sub: Sub,
    seed: u64,
    mut target: watch::Receiver<Option<u64>>,
) -> Vec<Logged> {
    let client = Client::new();
    let mut rng = Rng::new(seed);
    let mut log = Vec::new();
    let mut last: Option<u64> = None;
    loop {
        if let (Some(t), Some(l)) = (*target.borrow(), last)
            && l >= t
        {
            return log;
        }
        let mut req = client
            .post(format!("{url}/v1/listen"))
            .header("X-API-Key", &sub.key)
            .json(&sub.queries);
        if let Some(bearer) = &sub.bearer {
            req = req.bearer_auth(bearer);
        }
        if let Some(last) = last {
            req = req.header("Last-Event-ID", last.to_string());
        }
        log.push(Logged::Open(last));
        let mut response = req.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", sub.label);
        let mut buf = String::new();
        // Events on this connection before a random drop.
        let mut budget = 1 + rng.below(25);
        'stream: loop {
            while let Some(at) = buf.find("\n\n") {
                let block: String = buf.drain(..at + 2).collect();
                let Some(ev) = parse(&block) else { continue };
                if let Logged::Event { event, id, .. } = &ev {
                    assert_ne!(event, "error", "{}: {ev:?}", sub.label);
                    if id.is_some() {
                        last = *id;
                    }
                }
                log.push(ev);
                budget -= 1;
                if let (Some(t), Some(l)) = (*target.borrow(), last)
                    && l >= t
                {
                    return log;
                }
                if budget == 0 {
                    break 'stream; // drop the connection mid-stream, then resume
                }
            }
            tokio::select! {
                chunk = response.chunk() => match chunk.unwrap() {
                    Some(bytes) => buf.push_str(std::str::from_utf8(&bytes).unwrap()),
                    None => panic!("{}: the server closed the stream", sub.label),
                },
                _ = target.changed() => {
                    // The writer is done: check once more whether we are there.
                    if let (Some(t), Some(l)) = (*target.borrow(), last)
                        && l >= t
                    {
                        return log;
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(20)) => {
                    panic!("{}: no event within 20 s (last id {last:?})", sub.label)
                }
            }
        }
    }
}

/// The recorded answers of one subscriber, by `seq`.
struct Timeline(Vec<(u64, Results)>);

impl Timeline {
    fn at(&self, seq: u64) -> &Results {
        let i = self.0.partition_point(|(s, _)| *s <= seq);
        assert!(i > 0, "no recorded state at or before seq {seq}");
        &self.0[i - 1].1
    }
    /// The last seq at which the answer changed.
    fn last_change(&self) -> u64 {
        let mut last = self.0[0].0;
        for w in self.0.windows(2) {
            if w[0].1 != w[1].1 {
                last = w[1].0;
            }
        }
        last
    }
}

/// Replays `log` against `timeline`; panics on the first violation.
fn check(label: &str, log: &[Logged], timeline: &Timeline, every: &Timeline) -> usize {
    let mut state: Option<Results> = None;
    let mut last: Option<u64> = None;
    let mut want_snapshot = false;
    let mut events = 0;
    for entry in log {
        let (event, id, data) = match entry {
            Logged::Open(resume) => {
                assert_eq!(*resume, last, "{label}: resumed from the last id seen");
                want_snapshot = resume.is_none();
                continue;
            }
            Logged::Event { event, id, data } => (event.as_str(), *id, data),
        };
        events += 1;
        match event {
            "snapshot" => {
                let id = id.expect("a snapshot has an id");
                if let Some(last) = last {
                    assert!(id >= last, "{label}: snapshot at {id} after {last}");
                }
                let held: Results = data["queries"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, docs)| {
                        let held = docs
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| (d["id"].as_str().unwrap().to_owned(), d.clone()))
                            .collect();
                        (name.clone(), held)
                    })
                    .collect();
                assert_eq!(&held, timeline.at(id), "{label}: snapshot at seq {id}");
                state = Some(held);
                last = Some(id);
                want_snapshot = false;
            }
            "reset" => want_snapshot = true,
            "changes" => {
                assert!(!want_snapshot, "{label}: changes before the snapshot");
                let id = id.expect("a changes event has an id");
                let prev = last.expect("changes follow a snapshot or a resume point");
                assert!(
                    id > prev,
                    "{label}: id {id} after {prev}: repeated or backwards"
                );
                let state = state.as_mut().expect("a state to apply to");
                // Nothing this stream should have seen happened between prev and id.
                assert_eq!(
                    &*state,
                    timeline.at(id - 1),
                    "{label}: a commit in ({prev}, {id}) changed the result but was skipped"
                );
                let before = timeline.at(id - 1);
                for (name, list) in data["changes"].as_object().unwrap() {
                    assert_ne!(
                        before[name],
                        timeline.at(id)[name],
                        "{label}: seq {id} lists query {name} that it did not change"
                    );
                    let held = state.get_mut(name).expect("a subscribed query");
                    let mut seen = std::collections::HashSet::new();
                    for change in list.as_array().unwrap() {
                        let doc_id = change["id"].as_str().unwrap().to_owned();
                        assert!(
                            seen.insert(doc_id.clone()),
                            "{label}: {doc_id} twice in one event"
                        );
                        match change["type"].as_str().unwrap() {
                            "added" => {
                                assert!(held.insert(doc_id, change["document"].clone()).is_none())
                            }
                            "modified" => {
                                assert!(held.insert(doc_id, change["document"].clone()).is_some())
                            }
                            "removed" => {
                                assert!(change.get("document").is_none());
                                let gone = !every.at(id)["every"].contains_key(&doc_id);
                                let want = if gone { "deleted" } else { "unmatched" };
                                assert_eq!(change["reason"], want, "{label}: seq {id}: {change}");
                                assert!(held.remove(&doc_id).is_some(), "{label}: {change}")
                            }
                            other => panic!("{label}: change type {other}"),
                        }
                    }
                }
                assert_eq!(
                    &*state,
                    timeline.at(id),
                    "{label}: state after the event at seq {id}"
                );
                last = Some(id);
            }
            other => panic!("{label}: unexpected event {other}: {data}"),
        }
    }
    let last = last.expect("at least a snapshot");
    assert!(last >= timeline.last_change(), "{label}: ended early");
    assert_eq!(
        state.as_ref().unwrap(),
        timeline.at(u64::MAX),
        "{label}: final state"
    );
    events
}

#[tokio::test]
async fn every_subscriber_matches_a_fresh_query_after_every_event() {
    let seed = std::env::var("MAMMOTH_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let secs: u64 = std::env::var("MAMMOTH_MODEL_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    eprintln!("listen model: seed {seed} (MAMMOTH_MODEL_SEED={seed} replays), {secs} s of writes");
    let mut rng = Rng::new(seed);

    let s = Instance::start().await;
    let url = s.url.clone();
    let other_write = s.new_key(&s.project, "writer2", "write").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = s.new_key(&s.project, "reader", "read").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let scoped_read = mint(&s, json!({"todos": {"g": 0}}), "read").await;
    let scoped_write = mint(&s, json!({"todos": {"g": 1}}), "write").await;
    // A session confined to its own documents by the project's session scope.
    let web = s.new_key(&s.project, "web", "client").await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!("/projects/{}", s.project),
            Some(json!({"session_scope": {"todos": {"owner": "{{user.id}}"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(
        &Client::new(),
        &url,
        &web,
        None,
        Method::POST,
        "/v1/auth/signup",
        Some(json!({"email": "model@example.com", "password": "long enough pw"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let user = body["user"]["id"].as_str().unwrap().to_owned();
    let session = body["session_token"].as_str().unwrap().to_owned();
    let owners = vec![user, "someone-else".to_owned()];

    // A few documents before anyone listens.
    for _ in 0..10 {
        let id = random_id(&mut rng);
        let (status, body) = s
            .call(
                Method::PUT,
                &format!("/v1/collections/todos/documents/{id}"),
                Some(random_body(&mut rng, &owners)),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }

    let subs = vec![
        // First: every document, unscoped; it also tells a delete from an unmatch.
        Sub {
            label: "key: everything",
            key: s.key.clone(),
            bearer: None,
            queries: json!({"queries": {"every": {"collection": "todos", "limit": 1000}}}),
        },
        Sub {
            label: "session scope",
            key: web.clone(),
            bearer: Some(session.clone()),
            queries: json!({"queries": {
                "own": {"collection": "todos", "sort": [{"field": "n"}], "limit": 3},
            }}),
        },
        Sub {
            label: "key: windows and nested paths",
            key: s.key.clone(),
            bearer: None,
            queries: json!({"queries": {
                "top": {"collection": "todos", "sort": [{"field": "n", "order": "desc"}], "limit": 5},
                "k1": {"collection": "todos", "filter": {"sub.k": 1}},
                "gs": {"collection": "todos", "filter": {"g": {"$in": [0, 1]}},
                       "sort": [{"field": "sub.k"}], "limit": 3},
            }}),
        },
        Sub {
            label: "read key: inequality window",
            key: reader.clone(),
            bearer: None,
            queries: json!({"queries": {
                "low": {"collection": "todos", "filter": {"n": {"$lt": 4}},
                        "sort": [{"field": "n"}], "limit": 4},
            }}),
        },
        Sub {
            label: "scoped token g=0",
            key: s.key.clone(),
            bearer: Some(scoped_read),
            queries: json!({"queries": {
                "mine": {"collection": "todos", "sort": [{"field": "sub.k", "order": "desc"}],
                         "limit": 2},
                "odd": {"collection": "todos", "filter": {"sub.k": {"$in": [1, 3]}}},
            }}),
        },
    ];

    // The answers at the current seq, then the listeners.
    let client = Client::new();
    let (_, first) = send(
        &client,
        &url,
        &s.key,
        None,
        Method::POST,
        "/v1/batch",
        Some(
            json!({"ops": [{"op": "replace", "collection": "todos", "id": "d00",
                             "body": random_body(&mut rng, &owners)}]}),
        ),
    )
    .await;
    let mut seq = first["seq"].as_u64().expect("a batch answers its seq");
    let mut timelines = Vec::new();
    for sub in &subs {
        timelines.push(Timeline(vec![(seq, fresh(&client, &url, sub).await)]));
    }
    let mut listeners = Vec::new();
    let mut targets = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        let (tx, rx) = watch::channel(None);
        targets.push(tx);
        listeners.push(tokio::spawn(listen(
            url.clone(),
            sub.clone(),
            seed ^ (i as u64 + 1),
            rx,
        )));
    }

    // Writers: (key, bearer). Writes are sequential so each 2xx is exactly the next seq.
    let writers: Vec<(String, Option<String>)> = vec![
        (s.key.clone(), None),
        (other_write, None),
        (s.key.clone(), Some(scoped_write)),
        (web, Some(session)),
    ];
    let mut stats = (0u64, 0u64, 0u64); // commits, batches, refused
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let (key, bearer) = &writers[rng.below(writers.len() as u64) as usize];
        let bearer = bearer.as_deref();
        let committed = if rng.chance(4) {
            let mut ops = Vec::new();
            for _ in 0..1 + rng.below(5) {
                let id = random_id(&mut rng);
                let mut op = match rng.below(4) {
                    0 => json!({"op": "create", "id": id, "body": random_body(&mut rng, &owners)}),
                    1 => json!({"op": "replace", "id": id, "body": random_body(&mut rng, &owners)}),
                    2 => json!({"op": "merge", "id": id, "body": random_patch(&mut rng, &owners)}),
                    _ => json!({"op": "delete", "id": id}),
                };
                op["collection"] = json!("todos");
                if rng.chance(6) {
                    op["exists"] = json!(rng.chance(2));
                }
                ops.push(op);
            }
            let (status, answer) = send(
                &client,
                &url,
                key,
                bearer,
                Method::POST,
                "/v1/batch",
                Some(json!({"ops": ops})),
            )
            .await;
            assert!(
                status.is_success() || status.is_client_error(),
                "{status} {answer}"
            );
            if status.is_success() {
                let got = answer["seq"].as_u64().unwrap();
                assert_eq!(got, seq + 1, "one batch, one seq");
                stats.1 += 1;
            }
            status.is_success()
        } else {
            let id = random_id(&mut rng);
            let path = format!("/v1/collections/todos/documents/{id}");
            let (method, path, body) = match rng.below(4) {
                0 => {
                    let mut body = random_body(&mut rng, &owners);
                    body["id"] = json!(id);
                    (
                        Method::POST,
                        "/v1/collections/todos/documents".to_owned(),
                        Some(body),
                    )
                }
                1 => (Method::PUT, path, Some(random_body(&mut rng, &owners))),
                2 => (Method::PATCH, path, Some(random_patch(&mut rng, &owners))),
                _ => (Method::DELETE, path, None),
            };
            let (status, answer) = send(&client, &url, key, bearer, method, &path, body).await;
            assert!(
                status.is_success() || status.is_client_error(),
                "{status} {answer}"
            );
            status.is_success()
        };
        if committed {
            seq += 1;
            stats.0 += 1;
            for (sub, timeline) in subs.iter().zip(&mut timelines) {
                let now = fresh(&client, &url, sub).await;
                timeline.0.push((seq, now));
            }
        } else {
            stats.2 += 1;
        }
    }
    let every = &timelines[0];
    // Each listener stops once it has seen its last change (at once if it had none).
    let mut total = 0;
    for (((listener, tx), sub), timeline) in listeners
        .into_iter()
        .zip(targets)
        .zip(&subs)
        .zip(&timelines)
    {
        let _ = tx.send(Some(timeline.last_change()));
        let log = listener.await.unwrap();
        let opens = log.iter().filter(|l| matches!(l, Logged::Open(_))).count();
        total += check(sub.label, &log, timeline, every);
        eprintln!(
            "  {}: {} events over {opens} connections, checked",
            sub.label,
            log.len() - opens
        );
    }
    let (commits, batches, refused) = stats;
    eprintln!(
        "listen model: {commits} commits ({batches} batches), {refused} refused writes, \
         {total} events checked, seed {seed}"
    );
    assert!(commits > 20, "the writers got going");
}

/// Mints a scoped token with the bootstrap key.
async fn mint(s: &Instance, scope: Value, permission: &str) -> String {
    let (status, minted) = s
        .call(
            Method::POST,
            "/v1/tokens",
            Some(json!({"scope": scope, "permission": permission})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{minted}");
    minted["token"].as_str().unwrap().to_owned()
}
