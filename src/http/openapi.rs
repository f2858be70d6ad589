//! The OpenAPI 3.1 document at `GET /v1/openapi.json` (CONTRACT section 17).
//!
//! Each handler carries its own `#[utoipa::path]` (method, path, body, responses, credentials)
//! beside its code; this module lists those handlers once in [`ApiDoc`], and defines the body
//! schemas the handlers read and write as JSON. The handlers parse bodies by hand (so every
//! bad input gets the contract's own 400 message), so these types exist for the document only.
//! `tests/it/openapi.rs` fails when a route of the router is missing here, or the reverse.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{self, RefOr};
use utoipa::{Modify, OpenApi};

use super::AppState;

mod data;
mod errors;
mod operators;

pub(crate) use data::*;
pub(crate) use errors::*;
pub(crate) use operators::*;

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
        super::admin_users::list_users,
        super::admin_users::revoke_sessions,
        super::admin_users::delete_user,
        super::batch::batch,
        super::data::backup::create_backup,
        super::data::backup::list_backups,
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
