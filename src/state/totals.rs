//! Per-project data request counts that survive restarts: the project handle counts requests
//! since start (an atomic, no I/O on the request path); this keeps the total of earlier runs
//! from meta records (`project_requests:<project id>`, a big-endian u64) and writes
//! `earlier + since start` back every [`FLUSH_EVERY`] and on demand. A crash loses at most the
//! requests of the last interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use mammoth_actors::meta::{self, MetaChange};
use mammoth_actors::project::ProjectHandle;
use mammoth_actors::registry::Registry;
use mammoth_storage::{Storage, StorageError};

/// Meta key prefix of a project's request total.
const PREFIX: &str = "project_requests:";
/// How often totals are written.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Request totals across restarts. Cheap to clone.
#[derive(Clone, Default)]
pub struct RequestTotals {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Where totals are written; none for embedded servers without persistence of their own.
    storage: Option<Storage>,
    /// Totals of earlier runs, by project.
    earlier: HashMap<String, u64>,
    /// The totals last written, by project.
    written: Mutex<HashMap<String, u64>>,
}

impl RequestTotals {
    /// Totals found in `meta` (taken out of it), written back to `storage`.
    pub fn load(storage: Storage, meta: &mut BTreeMap<String, Bytes>) -> RequestTotals {
        let keys: Vec<String> = meta
            .keys()
            .filter(|k| k.starts_with(PREFIX))
            .cloned()
            .collect();
        let mut earlier = HashMap::new();
        for key in keys {
            if let Some(value) = meta.remove(&key)
                && let Ok(bytes) = <[u8; 8]>::try_from(&value[..])
            {
                earlier.insert(key[PREFIX.len()..].to_owned(), u64::from_be_bytes(bytes));
            }
        }
        RequestTotals {
            inner: Arc::new(Inner {
                storage: Some(storage),
                written: Mutex::new(earlier.clone()),
                earlier,
            }),
        }
    }

    /// A project's data requests over every run.
    pub fn total(&self, handle: &ProjectHandle) -> u64 {
        self.inner.earlier.get(handle.id()).copied().unwrap_or(0) + handle.requests()
    }

    /// Writes the totals that changed since the last write; durable on return.
    pub async fn flush(&self, registry: &Registry) -> Result<(), StorageError> {
        let Some(storage) = &self.inner.storage else {
            return Ok(());
        };
        let mut changed = Vec::new();
        {
            let written = self.inner.written.lock().unwrap_or_else(|e| e.into_inner());
            for handle in registry.projects() {
                let total = self.total(&handle);
                if written.get(handle.id()) != Some(&total) {
                    changed.push((handle.id().to_owned(), total));
                }
            }
        }
        if changed.is_empty() {
            return Ok(());
        }
        let mutations = changed
            .iter()
            .map(|(id, total)| MetaChange::Put {
                key: format!("{PREFIX}{id}"),
                value: Bytes::copy_from_slice(&total.to_be_bytes()),
            })
            .collect();
        meta::apply(storage, mutations).await?;
        let mut written = self.inner.written.lock().unwrap_or_else(|e| e.into_inner());
        written.extend(changed);
        Ok(())
    }

    /// Flushes every [`FLUSH_EVERY`] while the registry lives.
    pub fn spawn_flusher(&self, registry: Registry) {
        let totals = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = totals.flush(&registry).await {
                    tracing::warn!(error = %e, "could not store request totals; retrying later");
                }
            }
        });
    }
}
