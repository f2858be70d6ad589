//! Building a collection's indexes from many documents at once (start-up), instead of one
//! insert at a time (issue 20).
//!
//! 1. Parse and flatten in parallel: the documents are cut into one chunk per core; each
//!    thread parses its documents and computes their `(path, value key)` pairs with a path
//!    table of its own.
//! 2. Merge: the chunks' path tables are interned into the collection's, and each document's
//!    key list is re-numbered when its chunk numbered the paths differently.
//! 3. Sort: per path, the `(key, document)` pairs, stably by key, so that within a value the
//!    documents stay in id order (the input's); paths are shared out between the threads.
//! 4. Build every `BTreeMap` (and every posting set) from sorted input, which Rust bulk-loads
//!    into full nodes: less memory than the half-full nodes of one-by-one inserts, and no
//!    descent per entry.
//!
//! The result is exactly what inserting the documents one by one gives (the module's test
//! compares both, and `Collection::check_consistency` holds).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{DocId, DocKeys, FieldIndex, Indexes, PathId, Posting, doc_pairs};
use crate::value::ValueKey;

/// One entry to index: a value key and the ordinal of the document holding it.
type Pair<'a> = (&'a [u8], u32);

/// Below this many documents one thread does it all.
const PARALLEL_FROM: usize = 4096;

/// One chunk's phase-1 output: its own path table and its documents' key lists numbered by it.
struct Parsed {
    paths: Vec<Box<str>>,
    keys: Vec<DocKeys>,
}

fn parse_chunk(docs: &[(DocId, Bytes)]) -> Result<Parsed, (usize, serde_json::Error)> {
    let mut table: HashMap<Box<str>, PathId> = HashMap::new();
    let mut paths: Vec<Box<str>> = Vec::new();
    let mut keys = Vec::with_capacity(docs.len());
    for (i, (_, bytes)) in docs.iter().enumerate() {
        let doc: Map<String, Value> = serde_json::from_slice(bytes).map_err(|e| (i, e))?;
        let pairs = doc_pairs(&doc, &mut |path| {
            if let Some(&pid) = table.get(path) {
                return pid;
            }
            let pid = paths.len() as PathId;
            paths.push(path.into());
            table.insert(path.into(), pid);
            pid
        });
        keys.push(DocKeys::build(&pairs));
    }
    Ok(Parsed { paths, keys })
}

/// How many threads to use for `n` items.
fn threads(n: usize) -> usize {
    if n < PARALLEL_FROM {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |p| p.get().min(8))
}

/// Parses `docs` (ascending, distinct ids) and builds their indexes; returns the indexes and
/// each document's key list, in the input's order. A document that is not a JSON object is
/// reported by its position.
pub(crate) fn build_all(
    docs: &[(DocId, Bytes)],
) -> Result<(Indexes, Vec<DocKeys>), (usize, serde_json::Error)> {
    debug_assert!(docs.windows(2).all(|w| w[0].0 < w[1].0), "ids ascending");
    let workers = threads(docs.len());
    let chunk = docs.len().div_ceil(workers).max(1);
    let parsed: Vec<Result<Parsed, (usize, serde_json::Error)>> = if workers == 1 {
        vec![parse_chunk(docs)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = docs
                .chunks(chunk)
                .map(|part| s.spawn(move || parse_chunk(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };

    // Merge the path tables; re-number the key lists of chunks that numbered paths otherwise.
    let mut ix = Indexes::default();
    let mut all_keys: Vec<DocKeys> = Vec::with_capacity(docs.len());
    for (c, part) in parsed.into_iter().enumerate() {
        let part = part.map_err(|(i, e)| (c * chunk + i, e))?;
        let remap: Vec<PathId> = part.paths.iter().map(|p| ix.intern(p)).collect();
        if remap.iter().enumerate().all(|(i, &p)| i as PathId == p) {
            all_keys.extend(part.keys);
            continue;
        }
        for keys in part.keys {
            let mut pairs: Vec<(PathId, &[u8])> = keys
                .iter()
                .map(|(pid, key)| (remap[pid as usize], key))
                .collect();
            pairs.sort_unstable();
            all_keys.push(DocKeys::build(&pairs));
        }
    }

    // Per path, every (key, document position), in document (so id) order: one flat
    // allocation cut into one slice per path (counting sort by path). Being one block, it goes
    // back to the system when freed instead of leaving holes among the indexes just built.
    let mut counts = vec![0usize; ix.fields.len()];
    for keys in &all_keys {
        for (pid, _) in keys.iter() {
            counts[pid as usize] += 1;
        }
    }
    let mut starts: Vec<usize> = counts
        .iter()
        .scan(0, |at, &n| {
            let start = *at;
            *at += n;
            Some(start)
        })
        .collect();
    let total: usize = counts.iter().sum();
    let mut flat: Vec<Pair<'_>> = vec![(&[][..], 0); total];
    for (d, keys) in all_keys.iter().enumerate() {
        for (pid, key) in keys.iter() {
            let at = &mut starts[pid as usize];
            flat[*at] = (key, d as u32);
            *at += 1;
        }
    }
    // Each worker takes whole paths, largest first, and sorts their slices in place.
    let mut queue: Vec<(usize, &mut [Pair<'_>])> = Vec::with_capacity(counts.len());
    let mut rest = flat.as_mut_slice();
    for (p, &n) in counts.iter().enumerate() {
        let (head, tail) = rest.split_at_mut(n);
        queue.push((p, head));
        rest = tail;
    }
    queue.sort_by_key(|(_, pairs)| pairs.len());
    let queue = std::sync::Mutex::new(queue);
    let built: Vec<(usize, BTreeMap<ValueKey, Posting>)> = {
        let work = || {
            let mut out = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some((p, pairs)) = next else {
                    return out;
                };
                out.push((p, build_field(pairs)));
            }
        };
        let workers = threads(all_keys.len());
        if workers == 1 {
            work()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        }
    };
    drop(flat);
    for (p, entries) in built {
        if let Some(Some(field)) = ix.fields.get_mut(p) {
            field.docs = counts[p];
            field.entries = entries;
        }
    }
    // A path no document kept (impossible: every interned path came from a document) would
    // leave an empty index; drop it to keep `FieldIndex::docs > 0`.
    for p in 0..ix.fields.len() {
        if ix.fields[p]
            .as_ref()
            .is_some_and(|f: &FieldIndex| f.docs == 0)
        {
            let path = ix.fields[p].take().map(|f| f.path).unwrap_or_default();
            ix.ids.remove(&path);
            ix.free.push(p as PathId);
        }
    }
    Ok((ix, all_keys))
}

/// One path's index from its `(key, document position)` pairs in document order. A
/// document's position is its ordinal, so within one value the ordinals ascend with the ids.
fn build_field(pairs: &mut [Pair<'_>]) -> BTreeMap<ValueKey, Posting> {
    // Positions are distinct: sorting by (key, position) in place equals a stable sort by key.
    pairs.sort_unstable();
    let mut ords: Vec<u32> = Vec::new();
    let mut rest = &*pairs;
    // Sorted and distinct keys: `BTreeMap` bulk-loads full nodes.
    std::iter::from_fn(|| {
        let key = rest.first()?.0;
        let n = rest.partition_point(|&(k, _)| k == key);
        ords.clear();
        ords.extend(rest[..n].iter().map(|&(_, d)| d));
        rest = &rest[n..];
        Some((
            ValueKey::from_raw(key.to_vec()),
            Posting::from_sorted(&ords),
        ))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample(n: usize) -> Vec<(DocId, Bytes)> {
        (0..n)
            .map(|i| {
                let doc = match i % 5 {
                    0 => json!({"id": format!("d{i:06}"), "s": "x", "n": i % 7,
                        "a": {"c": "L", "z": i % 3}, "t": ["a", "b", i % 4]}),
                    1 => json!({"id": format!("d{i:06}"), "t": [], "q": {"deep": {"er": i}}}),
                    2 => json!({"id": format!("d{i:06}"), "s": i, "n": null, "weird.key": 1}),
                    3 => json!({"id": format!("d{i:06}"), "n": "7", "t": [[1], {"k": 1}]}),
                    _ => json!({"id": format!("d{i:06}"), "only_here": i}),
                };
                (
                    DocId::from(format!("d{i:06}")),
                    Bytes::from(serde_json::to_vec(&doc).unwrap()),
                )
            })
            .collect()
    }

    /// Each path's entries as (path, key, ids), to compare two index sets numbered apart.
    fn dump(ix: &Indexes, ids: &[DocId]) -> Vec<(String, Vec<u8>, Vec<String>)> {
        let mut out = Vec::new();
        for (_, f) in ix.iter() {
            for (k, p) in &f.entries {
                let ids = p
                    .iter_after(None, ids)
                    .map(|o| ids[o as usize].to_string())
                    .collect();
                out.push((f.path.to_string(), k.as_bytes().to_vec(), ids));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn bulk_equals_one_by_one() {
        for n in [0, 1, 7, PARALLEL_FROM + 333] {
            let docs = sample(n);
            let (bulk, keys) = build_all(&docs).unwrap();
            let ids: Vec<DocId> = docs.iter().map(|(id, _)| id.clone()).collect();
            let mut one = Indexes::default();
            let mut one_keys = Vec::new();
            // One by one in a scrambled order, with ordinals that do not follow the ids.
            let mut order: Vec<usize> = (0..docs.len()).collect();
            order.sort_by_key(|&d| (d * 7919) % (docs.len().max(1) * 2 + 1));
            // Ordinal `o` is the `o`-th inserted document.
            let scrambled: Vec<DocId> = order.iter().map(|&d| ids[d].clone()).collect();
            let mut by_pos = vec![DocKeys::default(); docs.len()];
            for (o, &d) in order.iter().enumerate() {
                let map: Map<String, Value> = serde_json::from_slice(&docs[d].1).unwrap();
                by_pos[d] = one.add_doc(o as u32, &map, scrambled.as_slice());
            }
            one_keys.extend(by_pos);
            assert_eq!(dump(&bulk, &ids), dump(&one, &scrambled), "{n} documents");
            for (d, (k, o)) in keys.iter().zip(&one_keys).enumerate() {
                let named = |ix: &Indexes, k: &DocKeys| {
                    let mut v: Vec<_> = k
                        .iter()
                        .map(|(p, key)| (ix.field(p).unwrap().path.to_string(), key.to_vec()))
                        .collect();
                    v.sort();
                    v
                };
                assert_eq!(named(&bulk, k), named(&one, o), "document {d}");
            }
            for (_, f) in bulk.iter() {
                let sum: usize = f.entries.values().map(Posting::len).sum();
                assert_eq!(sum, f.docs, "{}", f.path);
            }
        }
    }

    #[test]
    fn a_corrupt_document_is_named_by_position() {
        let mut docs = sample(PARALLEL_FROM + 10);
        let last = docs.len() - 3;
        docs[last].1 = Bytes::from_static(b"[1]");
        assert_eq!(build_all(&docs).unwrap_err().0, last);
    }
}
