//! Filters: `{"path": value | {"$op": arg, ...}, ...}`, parsed once into conditions whose
//! arguments are already [`ValueKey`]s, so that evaluating a condition is a byte comparison
//! against the document's key for that path (from the index's per-document key list, or computed
//! from a `Map`). The same `Op::matches` serves the index walk, the full scan and
//! [`Filter::matches`], so they cannot disagree.

use std::ops::Bound;

use serde_json::{Map, Value};

use super::{QueryError, invalid, lookup};
use crate::value::{ValueKey, class_bounds, class_of, prefix_successor, string_prefix_key};

/// Most values `$in` accepts.
pub const MAX_IN: usize = 30;
/// Most branches of an `$or` (CONTRACT section 13).
pub const MAX_OR: usize = 30;
/// Most conditions a filter holds, every `$or` branch's counted (CONTRACT section 18).
pub const MAX_CONDITIONS: usize = 64;
/// Most segments of a field path (CONTRACT section 18; documents nest at most 32 levels).
pub const MAX_PATH_SEGMENTS: usize = 32;

const OPERATORS: &str = "$eq $ne $gt $gte $lt $lte $in $prefix $contains $containsAny";

/// A parsed, validated filter (the `filter` of a query, or a scoped token's scope entry): a
/// conjunction of conditions, and of one `$or` when `any` is not empty.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub(crate) conds: Vec<Cond>,
    /// The branches of `$or` (1-30, none holding an `$or`): at least one must match. Empty when
    /// the filter has no `$or`.
    pub(crate) any: Vec<Filter>,
}

/// One condition: the value at `path` must exist and satisfy `op`.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub(crate) path: Box<str>,
    pub(crate) op: Op,
}

/// A condition on one value key. Every variant fails on a missing field.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Deep equality.
    Eq(ValueKey),
    /// Present and not deep-equal.
    Ne(ValueKey),
    /// Deep-equal to one of these; sorted and deduplicated.
    In(Vec<ValueKey>),
    /// `$gt $gte $lt $lte`: within these bounds, which never leave the argument's type class.
    Range {
        lower: Bound<ValueKey>,
        upper: Bound<ValueKey>,
    },
    /// A string starting with a prefix: the key starts with `prefix`; every such key is below
    /// `end`.
    Prefix {
        prefix: ValueKey,
        end: Option<ValueKey>,
    },
    /// `$contains` / `$containsAny`: an array holding an element deep-equal to one of these;
    /// sorted and deduplicated. Planned on the path's membership index
    /// ([`membership_path`]).
    Contains(Vec<ValueKey>),
}

/// The path under which the elements of the arrays at `path` are indexed: `path` and a
/// trailing `.`, which no field path can spell (segments are never empty).
pub(crate) fn membership_path(path: &str) -> String {
    format!("{path}.")
}

impl Op {
    /// Whether a document whose value at the path has key `key` (`None`: missing) satisfies it.
    pub(crate) fn matches(&self, key: Option<&[u8]>) -> bool {
        let Some(key) = key else {
            return false;
        };
        match self {
            Op::Eq(v) => key == v.as_bytes(),
            Op::Ne(v) => key != v.as_bytes(),
            Op::In(vs) => vs.binary_search_by(|v| v.as_bytes().cmp(key)).is_ok(),
            Op::Range { lower, upper } => {
                let above = match lower {
                    Bound::Included(l) => key >= l.as_bytes(),
                    Bound::Excluded(l) => key > l.as_bytes(),
                    Bound::Unbounded => true,
                };
                let below = match upper {
                    Bound::Included(u) => key <= u.as_bytes(),
                    Bound::Excluded(u) => key < u.as_bytes(),
                    Bound::Unbounded => true,
                };
                above && below
            }
            Op::Prefix { prefix, .. } => key.starts_with(prefix.as_bytes()),
            Op::Contains(vs) => crate::value::array_elements(key).is_some_and(|elems| {
                elems
                    .iter()
                    .any(|e| vs.binary_search_by(|v| v.as_bytes().cmp(e)).is_ok())
            }),
        }
    }

    /// Whether this is one of the contract's inequality operators (one field only).
    fn is_inequality(&self) -> bool {
        matches!(self, Op::Ne(_) | Op::Range { .. } | Op::Prefix { .. })
    }
}

impl Filter {
    /// Parses and validates a filter object.
    pub fn parse(value: &Value) -> Result<Filter, QueryError> {
        let filter = Filter::parse_level(value, true)?;
        let membership = |f: &Filter| {
            f.conds
                .iter()
                .filter(|c| matches!(c.op, Op::Contains(_)))
                .count()
        };
        let top = membership(&filter);
        if top + filter.any.iter().map(membership).max().unwrap_or(0) > 1 {
            return Err(invalid(
                "a query may use at most one $contains or $containsAny (counting the filter \
                 and any one $or branch together)",
            ));
        }
        let count = filter.conds.len() + filter.any.iter().map(|b| b.conds.len()).sum::<usize>();
        if count > MAX_CONDITIONS {
            return Err(invalid(format!(
                "a filter holds at most {MAX_CONDITIONS} conditions ($or branches included), \
                 found {count}"
            )));
        }
        Ok(filter)
    }

    /// One filter object; `$or` is allowed only when `top`.
    fn parse_level(value: &Value, top: bool) -> Result<Filter, QueryError> {
        let Value::Object(fields) = value else {
            return Err(invalid(
                r#"filter must be a JSON object, like {"status": "active"}"#,
            ));
        };
        let mut conds = Vec::new();
        let mut any = Vec::new();
        let mut inequality: Option<&str> = None;
        for (path, condition) in fields {
            if path == "$or" && top {
                any = parse_or(condition)?;
                continue;
            }
            if path == "$or" {
                return Err(invalid(
                    "$or cannot be nested: each $or branch is a filter without $or",
                ));
            }
            if path.starts_with('$') {
                return Err(invalid(format!(
                    "'{path}' is not a field path: a filter maps field paths to conditions, and \
                     all of them must hold; the only other key is $or"
                )));
            }
            check_path(path)?;
            let before = conds.len();
            parse_condition(path, condition, &mut conds)?;
            if conds[before..].iter().any(|c| c.op.is_inequality()) {
                if let Some(other) = inequality.filter(|o| *o != path.as_str()) {
                    return Err(invalid(format!(
                        "inequality filters ($ne $gt $gte $lt $lte $prefix) may be used on one \
                         field only, found '{other}' and '{path}'"
                    )));
                }
                inequality = Some(path);
            }
        }
        Ok(Filter { conds, any })
    }

    /// Whether a document matches.
    pub fn matches(&self, doc: &Map<String, Value>) -> bool {
        self.conds.iter().all(|c| {
            let key = lookup(doc, &c.path).map(ValueKey::of);
            c.op.matches(key.as_ref().map(ValueKey::as_bytes))
        }) && (self.any.is_empty() || self.any.iter().any(|b| b.matches(doc)))
    }

    /// Whether it has no condition (matches every document).
    pub fn is_empty(&self) -> bool {
        self.conds.is_empty() && self.any.is_empty()
    }
}

fn parse_or(value: &Value) -> Result<Vec<Filter>, QueryError> {
    match value {
        Value::Array(branches) if (1..=MAX_OR).contains(&branches.len()) => branches
            .iter()
            .map(|b| Filter::parse_level(b, false))
            .collect(),
        _ => Err(invalid(format!(
            "$or takes an array of 1 to {MAX_OR} filters, like [{{\"status\": \"a\"}}, \
             {{\"owner\": \"me\"}}]"
        ))),
    }
}

/// Checks a field path: non-empty `.`-separated segments.
pub(crate) fn check_path(path: &str) -> Result<&str, QueryError> {
    if path.is_empty() {
        return Err(invalid("a field path must not be empty"));
    }
    if path.split('.').count() > MAX_PATH_SEGMENTS {
        return Err(invalid(format!(
            "field path '{path}' has more than {MAX_PATH_SEGMENTS} segments"
        )));
    }
    if path.split('.').any(str::is_empty) {
        return Err(invalid(format!(
            "field path '{path}' has an empty segment; write nested fields as 'address.city'"
        )));
    }
    Ok(path)
}

fn parse_condition(path: &str, condition: &Value, out: &mut Vec<Cond>) -> Result<(), QueryError> {
    let cond = |op| Cond {
        path: path.into(),
        op,
    };
    let ops = match condition {
        Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => ops,
        // A plain value, including an object without `$` keys (`{}` too): equality.
        plain => {
            out.push(cond(Op::Eq(ValueKey::of(plain))));
            return Ok(());
        }
    };
    if let Some(plain) = ops.keys().find(|k| !k.starts_with('$')) {
        return Err(invalid(format!(
            "the condition on '{path}' mixes operators and the plain key '{plain}': use either \
             operators only, like {{\"$gte\": 1}}, or a plain object for equality"
        )));
    }
    for (name, arg) in ops {
        let op = match name.as_str() {
            "$eq" => Op::Eq(ValueKey::of(arg)),
            "$ne" => Op::Ne(ValueKey::of(arg)),
            "$gt" | "$gte" | "$lt" | "$lte" => range(name, ValueKey::of(arg)),
            "$in" => match arg {
                Value::Array(items) if (1..=MAX_IN).contains(&items.len()) => {
                    let mut keys: Vec<ValueKey> = items.iter().map(ValueKey::of).collect();
                    keys.sort_unstable();
                    keys.dedup();
                    Op::In(keys)
                }
                _ => {
                    return Err(invalid(format!(
                        "$in on '{path}' takes an array of 1 to {MAX_IN} values"
                    )));
                }
            },
            "$contains" => Op::Contains(vec![ValueKey::of(arg)]),
            "$containsAny" => match arg {
                Value::Array(items) if (1..=MAX_IN).contains(&items.len()) => {
                    let mut keys: Vec<ValueKey> = items.iter().map(ValueKey::of).collect();
                    keys.sort_unstable();
                    keys.dedup();
                    Op::Contains(keys)
                }
                _ => {
                    return Err(invalid(format!(
                        "$containsAny on '{path}' takes an array of 1 to {MAX_IN} values"
                    )));
                }
            },
            "$prefix" => match arg {
                Value::String(p) => {
                    let prefix = string_prefix_key(p);
                    let end = prefix_successor(&prefix).map(ValueKey::from_raw);
                    Op::Prefix {
                        prefix: ValueKey::from_raw(prefix),
                        end,
                    }
                }
                _ => return Err(invalid(format!("$prefix on '{path}' takes a string"))),
            },
            other => {
                return Err(invalid(format!(
                    "unknown operator '{other}' on '{path}'; supported operators: {OPERATORS}"
                )));
            }
        };
        out.push(cond(op));
    }
    Ok(())
}

/// The key bounds of a range operator: from the argument to the edge of its type class.
fn range(name: &str, arg: ValueKey) -> Op {
    let (start, end) = class_bounds(arg.as_bytes()[0]);
    debug_assert_eq!(class_of(start[0]), class_of(arg.as_bytes()[0]));
    let (start, end) = (ValueKey::from_raw(start), ValueKey::from_raw(end));
    let (lower, upper) = match name {
        "$gt" => (Bound::Excluded(arg), Bound::Excluded(end)),
        "$gte" => (Bound::Included(arg), Bound::Excluded(end)),
        "$lt" => (Bound::Included(start), Bound::Excluded(arg)),
        _ => (Bound::Included(start), Bound::Included(arg)),
    };
    Op::Range { lower, upper }
}
