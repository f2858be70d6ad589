//! Query engine benchmark: 100,000 documents of ~250 bytes, the contract's example query through
//! the indexes and as a plain full scan, paging, insert throughput and memory per document.
//!
//! Run with `cargo bench -p mammoth-actors --bench query`. A plain `main` timed with `Instant`
//! (no criterion) keeps the build cheap; medians and p99s come from a few thousand runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mammoth_actors::collection::{Collection, StoredDoc};
use mammoth_actors::query::{Filter, Query};
use serde_json::{Map, Value, json};

const DOCS: usize = 100_000;

/// splitmix64: deterministic data without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn word(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| ALPHABET[self.below(62) as usize] as char)
            .collect()
    }
}

fn document(rng: &mut Rng, i: usize) -> (String, Map<String, Value>) {
    const STATUS: [&str; 4] = ["active", "active", "inactive", "pending"];
    const TAGS: [&str; 6] = ["red", "green", "blue", "new", "vip", "beta"];
    // Time-ordered ids, as the server generates them: a millisecond timestamp and randomness.
    let id = format!("{:010x}{}", 0x18f_0000_0000u64 + i as u64, rng.word(10));
    let ts = format!(
        "2026-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1000)
    );
    let tags: Vec<&str> = (0..rng.below(4))
        .map(|_| TAGS[rng.below(6) as usize])
        .collect();
    let len = 6 + rng.below(8) as usize;
    let doc = json!({
        "id": id,
        "created_at": ts,
        "updated_at": ts,
        "name": rng.word(len),
        "status": STATUS[rng.below(4) as usize],
        "age": rng.below(90),
        "score": rng.below(1_000_000) as f64 / 1000.0,
        "address": {"city": format!("city{}", rng.below(300)), "zip": format!("{:05}", rng.below(100_000))},
        "tags": tags,
    });
    match doc {
        Value::Object(mut m) => {
            // An optional field, on 30% of the documents.
            if rng.below(10) < 3 {
                m.insert("nickname".into(), json!(rng.word(6)));
            }
            (id, m)
        }
        _ => unreachable!(),
    }
}

/// Resident set size in bytes, from /proc/self/statm (0 where unavailable).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<usize>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<58} median {:>9.2?}  p99 {:>9.2?}  ({} runs)",
        at(0.5),
        at(0.99),
        samples.len()
    );
    let key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect::<String>()
        .split('_')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    println!(
        "bench: {key}.median = {:.2} us",
        at(0.5).as_secs_f64() * 1e6
    );
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .collect()
}

fn main() {
    let mut rng = Rng(42);
    let before = rss();
    let mut coll = Collection::new();
    let mut json_bytes = 0usize;
    let mut insert_time = Duration::ZERO;
    for i in 0..DOCS {
        let (id, doc) = document(&mut rng, i);
        let t = Instant::now();
        let stored = StoredDoc::new(doc);
        json_bytes += stored.bytes().len();
        coll.insert(id, stored);
        insert_time += t.elapsed();
    }
    let after = rss();
    let per_doc = (after - before) as f64 / DOCS as f64;
    let avg_json = json_bytes as f64 / DOCS as f64;
    println!("documents: {DOCS}, average JSON size {avg_json:.0} bytes");
    println!(
        "insert (encode + index): {:.0} docs/s ({:.2} µs/doc)",
        DOCS as f64 / insert_time.as_secs_f64(),
        insert_time.as_secs_f64() * 1e6 / DOCS as f64
    );
    println!(
        "memory: RSS +{:.1} MiB = {per_doc:.0} bytes/doc incl. every index = {:.2}x the JSON size",
        (after - before) as f64 / (1 << 20) as f64,
        per_doc / avg_json
    );
    println!("bench: memory_per_document = {per_doc:.0} bytes");
    println!("bench: memory_vs_json = {:.2} x", per_doc / avg_json);
    println!(
        "        (element bytes counted by Collection::approx_bytes: {:.0}/doc)",
        coll.approx_bytes() as f64 / DOCS as f64
    );

    let body = json!({
        "filter": {"status": "active", "age": {"$gte": 21}},
        "sort": [{"field": "age", "order": "desc"}],
        "limit": 20
    });
    let query = Query::parse(&body).unwrap();
    stats(
        "Query::parse (in the HTTP handler)",
        time(20_000, || Query::parse(&body).unwrap()),
    );
    stats(
        "example query via Collection::query (indexes)",
        time(5_000, || coll.query(&query, None).unwrap()),
    );
    let scope = Filter::parse(&json!({"address.city": "city7"})).unwrap();
    stats(
        "example query with a scope {address.city: city7}",
        time(2_000, || coll.query(&query, Some(&scope)).unwrap()),
    );

    // Paging through the example query.
    let mut page = coll.query(&query, None).unwrap();
    let mut samples = Vec::new();
    let mut pages = 1;
    let mut deep_cursor = None;
    while let Some(cursor) = page.next_cursor.clone() {
        if pages == 250 {
            deep_cursor = Some(cursor.clone());
        }
        let mut b = body.clone();
        b["cursor"] = json!(cursor);
        let q = Query::parse(&b).unwrap();
        let t = Instant::now();
        page = coll.query(&q, None).unwrap();
        samples.push(t.elapsed());
        pages += 1;
        if pages == 500 {
            break;
        }
    }
    stats(
        &format!("next page by cursor, walking {pages} pages of 20 (cold)"),
        samples,
    );
    let mut b = body.clone();
    b["cursor"] = json!(deep_cursor.unwrap());
    let q = Query::parse(&b).unwrap();
    stats(
        "page 251 by cursor, repeated (warm)",
        time(5_000, || coll.query(&q, None).unwrap()),
    );
    let mut b = body.clone();
    b["start_after"] = json!(coll.query(&query, None).unwrap().next_start_after.unwrap());
    let q = Query::parse(&b).unwrap();
    stats(
        "next page by start_after",
        time(5_000, || coll.query(&q, None).unwrap()),
    );

    // Other shapes.
    let shapes = [
        (
            "equality only, id order",
            json!({"filter": {"address.city": "city42"}}),
        ),
        (
            "no filter, sort created_at desc",
            json!({"sort": [{"field": "created_at", "order": "desc"}]}),
        ),
        (
            "prefix on name, sort by score",
            json!({"filter": {"name": {"$prefix": "ab"}}, "sort": [{"field": "score"}]}),
        ),
        (
            "range on score, sort by name (walks name)",
            json!({"filter": {"score": {"$gt": 500.0}}, "sort": [{"field": "name"}]}),
        ),
        (
            "$in on status + tags equality, limit 100",
            json!({"filter": {"status": {"$in": ["pending", "inactive"]}, "tags": ["vip"]}, "limit": 100}),
        ),
        (
            "selective range, unrelated sort",
            json!({"filter": {"score": {"$gte": 999.9}}, "sort": [{"field": "name"}]}),
        ),
        (
            "sort desc on a field 30% of documents have",
            json!({"sort": [{"field": "nickname", "order": "desc"}]}),
        ),
        (
            "sort asc on that field",
            json!({"sort": [{"field": "nickname"}]}),
        ),
        (
            "unselective $ne, sort asc on that field",
            json!({"filter": {"status": {"$ne": "x"}}, "sort": [{"field": "nickname"}]}),
        ),
        (
            "worst case: sort asc on that field, then age (scan)",
            json!({"sort": [{"field": "nickname"}, {"field": "age"}]}),
        ),
    ];
    for (name, body) in shapes {
        let q = Query::parse(&body).unwrap();
        let runs = if name.starts_with("worst") { 50 } else { 1_000 };
        stats(name, time(runs, || coll.query(&q, None).unwrap()));
    }

    // Issue 17: $or, $contains, aggregates (targets: 20, 10, 1 and 5 us).
    let more = [
        (
            "$or of three equalities, sort + limit 20 (<= 20 us)",
            json!({"filter": {"$or": [{"status": "pending"}, {"address.city": "city7"},
                                      {"age": 33}]},
                   "sort": [{"field": "created_at", "order": "desc"}], "limit": 20}),
        ),
        (
            "$contains on a tag, limit 20 (<= 10 us)",
            json!({"filter": {"tags": {"$contains": "vip"}}, "limit": 20}),
        ),
    ];
    for (name, body) in more {
        let Ok(q) = Query::parse(&body) else {
            println!("{name}: not supported by this build");
            continue;
        };
        stats(name, time(2_000, || coll.query(&q, None).unwrap()));
    }
    let aggs = [
        (
            "count of the whole collection (<= 1 us)",
            json!({"aggregates": {"n": {"count": {}}}}),
        ),
        (
            "count of an indexed equality (<= 5 us)",
            json!({"filter": {"status": "pending"}, "aggregates": {"n": {"count": {}}}}),
        ),
        (
            "min and max of a field, whole collection",
            json!({"aggregates": {"lo": {"min": "age"}, "hi": {"max": "age"}}}),
        ),
    ];
    for (name, body) in aggs {
        let a = mammoth_actors::query::Aggregation::parse(&body).unwrap();
        stats(name, time(20_000, || coll.aggregate(&a, None)));
    }

    // The same example query as a full scan over documents held as parsed Maps (what a
    // collection without indexes would do), for contrast.
    let maps: Vec<(String, Map<String, Value>)> = coll
        .ids()
        .map(|id| (id.to_owned(), coll.get(id).unwrap().value()))
        .collect();
    let filter = query.filter().clone();
    let scan = || {
        let mut hits: Vec<(i64, &str)> = maps
            .iter()
            .filter(|(_, d)| filter.matches(d))
            .map(|(id, d)| (-d["age"].as_i64().unwrap(), id.as_str()))
            .collect();
        hits.sort_unstable();
        hits.truncate(21);
        hits.len()
    };
    stats(
        "example query as a full scan over parsed Maps",
        time(30, scan),
    );
    let scan_bytes = || {
        let mut hits: Vec<(i64, String)> = coll
            .ids()
            .filter_map(|id| {
                let d = coll.get(id).unwrap().value();
                filter
                    .matches(&d)
                    .then(|| (-d["age"].as_i64().unwrap(), id.to_owned()))
            })
            .collect();
        hits.sort_unstable();
        hits.truncate(21);
        hits.len()
    };
    stats(
        "example query as a full scan parsing each document",
        time(10, scan_bytes),
    );
    assert_eq!(scan(), 21);

    // Replace and delete throughput on the built collection.
    let ids: Vec<String> = coll.ids().take(20_000).map(str::to_owned).collect();
    let t = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let (_, mut doc) = document(&mut rng, i);
        doc.insert("id".into(), json!(id));
        coll.insert(id.clone(), StoredDoc::new(doc));
    }
    let replace = t.elapsed();
    let t = Instant::now();
    for id in &ids {
        coll.remove(id);
    }
    let remove = t.elapsed();
    println!(
        "replace: {:.2} µs/doc, remove: {:.2} µs/doc ({} docs)",
        replace.as_secs_f64() * 1e6 / ids.len() as f64,
        remove.as_secs_f64() * 1e6 / ids.len() as f64,
        ids.len()
    );
}
