//! Queries (CONTRACT section 7): parsing and validation, filters, planning and cursors.
//!
//! # Layout
//!
//! * this file: the request body ([`Query::parse`]), errors and the result [`Page`];
//! * [`filter`]: field paths, operators, the one-inequality-field rule, evaluation;
//! * `plan`: choosing an index walk, running it, and the full-scan fallback;
//! * `cursor`: the opaque `next_cursor` position.
//!
//! Parsing runs in the HTTP handler, outside the project actor, so that the actor only runs
//! already validated work; every key is precomputed there too ([`crate::value::ValueKey`]).
//!
//! # Decisions where the contract leaves room
//!
//! * **Equality with an object**: a condition whose value is an object with no `$` key is an
//!   equality on that whole object (deep equality); `{}` is therefore "equals the empty
//!   object". An object with some `$` keys and some plain keys is refused.
//! * **Range operators on null, arrays and objects** (`$gt $gte $lt $lte`): they follow the
//!   same rule as every type, "same type as the argument, compared in the total order"; so
//!   `{"$gte": null}` matches exactly the `null` values, `{"$gt": null}` matches nothing, and
//!   `{"$gt": [1]}` matches arrays after `[1]` element by element (`[1, 0]`, `[2]`, but not
//!   `"x"`). `false` and `true` are one type (`{"$gt": false}` matches `true`).
//! * **Total order inside arrays and objects**: arrays compare element by element, a prefix
//!   first; objects compare entry by entry in key order (by UTF-8 bytes), key first then value,
//!   a prefix first. One function ([`crate::value::ValueKey`]) defines it for sorting, ranges,
//!   indexes and cursors.
//! * **Large integers**: numbers compare by exact value, integers beyond 2^53 included
//!   (`9007199254740993 > 9007199254740992.0`, `1 == 1.0`); see [`crate::value`].
//! * **Field paths**: non-empty segments separated by `.`; a segment never indexes into an
//!   array (`tags.0` is a missing field). Object keys that are empty or contain a `.` cannot be
//!   addressed. A filter key starting with `$` (`$or`, `$and`) is refused: all conditions are
//!   ANDed.
//! * **`null` in the body**: `"filter": null`, `"sort": null`, `"limit": null`,
//!   `"start_after": null` and `"cursor": null` mean the key is absent.
//! * **`limit`**: a JSON integer from 1 to 1000 (`20.0` is refused).
//! * **`select`**: 1-100 field paths; a selected path the document lacks is left out; `id`,
//!   `created_at` and `updated_at` are always kept. A query without `select` serves the stored
//!   bytes unchanged.
//! * **`$or`**: 1-30 branches, each a filter without `$or`; the one-inequality-field rule
//!   applies per branch. Conditions count towards the limit of 64 across the whole filter.
//! * **`start_after`**: the anchor document may no longer match the filter (it may have been
//!   changed since the previous page); its position in the sort still counts. An id that is not
//!   in the collection, or (with a token scope) whose document is outside the scope, is
//!   `invalid_cursor` with the same message, so a scope does not reveal which ids exist.
//! * **`cursor`**: base64url (no padding) of the JSON array `[1, sort_hash, values, id]`:
//!   format version, a hash of the sort fields and orders (a cursor from a differently sorted
//!   query is refused), the last document's sort values (`[]` for a missing field, `[v]` for a
//!   present one) and its id. Cursors are not secret and not signed: a forged one names some
//!   position in the sort, which reveals nothing, so it is accepted if well formed. Anything
//!   that does not decode to that shape, for this sort, is `invalid_cursor`.
//! * **Scope**: a token's scope is a [`Filter`] ANDed with the query's. The one-inequality-field
//!   rule applies to each filter on its own, not to their conjunction, which the engine answers
//!   exactly whatever its shape.

pub mod aggregate;
pub mod filter;

mod cursor;
pub(crate) mod plan;
pub mod sliced;

use bytes::Bytes;
use serde_json::{Map, Value};

pub use aggregate::Aggregation;
pub use filter::Filter;

pub(crate) use cursor::Position;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;
/// Most sort fields (CONTRACT section 18).
pub const MAX_SORT_FIELDS: usize = 16;

/// Why a query was refused; each message says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query is malformed (unknown operator, `$in` over 30, two inequality fields, bad sort
    /// or limit, ...): 400 `invalid_query`.
    #[error("{0}")]
    InvalidQuery(String),
    /// `start_after` or `cursor` does not name a position: 400 `invalid_cursor`.
    #[error("{0}")]
    InvalidCursor(String),
}

pub(crate) fn invalid(msg: impl Into<String>) -> QueryError {
    QueryError::InvalidQuery(msg.into())
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortField {
    /// The field path.
    pub path: Box<str>,
    /// `true` for `"order": "desc"`.
    pub desc: bool,
}

/// Where a page starts.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// Right after this document's position.
    After(Box<str>),
    /// Right after this decoded cursor position.
    Cursor(Position),
}

/// A parsed, validated query body.
#[derive(Debug, Clone)]
pub struct Query {
    pub(crate) filter: Filter,
    /// Sort keys in priority order; empty means `id` ascending. Ties always go to `id` ascending.
    pub(crate) sort: Vec<SortField>,
    /// 1..=1000.
    pub(crate) limit: usize,
    pub(crate) start: Option<Start>,
    /// `select`: the paths a returned document keeps (besides `id`, `created_at`,
    /// `updated_at`); `None` serves the stored bytes as they are.
    pub(crate) select: Option<Vec<Box<str>>>,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            filter: Filter::default(),
            sort: Vec::new(),
            limit: DEFAULT_LIMIT,
            start: None,
            select: None,
        }
    }
}

/// Most paths a `select` names.
pub const MAX_SELECT: usize = 100;

const BODY_KEYS: &str = "filter, sort, limit, start_after, cursor, select";

impl Query {
    /// Parses and validates the body of `POST /v1/collections/{name}/query`.
    pub fn parse(body: &Value) -> Result<Query, QueryError> {
        let Value::Object(body) = body else {
            return Err(invalid(format!(
                "the query body must be a JSON object with any of: {BODY_KEYS}"
            )));
        };
        if let Some(key) = body
            .keys()
            .find(|k| !BODY_KEYS.split(", ").any(|a| a == k.as_str()))
        {
            return Err(invalid(format!(
                "unknown query key '{key}'; allowed keys: {BODY_KEYS}"
            )));
        }
        let present = |key: &str| body.get(key).filter(|v| !v.is_null());
        let filter = match present("filter") {
            Some(f) => Filter::parse(f)?,
            None => Filter::default(),
        };
        let sort = match present("sort") {
            Some(s) => parse_sort(s)?,
            None => Vec::new(),
        };
        let limit = match present("limit") {
            Some(l) => parse_limit(l)?,
            None => DEFAULT_LIMIT,
        };
        let start = match (present("start_after"), present("cursor")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "use either start_after or cursor, not both: send the next_start_after or \
                     the next_cursor of the previous page",
                ));
            }
            (Some(Value::String(id)), None) if !id.is_empty() => {
                Some(Start::After(id.as_str().into()))
            }
            (Some(_), None) => {
                return Err(invalid(
                    "start_after must be a document id (a non-empty string): the \
                     next_start_after of the previous page",
                ));
            }
            (None, Some(Value::String(c))) => Some(Start::Cursor(cursor::decode(c, &sort)?)),
            (None, Some(_)) => {
                return Err(QueryError::InvalidCursor(
                    "cursor must be a string: the next_cursor of the previous page".into(),
                ));
            }
            (None, None) => None,
        };
        let select = match present("select") {
            Some(s) => Some(parse_select(s)?),
            None => None,
        };
        Ok(Query {
            filter,
            sort,
            limit,
            start,
            select,
        })
    }

    /// The filter.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The sort keys (empty: `id` ascending).
    pub fn sort(&self) -> &[SortField] {
        &self.sort
    }

    /// The page size.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

fn parse_sort(value: &Value) -> Result<Vec<SortField>, QueryError> {
    const SHAPE: &str = r#"sort must be an array like [{"field": "age", "order": "desc"}]"#;
    let Value::Array(items) = value else {
        return Err(invalid(SHAPE));
    };
    if items.len() > MAX_SORT_FIELDS {
        return Err(invalid(format!(
            "sort takes at most {MAX_SORT_FIELDS} fields, found {}",
            items.len()
        )));
    }
    items
        .iter()
        .map(|item| {
            let Value::Object(item) = item else {
                return Err(invalid(SHAPE));
            };
            if let Some(key) = item.keys().find(|k| *k != "field" && *k != "order") {
                return Err(invalid(format!(
                    "unknown key '{key}' in a sort entry; allowed keys: field, order"
                )));
            }
            let path = match item.get("field") {
                Some(Value::String(path)) => filter::check_path(path)?,
                _ => {
                    return Err(invalid(format!(
                        "{SHAPE}: every entry needs a \"field\" string"
                    )));
                }
            };
            let desc = match item.get("order") {
                None | Some(Value::Null) => false,
                Some(Value::String(o)) if o == "asc" => false,
                Some(Value::String(o)) if o == "desc" => true,
                Some(other) => {
                    return Err(invalid(format!(
                        "sort order must be \"asc\" or \"desc\", found {other} for '{path}'"
                    )));
                }
            };
            Ok(SortField {
                path: path.into(),
                desc,
            })
        })
        .collect()
}

fn parse_select(value: &Value) -> Result<Vec<Box<str>>, QueryError> {
    let shape = || {
        invalid(format!(
            r#"select must be an array of 1 to {MAX_SELECT} field paths, like ["title", "address.city"]"#
        ))
    };
    let Value::Array(items) = value else {
        return Err(shape());
    };
    if !(1..=MAX_SELECT).contains(&items.len()) {
        return Err(shape());
    }
    items
        .iter()
        .map(|item| match item {
            Value::String(path) => Ok(filter::check_path(path)?.into()),
            _ => Err(shape()),
        })
        .collect()
}

/// The document in `bytes` reduced to `select`'s paths plus `id`, `created_at` and
/// `updated_at` (CONTRACT section 13); nested paths keep their nesting.
pub(crate) fn project(bytes: &[u8], select: &[Box<str>]) -> Bytes {
    let doc: Map<String, Value> = serde_json::from_slice(bytes).unwrap_or_default();
    let mut out = Map::new();
    for field in ["id", "created_at", "updated_at"] {
        if let Some(v) = doc.get(field) {
            out.insert(field.into(), v.clone());
        }
    }
    for path in select {
        let Some(value) = lookup(&doc, path) else {
            continue;
        };
        let segments: Vec<&str> = path.split('.').collect();
        put_path(&mut out, &segments, value);
    }
    Bytes::from(serde_json::to_vec(&out).unwrap_or_default())
}

/// Sets `segments` in `at` to `value`, creating objects on the way. Every step of a path found
/// in the document is an object there, hence in the copy.
fn put_path(at: &mut Map<String, Value>, segments: &[&str], value: &Value) {
    match segments {
        [] => {}
        [last] => {
            at.insert((*last).to_owned(), value.clone());
        }
        [first, rest @ ..] => {
            let next = at
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(next) = next {
                put_path(next, rest, value);
            }
        }
    }
}

fn parse_limit(value: &Value) -> Result<usize, QueryError> {
    match value.as_u64() {
        Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => Ok(n as usize),
        _ => Err(invalid(format!(
            "limit must be an integer from 1 to {MAX_LIMIT}, found {value}"
        ))),
    }
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The matching documents' stored bytes, in order.
    pub docs: Vec<Bytes>,
    /// The id of the last document when more follow.
    pub next_start_after: Option<String>,
    /// An opaque position after the last document when more follow.
    pub next_cursor: Option<String>,
}

/// The value at a field path of a document (`a.b` reaches into `{"a": {"b": ..}}`), or `None`.
pub fn lookup<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut value = doc.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}
