//! The total order of JSON values (CONTRACT section 7) and the order-preserving byte keys that
//! implement it.
//!
//! Every JSON value maps to a [`ValueKey`]: a byte string whose lexicographic order *is* the
//! total order of the contract, and whose equality *is* the deep equality of `$eq`, `$ne` and
//! `$in`. The indexes store these keys, the filter evaluator compares them, the sorter orders by
//! them and the cursor round-trips them. Because there is one definition, a full scan and an index
//! walk cannot disagree about order or equality.
//!
//! # Encoding
//!
//! A key starts with a type tag in contract order (`missing` has tag `0x00` and is never
//! encoded: a missing field has no key, and `Option::None` sorts first):
//!
//! | type    | tag  | then                                                                      |
//! |---------|------|---------------------------------------------------------------------------|
//! | null    | 0x01 |                                                                           |
//! | false   | 0x02 |                                                                           |
//! | true    | 0x03 |                                                                           |
//! | number  | 0x04 | 8 bytes: the nearest `f64`, order-mapped; 2 bytes: the exact remainder    |
//! | string  | 0x05 | the UTF-8 bytes, `0x00` escaped as `0x00 0xFF`, terminated by `0x00 0x00` |
//! | array   | 0x06 | each element's key, then `0x00`                                           |
//! | object  | 0x07 | per entry in key-byte order: `0x01`, the key as a string, the value; `0x00` |
//!
//! Every key is self-delimiting (no key is a proper prefix of another), so concatenating element
//! keys compares arrays element by element, a shorter array sorting before its extensions.
//! Objects compare entry by entry in key order: first the keys (by UTF-8 bytes), then the values;
//! an object that is a prefix of another (in that entry order) sorts first.
//!
//! # Numbers
//!
//! Numbers compare by exact mathematical value, across serde_json's `u64`, `i64` and `f64`
//! representations: `1 == 1.0`, and `9007199254740993` (2^53 + 1, not representable as `f64`)
//! is greater than `9007199254740992.0`. The key stores the nearest `f64` (ties to even, the same
//! rounding `as f64` does) followed by the signed difference between the exact integer and that
//! `f64`. Rounding is monotonic, so ordering by (nearest `f64`, difference) is ordering by value.
//! The difference is at most 1024 for 64-bit integers, so it fits an `i16`. `-0.0` is `0`.
//! JSON has no NaN or infinity.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Number, Value};

/// Tag of `null`; a key's first byte is its type tag.
pub(crate) const TAG_NULL: u8 = 0x01;
const TAG_FALSE: u8 = 0x02;
const TAG_TRUE: u8 = 0x03;
/// Tag of numbers (what `sum` and `avg` read).
pub(crate) const TAG_NUMBER: u8 = 0x04;
/// Tag of strings, the only type `$prefix` matches.
pub(crate) const TAG_STRING: u8 = 0x05;
const TAG_ARRAY: u8 = 0x06;
const TAG_OBJECT: u8 = 0x07;
/// One past the last tag: the upper end of the object class.
const TAG_END: u8 = 0x08;

/// Marks "another object entry follows"; `0x00` marks the end of an array or object.
const ENTRY: u8 = 0x01;
const END: u8 = 0x00;

/// The order-preserving key of one JSON value: byte order is the contract's total order, byte
/// equality is deep equality.
///
/// Keys of up to 30 bytes (numbers, ids, timestamps, short strings) are stored inline:
/// no allocation, and comparing two of them in a B-tree node reads no other memory.
#[derive(Clone)]
pub struct ValueKey(Repr);

/// Longest key stored inline.
const INLINE: usize = 30;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl ValueKey {
    /// The key of `value`.
    pub fn of(value: &Value) -> ValueKey {
        let mut out = Vec::with_capacity(16);
        encode_into(value, &mut out);
        ValueKey::from_raw(out)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(bytes) => bytes,
        }
    }

    /// Wraps bytes that are a key, or a bound between keys (such as a bare type tag).
    pub(crate) fn from_raw(raw: Vec<u8>) -> ValueKey {
        ValueKey::from_slice(&raw).unwrap_or_else(|| ValueKey(Repr::Heap(raw.into_boxed_slice())))
    }

    /// An inline copy of `raw`, or `None` when it is too long to inline.
    fn from_slice(raw: &[u8]) -> Option<ValueKey> {
        let mut bytes = [0u8; INLINE];
        bytes.get_mut(..raw.len())?.copy_from_slice(raw);
        Some(ValueKey(Repr::Inline {
            len: raw.len() as u8,
            bytes,
        }))
    }

    /// The JSON value this key encodes (numbers come back as integers when they are integral
    /// and fit `i64`/`u64`, else as floats; both encode to this same key).
    pub fn to_value(&self) -> Option<Value> {
        decode(self.as_bytes())
    }
}

impl PartialEq for ValueKey {
    fn eq(&self, other: &ValueKey) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ValueKey {}

impl PartialOrd for ValueKey {
    fn partial_cmp(&self, other: &ValueKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ValueKey {
    fn cmp(&self, other: &ValueKey) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for ValueKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for ValueKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for ValueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match decode(self.as_bytes()) {
            Some(v) => write!(f, "ValueKey({v})"),
            None => write!(f, "ValueKey({:02x?})", self.as_bytes()),
        }
    }
}

/// Longest index key of an array or an object: longer ones are kept in the indexes and in
/// each document's key list as their first `NODE_KEY_CAP` bytes only (CONTRACT section 18:
/// without a cap, every object-valued path of a deeply nested document would be indexed under
/// its whole subtree's encoding, O(depth x size)). Leaves (strings, numbers) keep their full
/// keys: each leaf is indexed once, so they add up to the document's size.
///
/// A capped key is a prefix of the full key, so capping is monotone (`a <= b` implies
/// `cap(a) <= cap(b)`; keys are self-delimiting, so a key shorter than the cap is never a
/// prefix of another): index ranges widened to capped bounds hold every match, and two values
/// whose capped keys differ compare as their capped keys do. Only capped keys that are equal
/// are ambiguous; the query engine then re-reads the values from the documents
/// ([`is_capped`]), so answers stay exact.
pub(crate) const NODE_KEY_CAP: usize = 48;

/// Whether an index key may be a capped prefix (an array or object key of `NODE_KEY_CAP` bytes
/// or more); such a key must be re-read from the document before it is compared.
pub(crate) fn is_capped(key: &[u8]) -> bool {
    key.len() >= NODE_KEY_CAP && matches!(key[0], TAG_ARRAY | TAG_OBJECT)
}

/// The key as the indexes keep it: capped for long arrays and objects, else unchanged.
pub(crate) fn index_form(key: &[u8]) -> &[u8] {
    if is_capped(key) {
        &key[..NODE_KEY_CAP]
    } else {
        key
    }
}

/// The keys of the elements of an array's key, in order; `None` when `key` is not a whole
/// array key (a capped one included).
pub(crate) fn array_elements(key: &[u8]) -> Option<Vec<&[u8]>> {
    if key.first() != Some(&TAG_ARRAY) {
        return None;
    }
    let mut out = Vec::new();
    let mut p = 1;
    loop {
        if *key.get(p)? == END {
            return (p + 1 == key.len()).then_some(out);
        }
        let end = key_end(key, p)?;
        out.push(&key[p..end]);
        p = end;
    }
}

/// Where the key starting at `pos` ends.
fn key_end(b: &[u8], pos: usize) -> Option<usize> {
    match *b.get(pos)? {
        TAG_NULL | TAG_FALSE | TAG_TRUE => Some(pos + 1),
        TAG_NUMBER => (pos + 11 <= b.len()).then_some(pos + 11),
        TAG_STRING => str_end(b, pos + 1),
        TAG_ARRAY => {
            let mut p = pos + 1;
            loop {
                if *b.get(p)? == END {
                    return Some(p + 1);
                }
                p = key_end(b, p)?;
            }
        }
        TAG_OBJECT => {
            let mut p = pos + 1;
            loop {
                match *b.get(p)? {
                    END => return Some(p + 1),
                    ENTRY => p = key_end(b, str_end(b, p + 1)?)?,
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

/// Where an escaped, terminated string body starting at `p` ends.
fn str_end(b: &[u8], mut p: usize) -> Option<usize> {
    loop {
        if *b.get(p)? != 0 {
            p += 1;
            continue;
        }
        match *b.get(p + 1)? {
            0x00 => return Some(p + 2),
            0xFF => p += 2,
            _ => return None,
        }
    }
}

/// The contract's total order of two values (what `sort` uses).
pub fn total_cmp(a: &Value, b: &Value) -> Ordering {
    ValueKey::of(a).cmp(&ValueKey::of(b))
}

/// Deep equality as `$eq`, `$ne` and `$in` use it (`1 == 1.0`, arrays and objects element by
/// element).
pub fn deep_eq(a: &Value, b: &Value) -> bool {
    ValueKey::of(a) == ValueKey::of(b)
}

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
fn encode_bounded(value: &Value, out: &mut Vec<u8>, limit: usize) {
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

fn encode_str_bounded(s: &str, out: &mut Vec<u8>, limit: usize) {
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

fn encode_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
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
fn number_parts(n: &Number) -> (f64, i16) {
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

fn encode_number(n: &Number, out: &mut Vec<u8>) {
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
fn encode_str(s: &str, out: &mut Vec<u8>) {
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

/// Decodes a whole key back to a value; `None` if the bytes are not exactly one key.
pub fn decode(bytes: &[u8]) -> Option<Value> {
    let (value, used) = decode_at(bytes, 0)?;
    (used == bytes.len()).then_some(value)
}

fn decode_at(bytes: &[u8], pos: usize) -> Option<(Value, usize)> {
    let tag = *bytes.get(pos)?;
    let pos = pos + 1;
    match tag {
        TAG_NULL => Some((Value::Null, pos)),
        TAG_FALSE => Some((Value::Bool(false), pos)),
        TAG_TRUE => Some((Value::Bool(true), pos)),
        TAG_NUMBER => {
            let raw = bytes.get(pos..pos + 10)?;
            let ordered = u64::from_be_bytes(raw[..8].try_into().ok()?);
            let bits = if ordered >> 63 == 1 {
                ordered & !(1 << 63)
            } else {
                !ordered
            };
            let f = f64::from_bits(bits);
            let rest = (u16::from_be_bytes([raw[8], raw[9]]) ^ 0x8000) as i16;
            Some((Value::Number(number_from_parts(f, rest)?), pos + 10))
        }
        TAG_STRING => {
            let (s, pos) = decode_str(bytes, pos)?;
            Some((Value::String(s), pos))
        }
        TAG_ARRAY => {
            let mut items = Vec::new();
            let mut pos = pos;
            loop {
                if *bytes.get(pos)? == END {
                    return Some((Value::Array(items), pos + 1));
                }
                let (item, next) = decode_at(bytes, pos)?;
                items.push(item);
                pos = next;
            }
        }
        TAG_OBJECT => {
            let mut map = Map::new();
            let mut pos = pos;
            let mut last: Option<String> = None;
            loop {
                match *bytes.get(pos)? {
                    END => return Some((Value::Object(map), pos + 1)),
                    ENTRY => {
                        let (k, next) = decode_str(bytes, pos + 1)?;
                        // Entries must be strictly ascending, as the encoder writes them.
                        if last.as_ref().is_some_and(|l| l.as_bytes() >= k.as_bytes()) {
                            return None;
                        }
                        let (v, next) = decode_at(bytes, next)?;
                        last = Some(k.clone());
                        map.insert(k, v);
                        pos = next;
                    }
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

fn decode_str(bytes: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut out = Vec::new();
    loop {
        let b = *bytes.get(pos)?;
        if b == 0x00 {
            match *bytes.get(pos + 1)? {
                0x00 => return Some((String::from_utf8(out).ok()?, pos + 2)),
                0xFF => out.push(0x00),
                _ => return None,
            }
            pos += 2;
        } else {
            out.push(b);
            pos += 1;
        }
    }
}

fn number_from_parts(f: f64, rest: i16) -> Option<Number> {
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() <= 18_446_744_073_709_551_616.0 {
        let exact = f as i128 + i128::from(rest);
        if let Ok(i) = i64::try_from(exact) {
            return Some(Number::from(i));
        }
        if let Ok(u) = u64::try_from(exact) {
            return Some(Number::from(u));
        }
    }
    if rest != 0 {
        return None;
    }
    Number::from_f64(f)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn type_order_follows_the_contract() {
        let ordered = [
            json!(null),
            json!(false),
            json!(true),
            json!(-1e300),
            json!(-5),
            json!(0),
            json!(0.5),
            json!(1),
            json!(9007199254740992u64),
            json!(9007199254740993u64),
            json!(u64::MAX),
            json!(1e300),
            json!(""),
            json!("\u{0}"),
            json!("a"),
            json!("a\u{0}"),
            json!("a\u{1}"),
            json!("ab"),
            json!("é"),
            json!([]),
            json!([null]),
            json!([1]),
            json!([1, 2]),
            json!([2]),
            json!(["a"]),
            json!({}),
            json!({"a": 1}),
            json!({"a": 1, "b": 1}),
            json!({"a": 2}),
            json!({"b": 0}),
        ];
        for pair in ordered.windows(2) {
            assert_eq!(
                total_cmp(&pair[0], &pair[1]),
                Ordering::Less,
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn numbers_compare_exactly() {
        assert!(deep_eq(&json!(1), &json!(1.0)));
        assert!(deep_eq(&json!(0), &json!(-0.0)));
        assert!(deep_eq(&json!(-3), &json!(-3.0)));
        assert!(!deep_eq(
            &json!(9007199254740993u64),
            &json!(9007199254740992.0)
        ));
        assert!(deep_eq(
            &json!(9007199254740992u64),
            &json!(9007199254740992.0)
        ));
        assert_eq!(
            total_cmp(&json!(i64::MIN), &json!(i64::MIN + 1)),
            Ordering::Less
        );
        assert_eq!(
            total_cmp(&json!(u64::MAX - 1), &json!(u64::MAX)),
            Ordering::Less
        );
        assert_eq!(
            total_cmp(
                &json!(18446744073709551615u64),
                &json!(1.8446744073709552e19)
            ),
            Ordering::Less
        );
    }

    #[test]
    fn short_keys_are_inline_and_compare_like_long_ones() {
        assert_eq!(std::mem::size_of::<ValueKey>(), 32);
        let short = ValueKey::of(&json!("abc"));
        let long = ValueKey::of(&json!("abc".repeat(20)));
        assert!(matches!(short.0, Repr::Inline { .. }));
        assert!(matches!(long.0, Repr::Heap(_)));
        assert_eq!(short.cmp(&long), Ordering::Less);
        assert_eq!(long, ValueKey::from_raw(long.as_bytes().to_vec()));
    }

    #[test]
    fn index_keys_are_capped_prefixes() {
        let long = json!({"a": {"b": "x".repeat(200)}, "c": [1, 2, 3]});
        let mut deep = json!(["s", "t"]);
        for _ in 0..30 {
            deep = json!([deep]);
        }
        for v in [
            long,
            deep,
            json!({"a": 1}),
            json!("y".repeat(100)),
            json!([]),
        ] {
            let full = ValueKey::of(&v);
            let mut capped = Vec::new();
            encode_index_key(&v, &mut capped);
            assert_eq!(capped, index_form(full.as_bytes()), "{v}");
            assert!(full.as_bytes().starts_with(&capped));
            assert!(capped.len() <= NODE_KEY_CAP || matches!(v, Value::String(_)));
        }
    }

    #[test]
    fn array_elements_split_an_array_key() {
        let v = json!([1, "a\u{0}b", [2, {"x": null}], {"k": [true]}, null, 2.5]);
        let key = ValueKey::of(&v);
        let elems = array_elements(key.as_bytes()).unwrap();
        let want: Vec<ValueKey> = v.as_array().unwrap().iter().map(ValueKey::of).collect();
        assert_eq!(
            elems,
            want.iter().map(ValueKey::as_bytes).collect::<Vec<_>>()
        );
        assert!(array_elements(ValueKey::of(&json!({"a": 1})).as_bytes()).is_none());
        assert!(array_elements(&key.as_bytes()[..5]).is_none());
    }

    #[test]
    fn keys_round_trip() {
        for v in [
            json!(null),
            json!(true),
            json!(-0.25),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1e300),
            json!("a\u{0}b"),
            json!([1, [2, {"x": "y"}], {}]),
            json!({"": 1, "a": {"b": [null]}}),
        ] {
            let key = ValueKey::of(&v);
            let back = key.to_value().unwrap();
            assert_eq!(ValueKey::of(&back), key, "{v}");
        }
        assert_eq!(decode(&[0x09]), None);
        assert_eq!(decode(&[TAG_STRING, b'a', 0x00, 0x01]), None);
    }
}
