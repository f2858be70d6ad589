//! Memory per document of a collection on the nested ~240 B shape the external judge uses
//! (`address` object, `tags` array, server-made `id`/`created_at`/`updated_at`), and on a flat
//! shape of the same size: resident growth per document, and both as a ratio to the document's JSON (the documents'
//! own bytes included), built one insert at a time and with `Collection::from_stored` (the
//! start-up path), with the build time scaled to a million documents.
//!
//! Run with `cargo bench -p mammoth-actors --bench doc_memory` (`DOC_MEMORY_N` documents,
//! default 300 000). Each shape is measured in a fresh process.

use bytes::Bytes;
use mammoth_actors::collection::{Collection, StoredDoc};

fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn ulid(i: usize) -> String {
    mammoth_actors::ids::ulid(1_765_000_000_000 + i as u64 / 8, {
        let mut r = [0u8; 10];
        let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        r[..8].copy_from_slice(&x.to_le_bytes());
        r
    })
}

fn doc(shape: usize, i: usize) -> (String, Vec<u8>) {
    let id = ulid(i);
    let t = mammoth_actors::ids::rfc3339_millis(1_765_000_000_000 + i as u64 / 8);
    let s = match shape {
        0 => format!(
            r#"{{"id":"{id}","status":"active","age":{},"name":"user {i}","email":"u{i}@example.com","tags":["a","b"],"address":{{"city":"Lyon","zip":"69001"}},"created_at":"{t}","updated_at":"{t}"}}"#,
            i % 90
        ),
        _ => format!(
            r#"{{"id":"{id}","status":"active","age":{},"name":"user {i}","email":"u{i}@example.com","city":"Lyon","zip":"69001","kind":"member","created_at":"{t}","updated_at":"{t}"}}"#,
            i % 90
        ),
    };
    (id, s.into_bytes())
}

const SHAPES: [&str; 2] = ["nested (address, tags)", "flat"];

fn main() {
    let n: usize = std::env::var("DOC_MEMORY_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    if let Some(i) = std::env::var("DOC_MEMORY_SHAPE")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return measure(i, n);
    }
    println!("collection memory per document, {n} documents");
    let exe = std::env::current_exe().unwrap();
    for i in 0..SHAPES.len() {
        for bulk in [false, true] {
            let mut cmd = std::process::Command::new(&exe);
            cmd.env("DOC_MEMORY_SHAPE", i.to_string());
            if bulk {
                cmd.env("DOC_MEMORY_BULK", "1");
            }
            let out = cmd.output().unwrap();
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

fn measure(shape: usize, n: usize) {
    let json = doc(shape, n / 2).1.len();
    let bulk = std::env::var("DOC_MEMORY_BULK").is_ok();
    let mut docs: Vec<(String, Bytes)> = (0..n)
        .map(|i| {
            let (id, bytes) = doc(shape, i);
            (id, Bytes::from(bytes))
        })
        .collect();
    docs.sort_by(|a, b| a.0.cmp(&b.0));
    let rss0 = rss();
    // The documents' own bytes are counted as held: they move into the collection.
    let doc_live: usize = docs.iter().map(|(id, b)| id.len() + b.len()).sum();
    let t = std::time::Instant::now();
    let coll = if bulk {
        Collection::from_stored(docs).unwrap()
    } else {
        let mut coll = Collection::new();
        for (id, bytes) in docs {
            coll.insert(id, StoredDoc::from_bytes(bytes).unwrap());
        }
        coll
    };
    let secs = t.elapsed().as_secs_f64();
    let res = (rss().saturating_sub(rss0) + doc_live) / n;
    let how = if bulk { "from_stored" } else { "insert" };
    println!(
        "{:<24} {how:<11} json {json} B: resident ~{res} B/doc ({:.2}x), build {:.2} s per 1 M",
        SHAPES[shape],
        res as f64 / json as f64,
        secs * 1e6 / n as f64,
    );
    println!(
        "bench: doc_memory.{}.{how}.resident_vs_json = {:.2} x",
        if shape == 0 { "nested" } else { "flat" },
        res as f64 / json as f64
    );
    println!(
        "bench: doc_memory.{}.{how}.per_million = {:.2} s",
        if shape == 0 { "nested" } else { "flat" },
        secs * 1e6 / n as f64
    );
    drop(coll);
}
