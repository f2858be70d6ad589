//! The project registry and the supervisor of every project actor.
//!
//! The registry maps project ids to [`ProjectHandle`]s in an [`ArcSwap`]ped map: the hot path (one
//! lookup per request) takes no lock; creating a project, which is rare, copies the map.
//!
//! Supervision policy: every project actor is linked to one supervisor actor. When a project actor
//! panics, the supervisor starts a restart task and goes back to its mailbox: the task flushes
//! storage, reloads that project from what storage holds (every acknowledged write is there) and
//! builds its state on a blocking thread, spawns the new actor with that state and swaps it into
//! the project's handle; no other project is touched. Requests that reach the project while it
//! restarts get 503 and may retry. If reloading fails, the project stays down (503) and the
//! error is logged. Each completed restart bumps [`Registry::restarts`], which tests wait on.
//!
//! Loading never runs in an actor's mailbox or on an async worker: at start-up every project's
//! state is built on its own blocking thread, all at once, and only then are the actors spawned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use mammoth_storage::{Mutation, ProjectSnapshot, Snapshot, Storage};
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::watch;

use crate::env::Env;
use crate::error::ProjectError;
use crate::ids::rfc3339_millis;
use crate::project::{ProjectActor, ProjectArgs, ProjectHandle, ProjectMsg, ProjectState};
use crate::records::{IssuedKey, KeyMinter, KeyRecord, Permission, ProjectRecord};

mod reload;

type ProjectMap = HashMap<String, ProjectHandle>;
/// Which project each live actor serves, to restart the right one.
type Children = Arc<Mutex<HashMap<ActorId, String>>>;

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
    children: Children,
    /// Completed restarts since start; bumped after the new actor is in its handle.
    restarts: watch::Sender<u64>,
    storage: Storage,
    env: Env,
    minter: KeyMinter,
    /// Every project's byte quota; 0 = no limit.
    max_project_bytes: u64,
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
    /// indexes rebuilt, before returning. Projects load in parallel, one blocking thread each.
    pub async fn start(
        storage: Storage,
        snapshot: Snapshot,
        env: Env,
        minter: KeyMinter,
    ) -> Result<Registry, ProjectError> {
        Registry::start_with_quota(storage, snapshot, env, minter, 0).await
    }

    /// [`Registry::start`] with a per-project byte quota over stored documents
    /// (`--max-project-bytes`; 0 = no limit): a write that would take a project past it is
    /// refused with 413. Every project actor, including restarted ones, gets the same quota.
    pub async fn start_with_quota(
        storage: Storage,
        snapshot: Snapshot,
        env: Env,
        minter: KeyMinter,
        max_project_bytes: u64,
    ) -> Result<Registry, ProjectError> {
        let projects: Arc<ArcSwap<ProjectMap>> = Arc::default();
        let children = Children::default();
        let (restarts, _) = watch::channel(0);
        let args = SupervisorArgs {
            projects: projects.clone(),
            children: children.clone(),
            restarts: restarts.clone(),
            storage: storage.clone(),
            env: env.clone(),
            minter: minter.clone(),
            max_project_bytes,
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
                children,
                restarts,
                storage,
                env,
                minter,
                max_project_bytes,
            }),
        };
        let mut owners = HashMap::new();
        let mut loading = tokio::task::JoinSet::new();
        for (id, project) in snapshot.projects {
            for key_id in project.keys.keys() {
                owners.insert(key_id.clone(), id.clone());
            }
            let args = registry.args(&id, project);
            loading.spawn_blocking(move || build(&id, args?).map(|state| (id, state)));
        }
        let mut map = ProjectMap::new();
        while let Some(loaded) = loading.join_next().await {
            let (id, state) = loaded
                .map_err(|e| ProjectError::internal(format!("loading a project panicked: {e}")))?
                .map_err(ProjectError::internal)?;
            let handle = registry.spawn(id.clone(), state).await?;
            map.insert(id, handle);
        }
        registry.inner.projects.store(Arc::new(map));
        *registry.inner.key_owner.lock().expect("key_owner lock") = owners;
        Ok(registry)
    }

    /// What a project's actor starts from, with its stored record decoded.
    fn args(&self, id: &str, snapshot: ProjectSnapshot) -> Result<ProjectArgs, String> {
        project_args(
            id,
            snapshot,
            &self.inner.storage,
            &self.inner.env,
            &self.inner.minter,
            self.inner.max_project_bytes,
        )
    }

    /// Spawns an actor for a built state, linked to the supervisor.
    async fn spawn(&self, id: String, state: ProjectState) -> Result<ProjectHandle, ProjectError> {
        let actor = spawn_child(
            self.inner.supervisor.get_cell(),
            &self.inner.children,
            &id,
            state,
        )
        .await
        .map_err(ProjectError::internal)?;
        Ok(ProjectHandle::new(id, actor))
    }

    /// Completed restarts since start: a test crashes a project, then waits with
    /// `restarts.wait_for(|n| *n > before)` instead of polling.
    pub fn restarts(&self) -> watch::Receiver<u64> {
        self.inner.restarts.subscribe()
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
            ttl: Default::default(),
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
        let args = ProjectArgs {
            record: record.clone(),
            snapshot,
            storage: self.inner.storage.clone(),
            env: self.inner.env.clone(),
            minter: self.inner.minter.clone(),
            max_bytes: self.inner.max_project_bytes,
        };
        let id = record.id.clone();
        let state = tokio::task::spawn_blocking(move || build(&id, args))
            .await
            .map_err(|e| ProjectError::internal(format!("building a project panicked: {e}")))?
            .map_err(ProjectError::internal)?;
        let handle = self.spawn(record.id.clone(), state).await?;
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

/// What a project actor starts from: its decoded record and stored state.
fn project_args(
    id: &str,
    snapshot: ProjectSnapshot,
    storage: &Storage,
    env: &Env,
    minter: &KeyMinter,
    max_bytes: u64,
) -> Result<ProjectArgs, String> {
    let record: ProjectRecord = serde_json::from_slice(&snapshot.record)
        .map_err(|e| format!("the record of project {id} is corrupt: {e}"))?;
    Ok(ProjectArgs {
        record,
        snapshot,
        storage: storage.clone(),
        env: env.clone(),
        minter: minter.clone(),
        max_bytes,
    })
}

/// Builds a project's state (documents parsed, indexes built). CPU-bound: call it on a
/// blocking thread.
fn build(id: &str, args: ProjectArgs) -> Result<ProjectState, String> {
    ProjectState::load(args).map_err(|e| format!("project {id} failed to load: {e}"))
}

/// Spawns a project actor with its state already built, linked to `supervisor`, and records
/// which project it serves before anything can reach it.
async fn spawn_child(
    supervisor: ActorCell,
    children: &Children,
    id: &str,
    state: ProjectState,
) -> Result<ActorRef<ProjectMsg>, String> {
    let (actor, _) = Actor::spawn_linked(None, ProjectActor, state, supervisor)
        .await
        .map_err(|e| format!("project {id} failed to start: {e}"))?;
    lock(children).insert(actor.get_id(), id.to_owned());
    Ok(actor)
}

fn lock(children: &Children) -> std::sync::MutexGuard<'_, HashMap<ActorId, String>> {
    // A poisoned map is still a valid map: every update is a single insert or remove.
    children.lock().unwrap_or_else(|e| e.into_inner())
}

/// The supervisor takes no messages: it only hears its children's supervision events.
enum SupervisorMsg {}

#[derive(Clone)]
struct SupervisorArgs {
    projects: Arc<ArcSwap<ProjectMap>>,
    children: Children,
    restarts: watch::Sender<u64>,
    storage: Storage,
    env: Env,
    minter: KeyMinter,
    max_project_bytes: u64,
}

struct Supervisor;

impl SupervisorArgs {
    /// Reloads a failed project from storage and swaps the new actor into its handle. Runs on
    /// its own task, so the supervisor's mailbox never waits for the disk or a rebuild.
    async fn restart(self, supervisor: ActorCell, project: String) {
        if let Err(e) = self.storage.flush().await {
            tracing::error!(project, error = %e, "flushing before a restart failed");
        }
        let loader = self.clone();
        let id = project.clone();
        let built = tokio::task::spawn_blocking(move || {
            let snapshot = loader
                .storage
                .load_project(&id)
                .map_err(|e| format!("reloading project {id} failed: {e}"))?
                .unwrap_or_default();
            let args = project_args(
                &id,
                snapshot,
                &loader.storage,
                &loader.env,
                &loader.minter,
                loader.max_project_bytes,
            )?;
            build(&id, args)
        })
        .await
        .unwrap_or_else(|e| Err(format!("reloading project {project} panicked: {e}")));
        let spawned = match built {
            Ok(state) => spawn_child(supervisor, &self.children, &project, state).await,
            Err(e) => Err(e),
        };
        match spawned {
            Ok(actor) => {
                if let Some(handle) = self.projects.load().get(&project) {
                    handle.replace_actor(actor);
                }
                tracing::warn!(project, "project actor restarted from storage");
                self.restarts.send_modify(|n| *n += 1);
            }
            Err(e) => {
                tracing::error!(project, error = %e, "restarting a project failed; it stays down")
            }
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorArgs;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        _state: &mut SupervisorArgs,
    ) -> Result<(), ActorProcessingErr> {
        match msg {}
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorArgs,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                let project = lock(&state.children).remove(&cell.get_id());
                if let Some(project) = project {
                    tracing::error!(project, %error, "project actor failed");
                    tokio::spawn(state.clone().restart(myself.get_cell(), project));
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                lock(&state.children).remove(&cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}
