//! The deterministic simulation of the replication layer (`mammoth_cluster::sim`): three turmoil
//! hosts running the real raft configuration, log store and state machine under partitions,
//! message loss, delay and reordering, crashes and restarts.
//!
//! - `seeds`: seeds `0..MAMMOTH_SIM_SEEDS` (default 64; `MAMMOTH_SIM_SEEDS=1000` runs the
//!   thousand), each checked for no acknowledged write lost, prefix-consistent state machines
//!   and read-your-writes. A failing seed prints its reproduction command.
//! - `one_seed`: `MAMMOTH_SIM_SEED=N` reruns one seed and prints its trace.
//! - `same_seed_same_trace`: determinism.
//! - `broken_rules_are_caught`: the checks fail when a rule is broken on purpose.

use std::time::Instant;

use mammoth_cluster::sim::{self, Bug, SimConfig};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn seeds() {
    let count = env_u64("MAMMOTH_SIM_SEEDS").unwrap_or(64);
    let first = env_u64("MAMMOTH_SIM_FIRST_SEED").unwrap_or(0);
    let started = Instant::now();
    let (mut acked, mut simulated) = (0, std::time::Duration::ZERO);
    for seed in first..first + count {
        match sim::run(&SimConfig::new(seed)) {
            Ok(outcome) => {
                acked += outcome.acked;
                simulated += outcome.simulated;
            }
            Err(failure) => panic!("{failure}"),
        }
    }
    println!(
        "sim: {count} seeds from {first} passed in {:.1} s wall ({:.0} s simulated, {acked} \
         acknowledged writes checked)",
        started.elapsed().as_secs_f64(),
        simulated.as_secs_f64()
    );
}

#[test]
fn one_seed() {
    let Some(seed) = env_u64("MAMMOTH_SIM_SEED") else {
        return;
    };
    match sim::run(&SimConfig::new(seed)) {
        Ok(outcome) => {
            for e in &outcome.trace {
                println!("{e}");
            }
        }
        Err(failure) => panic!("{failure}"),
    }
}

#[test]
fn same_seed_same_trace() {
    for seed in [7, 12345] {
        let a = sim::run(&SimConfig::new(seed)).unwrap_or_else(|f| panic!("{f}"));
        let b = sim::run(&SimConfig::new(seed)).unwrap_or_else(|f| panic!("{f}"));
        assert!(a.acked > 0, "seed {seed} acknowledged nothing");
        assert_eq!(a.trace, b.trace, "seed {seed} ran differently twice");
        assert_eq!(a.simulated, b.simulated);
    }
    let a = sim::run(&SimConfig::new(1)).unwrap_or_else(|f| panic!("{f}"));
    let b = sim::run(&SimConfig::new(2)).unwrap_or_else(|f| panic!("{f}"));
    assert_ne!(
        a.trace, b.trace,
        "different seeds should explore different runs"
    );
}

/// Each broken rule must make some seed among the first few fail.
#[test]
fn broken_rules_are_caught() {
    for bug in [Bug::SkipApply, Bug::AckBeforeCommit, Bug::StaleRead] {
        let caught = (0..40).find_map(|seed| {
            let config = SimConfig {
                bug: Some(bug),
                ..SimConfig::new(seed)
            };
            sim::run(&config).err()
        });
        let failure = caught.unwrap_or_else(|| panic!("{bug:?} was never caught in 40 seeds"));
        println!("{bug:?} caught: {}", failure.reason);
        assert!(failure.to_string().contains("reproduce: MAMMOTH_SIM_SEED="));
    }
}
