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

use serde_json::Value;

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

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::decode;
pub use encode::encode_into;
pub(crate) use encode::{
    class_bounds, class_of, encode_index_key, prefix_successor, string_prefix_key,
};
