//! Index memory per document shape (CONTRACT section 18, issue 13): the resident memory that
//! inserting one document into a collection adds (RSS delta over 8 copies, with the document
//! bytes themselves included), next to the document's encoded size. Deeply nested and large documents are the shapes that used to
//! amplify (every object-valued path indexed under its whole subtree's encoding).
//!
//! Run with `cargo bench -p mammoth-actors --bench index_memory`. Measured on the 2-core build
//! machine, RSS growth per copy / document bytes (the document's own bytes included):
//!
//! | shape                          | before the key cap | after |
//! |--------------------------------|-------------------:|------:|
//! | flat, 9000 fields (~0.9 MB)    | 1.6x               | 1.6x  |
//! | 31 levels deep (~0.9 MB)       | 18.0x              | 0.9x  |
//! | 31 levels x 30 fields (~0.9 MB)| 18.3x              | 0.6x  |
//!
//! (RSS reuses memory that parsing freed, so ratios below 1 are a floor, not the cost.)

use mammoth_actors::collection::{Collection, StoredDoc};
use serde_json::{Map, Value, json};

/// Resident set size in bytes, from /proc/self/statm (0 where unavailable).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn text(len: usize, seed: usize) -> String {
    (0..len)
        .map(|i| (b'a' + ((i * 7 + seed * 13) % 26) as u8) as char)
        .collect()
}

/// `depth` levels of objects, each holding `width` string fields of `len` bytes and the next
/// level.
fn nested(depth: usize, width: usize, len: usize) -> Value {
    let mut v = json!({});
    for level in (0..depth).rev() {
        let mut m = Map::new();
        for f in 0..width {
            m.insert(format!("f{f}"), Value::String(text(len, level * 31 + f)));
        }
        m.insert("next".into(), v);
        v = Value::Object(m);
    }
    v
}

fn shapes() -> Vec<(&'static str, Map<String, Value>)> {
    let mut out = Vec::new();
    let mut flat = Map::new();
    for f in 0..9000 {
        flat.insert(format!("field{f}"), Value::String(text(90, f)));
    }
    out.push(("flat, 9000 fields (~0.9 MB)", flat));
    let deep = nested(31, 1, 29_000);
    out.push((
        "31 levels deep (~0.9 MB)",
        deep.as_object().cloned().unwrap(),
    ));
    let deep_wide = nested(31, 30, 950);
    out.push((
        "31 levels x 30 fields (~0.9 MB)",
        deep_wide.as_object().cloned().unwrap(),
    ));
    let mut arrays = Map::new();
    for f in 0..100 {
        let items: Vec<Value> = (0..100)
            .map(|i| json!({"k": text(80, f * 100 + i)}))
            .collect();
        arrays.insert(format!("list{f}"), Value::Array(items));
    }
    out.push(("100 arrays x 100 objects (~0.9 MB)", arrays));
    let small = json!({"title": "buy milk", "done": false, "owner": "u1", "n": 3,
        "address": {"city": "Lyon", "zip": "69001"}, "tags": ["a", "b"]});
    out.push(("small (~110 B)", small.as_object().cloned().unwrap()));
    out
}

const COPIES: usize = 8;

/// Each shape is measured in a fresh process (the bench re-runs itself with the shape's
/// number), so memory freed by one shape does not hide the next one's growth.
fn main() {
    if let Some(i) = std::env::var("INDEX_MEMORY_SHAPE")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return measure(i);
    }
    println!("index memory per document (RSS growth per copy, {COPIES} copies inserted)");
    println!(
        "{:<38} {:>12} {:>14} {:>8}",
        "shape", "doc bytes", "held bytes", "ratio"
    );
    let exe = std::env::current_exe().unwrap();
    for i in 0..shapes().len() {
        let out = std::process::Command::new(&exe)
            .env("INDEX_MEMORY_SHAPE", i.to_string())
            .output()
            .unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn measure(i: usize) {
    {
        let (name, doc) = shapes().swap_remove(i);
        let doc_bytes = serde_json::to_vec(&doc).unwrap().len();
        let docs: Vec<StoredDoc> = (0..COPIES).map(|_| StoredDoc::new(doc.clone())).collect();
        let before = rss();
        let mut coll = Collection::new();
        for (i, d) in docs.into_iter().enumerate() {
            coll.insert(format!("d{i}"), d);
        }
        let held = rss().saturating_sub(before) / COPIES;
        println!(
            "{name:<38} {doc_bytes:>12} {held:>14} {:>7.1}x",
            held as f64 / doc_bytes as f64
        );
        drop(coll);
    }
}
