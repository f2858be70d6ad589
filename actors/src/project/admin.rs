//! The admin family of the project actor: the record and settings, API keys, reset, import.
//! Its message enum, the handlers and the [`ProjectHandle`] methods live together here; the
//! caller (admin API or dashboard) has already checked the operator's credentials.

use mammoth_storage::{Mutation, Ticket};
use serde_json::Value;

use super::{ImportDoc, ImportOutcome, ProjectHandle, ProjectMsg, ProjectState, Reply};
use crate::access::validate_session_scope;
use crate::error::ProjectError;
use crate::realtime::HubMsg;
use crate::records::{IssuedKey, KeyInfo, KeyRecord, Permission, ProjectRecord, encode};

/// Settings an operator changes with `PATCH /admin/v1/projects/{id}`; `None` keeps a setting.
#[derive(Debug, Default)]
pub struct ProjectUpdate {
    /// The new name.
    pub name: Option<String>,
    /// Canonical origins magic links may redirect to and browsers may call from.
    pub allowed_origins: Option<Vec<String>>,
    /// The new session scope (`Some(None)` removes it); validated by the actor.
    pub session_scope: Option<Option<Value>>,
    /// TTL policies to set (`Some(path)`) or remove (`None`), by collection (CONTRACT section 14).
    pub ttl: Option<crate::ttl::PolicyUpdate>,
}

/// Operator calls on one project.
#[derive(Debug)]
pub(crate) enum AdminMsg {
    /// The project's record.
    Describe {
        /// Where the answer goes.
        reply: Reply<ProjectRecord>,
    },
    /// Change the project's settings.
    Update {
        /// What to change.
        update: ProjectUpdate,
        /// Where the answer goes.
        reply: Reply<(ProjectRecord, Ticket)>,
    },
    /// Remove every collection, user and session; keys stay.
    Reset {
        /// Where the answer goes.
        reply: Reply<Ticket>,
    },
    /// Make a new key.
    CreateKey {
        /// The key's name, e.g. `staging`.
        name: String,
        /// What the key may do.
        permission: Permission,
        /// Where the answer goes.
        reply: Reply<(IssuedKey, Ticket)>,
    },
    /// List keys without secrets.
    ListKeys {
        /// Where the answer goes.
        reply: Reply<Vec<KeyInfo>>,
    },
    /// Replace a key's secret; the old one dies at once.
    RegenerateKey {
        /// The key's id.
        key_id: String,
        /// Where the answer goes.
        reply: Reply<(IssuedKey, Ticket)>,
    },
    /// Delete a key.
    DeleteKey {
        /// The key's id.
        key_id: String,
        /// Where the answer goes.
        reply: Reply<Ticket>,
    },
    /// Number of documents in the project.
    DocumentCount {
        /// Where the answer goes.
        reply: Reply<usize>,
    },
    /// The record, the keys and the document count, in one message (the operator pages).
    Overview {
        /// Where the answer goes.
        reply: Reply<ProjectOverview>,
    },
    /// Apply a chunk of imported documents in one commit (`project/import.rs`).
    Import {
        /// The documents, with their line numbers.
        docs: Vec<ImportDoc>,
        /// Where the answer goes.
        reply: Reply<ImportOutcome>,
    },
}

/// What the operator pages show of a project, read at one point of its history.
#[derive(Debug, Clone)]
pub struct ProjectOverview {
    /// The project's record.
    pub record: ProjectRecord,
    /// Its keys, without secrets, by id.
    pub keys: Vec<KeyInfo>,
    /// Documents stored.
    pub documents: usize,
}

impl ProjectState {
    fn key_infos(&self) -> Vec<KeyInfo> {
        let mut keys: Vec<KeyInfo> = self.keys.values().map(KeyInfo::from).collect();
        keys.sort_by(|a, b| a.id.cmp(&b.id));
        keys
    }
}

impl ProjectState {
    pub(super) fn admin(&mut self, msg: AdminMsg) {
        match msg {
            AdminMsg::Describe { reply } => {
                let _ = reply.send(Ok(self.record.clone()));
            }
            AdminMsg::Update { update, reply } => {
                let mut record = self.record.clone();
                if let Some(name) = update.name {
                    record.name = name;
                }
                if let Some(origins) = update.allowed_origins {
                    record.allowed_origins = origins;
                }
                if let Some(scope) = update.session_scope {
                    if let Some(scope) = &scope
                        && let Err(e) = validate_session_scope(scope)
                    {
                        let _ = reply.send(Err(ProjectError::new(
                            e.code,
                            format!("session_scope: {}", e.message),
                        )));
                        return;
                    }
                    record.session_scope = scope;
                }
                if let Some(ttl) = &update.ttl {
                    for (collection, path) in ttl {
                        match path {
                            Some(path) => record.ttl.insert(collection.clone(), path.clone()),
                            None => record.ttl.remove(collection),
                        };
                    }
                }
                let result = self
                    .storage
                    .submit(vec![Mutation::PutProject {
                        project: record.id.clone(),
                        record: encode(&record),
                    }])
                    .map_err(ProjectError::from)
                    .map(|ticket| {
                        self.record = record.clone();
                        if let Some(ttl) = &update.ttl {
                            self.apply_policies(ttl);
                        }
                        (record, ticket)
                    });
                let _ = reply.send(result);
            }
            AdminMsg::Reset { reply } => {
                // A reset takes a `seq` of its own but is not replayable: the ring is forgotten,
                // so every stream (closed here) resumes with `reset` and a fresh snapshot.
                let seq = self.log.next_seq();
                let result = self
                    .storage
                    .submit(vec![
                        Mutation::ClearProject {
                            project: self.record.id.clone(),
                        },
                        self.log.seq_mutation(seq),
                    ])
                    .map_err(ProjectError::from)
                    .inspect(|_| {
                        self.collections.clear();
                        self.clear_expiries();
                        self.bytes = 0;
                        self.users.clear();
                        self.log.append(Vec::new());
                        self.log.forget();
                        let _ = self.hub.send(HubMsg::CloseAll(ProjectError::unavailable(
                            "the project was reset; reconnect to get a fresh snapshot",
                        )));
                    });
                let _ = reply.send(result);
            }
            AdminMsg::CreateKey {
                name,
                permission,
                reply,
            } => {
                let id = self.env.new_id();
                let _ = reply.send(self.issue_key(id, name, permission));
            }
            AdminMsg::ListKeys { reply } => {
                let _ = reply.send(Ok(self.key_infos()));
            }
            AdminMsg::Overview { reply } => {
                let _ = reply.send(Ok(ProjectOverview {
                    record: self.record.clone(),
                    keys: self.key_infos(),
                    documents: self.collections.values().map(|c| c.len()).sum(),
                }));
            }
            AdminMsg::RegenerateKey { key_id, reply } => {
                let result = match self.keys.get(&key_id) {
                    Some(old) => {
                        let (name, permission) = (old.name.clone(), old.permission);
                        self.issue_key(key_id, name, permission)
                    }
                    None => Err(no_key(&key_id)),
                };
                let _ = reply.send(result);
            }
            AdminMsg::DeleteKey { key_id, reply } => {
                let result = if self.keys.contains_key(&key_id) {
                    self.storage
                        .submit(vec![Mutation::DeleteKey {
                            project: self.record.id.clone(),
                            key_id: key_id.clone(),
                        }])
                        .map_err(ProjectError::from)
                        .inspect(|_| {
                            self.keys.remove(&key_id);
                        })
                } else {
                    Err(no_key(&key_id))
                };
                let _ = reply.send(result);
            }
            AdminMsg::DocumentCount { reply } => {
                let _ = reply.send(Ok(self.collections.values().map(|c| c.len()).sum()));
            }
            AdminMsg::Import { docs, reply } => {
                let _ = reply.send(self.import(docs));
            }
        }
    }

    /// Makes (or remakes, under the same id) a key with a fresh nonce and stores it.
    fn issue_key(
        &mut self,
        id: String,
        name: String,
        permission: Permission,
    ) -> Result<(IssuedKey, mammoth_storage::Ticket), ProjectError> {
        let (record, issued) = KeyRecord::issue(
            &self.env,
            &self.minter,
            &self.record.id,
            id,
            name,
            permission,
        );
        let ticket = self.storage.submit(vec![Mutation::PutKey {
            project: record.project_id.clone(),
            key_id: record.id.clone(),
            record: encode(&record),
        }])?;
        self.keys.insert(record.id.clone(), record);
        Ok((issued, ticket))
    }
}

fn no_key(key_id: &str) -> ProjectError {
    ProjectError::not_found(format!("no API key '{key_id}'"))
}

impl ProjectHandle {
    /// The project's record.
    pub async fn describe(&self) -> Result<ProjectRecord, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::Describe { reply }))
            .await
    }

    /// Changes the project's settings; durable on return. 400 for an invalid session scope.
    pub async fn update(&self, update: ProjectUpdate) -> Result<ProjectRecord, ProjectError> {
        let (record, ticket) = self
            .call(|reply| ProjectMsg::Admin(AdminMsg::Update { update, reply }))
            .await?;
        self.durable(ticket).await?;
        Ok(record)
    }

    /// Removes every collection, user and session; durable on return.
    pub async fn reset(&self) -> Result<(), ProjectError> {
        let ticket = self
            .call(|reply| ProjectMsg::Admin(AdminMsg::Reset { reply }))
            .await?;
        self.durable(ticket).await
    }

    /// Makes a key; durable on return.
    pub async fn create_key(
        &self,
        name: String,
        permission: Permission,
    ) -> Result<IssuedKey, ProjectError> {
        let (key, ticket) = self
            .call(|reply| {
                ProjectMsg::Admin(AdminMsg::CreateKey {
                    name,
                    permission,
                    reply,
                })
            })
            .await?;
        self.durable(ticket).await?;
        Ok(key)
    }

    /// Lists keys without secrets.
    pub async fn keys(&self) -> Result<Vec<KeyInfo>, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::ListKeys { reply }))
            .await
    }

    /// Replaces a key's secret; durable on return.
    pub async fn regenerate_key(&self, key_id: String) -> Result<IssuedKey, ProjectError> {
        let (key, ticket) = self
            .call(|reply| ProjectMsg::Admin(AdminMsg::RegenerateKey { key_id, reply }))
            .await?;
        self.durable(ticket).await?;
        Ok(key)
    }

    /// Deletes a key; durable on return.
    pub async fn delete_key(&self, key_id: String) -> Result<(), ProjectError> {
        let ticket = self
            .call(|reply| ProjectMsg::Admin(AdminMsg::DeleteKey { key_id, reply }))
            .await?;
        self.durable(ticket).await
    }

    /// Number of documents.
    pub async fn document_count(&self) -> Result<usize, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::DocumentCount { reply }))
            .await
    }

    /// The record, the keys and the document count, read in one message.
    pub async fn overview(&self) -> Result<ProjectOverview, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::Overview { reply }))
            .await
    }

    /// Applies a chunk of imported documents as one commit; await the outcome's ticket before
    /// reporting them imported.
    pub async fn import(&self, docs: Vec<ImportDoc>) -> Result<ImportOutcome, ProjectError> {
        self.call(|reply| ProjectMsg::Admin(AdminMsg::Import { docs, reply }))
            .await
    }
}
