//! What the hub asks the project actor: a window at a commit (refill) and whether its
//! streams' credentials still hold (liveness).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;

use super::Hub;
use crate::error::ProjectError;
use crate::project::{Access, ProjectMsg};
use crate::realtime::window::{Entry, Spec};

impl Hub {
    pub(super) async fn refill(&self, spec: &Arc<Spec>, seq: u64) -> Option<Vec<Entry>> {
        let spec = spec.clone();
        match self
            .actor
            .call(
                |reply| ProjectMsg::WindowAt { spec, seq, reply },
                Some(Duration::from_secs(10)),
            )
            .await
        {
            Ok(CallResult::Success(window)) => window,
            _ => None,
        }
    }

    pub(super) async fn check_liveness(&mut self) {
        self.prune();
        if self.streams.is_empty() {
            return;
        }
        let mut distinct: HashMap<&str, (Access, Vec<u64>)> = HashMap::new();
        for (sid, stream) in &self.streams {
            distinct
                .entry(&stream.access_key)
                .or_insert_with(|| (stream.access.clone(), Vec::new()))
                .1
                .push(*sid);
        }
        let (accesses, sids): (Vec<Access>, Vec<Vec<u64>>) = distinct.into_values().unzip();
        let answer = self
            .actor
            .call(
                |reply| ProjectMsg::CheckAccess { accesses, reply },
                Some(Duration::from_secs(10)),
            )
            .await;
        let Ok(CallResult::Success(results)) = answer else {
            return;
        };
        let mut dead: HashMap<u64, ProjectError> = HashMap::new();
        for (result, sids) in results.into_iter().zip(sids) {
            if let Some(err) = result {
                dead.extend(sids.into_iter().map(|sid| (sid, err.clone())));
            }
        }
        if dead.is_empty() {
            return;
        }
        for member in self.classes.values().flat_map(|c| c.members.iter()) {
            if let Some(err) = dead.get(&member.sid) {
                member.sink.shared.fail(err.clone());
            }
        }
        self.remove_streams(dead.into_keys());
    }
}
