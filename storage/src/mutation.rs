//! The changes the writer applies: one [`Mutation`] per row written or removed.

use bytes::Bytes;

use crate::error::StorageError;

/// One change to durable state. The records are opaque bytes encoded by the caller.
///
/// Names (project, collection, ids, key ids, token hashes) must not contain a NUL byte; the
/// contract restricts them to `[A-Za-z0-9_.-]`, and `submit` refuses a NUL with
/// [`StorageError::InvalidName`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Mutation {
    /// Server-wide settings (the signing secret, format version, ...).
    PutMeta {
        /// The setting's name.
        key: String,
        /// Its encoded value.
        value: Bytes,
    },
    /// Remove a server-wide setting (no-op when absent).
    DeleteMeta {
        /// The setting's name.
        key: String,
    },
    /// Create or replace a project's record.
    PutProject {
        /// The project id.
        project: String,
        /// The encoded project record.
        record: Bytes,
    },
    /// Create or replace an API key of a project.
    PutKey {
        /// The project id.
        project: String,
        /// The key id.
        key_id: String,
        /// The encoded key record.
        record: Bytes,
    },
    /// Remove an API key.
    DeleteKey {
        /// The project id.
        project: String,
        /// The key id.
        key_id: String,
    },
    /// Create or replace a document.
    PutDoc {
        /// The project id.
        project: String,
        /// The collection name.
        collection: String,
        /// The document id.
        id: String,
        /// The stored document, as served.
        doc: Bytes,
        /// The `seq` of the commit that writes it (its ETag, CONTRACT section 12).
        seq: u64,
    },
    /// Remove a document.
    DeleteDoc {
        /// The project id.
        project: String,
        /// The collection name.
        collection: String,
        /// The document id.
        id: String,
    },
    /// Create or replace an end user.
    PutUser {
        /// The project id.
        project: String,
        /// The user id.
        user_id: String,
        /// The encoded user record.
        record: Bytes,
    },
    /// Remove an end user (their sessions are deleted by their own mutations).
    DeleteUser {
        /// The project id.
        project: String,
        /// The user id.
        user_id: String,
    },
    /// Create or replace a session, keyed by the hash of its token.
    PutSession {
        /// The project id.
        project: String,
        /// The hash of the session token.
        token_hash: String,
        /// The encoded session record.
        record: Bytes,
    },
    /// Remove a session.
    DeleteSession {
        /// The project id.
        project: String,
        /// The hash of the session token.
        token_hash: String,
    },
    /// Create or replace a one-time sign-in token, keyed by its hash.
    PutMagicLink {
        /// The project id.
        project: String,
        /// The hash of the sign-in token.
        token_hash: String,
        /// The encoded token record.
        record: Bytes,
    },
    /// Remove a one-time sign-in token.
    DeleteMagicLink {
        /// The project id.
        project: String,
        /// The hash of the sign-in token.
        token_hash: String,
    },
    /// Record the commit sequence number of a project's write. Submit it with the write it numbers
    /// (one submit is one transaction), so the two are durable together. `ClearProject` leaves it.
    PutSeq {
        /// The project id.
        project: String,
        /// The write's `seq`.
        seq: u64,
    },
    /// Remove every document, user, session and magic link of a project (its record and keys stay).
    ClearProject {
        /// The project id.
        project: String,
    },
}

impl Mutation {
    /// The names that end up in a key, and the value, if any.
    fn parts(&self) -> ([&str; 3], Option<&Bytes>) {
        match self {
            Mutation::PutMeta { key, value } => ([key, "", ""], Some(value)),
            Mutation::DeleteMeta { key } => ([key, "", ""], None),
            Mutation::PutProject { project, record } => ([project, "", ""], Some(record)),
            Mutation::PutKey {
                project,
                key_id,
                record,
            } => ([project, key_id, ""], Some(record)),
            Mutation::DeleteKey { project, key_id } => ([project, key_id, ""], None),
            Mutation::PutDoc {
                project,
                collection,
                id,
                doc,
                ..
            } => ([project, collection, id], Some(doc)),
            Mutation::DeleteDoc {
                project,
                collection,
                id,
            } => ([project, collection, id], None),
            Mutation::PutUser {
                project,
                user_id,
                record,
            } => ([project, user_id, ""], Some(record)),
            Mutation::DeleteUser { project, user_id } => ([project, user_id, ""], None),
            Mutation::PutSession {
                project,
                token_hash,
                record,
            }
            | Mutation::PutMagicLink {
                project,
                token_hash,
                record,
            } => ([project, token_hash, ""], Some(record)),
            Mutation::DeleteSession {
                project,
                token_hash,
            }
            | Mutation::DeleteMagicLink {
                project,
                token_hash,
            } => ([project, token_hash, ""], None),
            Mutation::ClearProject { project } | Mutation::PutSeq { project, .. } => {
                ([project, "", ""], None)
            }
        }
    }

    /// Bytes of names and value: what counts against `max_batch_bytes`.
    pub(crate) fn weight(&self) -> usize {
        let (names, value) = self.parts();
        names.iter().map(|n| n.len()).sum::<usize>() + value.map_or(0, Bytes::len)
    }

    /// Refuses a NUL byte in any name: it is the key separator.
    pub(crate) fn check_names(&self) -> Result<(), StorageError> {
        let (names, _) = self.parts();
        match names.iter().find(|n| n.as_bytes().contains(&0)) {
            Some(bad) => Err(StorageError::InvalidName((*bad).to_owned())),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_counts_names_and_value() {
        let m = Mutation::PutDoc {
            project: "p".into(),
            collection: "todos".into(),
            id: "abc".into(),
            doc: Bytes::from_static(b"0123456789"),
            seq: 1,
        };
        assert_eq!(m.weight(), 1 + 5 + 3 + 10);
        assert_eq!(
            Mutation::ClearProject {
                project: "proj".into()
            }
            .weight(),
            4
        );
    }

    #[test]
    fn nul_in_any_name_is_refused() {
        let bad = Mutation::DeleteDoc {
            project: "p".into(),
            collection: "c".into(),
            id: "a\0b".into(),
        };
        assert_eq!(
            bad.check_names(),
            Err(StorageError::InvalidName("a\0b".into()))
        );
        let good = Mutation::DeleteDoc {
            project: "p".into(),
            collection: "c".into(),
            id: "a.b-c_9".into(),
        };
        assert_eq!(good.check_names(), Ok(()));
    }
}
