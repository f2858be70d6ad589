//! The OpenAPI 3.1 document at `GET /v1/openapi.json` (CONTRACT section 17).
//!
//! Each handler carries its own `#[utoipa::path]` (method, path, body, responses, credentials)
//! beside its code; this module lists those handlers once in [`ApiDoc`], and defines the body
//! schemas the handlers read and write as JSON. The handlers parse bodies by hand (so every
//! bad input gets the contract's own 400 message), so these types exist for the document only.
//! `tests/it/openapi.rs` fails when a route of the router is missing here, or the reverse.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{self, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use super::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/openapi.json", get(document))
}

/// The document, serialised once per process (it is derived at compile time).
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "discovery",
    operation_id = "openapi",
    security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
async fn document() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        json(),
    )
        .into_response()
}

/// Every documented route. Add a handler here when you add it to a router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mammoth",
        description = "A multi-tenant document database served over HTTP. Errors are always `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        document,
        super::documents::list_collections,
        super::documents::create,
        super::documents::read,
        super::documents::replace,
        super::documents::merge,
        super::documents::remove,
        super::documents::query,
        super::documents::aggregate,
        super::tokens::mint,
        super::listen::listen,
        super::auth::signup,
        super::auth::login,
        super::auth::logout,
        super::auth::me,
        super::auth::magic_link,
        super::auth::verify,
        super::auth::outbox,
        super::admin::create_project,
        super::admin::list_projects,
        super::admin::get_project,
        super::admin::update_project,
        super::admin::reset_project,
        super::admin::create_key,
        super::admin::list_keys,
        super::admin::regenerate_key,
        super::admin::delete_key,
        super::admin::crash_project,
        super::batch::batch,
        super::data::create_backup,
        super::data::list_backups,
        super::data::export,
        super::data::import,
        super::cluster::status,
    ),
    // The error bodies are referenced by hand-built responses, which utoipa does not follow.
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    // `Shared` also adds ETag headers, If-Match / If-None-Match parameters and 304/412 answers
    // to the single-document routes (CONTRACT section 12).
    modifiers(&Shared),
    tags(
        (name = "documents", description = "Documents and collections (CONTRACT section 6)"),
        (name = "query", description = "Queries and aggregates (CONTRACT sections 7 and 13)"),
        (name = "realtime", description = "Query subscriptions over Server-Sent Events (CONTRACT section 11)"),
        (name = "auth", description = "End-user sign-up, login, sessions, magic links (CONTRACT section 8)"),
        (name = "tokens", description = "Scoped tokens (CONTRACT section 9)"),
        (name = "admin", description = "The operators' API (CONTRACT section 5)"),
        (name = "discovery", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The credential schemes of CONTRACT section 4, and the shared error responses.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, response) in shared_error_responses() {
            components.responses.insert(name, RefOr::T(response));
        }
        // Documents hold any fields beside the declared ones: say so, so that generated client
        // types carry an index signature.
        for name in ["Document", "DocumentBody"] {
            if let Some(RefOr::T(openapi::Schema::Object(object))) =
                components.schemas.get_mut(name)
            {
                object.additional_properties = Some(Box::new(
                    openapi::schema::AdditionalProperties::FreeForm(true),
                ));
            }
        }
        preconditions(doc);
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, about: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.bearer_format = Some(format.to_owned());
            http.description = Some(about.to_owned());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "A project's API key, `mm_...` (read, write or client). Also accepted as \
                 `Authorization: Bearer mm_...` when no X-API-Key is sent.",
            ))),
        );
        components.add_security_scheme(
            "scoped_token",
            bearer(
                "JWT",
                "A scoped token minted by POST /v1/tokens, sent with an X-API-Key of the same project.",
            ),
        );
        components.add_security_scheme(
            "session",
            bearer(
                "mms_...",
                "An end user's session token from sign-up, login or verify, sent with an X-API-Key.",
            ),
        );
        components.add_security_scheme(
            "root_token",
            bearer("opaque", "The operator's root token (MAMMOTH_ROOT_TOKEN)."),
        );
        components.add_security_scheme(
            "operator_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::credentials::COOKIE_NAME,
                "A dashboard operator session; state-changing calls also need X-CSRF-Token.",
            ))),
        );
    }
}

/// CONTRACT section 12 on the single-document routes: the `ETag` of every 2xx answer with a
/// document, `If-Match` on PUT/PATCH/DELETE, `If-None-Match` on GET (→ 304) and PUT (`*`: create
/// only), and the 412 a failed precondition gives. Added here, in one place, rather than on
/// each handler's attribute.
fn preconditions(doc: &mut openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
    let string = || {
        openapi::ObjectBuilder::new()
            .schema_type(openapi::schema::Type::String)
            .build()
    };
    let etag = || {
        HeaderBuilder::new()
            .schema(Some(string()))
            .description(Some(
                "A strong ETag (`\"...\"`, quotes included) that changes on every write of this document",
            ))
            .build()
    };
    let header = |name: &str, about: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(openapi::Required::False)
            .schema(Some(string()))
            .description(Some(about))
            .build()
    };
    let if_match = || {
        header(
            "If-Match",
            "Write only if the document exists with one of these ETags (or `*`: exists at all); else 412",
        )
    };
    let e412 = || RefOr::Ref(openapi::Ref::new("#/components/responses/E412"));
    let with_etags = |op: &mut Operation| {
        for (status, response) in op.responses.responses.iter_mut() {
            if let (true, RefOr::T(response)) =
                (status.starts_with('2') && status != "204", response)
            {
                response.headers.insert("ETag".into(), RefOr::T(etag()));
            }
        }
    };
    let add = |op: &mut Operation, parameter| {
        op.parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(parameter));
    };
    if let Some(op) = doc
        .paths
        .paths
        .get_mut("/v1/collections/{name}/documents")
        .and_then(|item| item.post.as_mut())
    {
        with_etags(op);
    }
    let Some(item) = doc
        .paths
        .paths
        .get_mut("/v1/collections/{name}/documents/{id}")
    else {
        return;
    };
    if let Some(op) = item.get.as_mut() {
        with_etags(op);
        add(
            op,
            header(
                "If-None-Match",
                "ETags the client holds: 304 Not Modified (no body) while the document still has one of them",
            ),
        );
        let mut not_modified =
            openapi::Response::new("Not modified: the document still has that ETag");
        not_modified.headers.insert("ETag".into(), RefOr::T(etag()));
        op.responses
            .responses
            .insert("304".into(), RefOr::T(not_modified));
    }
    if let Some(op) = item.put.as_mut() {
        with_etags(op);
        add(op, if_match());
        add(
            op,
            header(
                "If-None-Match",
                "Only `*`: create only; an existing document gives 412",
            ),
        );
        op.responses.responses.insert("412".into(), e412());
    }
    for op in [item.patch.as_mut(), item.delete.as_mut()]
        .into_iter()
        .flatten()
    {
        with_etags(op);
        add(op, if_match());
        op.responses.responses.insert("412".into(), e412());
    }
}

// ---------------------------------------------------------------------------------------------
// Errors (CONTRACT section 3).

/// Every error answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    code: ErrorCode,
    /// What went wrong and how to fix it.
    message: String,
}

/// The error codes of CONTRACT section 3.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum ErrorCode {
    BadRequest,
    InvalidQuery,
    InvalidCursor,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    PreconditionFailed,
    RateLimited,
    Unavailable,
    Internal,
}

/// Every error status a route may answer, each a shared response `#/components/responses/E<status>`.
const ERROR_STATUSES: [u16; 9] = [400, 401, 403, 404, 409, 412, 413, 429, 503];

/// References to the shared error responses for these statuses.
fn error_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<openapi::Response>> {
    statuses
        .iter()
        .map(|status| {
            let reference = openapi::Ref::new(format!("#/components/responses/E{status}"));
            (status.to_string(), RefOr::Ref(reference))
        })
        .collect()
}

/// The shared error responses (each an [`ErrorBody`]), by component name.
fn shared_error_responses() -> Vec<(String, openapi::Response)> {
    use utoipa::openapi::ResponseBuilder;
    use utoipa::openapi::content::ContentBuilder;
    use utoipa::openapi::header::HeaderBuilder;
    ERROR_STATUSES
        .iter()
        .map(|&status| {
            let about = match status {
                400 => "`bad_request`, `invalid_query` or `invalid_cursor`: the input is malformed",
                401 => "`unauthorized`: missing, malformed, forged, revoked or expired credentials",
                403 => "`forbidden`: the credentials may not do this (or the Origin is refused)",
                404 => "`not_found`: no such document, route or resource",
                409 => "`conflict`: it exists already",
                412 => "`precondition_failed`: If-Match / If-None-Match does not hold",
                413 => "`payload_too_large`: the body is over the limit",
                429 => "`rate_limited`: too many attempts; see Retry-After",
                503 => "`unavailable`: overloaded or restarting; see Retry-After",
                _ => "an error",
            };
            let content = ContentBuilder::new()
                .schema(Some(openapi::Ref::from_schema_name("ErrorBody")))
                .build();
            let mut response = ResponseBuilder::new()
                .description(about)
                .content("application/json", content);
            if matches!(status, 429 | 503) {
                let seconds = HeaderBuilder::new()
                    .schema(Some(
                        openapi::ObjectBuilder::new()
                            .schema_type(openapi::schema::Type::Integer)
                            .build(),
                    ))
                    .description(Some("Seconds to wait before trying again"))
                    .build();
                response = response.header("Retry-After", seconds);
            }
            (format!("E{status}"), response.build())
        })
        .collect()
}

/// Declares a set of error answers a group of routes can give.
macro_rules! errors {
    ($name:ident: $($status:literal),+) => {
        #[doc = concat!("Error answers ", $(stringify!($status), " "),+)]
        pub(crate) struct $name;
        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<openapi::Response>> {
                error_responses(&[$($status),+])
            }
        }
    };
}

errors!(ReadErrors: 400, 401, 403, 404, 413, 503);
errors!(WriteErrors: 400, 401, 403, 404, 409, 413, 503);
errors!(AuthErrors: 400, 401, 403, 409, 413, 429, 503);
errors!(AdminErrors: 400, 401, 403, 404, 413, 503);

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
// End-user auth (CONTRACT section 8).

/// Email and password.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct EmailPassword {
    /// Trimmed and lower-cased.
    #[schema(format = Email, max_length = 320)]
    email: String,
    /// 8-1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    password: String,
}

/// An end user.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct User {
    id: String,
    email: String,
    email_verified: bool,
    created_at: String,
}

/// A signed-in user and the session.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct SignedIn {
    user: User,
    /// `mms_...`; send as `Authorization: Bearer` with the X-API-Key.
    session_token: String,
}

/// `GET /v1/auth/me`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Me {
    user: User,
}

/// Where to send a sign-in link.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct MagicLinkRequest {
    #[schema(format = Email, max_length = 320)]
    email: String,
    /// The app's page the link opens, with `token=...` added; its origin must be one of the
    /// project's `allowed_origins`.
    #[schema(format = "uri", max_length = 2048)]
    redirect_url: Option<String>,
}

/// Always `{"status": "sent"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct MagicLinkSent {
    #[schema(pattern = "^sent$")]
    status: String,
}

// ---------------------------------------------------------------------------------------------
// Admin (CONTRACT section 5).

/// A project's name.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NewProject {
    /// 1-128 characters, not only spaces.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    name: String,
}

/// A project.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Project {
    id: String,
    name: String,
    created_at: String,
    /// Origins (`scheme://host[:port]`) that may call from a browser and receive magic links.
    allowed_origins: Vec<String>,
    /// What a session confines a client key to, or `null`.
    #[schema(value_type = Option<Object>)]
    session_scope: (),
    /// Time to live (CONTRACT section 14): collection → the field path holding its documents'
    /// expiry time (RFC 3339).
    ttl: BTreeMap<String, String>,
}

/// A created project and its first write key.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ProjectCreated {
    project: Project,
    api_key: IssuedKey,
}

/// `GET /admin/v1/projects`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ProjectList {
    projects: Vec<Project>,
}

/// A change to a project; absent fields stay.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ProjectUpdate {
    /// 1-128 characters, not only spaces.
    #[schema(nullable = false, min_length = 1, max_length = 128, pattern = "\\S")]
    name: Option<String>,
    /// Origins like `https://app.example.com` (scheme, host, optional port; no path).
    #[schema(nullable = false)]
    allowed_origins: Option<Vec<String>>,
    /// A scope (section 9 syntax, `{{user.id}}` allowed); `null` removes it.
    #[schema(value_type = Option<Object>)]
    session_scope: (),
    /// Collection → the field path of its expiry time; a `null` path removes that collection's
    /// TTL (CONTRACT section 14).
    #[schema(nullable = false)]
    ttl: Option<BTreeMap<String, Option<String>>>,
}

/// What a key may do.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum KeyPermission {
    Read,
    Write,
    Client,
}

/// A key to create.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NewKey {
    /// 1-128 characters, not only spaces.
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    name: String,
    /// `write` when absent.
    #[schema(nullable = false)]
    permission: Option<KeyPermission>,
}

/// A key with its secret, shown only once.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct IssuedKey {
    id: String,
    name: String,
    permission: KeyPermission,
    /// `mm_...`.
    key: String,
    created_at: String,
}

/// A key without its secret.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct KeyInfo {
    id: String,
    name: String,
    permission: KeyPermission,
    created_at: String,
    /// The key's last four characters.
    last4: String,
}

/// `GET /admin/v1/projects/{id}/keys`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct KeyList {
    keys: Vec<KeyInfo>,
}

/// The dev mailer's outbox.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Outbox {
    messages: Vec<OutboxMessage>,
}

/// A message the dev mailer kept.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct OutboxMessage {
    to: String,
    subject: String,
    body: String,
    link: String,
    sent_at: String,
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

// ---------------------------------------------------------------------------------------------
// Backups, export, import (CONTRACT section 15) and the cluster (section 16).

/// A backup written beside the data directory.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct BackupCreated {
    path: String,
    bytes: u64,
    /// The sum of the projects' `seq`s it holds.
    seq: u64,
    /// Each project's `seq`.
    seqs: BTreeMap<String, u64>,
    /// Documents it holds.
    documents: u64,
}

/// `GET /admin/v1/backups`, newest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct BackupList {
    backups: Vec<BackupEntry>,
}

/// One backup on disk.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct BackupEntry {
    path: String,
    bytes: u64,
}

/// What an import did; a bad line never stops the good ones.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ImportResult {
    imported: u64,
    /// The first bad lines, in order.
    errors: Vec<ImportError>,
    /// How many lines were bad in all.
    error_count: u64,
}

/// A refused line.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ImportError {
    /// 1-based.
    line: u64,
    error: ErrorDetail,
}

/// `GET /admin/v1/cluster`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ClusterStatus {
    nodes: Vec<ClusterNode>,
    projects: Vec<ProjectOwner>,
    /// The node that owns every project this sitting, or `null` while none is elected.
    leader: Option<u64>,
}

/// A node of the cluster.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ClusterNode {
    id: u64,
    /// Its address, or `null` when unknown.
    addr: Option<String>,
    up: bool,
}

/// Which node serves a project.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ProjectOwner {
    id: String,
    owner: Option<u64>,
}
