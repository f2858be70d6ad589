//! The admin service: the operator operations, with their rules written once. The admin API
//! (`http/admin.rs`, JSON) and the dashboard (`dashboard.rs`, HTML) are two renderers of it,
//! and both map its errors through the one [`ApiError`] table (CONTRACT section 3), so a
//! restarting project is a 503 on both and an unknown key a 404 on both.
//!
//! Names are validated once, by their newtype's constructor ([`ProjectName`], [`KeyName`],
//! [`CollectionName`], [`DocId`]); a function that takes one cannot get an unchecked string.
//! Key operations are scoped: a key reached under a project (the dashboard's
//! `/projects/{id}/keys/{key_id}`) must belong to it, else 404.

use mammoth_actors::ids::{valid_collection_name, valid_doc_id};
use mammoth_actors::project::{ProjectHandle, ProjectOverview};
use mammoth_actors::records::{IssuedKey, Permission, ProjectRecord};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// Longest project or key name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 128;

/// Trims `raw` and checks it is 1 to [`MAX_NAME_CHARS`] characters long.
fn name(what: &str, raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(format!(
            "a {what} name is 1 to {MAX_NAME_CHARS} characters (spaces around it are trimmed)"
        )));
    }
    Ok(trimmed.to_owned())
}

/// A project's display name: trimmed, 1 to [`MAX_NAME_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<ProjectName, ApiError> {
        name("project", raw).map(ProjectName)
    }

    /// The name.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An API key's name: trimmed, 1 to [`MAX_NAME_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<KeyName, ApiError> {
        name("key", raw).map(KeyName)
    }

    /// The name.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A collection's name, as CONTRACT section 6 allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionName(String);

impl CollectionName {
    /// Validates a name.
    pub fn parse(raw: &str) -> Result<CollectionName, ApiError> {
        if !valid_collection_name(raw) {
            return Err(ApiError::bad_request(format!(
                "'{raw}' is not a collection name: 1 to 64 letters, digits, '_' or '-'"
            )));
        }
        Ok(CollectionName(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A document id, as CONTRACT section 6 allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocId(String);

impl DocId {
    /// Validates an id.
    pub fn parse(raw: &str) -> Result<DocId, ApiError> {
        if !valid_doc_id(raw) {
            return Err(ApiError::bad_request(format!(
                "'{raw}' is not a document id: 1 to 128 letters, digits, '_', '.' or '-'"
            )));
        }
        Ok(DocId(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The project `id`, or 404.
pub fn project(state: &AppState, id: &str) -> Result<ProjectHandle, ApiError> {
    state
        .registry
        .project(id)
        .ok_or_else(|| ApiError::not_found(format!("no project '{id}'")))
}

/// Creates a project and its first write key; durable on return.
pub async fn create_project(
    state: &AppState,
    name: ProjectName,
) -> Result<(ProjectRecord, IssuedKey), ApiError> {
    Ok(state.registry.create_project(name.into_string()).await?)
}

/// Every project with its keys and document count, oldest first; one message per project.
pub async fn overview(state: &AppState) -> Result<Vec<ProjectOverview>, ApiError> {
    let mut projects = Vec::new();
    for handle in state.registry.projects() {
        projects.push(handle.overview().await?);
    }
    projects.sort_by(|a, b| a.record.created_at.cmp(&b.record.created_at));
    Ok(projects)
}

/// Makes a key in project `id`; durable on return.
pub async fn create_key(
    state: &AppState,
    id: &str,
    name: KeyName,
    permission: Permission,
) -> Result<IssuedKey, ApiError> {
    let handle = project(state, id)?;
    Ok(state
        .registry
        .create_key(&handle, name.into_string(), permission)
        .await?)
}

/// The project owning `key_id`, checked against `scope` when the key was reached under one.
fn key_owner(state: &AppState, scope: Option<&str>, key_id: &str) -> Result<(), ApiError> {
    let owner = state.registry.key_project(key_id);
    match (owner, scope) {
        (Some(owner), Some(scope)) if owner.id() != scope => Err(no_key(key_id)),
        (Some(_), _) => Ok(()),
        (None, _) => Err(no_key(key_id)),
    }
}

fn no_key(key_id: &str) -> ApiError {
    ApiError::not_found(format!("no key '{key_id}'"))
}

/// Replaces a key's secret (the old one is dead at once); `scope`: the project it must belong to.
pub async fn regenerate_key(
    state: &AppState,
    scope: Option<&str>,
    key_id: &str,
) -> Result<IssuedKey, ApiError> {
    key_owner(state, scope, key_id)?;
    Ok(state.registry.regenerate_key(key_id).await?)
}

/// Revokes a key; `scope`: the project it must belong to.
pub async fn revoke_key(
    state: &AppState,
    scope: Option<&str>,
    key_id: &str,
) -> Result<(), ApiError> {
    key_owner(state, scope, key_id)?;
    Ok(state.registry.delete_key(key_id).await?)
}

/// Parses an origin (`scheme://host[:port]`, nothing else) into its canonical form.
pub fn parse_origin(value: &Value) -> Result<String, ApiError> {
    let bad = |what: &str| {
        ApiError::bad_request(format!(
            "{what} is not an origin; use scheme://host[:port], e.g. \"https://app.example.com\""
        ))
    };
    let Value::String(s) = value else {
        return Err(bad(crate::error::kind_of(value)));
    };
    let url = url::Url::parse(s).map_err(|_| bad(&format!("'{s}'")))?;
    let origin = url.origin();
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !origin.is_tuple() || !bare || !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!("'{s}'")));
    }
    Ok(origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_before_their_length_is_checked() {
        let padded = format!("  {}  ", "a".repeat(MAX_NAME_CHARS));
        assert_eq!(
            ProjectName::parse(&padded).unwrap().into_string().len(),
            128
        );
        assert!(ProjectName::parse(&"a".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(KeyName::parse("   ").is_err());
        // Characters, not bytes: 128 accented letters fit.
        assert!(KeyName::parse(&"é".repeat(MAX_NAME_CHARS)).is_ok());
    }
}
