//! Operator calls inside the project actor: the record, API keys, reset.

use bytes::Bytes;
use mammoth_storage::Mutation;

use super::{AdminMsg, ProjectState};
use crate::access::validate_session_scope;
use crate::error::ProjectError;
use crate::realtime::HubMsg;
use crate::records::{IssuedKey, KeyInfo, KeyRecord, Permission};

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
                let mut keys: Vec<KeyInfo> = self.keys.values().map(KeyInfo::from).collect();
                keys.sort_by(|a, b| a.id.cmp(&b.id));
                let _ = reply.send(Ok(keys));
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

/// Encodes a record for storage.
pub(crate) fn encode<T: serde::Serialize>(record: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(record).expect("records always encode"))
}
