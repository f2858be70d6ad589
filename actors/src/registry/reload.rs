//! Rebuilding every project from storage at once: what a cluster node does when it becomes the
//! owner (raft leader) of its projects, since as a follower only its storage was kept current by
//! the replicated log, not its actors' memory.

use std::collections::HashMap;
use std::sync::Arc;

use mammoth_storage::Snapshot;

use super::{ProjectMap, Registry, build, spawn_child};
use crate::error::ProjectError;

impl Registry {
    /// Replaces every project's actor with one built from `snapshot` (everything committed),
    /// adds the projects this registry has not seen, and stops those `snapshot` lacks. Handles
    /// keep working: a known project's handle gets its new actor swapped in. Call it while no
    /// request reaches the projects (the cluster gate is closed).
    pub async fn reload_all(&self, snapshot: Snapshot) -> Result<(), ProjectError> {
        let _creating = self.inner.create.lock().await;
        let mut owners = HashMap::new();
        let mut loading = tokio::task::JoinSet::new();
        for (id, project) in snapshot.projects {
            for key_id in project.keys.keys() {
                owners.insert(key_id.clone(), id.clone());
            }
            let args = self.args(&id, project);
            loading.spawn_blocking(move || build(&id, args?).map(|state| (id, state)));
        }
        let old = self.inner.projects.load_full();
        let mut map = ProjectMap::new();
        while let Some(loaded) = loading.join_next().await {
            let (id, state) = loaded
                .map_err(|e| ProjectError::internal(format!("loading a project panicked: {e}")))?
                .map_err(ProjectError::internal)?;
            let handle = match old.get(&id) {
                Some(handle) => {
                    let actor = spawn_child(
                        self.inner.supervisor.get_cell(),
                        &self.inner.children,
                        &id,
                        state,
                    )
                    .await
                    .map_err(ProjectError::internal)?;
                    handle.swap_actor(actor).stop(None);
                    handle.clone()
                }
                None => self.spawn(id.clone(), state).await?,
            };
            map.insert(id, handle);
        }
        for (id, handle) in old.iter() {
            if !map.contains_key(id) {
                handle.stop();
            }
        }
        self.inner.projects.store(Arc::new(map));
        *self.owners() = owners;
        Ok(())
    }
}
