//! `--cluster` parsing and the health prober that feeds `up` and the peers' HTTP addresses.

use std::collections::BTreeMap;

use crate::network::{self, Network};
use crate::{ClusterError, PROBE_EVERY, auth};

/// Probes every other node's health route, so `up` reflects followers too.
pub(crate) async fn probe(network: Network, me: u64, peers: BTreeMap<u64, String>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tick.tick().await;
        for (id, addr) in peers.iter().filter(|(id, _)| **id != me) {
            let mac = network.key.sign(network::HEALTH, b"");
            let answer = network
                .client
                .get(format!("http://{addr}{}", network::HEALTH))
                .header(auth::HEADER, mac)
                .timeout(PROBE_EVERY)
                .send()
                .await;
            let Ok(answer) = answer else { continue };
            if !answer.status().is_success() {
                continue;
            }
            network.liveness.saw(*id);
            if let Ok(body) = answer.json::<serde_json::Value>().await
                && let Some(http) = body["http"].as_str()
            {
                network.liveness.set_http(*id, http.to_owned());
            }
        }
    }
}

/// Parses `--cluster 1=host:port,2=host:port,...`.
pub fn parse_peers(list: &str) -> Result<BTreeMap<u64, String>, ClusterError> {
    let mut peers = BTreeMap::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| ClusterError::Config(format!("`{item}` is not ID=HOST:PORT")))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| ClusterError::Config(format!("`{id}` is not a node id (a number)")))?;
        let addr = addr.trim();
        if addr.parse::<std::net::SocketAddr>().is_err() && !addr.contains(':') {
            return Err(ClusterError::Config(format!("`{addr}` is not HOST:PORT")));
        }
        if peers.insert(id, addr.to_owned()).is_some() {
            return Err(ClusterError::Config(format!(
                "node id {id} is listed twice"
            )));
        }
    }
    if peers.is_empty() {
        return Err(ClusterError::Config("--cluster lists no node".into()));
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_bad_lists_are_refused() {
        let p = parse_peers("1=127.0.0.1:7001, 2=127.0.0.2:7002,3=127.0.0.3:7003").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[&2], "127.0.0.2:7002");
        for bad in ["", "1", "x=1.2.3.4:5", "1=a:1,1=b:2", "1=nope"] {
            assert!(parse_peers(bad).is_err(), "{bad}");
        }
    }
}
