//! Schemas of the data routes: documents, queries, aggregates, realtime, scoped tokens, batches.

use std::collections::BTreeMap;

use utoipa::ToSchema;

// ---------------------------------------------------------------------------------------------
// Documents and queries (CONTRACT sections 6, 7, 13).

/// A stored document: the body sent plus the three server-managed fields.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Document {
    /// 1-128 of `[A-Za-z0-9_.-]`.
    id: String,
    /// RFC 3339 UTC with milliseconds.
    created_at: String,
    /// RFC 3339 UTC with milliseconds.
    updated_at: String,
}

/// A document body: any JSON object, at most 1 MiB and 32 levels deep. `created_at` and
/// `updated_at` are ignored; `id` (on create) picks the id, (on replace and merge) must equal
/// the path's.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct DocumentBody {
    #[schema(nullable = false, pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    id: Option<String>,
}

/// `GET /v1/collections`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct CollectionList {
    /// Sorted by name.
    collections: Vec<CollectionInfo>,
}

/// A collection and how many documents it holds.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct CollectionInfo {
    name: String,
    #[schema(minimum = 0)]
    count: u64,
}

/// A query (CONTRACT sections 7 and 13).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct QueryRequest {
    /// Field path → a value (equality) or an operator object (`$eq $ne $gt $gte $lt $lte $in
    /// $prefix $contains $containsAny`); `"$or": [FILTER, ...]`.
    #[schema(nullable = false, value_type = Option<Object>)]
    filter: Option<()>,
    #[schema(nullable = false)]
    sort: Option<Vec<SortField>>,
    /// 1-1000; 20 when absent.
    #[schema(nullable = false, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The id of the last document of the previous page.
    #[schema(nullable = false)]
    start_after: Option<String>,
    /// A `next_cursor` of an earlier page.
    #[schema(nullable = false)]
    cursor: Option<String>,
    /// Field paths to return (with `id`, `created_at`, `updated_at`).
    #[schema(nullable = false)]
    select: Option<Vec<String>>,
}

/// One sort key.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct SortField {
    /// A field path, e.g. `address.city`.
    field: String,
    #[schema(nullable = false)]
    order: Option<SortOrder>,
}

/// `asc` (the default) or `desc`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum SortOrder {
    Asc,
    Desc,
}

/// A page of results.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct QueryPage {
    documents: Vec<Document>,
    /// `null` when this page is the last.
    next_start_after: Option<String>,
    /// `null` when this page is the last; send it back as `cursor`.
    next_cursor: Option<String>,
}

/// An aggregation request (CONTRACT section 13).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct AggregateRequest {
    #[schema(nullable = false, value_type = Option<Object>)]
    filter: Option<()>,
    /// 1-10 aliases, each `{"count": {}}`, `{"sum": PATH}`, `{"avg": PATH}`, `{"min": PATH}` or
    /// `{"max": PATH}`.
    #[schema(value_type = BTreeMap<String, Object>)]
    aggregates: (),
}

/// The aggregates' values by alias.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct AggregateResult {
    #[schema(value_type = BTreeMap<String, Value>)]
    aggregates: (),
}

// ---------------------------------------------------------------------------------------------
// Realtime (CONTRACT section 11).

/// The queries to listen to, 1-100, by name (`^[A-Za-z0-9_-]{1,64}$`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ListenRequest {
    queries: BTreeMap<String, ListenQuery>,
}

/// A query as in section 7, without paging fields.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ListenQuery {
    collection: String,
    #[schema(nullable = false, value_type = Option<Object>)]
    filter: Option<()>,
    #[schema(nullable = false)]
    sort: Option<Vec<SortField>>,
    #[schema(nullable = false, minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    #[schema(nullable = false)]
    select: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------------
// Scoped tokens (CONTRACT section 9).

/// What to mint.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct TokenRequest {
    /// Collection (or `*`) → a filter in the query syntax.
    #[schema(value_type = BTreeMap<String, Object>)]
    scope: (),
    /// Seconds, 1-86400 (3600 when absent).
    #[schema(nullable = false, minimum = 1, maximum = 86400)]
    ttl: Option<u32>,
    /// At most the key's own permission.
    #[schema(nullable = false)]
    permission: Option<TokenPermission>,
}

/// `read` or `write`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum TokenPermission {
    Read,
    Write,
}

/// A minted token.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenResponse {
    /// Send as `Authorization: Bearer <token>` with the X-API-Key.
    token: String,
    /// RFC 3339.
    expires_at: String,
    #[schema(value_type = BTreeMap<String, Object>)]
    scope: (),
    permission: TokenPermission,
}

// ---------------------------------------------------------------------------------------------
// Batches (CONTRACT section 12).

/// `POST /v1/batch`: 1-500 ops, all or nothing, one commit.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct BatchRequest {
    #[schema(min_items = 1, max_items = 500)]
    ops: Vec<BatchOp>,
}

/// One write of a batch; each follows section 6 as the single call would.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct BatchOp {
    op: BatchOpKind,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    collection: String,
    /// Required but for `create` (where the server picks one when absent).
    #[schema(nullable = false, pattern = "^[A-Za-z0-9_.-]{1,128}$")]
    id: Option<String>,
    /// The document (`create`, `replace`) or the merge patch (`merge`).
    #[schema(nullable = false, value_type = Option<Object>)]
    body: (),
    /// The ETag exactly as the header carries it, quotes included.
    #[schema(nullable = false)]
    if_match: Option<String>,
    /// `true`: the document must exist; `false`: it must not.
    #[schema(nullable = false)]
    exists: Option<bool>,
}

/// What a batch op does.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum BatchOpKind {
    Create,
    Replace,
    Merge,
    Delete,
}

/// Every op applied, in order, at one `seq`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct BatchResult {
    results: Vec<BatchOpResult>,
    seq: u64,
}

/// One op's outcome.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct BatchOpResult {
    /// 201 created, 200 replaced or merged, 204 deleted.
    status: u16,
    /// The document written (absent for deletes).
    #[schema(nullable = false)]
    document: Option<Document>,
    /// Its new ETag (absent for deletes).
    #[schema(nullable = false)]
    etag: Option<String>,
}
