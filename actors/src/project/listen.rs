//! Commits and realtime streams inside the project actor: numbering each write, handing it to
//! the fan-out, and opening streams (see [`crate::realtime`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mammoth_storage::{Mutation, Ticket};

use super::{Access, ProjectState};
use crate::commitlog::DocChange;
use crate::error::ProjectError;
use crate::realtime::{
    self, Entry, HubMsg, ListenQuery, Listener, MAX_QUERIES, Spec, window_at, window_now,
};

impl ProjectState {
    /// Submits a write's mutations with the next `seq` (one submit: one transaction). Answers
    /// the writer's ticket, and a second one for the fan-out while streams are open.
    pub(super) fn submit_commit(
        &mut self,
        mut mutations: Vec<Mutation>,
    ) -> Result<(Ticket, Option<Ticket>), ProjectError> {
        mutations.push(self.log.seq_mutation(self.log.next_seq()));
        if self.streams.load(Ordering::Acquire) > 0 {
            let (ticket, watch) = self.storage.submit_watched(mutations)?;
            Ok((ticket, Some(watch)))
        } else {
            Ok((self.storage.submit(mutations)?, None))
        }
    }

    /// Appends the commit [`ProjectState::submit_commit`] numbered to the log, and hands it to
    /// the fan-out when it has a ticket to wait for.
    pub(super) fn publish(&mut self, changes: Vec<DocChange>, watch: Option<Ticket>) {
        self.track_expiries(&changes);
        let commit = self.log.append(changes);
        if let Some(durable) = watch {
            let _ = self.hub.send(HubMsg::Commit { commit, durable });
        }
    }

    /// Opens a stream: the same credential and scope checks as a query, then every window at
    /// one `seq`, then the subscription, all in this one message.
    pub(super) fn listen(
        &mut self,
        access: Access,
        queries: Vec<ListenQuery>,
        last_event_id: Option<u64>,
    ) -> Result<Listener, ProjectError> {
        let reach = self.authorize(&access, false)?;
        if queries.is_empty() || queries.len() > MAX_QUERIES {
            return Err(ProjectError::bad_request(format!(
                "a listen request has 1 to {MAX_QUERIES} queries, found {}",
                queries.len()
            )));
        }
        let mut specs = Vec::with_capacity(queries.len());
        for q in &queries {
            let scope = reach.filter(&q.collection)?;
            specs.push((q.name.clone(), Spec::new(&q.collection, &q.query, scope)));
        }
        let now = self.log.last_seq();
        let resume = last_event_id.and_then(|seq| self.log.since(seq).map(|r| (seq, r)));
        let reset = match (last_event_id, &resume) {
            (Some(_), None) => Some("the server no longer holds the commits after Last-Event-ID"),
            _ => None,
        };
        let (start, replay, snapshot) = match resume {
            Some((seq, replay)) => (seq, replay, false),
            None => (now, Vec::new(), true),
        };
        let queries = specs
            .into_iter()
            .map(|(name, spec)| {
                let collection = self.collections.get(&*spec.collection);
                let window = if start == now {
                    window_now(collection, &spec)
                } else {
                    window_at(collection, &self.log, &spec, start).unwrap_or_default()
                };
                (name, spec, window)
            })
            .collect();
        let durable = self.storage.durable_point();
        let opening = realtime::Opening {
            access,
            queries,
            start,
            replay,
            reset,
            snapshot,
            durable,
        };
        let (listener, subscription) = realtime::subscribe(&self.streams, opening)?;
        self.hub
            .send(HubMsg::Subscribe(Box::new(subscription)))
            .map_err(|_| ProjectError::unavailable("the project is restarting; retry shortly"))?;
        Ok(listener)
    }

    /// A window at commit `seq`, for the fan-out.
    pub(super) fn window_at(&self, spec: &Arc<Spec>, seq: u64) -> Option<Vec<Entry>> {
        window_at(
            self.collections.get(&*spec.collection),
            &self.log,
            spec,
            seq,
        )
    }
}
