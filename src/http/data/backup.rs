//! Online backups (CONTRACT section 15): `POST /admin/v1/backups` copies the committed state
//! into `<data dir>-backups/<stamp>/mammoth.redb` on a blocking thread (one redb read
//! transaction; the writer keeps going); `GET /admin/v1/backups` lists them.

use std::path::{Path as FsPath, PathBuf};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mammoth_actors::ProjectError;
use mammoth_storage::Storage;
use serde_json::{Value, json};

use crate::config::StorageMode;
use crate::http::admin::Operator;
use crate::http::{ApiError, AppState};

/// Where backups of `dir` go: a sibling directory, `<dir>-backups`.
pub fn backups_dir(dir: &FsPath) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "mammoth-data".into());
    name.push("-backups");
    dir.with_file_name(name)
}

fn data_dir(state: &AppState) -> Result<PathBuf, ApiError> {
    match &state.config.storage {
        StorageMode::Disk { dir, .. } => Ok(std::path::absolute(dir).unwrap_or(dir.clone())),
        StorageMode::InMemory => Err(ApiError::bad_request(
            "this server runs --in-memory, so there is nothing on disk to back up; use GET /admin/v1/projects/{id}/export to save a project's documents",
        )),
    }
}

#[utoipa::path(
    post,
    path = "/admin/v1/backups",
    operation_id = "create_backup",
    tag = "admin",
    summary = "Take an online backup (CONTRACT section 15)",
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 201, description = "The backup written", body = crate::http::openapi::BackupCreated),
        crate::http::openapi::AdminErrors,
    )
)]
pub(super) async fn create_backup(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let written = take_backup(&state).await?;
    Ok((StatusCode::CREATED, axum::Json(written)).into_response())
}

/// Takes an online backup: what `POST /admin/v1/backups` answers (the dashboard calls it too).
pub(crate) async fn take_backup(state: &AppState) -> Result<Value, ApiError> {
    let dir = backups_dir(&data_dir(state)?);
    let stamp = stamp(state.config.env.now_millis());
    let storage = state.storage.clone();
    let written = tokio::task::spawn_blocking(move || write_backup(&storage, &dir, &stamp))
        .await
        .map_err(|e| ApiError::new(mammoth_actors::ErrorCode::Internal, e.to_string()))??;
    Ok(written)
}

/// `20261207T192314.123Z`: sorts as time, and is a valid file name everywhere.
fn stamp(millis: u64) -> String {
    let text = mammoth_actors::ids::rfc3339_millis(millis);
    text.replace(['-', ':'], "")
}

/// Copies into `<dir>/<stamp>.partial/mammoth.redb`, then renames the directory to `<stamp>`:
/// a directory without `.partial` always holds a whole backup.
fn write_backup(storage: &Storage, dir: &FsPath, stamp: &str) -> Result<Value, ApiError> {
    let internal = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::new(
            mammoth_actors::ErrorCode::Internal,
            format!("backup: {what}: {e}"),
        )
    };
    private_dirs(dir).map_err(|e| internal("create the backups directory", &e))?;
    let mut name = stamp.to_owned();
    let mut n = 1;
    while dir.join(&name).exists() || dir.join(format!("{name}.partial")).exists() {
        n += 1;
        name = format!("{stamp}-{n}");
    }
    let partial = dir.join(format!("{name}.partial"));
    private_dirs(&partial).map_err(|e| internal("create the backup directory", &e))?;
    let file = partial.join("mammoth.redb");
    let info = storage.backup_to(&file).map_err(ProjectError::from)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| internal("make the backup private", &e))?;
    }
    let done = dir.join(&name);
    std::fs::rename(&partial, &done).map_err(|e| internal("publish the backup", &e))?;
    Ok(json!({
        "path": done.display().to_string(),
        "bytes": info.bytes,
        "seq": info.seqs.values().sum::<u64>(),
        "seqs": info.seqs,
        "documents": info.docs,
    }))
}

fn private_dirs(dir: &FsPath) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The finished backups, newest first.
pub fn list(dir: &FsPath) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = std::fs::read_dir(backups_dir(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".partial"))
        .filter_map(|e| {
            let bytes = std::fs::metadata(e.path().join("mammoth.redb")).ok()?.len();
            Some((e.path().display().to_string(), bytes))
        })
        .collect();
    found.sort();
    found.reverse();
    found
}

#[utoipa::path(
    get,
    path = "/admin/v1/backups",
    operation_id = "list_backups",
    tag = "admin",
    summary = "List backups",
    security(("root_token" = []), ("operator_session" = [])),
    responses(
        (status = 200, description = "The backups, newest first", body = crate::http::openapi::BackupList),
        crate::http::openapi::AdminErrors,
    )
)]
pub(super) async fn list_backups(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let backups = backups(&state).await?;
    Ok(axum::Json(json!({ "backups": backups })).into_response())
}

/// The finished backups, newest first, as `GET /admin/v1/backups` lists them.
pub(crate) async fn backups(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let dir = data_dir(state)?;
    Ok(tokio::task::spawn_blocking(move || list(&dir))
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(path, bytes)| json!({"path": path, "bytes": bytes}))
        .collect())
}
