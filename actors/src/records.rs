//! The records a project keeps about itself and its API keys, as stored (JSON) and as shown.

use serde::{Deserialize, Serialize};

/// What an API key (or a token minted from it) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Every `GET`, queries, `auth/me`, `auth/logout`, minting read tokens.
    Read,
    /// Everything a project's API allows.
    Write,
    /// A key that ships in browser and mobile apps: alone it reaches only `/v1/auth/*`; data
    /// needs a scoped token or a session with it (CONTRACT section 4).
    Client,
}

impl Permission {
    /// Parses `read`, `write` or `client`.
    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "read" => Some(Permission::Read),
            "write" => Some(Permission::Write),
            "client" => Some(Permission::Client),
            _ => None,
        }
    }

    /// `read`, `write` or `client`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Client => "client",
        }
    }
}

/// A project, as stored and as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// Stable id, in every key the project has.
    pub id: String,
    /// Human name.
    pub name: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// Origins (`scheme://host[:port]`) a magic link may redirect to, and the only browser
    /// origins that may call when not empty (CONTRACT section 10).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// What a session confines a client key to (CONTRACT sections 4 and 5): a scope whose
    /// string values may hold `{{user.id}}`. Validated when set.
    #[serde(default)]
    pub session_scope: Option<serde_json::Value>,
    /// Time to live (CONTRACT section 14): collection name to the field path holding its
    /// documents' expiry time. Validated when set ([`crate::ttl::parse_update`]).
    #[serde(default)]
    pub ttl: crate::ttl::Policies,
}

/// An API key as stored. The key string itself is never stored: only `nonce`, which the signed key
/// carries and which must match for the key to be live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Stable id; kept when the key is regenerated.
    pub id: String,
    /// The owning project.
    pub project_id: String,
    /// Human name, e.g. `staging`.
    pub name: String,
    /// What the key may do.
    pub permission: Permission,
    /// RFC 3339 time the current secret was made.
    pub created_at: String,
    /// Random value carried in the signed key; regenerating replaces it, killing the old key.
    pub nonce: String,
    /// The last four characters of the key string, to tell keys apart.
    pub last4: String,
}

/// The claims an API key carries, signed by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyClaims {
    /// Project id.
    pub pid: String,
    /// Key id.
    pub kid: String,
    /// Permission at minting time (the live table is authoritative).
    pub perm: Permission,
    /// The nonce of the key record.
    pub n: String,
}

impl KeyRecord {
    /// The claims to sign for this key.
    pub fn claims(&self) -> KeyClaims {
        KeyClaims {
            pid: self.project_id.clone(),
            kid: self.id.clone(),
            perm: self.permission,
            n: self.nonce.clone(),
        }
    }
}

/// A key as the admin API shows it once, secret included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedKey {
    /// Key id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `read` or `write`.
    pub permission: Permission,
    /// The secret `mm_...` string; shown only here.
    pub key: String,
    /// RFC 3339 time.
    pub created_at: String,
}

/// A key as listed, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Key id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `read` or `write`.
    pub permission: Permission,
    /// RFC 3339 time.
    pub created_at: String,
    /// Last four characters of the key.
    pub last4: String,
}

impl From<&KeyRecord> for KeyInfo {
    fn from(k: &KeyRecord) -> KeyInfo {
        KeyInfo {
            id: k.id.clone(),
            name: k.name.clone(),
            permission: k.permission,
            created_at: k.created_at.clone(),
            last4: k.last4.clone(),
        }
    }
}

impl KeyRecord {
    /// A new key (or a new secret for an existing key id) with a fresh nonce, and the key string
    /// to show once.
    pub fn issue(
        env: &crate::env::Env,
        minter: &KeyMinter,
        project_id: &str,
        id: String,
        name: String,
        permission: Permission,
    ) -> (KeyRecord, IssuedKey) {
        let mut record = KeyRecord {
            id,
            project_id: project_id.to_owned(),
            name,
            permission,
            created_at: crate::ids::rfc3339_millis(env.now_millis()),
            nonce: crate::ids::hex(&env.random::<16>()),
            last4: String::new(),
        };
        let key = minter(&record.claims());
        record.last4 = key[key.len().saturating_sub(4)..].to_owned();
        let issued = IssuedKey {
            id: record.id.clone(),
            name: record.name.clone(),
            permission,
            key,
            created_at: record.created_at.clone(),
        };
        (record, issued)
    }
}

/// Signs key claims into the `mm_...` string. The signing secret lives with the caller (the
/// server), so this crate never sees it.
pub type KeyMinter = std::sync::Arc<dyn Fn(&KeyClaims) -> String + Send + Sync>;

/// Encodes a record for storage.
pub(crate) fn encode<T: serde::Serialize>(record: &T) -> bytes::Bytes {
    bytes::Bytes::from(serde_json::to_vec(record).expect("records always encode"))
}
