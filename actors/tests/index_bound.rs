//! Issue 13, index amplification: a document's index memory is a small constant multiple of
//! its size whatever its shape (non-leaf paths are indexed under a capped key). Measured with
//! the collection's own accounting (element sizes, no allocator overhead), not by timing.

use mammoth_actors::collection::{Collection, StoredDoc};
use serde_json::{Map, Value, json};

/// About `bytes` of text nested `depth` objects deep: `{"k": {"k": ... {"pad": "xxx..."}}}`.
fn nested(depth: usize, bytes: usize) -> Map<String, Value> {
    let mut v = json!({"pad": "x".repeat(bytes)});
    for _ in 0..depth {
        v = json!({ "k": v });
    }
    v.as_object().unwrap().clone()
}

#[test]
fn a_deep_documents_index_memory_stays_a_small_multiple_of_its_size() {
    for depth in [0, 1, 8, 31] {
        let mut c = Collection::new();
        let mut stored = 0;
        for i in 0..4 {
            let mut doc = nested(depth, 900_000);
            doc.insert("id".into(), json!(format!("d{i}")));
            let doc = StoredDoc::new(doc);
            stored += doc.bytes().len();
            c.insert(format!("d{i}"), doc);
        }
        let held = c.approx_bytes();
        // Documents themselves, their key list (the leaf's full key) and one capped key per
        // level: about twice the documents, never `depth` times.
        assert!(
            held <= 3 * stored,
            "depth {depth}: {held} bytes held for {stored} bytes of documents"
        );
    }
}
