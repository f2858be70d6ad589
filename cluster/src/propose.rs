//! Proposals: one ordered queue into raft, group-committed into log entries.

use std::sync::Arc;

use mammoth_storage::{Mutation, StorageError};
use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::mpsc;

use crate::Proposal;
use crate::types::{Command, Raft};

pub(crate) async fn write(raft: Raft, mutations: Vec<Mutation>) -> Result<(), StorageError> {
    match raft.client_write(Command { mutations }).await {
        Ok(_) => Ok(()),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
            Err(StorageError::Overloaded)
        }
        Err(RaftError::APIError(e)) => Err(StorageError::Io(e.to_string())),
        Err(RaftError::Fatal(_)) => Err(StorageError::Closed),
    }
}

/// Log entries proposed and not yet decided, at most: while they are in flight, new proposals
/// queue up and go out together as the next entry.
const MAX_ENTRIES_IN_FLIGHT: usize = 4;
/// Commits merged into one log entry, at most.
const MAX_COMMITS_PER_ENTRY: usize = 256;

/// Hands proposals to raft in the order the actors made them (a project's two writes of one
/// document must reach the log in the order memory applied them), then waits for each outcome
/// on a task of its own so proposals keep flowing.
///
/// Group commit for the log: openraft 0.9 appends (and our log store fsyncs) once per client
/// write, so one commit per entry would cap throughput at one commit per fsync. Instead, at most
/// [`MAX_ENTRIES_IN_FLIGHT`] entries are undecided at a time, and every proposal queued
/// meanwhile joins the next entry (its mutations concatenated in order). That is the same act
/// as applying them one by one: the state machine applies a batch of entries as one storage
/// transaction anyway, in log order. One entry's tickets share its outcome.
pub(crate) async fn propose_in_order(raft: Raft, mut queue: mpsc::UnboundedReceiver<Proposal>) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_ENTRIES_IN_FLIGHT));
    while let Some((first, mut promises)) = queue.recv().await {
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let mut mutations = first.mutations;
        let mut commits = 1;
        while commits < MAX_COMMITS_PER_ENTRY
            && let Ok((next, more)) = queue.try_recv()
        {
            mutations.extend(next.mutations);
            promises.extend(more);
            commits += 1;
        }
        match raft.client_write_ff(Command { mutations }).await {
            Ok(outcome) => {
                tokio::spawn(async move {
                    let result = match outcome.await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(ClientWriteError::ForwardToLeader(_))) => {
                            Err(StorageError::Overloaded)
                        }
                        Ok(Err(e)) => Err(StorageError::Io(e.to_string())),
                        Err(_) => Err(StorageError::Closed),
                    };
                    drop(permit);
                    for p in promises {
                        p.keep(result.clone());
                    }
                });
            }
            Err(_) => {
                for p in promises {
                    p.keep(Err(StorageError::Closed));
                }
            }
        }
    }
}
