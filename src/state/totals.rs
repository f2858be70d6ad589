//! Per-project figures that survive restarts: data request counts and magic-link sign-in
//! counts. Both are counted in memory on their hot path (the project handle's atomic for
//! requests, the project actor's counters for links); this keeps the totals of earlier runs
//! from meta records and writes `earlier + this run` back every [`FLUSH_EVERY`] and at graceful
//! shutdown ([`RequestTotals::flush`]). A crash loses at most the last interval's counts.
//!
//! - `project_requests:<project id>`: a big-endian u64.
//! - `project_links:<project id>`: two big-endian u64s, links sent then links used.
//!
//! The actor's link counters start at zero with each actor (a restarted project too): a
//! counter seen going down is a new actor, and what the old one had counted is folded into the
//! earlier total ([`Tally::observe`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use mammoth_actors::ProjectError;
use mammoth_actors::meta::{self, MetaChange};
use mammoth_actors::project::ProjectHandle;
use mammoth_actors::registry::Registry;
use mammoth_actors::users::LinkStats;
use mammoth_storage::{Storage, StorageError};

/// Meta key prefix of a project's request total.
const PREFIX: &str = "project_requests:";
/// Meta key prefix of a project's magic-link totals.
const LINKS: &str = "project_links:";
/// How often totals are written.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// Request and magic-link totals across restarts. Cheap to clone.
#[derive(Clone, Default)]
pub struct RequestTotals {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Where totals are written; none for servers without storage of their own.
    storage: Option<Storage>,
    /// Request totals of earlier runs, by project.
    earlier: HashMap<String, u64>,
    /// The request totals last written, by project.
    written: Mutex<HashMap<String, u64>>,
    /// Magic-link tallies, by project.
    links: Mutex<HashMap<String, Tally>>,
}

/// One project's magic-link counts: `(sent, used)` pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    /// Counted before the actor seen last (earlier runs, replaced actors).
    earlier: (u64, u64),
    /// The actor's own counters when last seen.
    seen: (u64, u64),
    /// The total last written.
    written: (u64, u64),
}

impl Tally {
    /// Takes the actor's counters now; answers the all-time totals.
    fn observe(&mut self, now: (u64, u64)) -> (u64, u64) {
        if now.0 < self.seen.0 || now.1 < self.seen.1 {
            // A new actor counting from zero: keep what the old one had counted.
            self.earlier = (self.earlier.0 + self.seen.0, self.earlier.1 + self.seen.1);
        }
        self.seen = now;
        self.total()
    }

    fn total(&self) -> (u64, u64) {
        (self.earlier.0 + self.seen.0, self.earlier.1 + self.seen.1)
    }
}

impl RequestTotals {
    /// Totals found in `meta` (taken out of it), written back to `storage`.
    pub fn load(storage: Storage, meta: &mut BTreeMap<String, Bytes>) -> RequestTotals {
        let keys: Vec<String> = meta
            .keys()
            .filter(|k| k.starts_with(PREFIX) || k.starts_with(LINKS))
            .cloned()
            .collect();
        let mut earlier = HashMap::new();
        let mut links = HashMap::new();
        for key in keys {
            let Some(value) = meta.remove(&key) else {
                continue;
            };
            if let Some(id) = key.strip_prefix(PREFIX)
                && let Ok(bytes) = <[u8; 8]>::try_from(&value[..])
            {
                earlier.insert(id.to_owned(), u64::from_be_bytes(bytes));
            } else if let Some(id) = key.strip_prefix(LINKS)
                && let Ok(bytes) = <[u8; 16]>::try_from(&value[..])
            {
                let (sent, used) = bytes.split_at(8);
                let pair = (be(sent), be(used));
                let tally = Tally {
                    earlier: pair,
                    seen: (0, 0),
                    written: pair,
                };
                links.insert(id.to_owned(), tally);
            }
        }
        RequestTotals {
            inner: Arc::new(Inner {
                storage: Some(storage),
                written: Mutex::new(earlier.clone()),
                earlier,
                links: Mutex::new(links),
            }),
        }
    }

    /// A project's data requests over every run.
    pub fn total(&self, handle: &ProjectHandle) -> u64 {
        self.inner.earlier.get(handle.id()).copied().unwrap_or(0) + handle.requests()
    }

    /// A project's magic-link figures over every run (pending: stored now).
    pub async fn links(&self, handle: &ProjectHandle) -> Result<LinkStats, ProjectError> {
        let now = handle.link_stats().await?;
        let (requested, redeemed) = lock(&self.inner.links)
            .entry(handle.id().to_owned())
            .or_default()
            .observe((now.requested, now.redeemed));
        Ok(LinkStats {
            requested,
            redeemed,
            pending: now.pending,
        })
    }

    /// Writes the totals that changed since the last write; durable on return.
    pub async fn flush(&self, registry: &Registry) -> Result<(), StorageError> {
        let Some(storage) = &self.inner.storage else {
            return Ok(());
        };
        let mut changed = Vec::new();
        {
            let written = lock(&self.inner.written);
            for handle in registry.projects() {
                let total = self.total(&handle);
                if written.get(handle.id()) != Some(&total) {
                    changed.push((handle.id().to_owned(), total));
                }
            }
        }
        let mut links = Vec::new();
        for handle in registry.projects() {
            // A project that cannot answer now (restarting) is written next time.
            if self.links(&handle).await.is_err() {
                continue;
            }
            if let Some(tally) = lock(&self.inner.links).get(handle.id())
                && tally.total() != tally.written
            {
                links.push((handle.id().to_owned(), tally.total()));
            }
        }
        if changed.is_empty() && links.is_empty() {
            return Ok(());
        }
        let mut mutations: Vec<MetaChange> = changed
            .iter()
            .map(|(id, total)| MetaChange::Put {
                key: format!("{PREFIX}{id}"),
                value: Bytes::copy_from_slice(&total.to_be_bytes()),
            })
            .collect();
        for (id, (sent, used)) in &links {
            let mut value = sent.to_be_bytes().to_vec();
            value.extend_from_slice(&used.to_be_bytes());
            mutations.push(MetaChange::Put {
                key: format!("{LINKS}{id}"),
                value: Bytes::from(value),
            });
        }
        meta::apply(storage, mutations).await?;
        lock(&self.inner.written).extend(changed);
        let mut tallies = lock(&self.inner.links);
        for (id, total) in links {
            if let Some(tally) = tallies.get_mut(&id) {
                tally.written = total;
            }
        }
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

fn be(bytes: &[u8]) -> u64 {
    let mut out = [0; 8];
    out.copy_from_slice(bytes);
    u64::from_be_bytes(out)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn a_new_actor_counting_from_zero_keeps_the_old_counts() {
        let mut tally = Tally {
            earlier: (10, 4),
            ..Tally::default()
        };
        assert_eq!(tally.observe((2, 1)), (12, 5));
        assert_eq!(tally.observe((3, 1)), (13, 5));
        // The project restarted: its actor counts from zero again.
        assert_eq!(tally.observe((1, 0)), (14, 5));
        assert_eq!(tally.observe((1, 1)), (14, 6));
    }
}
