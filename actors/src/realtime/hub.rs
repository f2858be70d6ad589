//! The per-project fan-out task: groups (one window per distinct query and scope), classes (one
//! per distinct subscription, i.e. list of named groups) and the streams of each class.
//!
//! Per commit the hub evaluates the groups the index names, encodes each changed group's change
//! list once, then builds one `changes` frame per affected *class* and queues that same
//! [`Bytes`](bytes::Bytes) frame on every stream of the class. 1,000 streams on one query are
//! one class: one evaluation, one encoding, 1,000 queue pushes. Writing to the sockets happens
//! on each stream's own connection task, spread over the runtime's worker threads.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::ActorRef;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

mod calls;

use super::index::SubIndex;
use super::stream::{Frame, Sink};
use super::window::{
    Entry, Spec, Update, diff, encode_changes, local_update, parse, push_json_str,
};
use super::{HubMsg, LIVENESS_EVERY, Opening, PING_EVERY, Subscription};
use crate::commitlog::Commit;
use crate::error::ProjectError;
use crate::project::{Access, ProjectMsg};

struct Group {
    spec: Arc<Spec>,
    window: Vec<Entry>,
    /// The classes reading it.
    classes: Vec<u64>,
    /// Whether new streams at the hub's position may join it.
    shared: bool,
}

/// A query name and the group it reads.
type Part = (Arc<str>, u64);

/// Streams with identical subscriptions: they receive the very same frames.
struct Class {
    parts: Vec<Part>,
    members: Vec<Member>,
}

struct Member {
    sid: u64,
    sink: Sink,
}

struct StreamInfo {
    class: u64,
    access: Access,
    /// Equal for streams of the same credential (computed once, for the liveness check).
    access_key: Box<str>,
}

/// The per-project fan-out task.
pub(crate) struct Hub {
    actor: ActorRef<ProjectMsg>,
    groups: HashMap<u64, Group>,
    shared_groups: HashMap<String, u64>,
    classes: HashMap<u64, Class>,
    class_of_parts: HashMap<Vec<Part>, u64>,
    index: SubIndex,
    streams: HashMap<u64, StreamInfo>,
    next_id: u64,
    evaluations: Arc<AtomicU64>,
}

impl Hub {
    /// Starts the hub of a project; it ends when the actor drops the sender.
    pub(crate) fn spawn(actor: ActorRef<ProjectMsg>) -> mpsc::UnboundedSender<HubMsg> {
        let (tx, rx) = mpsc::unbounded_channel();
        let hub = Hub {
            actor,
            groups: HashMap::new(),
            shared_groups: HashMap::new(),
            classes: HashMap::new(),
            class_of_parts: HashMap::new(),
            index: SubIndex::default(),
            streams: HashMap::new(),
            next_id: 0,
            evaluations: Arc::new(AtomicU64::new(0)),
        };
        tokio::spawn(hub.run(rx));
        tx
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<HubMsg>) {
        let mut tick = tokio::time::interval(LIVENESS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    None => break,
                    Some(HubMsg::Commit { commit, durable }) => {
                        if durable.await.is_err() {
                            self.close_all(ProjectError::unavailable(
                                "a write failed to reach the disk; reconnect with Last-Event-ID to resume",
                            ));
                            continue;
                        }
                        self.process(&commit, None).await;
                    }
                    Some(HubMsg::Subscribe(sub)) => self.add(*sub).await,
                    Some(HubMsg::CloseAll(err)) => self.close_all(err),
                },
                _ = tick.tick() => self.check_liveness().await,
                _ = ping.tick() => {
                    for class in self.classes.values() {
                        for member in &class.members {
                            member.sink.ping();
                        }
                    }
                }
            }
        }
        self.close_all(ProjectError::unavailable(
            "the project restarted; reconnect with Last-Event-ID to resume",
        ));
    }

    fn close_all(&mut self, err: ProjectError) {
        for (_, class) in self.classes.drain() {
            for member in class.members {
                member.sink.shared.fail(err.clone());
            }
        }
        self.streams.clear();
        self.class_of_parts.clear();
        self.groups.clear();
        self.shared_groups.clear();
        self.index.clear();
    }

    async fn add(&mut self, sub: Subscription) {
        self.prune();
        let Subscription {
            sink,
            opening:
                Opening {
                    access,
                    queries,
                    start,
                    replay,
                    reset,
                    snapshot,
                    durable,
                },
        } = sub;
        if durable.await.is_err() {
            sink.shared.fail(ProjectError::unavailable(
                "a write failed to reach the disk; retry",
            ));
            return;
        }
        let _ = sink.shared.evaluations.set(self.evaluations.clone());
        let sid = self.next_id;
        self.next_id += 1;
        let mut snapshot_data = String::from("{\"queries\":{");
        let mut parts = Vec::with_capacity(queries.len());
        let shareable = replay.is_empty();
        for (i, (name, spec, window)) in queries.into_iter().enumerate() {
            if i > 0 {
                snapshot_data.push(',');
            }
            push_json_str(&mut snapshot_data, &name);
            snapshot_data.push_str(":[");
            for (j, e) in window.iter().enumerate() {
                if j > 0 {
                    snapshot_data.push(',');
                }
                snapshot_data.push_str(&String::from_utf8_lossy(&e.bytes));
            }
            snapshot_data.push(']');
            let existing = shareable
                .then(|| self.shared_groups.get(&spec.key).copied())
                .flatten();
            let gid = match existing {
                Some(gid) => gid,
                None => {
                    let gid = self.next_id;
                    self.next_id += 1;
                    if shareable {
                        self.shared_groups.insert(spec.key.clone(), gid);
                    }
                    self.index.insert(gid, &spec);
                    self.groups.insert(
                        gid,
                        Group {
                            spec: Arc::new(spec),
                            window,
                            classes: Vec::new(),
                            shared: shareable,
                        },
                    );
                    gid
                }
            };
            parts.push((Arc::<str>::from(name), gid));
        }
        snapshot_data.push_str("}}");
        if let Some(reason) = reset {
            let data = serde_json::json!({ "reason": reason }).to_string();
            sink.send(Frame::new("reset", None, data.as_bytes()));
        }
        if snapshot {
            sink.send(Frame::new(
                "snapshot",
                Some(start),
                snapshot_data.as_bytes(),
            ));
        }
        let private: Vec<u64> = if shareable {
            Vec::new()
        } else {
            parts.iter().map(|(_, gid)| *gid).collect()
        };
        let cid = match self.class_of_parts.get(&parts) {
            Some(&cid) => cid,
            None => {
                let cid = self.next_id;
                self.next_id += 1;
                for (_, gid) in &parts {
                    if let Some(group) = self.groups.get_mut(gid)
                        && !group.classes.contains(&cid)
                    {
                        group.classes.push(cid);
                    }
                }
                self.class_of_parts.insert(parts.clone(), cid);
                self.classes.insert(
                    cid,
                    Class {
                        parts,
                        members: Vec::new(),
                    },
                );
                cid
            }
        };
        if let Some(class) = self.classes.get_mut(&cid) {
            class.members.push(Member { sid, sink });
        }
        let access_key = format!("{:?}\u{0}{:?}", access.principal, access.origin).into();
        self.streams.insert(
            sid,
            StreamInfo {
                class: cid,
                access,
                access_key,
            },
        );
        for commit in replay {
            self.process(&commit, Some(&private)).await;
        }
    }

    /// Drops streams whose client went away or that failed, and what nobody reads any more.
    fn prune(&mut self) {
        let dead: Vec<u64> = self
            .classes
            .values()
            .flat_map(|c| c.members.iter())
            .filter(|m| m.sink.is_closed())
            .map(|m| m.sid)
            .collect();
        self.remove_streams(dead);
    }

    /// Removes streams (their sinks end them as `unavailable` unless they already failed).
    fn remove_streams(&mut self, sids: impl IntoIterator<Item = u64>) {
        let mut by_class: HashMap<u64, HashSet<u64>> = HashMap::new();
        for sid in sids {
            if let Some(info) = self.streams.remove(&sid) {
                by_class.entry(info.class).or_default().insert(sid);
            }
        }
        for (cid, sids) in by_class {
            let Some(class) = self.classes.get_mut(&cid) else {
                continue;
            };
            class.members.retain(|m| !sids.contains(&m.sid));
            if !class.members.is_empty() {
                continue;
            }
            let class = self.classes.remove(&cid).expect("present");
            self.class_of_parts.remove(&class.parts);
            for (_, gid) in &class.parts {
                let Some(group) = self.groups.get_mut(gid) else {
                    continue;
                };
                group.classes.retain(|c| *c != cid);
                if group.classes.is_empty() {
                    let group = self.groups.remove(gid).expect("present");
                    if group.shared {
                        self.shared_groups.remove(&group.spec.key);
                    }
                    self.index.remove(*gid, &group.spec);
                }
            }
        }
    }

    /// Reports one commit to the readers of `groups` (`None`: the groups the index says it may
    /// change).
    async fn process(&mut self, commit: &Commit, groups: Option<&[u64]>) {
        if groups.is_some_and(<[u64]>::is_empty) || self.groups.is_empty() {
            return;
        }
        // Each changed document parsed once, shared by every group.
        let parsed: Vec<Option<Map<String, Value>>> = commit
            .changes
            .iter()
            .map(|c| c.after.as_deref().map(parse))
            .collect();
        let candidates;
        let groups = match groups {
            Some(groups) => groups,
            None => {
                candidates = self.index.candidates(commit, &parsed);
                &candidates[..]
            }
        };
        self.evaluations
            .fetch_add(groups.len() as u64, Ordering::Relaxed);
        // Group -> its encoded change list for this commit.
        let mut fragments: HashMap<u64, String> = HashMap::new();
        let mut failed_groups = Vec::new();
        for &gid in groups {
            let Some(group) = self.groups.get(&gid) else {
                continue;
            };
            let spec = group.spec.clone();
            let touched: Vec<usize> = (0..commit.changes.len())
                .filter(|&i| commit.changes[i].collection == spec.collection)
                .collect();
            let new_window = match local_update(&spec, &group.window, commit, &touched, &parsed) {
                Update::Same => continue,
                Update::Window(w) => w,
                Update::Refill => match self.refill(&spec, commit.seq).await {
                    Some(w) => w,
                    None => {
                        failed_groups.push(gid);
                        continue;
                    }
                },
            };
            let Some(group) = self.groups.get_mut(&gid) else {
                continue;
            };
            let changes = diff(&group.window, &new_window, commit, &touched);
            group.window = new_window;
            if !changes.is_empty() {
                fragments.insert(gid, encode_changes(&changes));
            }
        }
        let mut gone = Vec::new();
        for gid in failed_groups {
            for cid in self
                .groups
                .get(&gid)
                .map(|g| g.classes.clone())
                .unwrap_or_default()
            {
                for member in self.classes.get(&cid).map_or(&[][..], |c| &c.members) {
                    member.sink.shared.fail(ProjectError::unavailable(
                        "the stream fell too far behind; reconnect with Last-Event-ID",
                    ));
                    gone.push(member.sid);
                }
            }
        }
        let mut affected: Vec<u64> = fragments
            .keys()
            .filter_map(|gid| self.groups.get(gid))
            .flat_map(|g| g.classes.iter().copied())
            .collect();
        affected.sort_unstable();
        affected.dedup();
        for cid in affected {
            let Some(class) = self.classes.get(&cid) else {
                continue;
            };
            let frame = changes_frame(commit.seq, &class.parts, &fragments);
            for member in &class.members {
                if !member.sink.send(frame.clone()) {
                    gone.push(member.sid);
                }
            }
        }
        if !gone.is_empty() {
            self.remove_streams(gone);
        }
    }
}

/// The `changes` frame of one class: its changed queries' fragments, in its query order.
fn changes_frame(seq: u64, parts: &[Part], fragments: &HashMap<u64, String>) -> Frame {
    let mut data = String::with_capacity(
        16 + parts
            .iter()
            .filter_map(|(n, g)| fragments.get(g).map(|f| n.len() + f.len() + 4))
            .sum::<usize>(),
    );
    data.push_str("{\"changes\":{");
    let mut first = true;
    for (name, gid) in parts {
        let Some(fragment) = fragments.get(gid) else {
            continue;
        };
        if !first {
            data.push(',');
        }
        first = false;
        push_json_str(&mut data, name);
        data.push(':');
        data.push_str(fragment);
    }
    data.push_str("}}");
    Frame::new("changes", Some(seq), data.as_bytes())
}
