//! Decoding keys back into JSON values.

use serde_json::{Map, Number, Value};

use super::*;

/// Decodes a whole key back to a value; `None` if the bytes are not exactly one key.
pub fn decode(bytes: &[u8]) -> Option<Value> {
    let (value, used) = decode_at(bytes, 0)?;
    (used == bytes.len()).then_some(value)
}

pub(super) fn decode_at(bytes: &[u8], pos: usize) -> Option<(Value, usize)> {
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

pub(super) fn decode_str(bytes: &[u8], mut pos: usize) -> Option<(String, usize)> {
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

pub(super) fn number_from_parts(f: f64, rest: i16) -> Option<Number> {
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
