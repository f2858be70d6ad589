//! `next_cursor`: a position in a sort, independent of any document still existing.
//!
//! A position is the last document's sort values plus its id; the next page starts just after
//! it in the (sort values, id) order. Encoded as base64url (no padding) of the JSON array
//! `[1, sort_hash, [[v] | [], ...], id]`: a format version, a short hash of the sort spec (a
//! cursor of another sort is refused rather than misread), one entry per sort field (`[]` when
//! the document lacked that field, which sorts first) and the id. The values are plain JSON so
//! the format is easy to debug and the key encoding can change without breaking cursors.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{QueryError, SortField};
use crate::value::{self, ValueKey};

const VERSION: u64 = 1;

/// A decoded position: the sort keys (`None`: the field was missing) and the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    /// One per sort field, in the query's sort order.
    pub(crate) values: Vec<Option<ValueKey>>,
    /// The tie breaker.
    pub(crate) id: Box<str>,
}

/// A short hash naming the sort spec (paths and orders).
fn sort_hash(sort: &[SortField]) -> String {
    let mut hasher = Sha256::new();
    for field in sort {
        hasher.update(if field.desc { b"d" } else { b"a" });
        hasher.update(field.path.as_bytes());
        hasher.update([0]);
    }
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..6])
}

/// Encodes the position of a document whose sort keys are `keys`.
pub(crate) fn encode(sort: &[SortField], keys: &[Option<&[u8]>], id: &str) -> String {
    debug_assert_eq!(sort.len(), keys.len());
    let values: Vec<Value> = keys
        .iter()
        .map(|k| match k.and_then(value::decode) {
            Some(v) => json!([v]),
            None => json!([]),
        })
        .collect();
    let body = json!([VERSION, sort_hash(sort), values, id]);
    URL_SAFE_NO_PAD.encode(body.to_string())
}

/// Decodes a cursor for a query sorted by `sort`.
pub(crate) fn decode(cursor: &str, sort: &[SortField]) -> Result<Position, QueryError> {
    let bad = |why: &str| {
        QueryError::InvalidCursor(format!(
            "cursor is not valid for this query ({why}); pass the next_cursor of the previous \
             page of a query with the same sort, or start again without a cursor"
        ))
    };
    let raw = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| bad("not base64url"))?;
    let body: Value = serde_json::from_slice(&raw).map_err(|_| bad("not a cursor"))?;
    let Some([version, hash, values, id]) = body.as_array().map(Vec::as_slice) else {
        return Err(bad("not a cursor"));
    };
    if version.as_u64() != Some(VERSION) {
        return Err(bad("unknown cursor version"));
    }
    if hash.as_str() != Some(sort_hash(sort).as_str()) {
        return Err(bad("it was made for a different sort"));
    }
    let Some(values) = values.as_array().filter(|v| v.len() == sort.len()) else {
        return Err(bad("it was made for a different sort"));
    };
    let values = values
        .iter()
        .map(|v| match v.as_array().map(Vec::as_slice) {
            Some([]) => Ok(None),
            Some([v]) => Ok(Some(ValueKey::of(v))),
            _ => Err(bad("malformed sort value")),
        })
        .collect::<Result<_, _>>()?;
    let id = match id {
        Value::String(id) if !id.is_empty() => id.as_str().into(),
        _ => return Err(bad("malformed id")),
    };
    Ok(Position { values, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sort(spec: &[(&str, bool)]) -> Vec<SortField> {
        spec.iter()
            .map(|(p, desc)| SortField {
                path: (*p).into(),
                desc: *desc,
            })
            .collect()
    }

    #[test]
    fn round_trips_and_checks_the_sort() {
        let s = sort(&[("age", true), ("name", false)]);
        let age = ValueKey::of(&json!(42));
        let c = encode(&s, &[Some(age.as_bytes()), None], "doc-1");
        let p = decode(&c, &s).unwrap();
        assert_eq!(
            p,
            Position {
                values: vec![Some(age), None],
                id: "doc-1".into()
            }
        );
        assert!(decode(&c, &sort(&[("age", false), ("name", false)])).is_err());
        assert!(decode(&c, &sort(&[("age", true)])).is_err());
        assert!(decode("!!", &s).is_err());
        assert!(decode(&c[1..], &s).is_err());
    }
}
