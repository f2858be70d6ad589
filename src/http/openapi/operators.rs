//! Schemas of end-user auth, the admin API, backups, export/import and the cluster.

use std::collections::BTreeMap;

use utoipa::ToSchema;

use super::*;

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
