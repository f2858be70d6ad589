//! The per-thread cache of verified credentials (API keys, scoped tokens), one generic type for
//! both. A credential's claims never change once signed, so a hit skips only the HMAC and the
//! decoding; liveness and expiry stay the caller's checks on every request. Only credentials whose
//! signature verified are inserted: forged ones never enter.
//!
//! Entries are keyed by the signer (one per server in the process) and the SHA-256 of the
//! credential string, never the string itself, so the key costs 40 bytes whatever the
//! credential's size. The cache is bounded both in entries and in the bytes its values weigh
//! (the caller's estimate, see [`CredCache::insert`]); inserting past either bound evicts
//! entries until the new one fits (CONTRACT section 18).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// One signer's id and the SHA-256 of a credential string.
type Key = (u64, [u8; 32]);

/// Most entries one cache (one per thread and credential kind) holds.
pub const MAX_ENTRIES: usize = 4096;

/// Most bytes one cache's entries weigh: 4 MiB, so ~8 MiB per worker thread for both kinds.
pub const MAX_BYTES: usize = 4 << 20;

/// What an entry costs beyond its value's own estimate: the key, the map's bookkeeping.
const ENTRY_OVERHEAD: usize = 64;

/// A bounded map from verified credential to what verifying it produced.
#[derive(Debug)]
pub struct CredCache<V> {
    entries: HashMap<Key, (V, usize)>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl<V: Clone> CredCache<V> {
    /// An empty cache holding at most `max_entries` entries weighing at most `max_bytes`.
    pub fn new(max_entries: usize, max_bytes: usize) -> CredCache<V> {
        CredCache {
            entries: HashMap::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    fn key(signer: u64, credential: &str) -> Key {
        (signer, Sha256::digest(credential.as_bytes()).into())
    }

    /// The value cached for `credential` under `signer`, if any.
    pub fn get(&self, signer: u64, credential: &str) -> Option<V> {
        self.entries
            .get(&Self::key(signer, credential))
            .map(|(value, _)| value.clone())
    }

    /// Caches `value` for `credential` (whose signature the caller verified). `weight` is the
    /// value's size in bytes as the caller estimates it; an entry heavier than the whole bound
    /// is not cached.
    pub fn insert(&mut self, signer: u64, credential: &str, value: V, weight: usize) {
        let cost = weight.saturating_add(ENTRY_OVERHEAD);
        if cost > self.max_bytes || self.max_entries == 0 {
            return;
        }
        let key = Self::key(signer, credential);
        if let Some((_, old)) = self.entries.remove(&key) {
            self.bytes -= old;
        }
        while self.entries.len() >= self.max_entries || self.bytes + cost > self.max_bytes {
            // Any entry will do: a miss costs one HMAC, and arbitrary eviction cannot be steered.
            let Some(victim) = self.entries.keys().next().copied() else {
                break;
            };
            if let Some((_, old)) = self.entries.remove(&victim) {
                self.bytes -= old;
            }
        }
        self.bytes += cost;
        self.entries.insert(key, (value, cost));
    }

    /// How many entries are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What the cached entries weigh, overhead included.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_returns_the_same_value_and_signers_stay_apart() {
        let mut cache = CredCache::new(16, 1 << 20);
        cache.insert(1, "token-a", 7u32, 4);
        assert_eq!(cache.get(1, "token-a"), Some(7));
        assert_eq!(cache.get(2, "token-a"), None, "another signer's entry");
        assert_eq!(cache.get(1, "token-b"), None);
        cache.insert(1, "token-a", 8, 4);
        assert_eq!(cache.get(1, "token-a"), Some(8));
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.bytes(),
            4 + ENTRY_OVERHEAD,
            "a replaced entry is not counted twice"
        );
    }

    #[test]
    fn many_large_tokens_stay_within_the_byte_bound() {
        let max_bytes = 1 << 20;
        let mut cache = CredCache::new(4096, max_bytes);
        let big = "x".repeat(374 * 1024);
        for i in 0..40 {
            let token = format!("{big}{i}");
            cache.insert(1, &token, token.clone(), token.len());
            assert!(
                cache.bytes() <= max_bytes,
                "{} > {max_bytes}",
                cache.bytes()
            );
            assert_eq!(cache.get(1, &token).as_deref(), Some(token.as_str()));
        }
        assert!(
            cache.len() <= 2,
            "{} entries of 374 KiB in 1 MiB",
            cache.len()
        );
        let whole: usize = cache.entries.values().map(|(_, cost)| cost).sum();
        assert_eq!(
            whole,
            cache.bytes(),
            "the running total matches the entries"
        );
    }

    #[test]
    fn the_entry_bound_holds_and_oversized_values_are_not_cached() {
        let mut cache = CredCache::new(8, 1 << 20);
        for i in 0..100 {
            cache.insert(i % 3, &format!("t{i}"), i, 10);
            assert!(cache.len() <= 8);
        }
        cache.insert(9, "huge", 0, 2 << 20);
        assert_eq!(cache.get(9, "huge"), None);
        assert!(cache.bytes() <= 8 * (10 + ENTRY_OVERHEAD));
    }
}
