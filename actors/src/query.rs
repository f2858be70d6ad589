//! Queries (CONTRACT section 7): parsing and validation, filters, planning and cursors.
//!
//! STUB: the query engine replaces this module.

use bytes::Bytes;
use serde_json::{Map, Value};

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

/// A parsed, validated filter (the `filter` of a query, or a scoped token's scope entry).
#[derive(Debug, Clone, Default)]
pub struct Filter {}

impl Filter {
    /// Parses and validates a filter object.
    pub fn parse(value: &Value) -> Result<Filter, QueryError> {
        match value {
            Value::Object(_) => Ok(Filter {}),
            _ => Err(QueryError::InvalidQuery(
                "filter must be a JSON object".into(),
            )),
        }
    }

    /// Whether a document matches.
    pub fn matches(&self, _doc: &Map<String, Value>) -> bool {
        true
    }
}

/// A parsed, validated query body.
#[derive(Debug, Clone, Default)]
pub struct Query {}

impl Query {
    /// Parses and validates the body of `POST /v1/collections/{name}/query`.
    pub fn parse(_body: &Value) -> Result<Query, QueryError> {
        Ok(Query {})
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
