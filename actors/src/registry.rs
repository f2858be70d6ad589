//! The project registry and the supervisor of every project actor.
//!
//! The registry maps project ids to [`ProjectHandle`]s in an [`ArcSwap`]ped map: the hot path (one
//! lookup per request) takes no lock; creating a project, which is rare, copies the map.
//!
//! Supervision policy: every project actor is linked to one supervisor actor. When a project actor
//! panics, the supervisor flushes storage, reloads that project from what storage holds (every
//! acknowledged write is there) and swaps the new actor into the project's handle; no other
//! project is touched. Requests that reach the project while it restarts get 503 and may retry.
//! If reloading fails, the project stays down (503) and the error is logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use mammoth_storage::{Mutation, ProjectSnapshot, Snapshot, Storage};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::env::Env;
use crate::error::ProjectError;
use crate::ids::rfc3339_millis;
use crate::project::{ProjectActor, ProjectArgs, ProjectHandle, ProjectMsg};
use crate::records::{IssuedKey, KeyMinter, KeyRecord, Permission, ProjectRecord};

type ProjectMap = HashMap<String, ProjectHandle>;

/// Finds, creates and supervises projects. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    /// Project id → handle; read on every request without locking.
    projects: Arc<ArcSwap<ProjectMap>>,
    /// Key id → project id, for operator calls that name only a key. Admin path only.
    key_owner: Mutex<HashMap<String, String>>,
    /// Serialises project creation so that two creations never lose each other's map update.
    create: tokio::sync::Mutex<()>,
    supervisor: ActorRef<SupervisorMsg>,
    storage: Storage,
    env: Env,
    minter: KeyMinter,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("projects", &self.inner.projects.load().len())
            .finish()
    }
}

impl Registry {
    /// Starts the supervisor and one actor per project in `snapshot`, each fully loaded with its
    /// indexes rebuilt, before returning.
    pub async fn start(
        storage: Storage,
        snapshot: Snapshot,
        env: Env,
        minter: KeyMinter,
    ) -> Result<Registry, ProjectError> {
        let projects: Arc<ArcSwap<ProjectMap>> = Arc::default();
        let args = SupervisorArgs {
            projects: projects.clone(),
            storage: storage.clone(),
            env: env.clone(),
            minter: minter.clone(),
        };
        let (supervisor, _) = Actor::spawn(None, Supervisor, args)
            .await
            .map_err(|e| ProjectError::internal(format!("starting the supervisor failed: {e}")))?;
        let registry = Registry {
            inner: Arc::new(Inner {
                projects,
                key_owner: Mutex::default(),
                create: tokio::sync::Mutex::new(()),
                supervisor,
                storage,
                env,
                minter,
            }),
        };
        let mut map = ProjectMap::new();
        let mut owners = HashMap::new();
        for (id, project) in snapshot.projects {
            let record: ProjectRecord = serde_json::from_slice(&project.record).map_err(|e| {
                ProjectError::internal(format!("the record of project {id} is corrupt: {e}"))
            })?;
            for key_id in project.keys.keys() {
                owners.insert(key_id.clone(), id.clone());
            }
            let handle = registry.spawn(record, project).await?;
            map.insert(id, handle);
        }
        registry.inner.projects.store(Arc::new(map));
        *registry.inner.key_owner.lock().expect("key_owner lock") = owners;
        Ok(registry)
    }

    async fn spawn(
        &self,
        record: ProjectRecord,
        snapshot: ProjectSnapshot,
    ) -> Result<ProjectHandle, ProjectError> {
        let id = record.id.clone();
        let args = ProjectArgs {
            record,
            snapshot,
            storage: self.inner.storage.clone(),
            env: self.inner.env.clone(),
            minter: self.inner.minter.clone(),
        };
        let actor = ractor::call_t!(self.inner.supervisor, SupervisorMsg::Spawn, 60_000, args)
            .map_err(|e| ProjectError::internal(format!("spawning a project failed: {e}")))?
            .map_err(ProjectError::internal)?;
        Ok(ProjectHandle::new(id, actor))
    }

    /// The project with this id.
    pub fn project(&self, id: &str) -> Option<ProjectHandle> {
        self.inner.projects.load().get(id).cloned()
    }

    /// Every project, in id order.
    pub fn projects(&self) -> Vec<ProjectHandle> {
        let mut all: Vec<ProjectHandle> = self.inner.projects.load().values().cloned().collect();
        all.sort_by(|a, b| a.id().cmp(b.id()));
        all
    }

    /// Creates a project with one write key named `default`; durable on return.
    pub async fn create_project(
        &self,
        name: String,
    ) -> Result<(ProjectRecord, IssuedKey), ProjectError> {
        let _guard = self.inner.create.lock().await;
        let record = ProjectRecord {
            id: self.inner.env.new_id(),
            name,
            created_at: rfc3339_millis(self.inner.env.now_millis()),
            allowed_origins: Vec::new(),
            session_scope: None,
        };
        let key_id = self.inner.env.new_id();
        let (key_record, key) = KeyRecord::issue(
            &self.inner.env,
            &self.inner.minter,
            &record.id,
            key_id.clone(),
            "default".into(),
            Permission::Write,
        );
        let encoded_record = crate::project::encode(&record);
        let encoded_key = crate::project::encode(&key_record);
        // The project and its first key in one transaction: a crash can never leave a project
        // without the key that was about to be printed.
        let ticket = self.inner.storage.submit(vec![
            Mutation::PutProject {
                project: record.id.clone(),
                record: encoded_record.clone(),
            },
            Mutation::PutKey {
                project: record.id.clone(),
                key_id: key_id.clone(),
                record: encoded_key.clone(),
            },
        ])?;
        ticket.await?;
        let mut snapshot = ProjectSnapshot {
            record: encoded_record,
            ..ProjectSnapshot::default()
        };
        snapshot.keys.insert(key_id.clone(), encoded_key);
        let handle = self.spawn(record.clone(), snapshot).await?;
        let mut map = ProjectMap::clone(&self.inner.projects.load());
        map.insert(record.id.clone(), handle.clone());
        self.inner.projects.store(Arc::new(map));
        self.owners().insert(key_id, record.id.clone());
        Ok((record, key))
    }

    /// Makes a key for a project; durable on return.
    pub async fn create_key(
        &self,
        project: &ProjectHandle,
        name: String,
        permission: Permission,
    ) -> Result<IssuedKey, ProjectError> {
        let key = project.create_key(name, permission).await?;
        self.owners()
            .insert(key.id.clone(), project.id().to_owned());
        Ok(key)
    }

    /// The project that owns a key.
    pub fn key_project(&self, key_id: &str) -> Option<ProjectHandle> {
        let owner = self.owners().get(key_id).cloned()?;
        self.project(&owner)
    }

    /// Regenerates a key: same id, name and permission, new secret; the old one is dead at once.
    pub async fn regenerate_key(&self, key_id: &str) -> Result<IssuedKey, ProjectError> {
        let project = self.key_project(key_id).ok_or_else(|| no_key(key_id))?;
        project.regenerate_key(key_id.to_owned()).await
    }

    /// Deletes a key; it is dead at once.
    pub async fn delete_key(&self, key_id: &str) -> Result<(), ProjectError> {
        let project = self.key_project(key_id).ok_or_else(|| no_key(key_id))?;
        project.delete_key(key_id.to_owned()).await?;
        self.owners().remove(key_id);
        Ok(())
    }

    /// Stops every project actor and the supervisor.
    pub fn stop(&self) {
        self.inner.supervisor.stop(None);
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A poisoned map is still a valid map: every update is a single insert or remove.
        self.inner
            .key_owner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

fn no_key(key_id: &str) -> ProjectError {
    ProjectError::not_found(format!("no API key '{key_id}'"))
}

enum SupervisorMsg {
    Spawn(
        ProjectArgs,
        RpcReplyPort<Result<ActorRef<ProjectMsg>, String>>,
    ),
}

struct SupervisorArgs {
    projects: Arc<ArcSwap<ProjectMap>>,
    storage: Storage,
    env: Env,
    minter: KeyMinter,
}

struct SupervisorState {
    args: SupervisorArgs,
    /// Which project each live actor serves, to restart the right one.
    children: HashMap<ActorId, String>,
}

struct Supervisor;

impl Supervisor {
    async fn spawn_child(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        args: ProjectArgs,
    ) -> Result<ActorRef<ProjectMsg>, String> {
        let id = args.record.id.clone();
        let (actor, _) = Actor::spawn_linked(None, ProjectActor, args, myself.get_cell())
            .await
            .map_err(|e| format!("project {id} failed to start: {e}"))?;
        state.children.insert(actor.get_id(), id);
        Ok(actor)
    }

    async fn restart(
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        project: String,
    ) {
        let a = &state.args;
        if let Err(e) = a.storage.flush().await {
            tracing::error!(project, error = %e, "flushing before a restart failed");
        }
        let snapshot = match a.storage.load_project(&project) {
            Ok(Some(s)) => s,
            Ok(None) => ProjectSnapshot::default(),
            Err(e) => {
                tracing::error!(project, error = %e, "reloading a failed project failed; it stays down");
                return;
            }
        };
        let record = match serde_json::from_slice::<ProjectRecord>(&snapshot.record) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(project, error = %e, "a failed project's record is unreadable; it stays down");
                return;
            }
        };
        let args = ProjectArgs {
            record,
            snapshot,
            storage: a.storage.clone(),
            env: a.env.clone(),
            minter: a.minter.clone(),
        };
        match Supervisor::spawn_child(myself, state, args).await {
            Ok(actor) => {
                if let Some(handle) = state.args.projects.load().get(&project) {
                    handle.replace_actor(actor);
                }
                tracing::warn!(project, "project actor restarted from storage");
            }
            Err(e) => {
                tracing::error!(project, error = %e, "restarting a project failed; it stays down")
            }
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            args,
            children: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Spawn(args, reply) => {
                let result = Supervisor::spawn_child(&myself, state, args).await;
                let _ = reply.send(result);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                if let Some(project) = state.children.remove(&cell.get_id()) {
                    tracing::error!(project, %error, "project actor failed");
                    Supervisor::restart(&myself, state, project).await;
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.children.remove(&cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}
