//! A deterministic simulation of the replication layer (feature `sim`), on
//! [turmoil](https://docs.rs/turmoil/0.7.2) (pinned `=0.7.2`).
//!
//! Three turmoil hosts run the real openraft configuration, the real log store (`log.rs`) and
//! state machine (`machine.rs`) on redb files in a temporary directory, talking over turmoil's
//! simulated TCP through [`net`] (MAC-signed frames). Writer clients propose through whoever is
//! leader and read each acknowledged write back with a linearizable read. From the seed: turmoil's
//! message latency (delay and reordering) and host order, message loss and extra delay in the
//! adapter, and a fault schedule of partitions, held (delayed) links and crashes with restarts.
//! After the faults heal and the clients finish, [`check`] verifies the files every node left.
//!
//! Same seed, same run: turmoil's rng and simulated clock drive everything; openraft's election
//! timeouts are pinned per node from the seed (see `node.rs`); state machine applies complete
//! before simulated time moves on. `tests/sim.rs` runs the seeds.

mod check;
mod client;
mod net;
mod node;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::auth::ClusterKey;
use crate::types::NodeId;

/// A rule deliberately broken, to show the checks catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// Writes are acknowledged when the leader accepts them, before they commit.
    AckBeforeCommit,
    /// Node 3's state machine drops every fifth normal entry.
    SkipApply,
    /// Reads skip the linearizable read check and answer from the local state machine.
    StaleRead,
}

/// One simulation run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Everything random in the run comes from this.
    pub seed: u64,
    /// Concurrent writer clients.
    pub writers: u64,
    /// Writes each client makes.
    pub writes: u64,
    /// How long the fault schedule runs (simulated time).
    pub chaos: Duration,
    /// The probability that the adapter loses a request, and separately its answer.
    pub loss: f64,
    /// The adapter delays each request by up to this long.
    pub max_delay: Duration,
    /// A broken rule, or `None` for the real code.
    pub bug: Option<Bug>,
}

impl SimConfig {
    /// The configuration CI runs for `seed`.
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            writers: 3,
            writes: 12,
            chaos: Duration::from_secs(6),
            loss: 0.03,
            max_delay: Duration::from_millis(20),
            bug: None,
        }
    }
}

/// A run that passed.
#[derive(Debug)]
pub struct Outcome {
    /// What happened, in order (equal for equal seeds).
    pub trace: Vec<String>,
    /// Writes acknowledged.
    pub acked: usize,
    /// Simulated time the run took.
    pub simulated: Duration,
}

/// A run that found a violation (or could not finish).
#[derive(Debug)]
pub struct Failure {
    /// The seed, to reproduce with.
    pub seed: u64,
    /// What went wrong.
    pub reason: String,
    /// What happened up to then.
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed {} failed: {}", self.seed, self.reason)?;
        let skip = self.trace.len().saturating_sub(40);
        writeln!(f, "last events:")?;
        for e in &self.trace[skip..] {
            writeln!(f, "  {e}")?;
        }
        write!(
            f,
            "reproduce: MAMMOTH_SIM_SEED={} cargo test -p mammoth-cluster --test sim -- one_seed --nocapture",
            self.seed
        )
    }
}

/// An acknowledged write.
#[derive(Debug, Clone)]
pub(crate) struct Ack {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) index: u64,
}

#[derive(Default)]
struct Record {
    trace: Vec<String>,
    incarnations: BTreeMap<NodeId, u64>,
    acks: Vec<Ack>,
    violations: Vec<String>,
}

/// What hosts and clients share (one thread: turmoil runs every host on the test's thread).
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) dir: PathBuf,
    pub(crate) key: ClusterKey,
    record: Rc<RefCell<Record>>,
}

impl Shared {
    /// Records an event of a host or client (at its simulated time).
    pub(crate) fn event(&self, what: String) {
        self.event_at(turmoil::sim_elapsed().unwrap_or_default(), what);
    }

    /// Records an event at simulated time `at` (the fault schedule's, outside any host).
    fn event_at(&self, at: Duration, what: String) {
        let ms = at.as_millis();
        self.record
            .borrow_mut()
            .trace
            .push(format!("{ms:>6}ms {what}"));
    }

    pub(crate) fn next_incarnation(&self, id: NodeId) -> u64 {
        let mut r = self.record.borrow_mut();
        let n = r.incarnations.entry(id).or_default();
        *n += 1;
        *n
    }

    pub(crate) fn ack(&self, ack: Ack) {
        self.record.borrow_mut().acks.push(ack);
    }

    pub(crate) fn violation(&self, what: String) {
        self.event(format!("VIOLATION {what}"));
        self.record.borrow_mut().violations.push(what);
    }
}

/// splitmix64 over the words: the sim's derived seeds.
pub(crate) fn mix(words: &[u64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for w in words {
        h ^= *w;
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

/// A fault in force, and when it heals.
enum Heal {
    Repair(NodeId, NodeId),
    Release(NodeId, NodeId),
    Restart(NodeId),
}

/// After the clients finish, the healthy cluster runs this long so every node catches up.
const SETTLE: Duration = Duration::from_secs(3);
/// A run that has not finished after this much simulated time has lost liveness.
const LIMIT: Duration = Duration::from_secs(300);

/// Runs one seed: the simulation, then the checks.
pub fn run(config: &SimConfig) -> Result<Outcome, Failure> {
    let base = ["/dev/shm", "/tmp"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.is_dir())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("mammoth-sim-")
        .tempdir_in(base)
        .map_err(|e| Failure {
            seed: config.seed,
            reason: format!("temp dir: {e}"),
            trace: Vec::new(),
        })?;
    let shared = Shared {
        config: config.clone(),
        dir: tmp.path().to_path_buf(),
        key: ClusterKey::derive(b"sim cluster secret"),
        record: Rc::default(),
    };
    let result = simulate(&shared);
    let record = std::mem::take(&mut *shared.record.borrow_mut());
    let fail = |reason: String| Failure {
        seed: config.seed,
        reason,
        trace: record.trace.clone(),
    };
    let simulated = result.map_err(&fail)?;
    if let Some(v) = record.violations.first() {
        return Err(fail(v.clone()));
    }
    let summary = check::verify(tmp.path(), &record.acks).map_err(&fail)?;
    let mut trace = record.trace.clone();
    trace.push(format!("checked: {summary}"));
    Ok(Outcome {
        trace,
        acked: record.acks.len(),
        simulated,
    })
}

fn simulate(shared: &Shared) -> Result<Duration, String> {
    let config = &shared.config;
    let mut sim = turmoil::Builder::new()
        .rng_seed(config.seed)
        .enable_random_order()
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(LIMIT)
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(25))
        .build();
    for id in 1..=3 {
        let shared = shared.clone();
        sim.host(net::host(id), move || node::run(shared.clone(), id));
    }
    for c in 0..config.writers {
        sim.client(format!("c{c}"), client::run(shared.clone(), c));
    }

    let mut faults = StdRng::seed_from_u64(mix(&[config.seed, 77]));
    let mut healing: Vec<(Duration, Heal)> = Vec::new();
    let mut next_fault = Duration::from_millis(faults.random_range(200..800));
    let mut done_at = None;
    loop {
        let finished = sim.step().map_err(|e| format!("simulation: {e}"))?;
        let now = sim.elapsed();
        let (due, later): (Vec<_>, Vec<_>) = healing
            .drain(..)
            .partition(|(at, _)| *at <= now || now >= config.chaos);
        healing = later;
        for (_, heal) in due {
            match heal {
                Heal::Repair(a, b) => sim.repair(net::host(a), net::host(b)),
                Heal::Release(a, b) => sim.release(net::host(a), net::host(b)),
                Heal::Restart(n) => {
                    shared.event_at(now, format!("restart n{n}"));
                    sim.bounce(net::host(n));
                }
            }
        }
        if now < config.chaos && now >= next_fault {
            next_fault = now + Duration::from_millis(faults.random_range(200..1500));
            let heal_at = now + Duration::from_millis(faults.random_range(300..3000));
            let a: NodeId = faults.random_range(1..=3);
            let b = a % 3 + 1;
            let c = b % 3 + 1;
            match faults.random_range(0..4) {
                0 => {
                    shared.event_at(now, format!("isolate n{a}"));
                    sim.partition(net::host(a), net::host(b));
                    sim.partition(net::host(a), net::host(c));
                    healing.push((heal_at, Heal::Repair(a, b)));
                    healing.push((heal_at, Heal::Repair(a, c)));
                }
                1 => {
                    shared.event_at(now, format!("partition n{a}-n{b}"));
                    sim.partition(net::host(a), net::host(b));
                    healing.push((heal_at, Heal::Repair(a, b)));
                }
                2 => {
                    shared.event_at(now, format!("hold n{a}-n{b}"));
                    sim.hold(net::host(a), net::host(b));
                    healing.push((heal_at, Heal::Release(a, b)));
                }
                _ => {
                    let down = healing
                        .iter()
                        .any(|(_, h)| matches!(h, Heal::Restart(n) if *n == a));
                    if !down {
                        shared.event_at(now, format!("crash n{a}"));
                        sim.crash(net::host(a));
                        healing.push((heal_at, Heal::Restart(a)));
                    }
                }
            }
        }
        if finished && healing.is_empty() {
            let at = *done_at.get_or_insert(now);
            if now >= at + SETTLE {
                break;
            }
        }
    }
    Ok(sim.elapsed())
}
