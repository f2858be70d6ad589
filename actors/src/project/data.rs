//! The data family of the project actor: documents, queries, aggregates and collection
//! listings (CONTRACT sections 5 to 8 and 13). Its message enum, the actor's dispatch of it,
//! and the [`ProjectHandle`] methods that build it live together here; every message is
//! confined by the one resolution of its credential, [`ProjectState::authorize`].

use bytes::Bytes;
use mammoth_storage::Ticket;
use serde_json::{Map, Value};

use super::{Access, ProjectHandle, ProjectMsg, ProjectState, Reply};
use crate::error::ProjectError;
use crate::etag::Precondition;
use crate::query::{Aggregation, Page, Query};
use crate::realtime::{ListenQuery, Listener};
use crate::records::Permission;

use super::batch::{Applied, BatchError, BatchOp};

/// A change to one document.
#[derive(Debug)]
pub enum WriteOp {
    /// Create, with the client's id or a generated one; 409 when the id exists.
    Create {
        /// Validated id, when the body had one.
        id: Option<String>,
        /// The body without `id`.
        body: Map<String, Value>,
    },
    /// Replace entirely, or create when missing.
    Replace {
        /// Validated id.
        id: String,
        /// The body without `id`.
        body: Map<String, Value>,
    },
    /// JSON Merge Patch (RFC 7396) into an existing document.
    Merge {
        /// Validated id.
        id: String,
        /// The patch without `id`.
        patch: Map<String, Value>,
    },
    /// Delete.
    Delete {
        /// Validated id.
        id: String,
    },
}

/// The outcome of a write.
#[derive(Debug)]
pub struct Written {
    /// The stored document (none for a delete).
    pub doc: Option<Bytes>,
    /// Whether the write created the document.
    pub created: bool,
    /// Completes when the write is durable.
    pub ticket: Ticket,
    /// The commit's `seq`: the document's new ETag ([`crate::etag`]).
    pub seq: u64,
}

/// A collection and how many documents it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// Name.
    pub name: String,
    /// Documents in it.
    pub count: usize,
}

/// Data calls on one project. Build them through [`ProjectHandle`].
#[derive(Debug)]
pub(crate) enum DataMsg {
    /// Read one document's stored bytes.
    Get {
        /// Who is asking.
        access: Access,
        /// The collection's name.
        collection: String,
        /// The document id.
        id: String,
        /// Where the answer goes: the bytes and the `seq` of its last write (its ETag).
        reply: Reply<(Bytes, u64)>,
    },
    /// Change one document.
    Write {
        /// Who is asking.
        access: Access,
        /// The collection's name.
        collection: String,
        /// The change.
        op: WriteOp,
        /// What must hold of the document first (`If-Match`, `If-None-Match`).
        precondition: Precondition,
        /// Where the answer goes.
        reply: Reply<Written>,
    },
    /// Apply several writes as one commit, all or nothing (CONTRACT section 12).
    Batch {
        /// Who is asking.
        access: Access,
        /// The ops, in order.
        ops: Vec<BatchOp>,
        /// Most ops allowed.
        max_ops: usize,
        /// Where the answer goes (an op's error carries its index).
        reply: Reply<Result<Applied, BatchError>>,
    },
    /// Run a query.
    Query {
        /// Who is asking.
        access: Access,
        /// The collection's name.
        collection: String,
        /// The parsed query.
        query: Box<Query>,
        /// Where the answer goes.
        reply: Reply<Page>,
    },
    /// Compute aggregates (CONTRACT section 13); confined exactly as a query.
    Aggregate {
        /// Who is asking.
        access: Access,
        /// The collection's name.
        collection: String,
        /// The parsed aggregates.
        aggregation: Box<Aggregation>,
        /// Where the answer goes: alias to value.
        reply: Reply<serde_json::Map<String, serde_json::Value>>,
    },
    /// List collections with their counts, sorted by name.
    Collections {
        /// Who is asking.
        access: Access,
        /// Where the answer goes.
        reply: Reply<Vec<CollectionInfo>>,
    },
    /// Check that the caller may read (or write) data at all, before its body is looked at, so
    /// that a credential error is never masked by a body error.
    AuthorizeData {
        /// Who is asking.
        access: Access,
        /// Whether the call would write.
        write: bool,
        /// Where the answer goes.
        reply: Reply<()>,
    },
    /// Check that a key is live; answers its effective permission.
    Authenticate {
        /// Who is asking.
        access: Access,
        /// Where the answer goes.
        reply: Reply<Permission>,
    },
}

impl ProjectState {
    /// The filter a read of `collection` runs under for `access` (`None`: everything), or why it
    /// is refused: the one check queries and aggregates share before they start.
    fn read_scope(
        &self,
        access: &Access,
        collection: &str,
    ) -> Result<Option<crate::query::Filter>, ProjectError> {
        self.authorize(access, false)
            .and_then(|reach| Ok(reach.filter(collection)?.cloned()))
    }

    pub(super) fn data(&mut self, msg: DataMsg) {
        match msg {
            DataMsg::Get {
                access,
                collection,
                id,
                reply,
            } => {
                let result = self
                    .authorize(&access, false)
                    .and_then(|reach| self.get(&collection, &id, reach.filter(&collection)?));
                let _ = reply.send(result);
            }
            DataMsg::Write {
                access,
                collection,
                op,
                precondition,
                reply,
            } => {
                let result = self.authorize(&access, true).and_then(|reach| {
                    let scope = reach.filter(&collection)?;
                    self.write_if(collection, op, precondition, scope)
                });
                let _ = reply.send(result);
            }
            DataMsg::Batch {
                access,
                ops,
                max_ops,
                reply,
            } => {
                let result = self.authorize(&access, true).map(|reach| {
                    self.commit_ops(ops, max_ops, &|collection| reach.filter(collection))
                });
                let _ = reply.send(result);
            }
            DataMsg::Query {
                access,
                collection,
                query,
                reply,
            } => match self.read_scope(&access, &collection) {
                Ok(scope) => self.start_query(collection, query, scope, reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            DataMsg::Aggregate {
                access,
                collection,
                aggregation,
                reply,
            } => match self.read_scope(&access, &collection) {
                Ok(scope) => self.start_aggregate(collection, aggregation, scope, reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            DataMsg::Collections { access, reply } => {
                let result = self
                    .authorize(&access, false)
                    .map(|reach| self.list(&reach));
                let _ = reply.send(result);
            }
            DataMsg::AuthorizeData {
                access,
                write,
                reply,
            } => {
                let _ = reply.send(self.authorize(&access, write).map(|_| ()));
            }
            DataMsg::Authenticate { access, reply } => {
                let _ = reply.send(self.authorize_auth(&access, false));
            }
        }
    }
}

impl ProjectHandle {
    /// A document's stored bytes.
    pub async fn get(
        &self,
        access: Access,
        collection: String,
        id: String,
    ) -> Result<Bytes, ProjectError> {
        Ok(self.get_tagged(access, collection, id).await?.0)
    }

    /// A document's stored bytes and the `seq` of its last write (its ETag, [`crate::etag`]).
    pub async fn get_tagged(
        &self,
        access: Access,
        collection: String,
        id: String,
    ) -> Result<(Bytes, u64), ProjectError> {
        self.count_request();
        self.call(|reply| {
            ProjectMsg::Data(DataMsg::Get {
                access,
                collection,
                id,
                reply,
            })
        })
        .await
    }

    /// Applies a write; await the returned ticket before acknowledging it.
    pub async fn write(
        &self,
        access: Access,
        collection: String,
        op: WriteOp,
    ) -> Result<Written, ProjectError> {
        self.write_if(access, collection, op, Precondition::none())
            .await
    }

    /// Applies a write when `precondition` holds (else 412 `precondition_failed`).
    pub async fn write_if(
        &self,
        access: Access,
        collection: String,
        op: WriteOp,
        precondition: Precondition,
    ) -> Result<Written, ProjectError> {
        self.count_request();
        self.call(|reply| {
            ProjectMsg::Data(DataMsg::Write {
                access,
                collection,
                op,
                precondition,
                reply,
            })
        })
        .await
    }

    /// Applies 1 to `max_ops` ops as one commit, all or nothing, with one `seq` and one
    /// durability ticket (await [`Applied::ticket`] before acknowledging). Each op is checked as
    /// its single call would be; the first that fails is named by its index and nothing is
    /// applied. `POST /v1/batch` caps at [`MAX_BATCH_OPS`]; bulk loaders may choose more.
    pub async fn batch(
        &self,
        access: Access,
        ops: Vec<BatchOp>,
        max_ops: usize,
    ) -> Result<Applied, BatchError> {
        self.count_request();
        self.call(|reply| {
            ProjectMsg::Data(DataMsg::Batch {
                access,
                ops,
                max_ops,
                reply,
            })
        })
        .await?
    }

    /// Runs a query.
    pub async fn query(
        &self,
        access: Access,
        collection: String,
        query: Query,
    ) -> Result<Page, ProjectError> {
        self.count_request();
        let query = Box::new(query);
        self.call(|reply| {
            ProjectMsg::Data(DataMsg::Query {
                access,
                collection,
                query,
                reply,
            })
        })
        .await
    }

    /// Computes aggregates over a collection.
    pub async fn aggregate(
        &self,
        access: Access,
        collection: String,
        aggregation: Aggregation,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ProjectError> {
        self.count_request();
        let aggregation = Box::new(aggregation);
        self.call(|reply| {
            ProjectMsg::Data(DataMsg::Aggregate {
                access,
                collection,
                aggregation,
                reply,
            })
        })
        .await
    }

    /// Opens a realtime stream (CONTRACT section 11).
    pub async fn listen(
        &self,
        access: Access,
        queries: Vec<ListenQuery>,
        last_event_id: Option<u64>,
    ) -> Result<Listener, ProjectError> {
        self.count_request();
        self.call(|reply| ProjectMsg::Listen {
            access,
            queries,
            last_event_id,
            reply,
        })
        .await
    }

    /// Lists collections.
    pub async fn collections(&self, access: Access) -> Result<Vec<CollectionInfo>, ProjectError> {
        self.count_request();
        self.call(|reply| ProjectMsg::Data(DataMsg::Collections { access, reply }))
            .await
    }

    /// Checks that `access` may reach data at all (writes when `write`); used when a request's
    /// body is invalid, so the credential error wins over the body error.
    pub async fn authorize_data(&self, access: Access, write: bool) -> Result<(), ProjectError> {
        self.call(|reply| {
            ProjectMsg::Data(DataMsg::AuthorizeData {
                access,
                write,
                reply,
            })
        })
        .await
    }

    /// Checks a key; answers its effective permission.
    pub async fn authenticate(&self, access: Access) -> Result<Permission, ProjectError> {
        self.call(|reply| ProjectMsg::Data(DataMsg::Authenticate { access, reply }))
            .await
    }
}
