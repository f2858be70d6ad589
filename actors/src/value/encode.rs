//! Encoding JSON values as order-preserving keys.

use serde_json::{Map, Number, Value};

use super::*;

/// Appends the key of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Number(n) => {
            out.push(TAG_NUMBER);
            encode_number(n, out);
        }
        Value::String(s) => {
            out.push(TAG_STRING);
            encode_str(s, out);
        }
        Value::Array(items) => {
            out.push(TAG_ARRAY);
            for item in items {
                encode_into(item, out);
            }
            out.push(END);
        }
        Value::Object(map) => {
            out.push(TAG_OBJECT);
            encode_object(map, out);
            out.push(END);
        }
    }
}

/// Appends the key of `value` as the indexes keep it ([`index_form`]): a long array or object
/// is encoded only up to [`NODE_KEY_CAP`] bytes, so indexing a deeply nested document costs time
/// and memory in proportion to its size, not to its size times its depth.
pub(crate) fn encode_index_key(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Array(_) | Value::Object(_) => {
            let limit = out.len() + NODE_KEY_CAP;
            encode_bounded(value, out, limit);
            out.truncate(limit);
        }
        leaf => encode_into(leaf, out),
    }
}

/// [`encode_into`], stopping once `out` holds `limit` bytes: the bytes before `limit` are
/// exactly those of the full key (it returns early only at or past `limit`; what it appends
/// after that is cut by the caller).
pub(super) fn encode_bounded(value: &Value, out: &mut Vec<u8>, limit: usize) {
    if out.len() >= limit {
        return;
    }
    match value {
        Value::String(s) => {
            out.push(TAG_STRING);
            encode_str_bounded(s, out, limit);
        }
        Value::Array(items) => {
            out.push(TAG_ARRAY);
            for item in items {
                if out.len() >= limit {
                    return;
                }
                encode_bounded(item, out, limit);
            }
            out.push(END);
        }
        Value::Object(map) => {
            out.push(TAG_OBJECT);
            let mut entries: Vec<_> = map.iter().collect();
            if !map.keys().is_sorted() {
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            for (k, v) in entries {
                if out.len() >= limit {
                    return;
                }
                out.push(ENTRY);
                encode_str_bounded(k, out, limit);
                encode_bounded(v, out, limit);
            }
            out.push(END);
        }
        leaf => encode_into(leaf, out),
    }
}

pub(super) fn encode_str_bounded(s: &str, out: &mut Vec<u8>, limit: usize) {
    for &b in s.as_bytes() {
        if out.len() >= limit {
            return;
        }
        out.push(b);
        if b == 0x00 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x00]);
}

pub(super) fn encode_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    let entry = |k: &str, v: &Value, out: &mut Vec<u8>| {
        out.push(ENTRY);
        encode_str(k, out);
        encode_into(v, out);
    };
    // serde_json's default Map is a BTreeMap (sorted by bytes); sort anyway should a
    // dependency ever turn on `preserve_order`.
    if map.keys().is_sorted() {
        for (k, v) in map {
            entry(k, v, out);
        }
    } else {
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, v) in entries {
            entry(k, v, out);
        }
    }
}

/// The nearest `f64` of a number and the exact integer remainder (see the module docs).
pub(super) fn number_parts(n: &Number) -> (f64, i16) {
    if let Some(u) = n.as_u64() {
        let f = u as f64;
        (f, (i128::from(u) - f as i128) as i16)
    } else if let Some(i) = n.as_i64() {
        let f = i as f64;
        (f, (i128::from(i) - f as i128) as i16)
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        // Normalise -0.0: it equals 0.
        (if f == 0.0 { 0.0 } else { f }, 0)
    }
}

pub(super) fn encode_number(n: &Number, out: &mut Vec<u8>) {
    let (f, rest) = number_parts(n);
    let bits = f.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    out.extend_from_slice(&ordered.to_be_bytes());
    out.extend_from_slice(&((rest as u16) ^ 0x8000).to_be_bytes());
}

/// A string's escaped bytes and terminator.
pub(super) fn encode_str(s: &str, out: &mut Vec<u8>) {
    encode_str_prefix(s, out);
    out.extend_from_slice(&[0x00, 0x00]);
}

/// A string's escaped bytes without the terminator: every key of a string starting with `s`
/// starts with `TAG_STRING` and these bytes.
pub(crate) fn encode_str_prefix(s: &str, out: &mut Vec<u8>) {
    for &b in s.as_bytes() {
        out.push(b);
        if b == 0x00 {
            out.push(0xFF);
        }
    }
}

/// The bytes of the key range holding every string that starts with `prefix`: a key is in it
/// iff it starts with these bytes.
pub(crate) fn string_prefix_key(prefix: &str) -> Vec<u8> {
    let mut out = vec![TAG_STRING];
    encode_str_prefix(prefix, &mut out);
    out
}

/// The smallest byte string greater than every string that starts with `bytes`, if any.
pub(crate) fn prefix_successor(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    while let Some(last) = out.pop() {
        if last != 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// The type class of a key for `$gt $gte $lt $lte`: `false` and `true` are one class.
pub(crate) fn class_of(tag: u8) -> u8 {
    if tag == TAG_TRUE { TAG_FALSE } else { tag }
}

/// The bounds `[start, end)` of the key range of the type class of `tag`: every key of that
/// class `k` has `start <= k < end`.
pub(crate) fn class_bounds(tag: u8) -> (Vec<u8>, Vec<u8>) {
    let class = class_of(tag);
    let end = match class {
        TAG_FALSE => TAG_NUMBER,
        TAG_OBJECT => TAG_END,
        other => other + 1,
    };
    (vec![class], vec![end])
}
