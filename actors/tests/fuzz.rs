//! Fuzz targets for every parser that takes input from the network (issue 13): a JSON body
//! becoming a stored, indexed document; query (filter, sort, cursor) parsing; cursor decoding;
//! JSON merge patch; scope parsing; and the order-preserving value keys (decode round trip, order
//! preserved). None may panic.
//!
//! Under `cargo test` each target runs a bounded number of random inputs (`MAMMOTH_FUZZ_ITERATIONS`,
//! default 256) so CI stays fast; `cargo bolero test -p mammoth-actors --test fuzz <target>` runs
//! one under libFuzzer for as long as wanted (docs/DESIGN.md, "Fuzzing").

use std::cmp::Ordering;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mammoth_actors::collection::{Collection, StoredDoc};
use mammoth_actors::project::merge_patch;
use mammoth_actors::query::{Filter, Query};
use mammoth_actors::scope::Scope;
use mammoth_actors::value::{self, ValueKey};
use serde_json::{Map, Number, Value, json};
use sha2::{Digest, Sha256};

fn iterations() -> usize {
    std::env::var("MAMMOTH_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// Words the generator builds keys and strings from, so inputs reach past the first check.
const WORDS: &[&str] = &[
    "filter",
    "sort",
    "limit",
    "cursor",
    "start_after",
    "select",
    "field",
    "order",
    "asc",
    "desc",
    "$and",
    "$or",
    "$not",
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$prefix",
    "a",
    "a.b",
    "b",
    "id",
    "owner",
    "tags",
    "",
    "\u{0}",
    "é",
    "a..b",
    ".",
];

/// A JSON value built deterministically from fuzz bytes (depth-bounded).
fn gen_value(input: &mut &[u8], depth: usize) -> Value {
    let Some((&op, rest)) = input.split_first() else {
        return Value::Null;
    };
    *input = rest;
    fn next(input: &mut &[u8]) -> u8 {
        let Some((&b, rest)) = input.split_first() else {
            return 0;
        };
        *input = rest;
        b
    }
    let byte = |input: &mut &[u8]| next(input);
    match op % 10 {
        0 => Value::Null,
        1 => Value::Bool(op & 0x10 != 0),
        2 => json!(i64::from(byte(input) as i8) * i64::from(byte(input))),
        3 => {
            let mut raw = [0u8; 8];
            raw.iter_mut().for_each(|b| *b = byte(input));
            match op % 3 {
                0 => json!(u64::from_le_bytes(raw)),
                1 => json!(i64::from_le_bytes(raw)),
                _ => Number::from_f64(f64::from_le_bytes(raw)).map_or(Value::Null, Value::Number),
            }
        }
        4 => Value::String(WORDS[usize::from(byte(input)) % WORDS.len()].into()),
        5 => {
            let len = usize::from(byte(input) % 8);
            let s: String = (0..len).map(|_| char::from(byte(input) % 0x80)).collect();
            Value::String(s)
        }
        6 | 7 if depth > 0 => {
            let len = usize::from(byte(input) % 5);
            Value::Array((0..len).map(|_| gen_value(input, depth - 1)).collect())
        }
        _ if depth > 0 => {
            let len = usize::from(byte(input) % 5);
            let mut map = Map::new();
            for _ in 0..len {
                let key = WORDS[usize::from(byte(input)) % WORDS.len()];
                map.insert(key.into(), gen_value(input, depth - 1));
            }
            Value::Object(map)
        }
        _ => json!(op),
    }
}

/// Values from raw fuzz bytes: as JSON text when they parse, else generated.
fn value_of(input: &[u8]) -> Value {
    if let Ok(value) = serde_json::from_slice::<Value>(input) {
        return value;
    }
    let mut rest = input;
    gen_value(&mut rest, 6)
}

fn object_of(input: &[u8]) -> Map<String, Value> {
    match value_of(input) {
        Value::Object(map) => map,
        other => Map::from_iter([("v".to_owned(), other)]),
    }
}

#[test]
fn json_body_to_document() {
    bolero::check!()
        .with_iterations(iterations())
        .for_each(|input: &[u8]| {
            let body = object_of(input);
            let mut collection = Collection::new();
            collection.insert("d1".into(), StoredDoc::new(body.clone()));
            collection.insert("d2".into(), StoredDoc::new(body.clone()));
            let stored = collection.get("d1").expect("just inserted");
            assert_eq!(stored.value(), body, "the stored document is the body");
            let reread = StoredDoc::from_bytes(stored.bytes().clone()).expect("stored bytes parse");
            assert_eq!(reread.value(), body);
            collection.remove("d2");
            collection
                .check_consistency()
                .expect("indexes agree with documents");
        });
}

#[test]
fn query_parse_and_run() {
    bolero::check!()
        .with_iterations(iterations())
        .for_each(|input: &[u8]| {
            let (docs, body) = input.split_at(input.len() / 3);
            let body = value_of(body);
            let mut collection = Collection::new();
            collection.insert("d1".into(), StoredDoc::new(object_of(docs)));
            if let Ok(query) = Query::parse(&body) {
                let _ = collection.query(&query, None);
            }
            if let Ok(filter) = Filter::parse(&body) {
                let _ = collection.query(&Query::default(), Some(&filter));
            }
        });
}

/// The sort hash of `sort`, as `query/cursor.rs` computes it, so fuzzed cursors get past it.
fn sort_hash(fields: &[(&str, bool)]) -> String {
    let mut hasher = Sha256::new();
    for (path, desc) in fields {
        hasher.update(if *desc { b"d" } else { b"a" });
        hasher.update(path.as_bytes());
        hasher.update([0]);
    }
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..6])
}

#[test]
fn cursor_decode() {
    bolero::check!()
        .with_iterations(iterations())
        .for_each(|input: &[u8]| {
            let sort = json!([{"field": "a"}, {"field": "b", "order": "desc"}]);
            let hash = sort_hash(&[("a", false), ("b", true)]);
            let mut collection = Collection::new();
            collection.insert(
                "d1".into(),
                StoredDoc::new(object_of(b"{\"a\":1,\"b\":[2]}")),
            );
            let text = String::from_utf8_lossy(input).into_owned();
            let generated = value_of(input);
            let cursors = [
                text.clone(),
                URL_SAFE_NO_PAD.encode(input),
                URL_SAFE_NO_PAD.encode(json!([1, hash, generated, text]).to_string()),
                URL_SAFE_NO_PAD.encode(json!([1, hash, [[generated], []], "d0"]).to_string()),
            ];
            for cursor in cursors {
                let body = json!({"sort": sort, "cursor": cursor, "limit": 5});
                if let Ok(query) = Query::parse(&body) {
                    collection
                        .query(&query, None)
                        .expect("a decoded cursor runs");
                }
            }
        });
}

#[test]
fn merge_patch_follows_rfc_7396() {
    bolero::check!()
        .with_iterations(iterations())
        .for_each(|input: &[u8]| {
            let (a, b) = input.split_at(input.len() / 2);
            let mut target = value_of(a);
            let patch = value_of(b);
            merge_patch(&mut target, patch.clone());
            match &patch {
                Value::Object(entries) => {
                    let result = target
                        .as_object()
                        .expect("an object patch yields an object");
                    for (key, value) in entries {
                        if value.is_null() {
                            assert!(!result.contains_key(key), "null deletes {key}");
                        } else if !value.is_object() {
                            assert_eq!(result.get(key), Some(value));
                        }
                    }
                }
                other => assert_eq!(&target, other, "a non-object patch replaces"),
            }
            // Applying the same patch again changes nothing.
            let once = target.clone();
            merge_patch(&mut target, patch);
            assert_eq!(target, once);
        });
}

#[test]
fn scope_parse() {
    bolero::check!()
        .with_iterations(iterations())
        .for_each(|input: &[u8]| {
            let scope = value_of(input);
            let _ = Scope::parse(&scope);
            let _ = Scope::parse(&json!({"filter": scope}));
            let _ = mammoth_actors::access::validate_session_scope(&scope);
        });
}

/// The contract's total order, written independently of the key encoding.
fn reference_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(false) => 1,
            Value::Bool(true) => 2,
            Value::Number(_) => 3,
            Value::String(_) => 4,
            Value::Array(_) => 5,
            Value::Object(_) => 6,
        }
    }
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (int(x), int(y)) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => {
                let (x, y) = (x.as_f64()?, y.as_f64()?);
                // Mixed int/float ties at f64 precision are the encoding's exact remainder;
                // leave those to the round trip check.
                (x != y || (x.fract() != 0.0 && y.fract() != 0.0)).then(|| x.total_cmp(&y))
            }
        },
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Array(x), Value::Array(y)) => {
            for (x, y) in x.iter().zip(y) {
                match reference_cmp(x, y)? {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut x: Vec<_> = x.iter().collect();
            let mut y: Vec<_> = y.iter().collect();
            x.sort_by(|p, q| p.0.as_bytes().cmp(q.0.as_bytes()));
            y.sort_by(|p, q| p.0.as_bytes().cmp(q.0.as_bytes()));
            for ((kx, vx), (ky, vy)) in x.iter().zip(&y) {
                match kx.as_bytes().cmp(ky.as_bytes()) {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
                match reference_cmp(vx, vy)? {
                    Ordering::Equal => {}
                    other => return Some(other),
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => Some(rank(a).cmp(&rank(b))),
    }
}

#[test]
fn value_keys_round_trip_and_keep_order() {
    bolero::check!()
        .with_iterations(iterations())
        .for_each(|input: &[u8]| {
            let (a, b) = input.split_at(input.len() / 2);
            let (a, b) = (value_of(a), value_of(b));
            let (ka, kb) = (ValueKey::of(&a), ValueKey::of(&b));
            for (value, key) in [(&a, &ka), (&b, &kb)] {
                let back = value::decode(key.as_bytes()).expect("a key decodes");
                assert_eq!(
                    ValueKey::of(&back),
                    *key,
                    "decode then encode is the same key"
                );
                assert!(value::deep_eq(value, &back));
            }
            if let Some(expected) = reference_cmp(&a, &b) {
                assert_eq!(ka.cmp(&kb), expected, "order of {a} and {b}");
            }
            assert_eq!(ka.cmp(&kb), value::total_cmp(&a, &b));
            // Arbitrary bytes either decode to a value whose key is those bytes, or to nothing.
            if let Some(value) = value::decode(input) {
                assert_eq!(ValueKey::of(&value).as_bytes(), input);
            }
        });
}
