//! A sim client: proposes writes through whoever is leader (following `NotLeader` hints,
//! rotating on silence), records every acknowledged write, and after each ack reads the write
//! back from a random node through a linearizable read (read-your-writes).

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::net::{self, Lossy, READ, WRITE};
use super::node::{Answer, ReadReq, WriteReq};
use super::{Ack, Shared, mix};
use crate::types::NodeId;

/// How long a client waits for one answer.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How many times a client tries one write (or one read) before it gives up on it.
const ATTEMPTS: usize = 200;

async fn ask(shared: &Shared, lossy: &Lossy, to: NodeId, path: &str, body: &[u8]) -> Answer {
    match net::call(&shared.key, lossy, to, path, body, TIMEOUT).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| Answer::Failed {
            error: e.to_string(),
        }),
        Err(e) => Answer::Failed {
            error: e.to_string(),
        },
    }
}

fn next(node: NodeId) -> NodeId {
    node % 3 + 1
}

/// Client `c`'s whole life.
pub(crate) async fn run(shared: Shared, c: u64) -> turmoil::Result {
    let seed = shared.config.seed;
    let mut rng = StdRng::seed_from_u64(mix(&[seed, 1000 + c]));
    let lossy = Lossy::new(
        mix(&[seed, 2000 + c]),
        shared.config.loss,
        shared.config.max_delay,
    );
    let mut target: NodeId = 1 + c % 3;
    for n in 0..shared.config.writes {
        // Think time, so the writes spread over the fault schedule.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..600))).await;
        let key = format!("c{c}-{n}");
        let value = format!("v{c}.{n}.{seed}");
        let req = WriteReq {
            key: key.clone(),
            reg: format!("r{}", rng.random_range(0..3u8)),
            value: value.clone(),
        };
        let body = serde_json::to_vec(&req)?;
        let mut acked = None;
        for _ in 0..ATTEMPTS {
            match ask(&shared, &lossy, target, WRITE, &body).await {
                Answer::Written { index } => {
                    acked = Some(index);
                    break;
                }
                Answer::NotLeader { leader: Some(l) } if l != target => target = l,
                _ => {
                    target = next(target);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        let Some(index) = acked else {
            shared.event(format!("c{c} gave up on {key}"));
            continue;
        };
        shared.event(format!("c{c} ack {key} at {index} from n{target}"));
        shared.ack(Ack {
            key: key.clone(),
            value: value.clone(),
            index,
        });

        let body = serde_json::to_vec(&ReadReq { key: key.clone() })?;
        let mut reader: NodeId = rng.random_range(1..=3);
        for _ in 0..ATTEMPTS {
            match ask(&shared, &lossy, reader, READ, &body).await {
                Answer::Value { value: seen } => {
                    if seen.as_deref() != Some(value.as_str()) {
                        shared.violation(format!(
                            "read-your-writes: c{c} read {key} from n{reader} after its ack at \
                             {index} and saw {seen:?}"
                        ));
                    }
                    shared.event(format!("c{c} read {key} from n{reader}"));
                    break;
                }
                Answer::NotLeader { leader: Some(l) } if l != reader => reader = l,
                _ => {
                    reader = next(reader);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    shared.event(format!("c{c} done"));
    Ok(())
}
