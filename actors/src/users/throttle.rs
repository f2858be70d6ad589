//! A sliding-window counter per email, bounded in memory (see the numbers in [`super`]).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

/// Hits per email within a sliding window.
#[derive(Debug)]
pub(super) struct Throttle {
    limit: usize,
    window_ms: u64,
    capacity: usize,
    /// Keyed hash of the email → the instants of its recent hits, oldest first, at most `limit`.
    hits: HashMap<u64, VecDeque<u64>>,
    /// Keys the email hash per process, so nobody can aim collisions at someone's email.
    hasher: RandomState,
    /// No full sweep of stale entries before this instant (at most one a minute when full).
    next_sweep_ms: u64,
}

impl Throttle {
    pub(super) fn new(limit: usize, window_ms: u64, capacity: usize) -> Throttle {
        Throttle {
            limit,
            window_ms,
            capacity,
            hits: HashMap::new(),
            hasher: RandomState::new(),
            next_sweep_ms: 0,
        }
    }

    /// Counts a hit at `now`, or answers the seconds to wait when the window is full.
    pub(super) fn hit(&mut self, email: &str, now: u64) -> Result<(), u64> {
        let key = self.hasher.hash_one(email);
        let since = now.saturating_sub(self.window_ms);
        if !self.hits.contains_key(&key) && self.hits.len() >= self.capacity && !self.make_room(now)
        {
            // Every entry is locked: forgetting one would reopen it to guessing, so the
            // newcomer waits instead (fail closed) until a window ends.
            return Err(self.window_ms.div_ceil(1000).max(1));
        }
        let hits = self.hits.entry(key).or_default();
        while hits.front().is_some_and(|&t| t <= since) {
            hits.pop_front();
        }
        if hits.len() >= self.limit {
            let free_at = hits.front().copied().unwrap_or(now) + self.window_ms;
            return Err((free_at.saturating_sub(now)).div_ceil(1000).max(1));
        }
        hits.push_back(now);
        Ok(())
    }

    pub(super) fn clear(&mut self, email: &str) {
        let key = self.hasher.hash_one(email);
        self.hits.remove(&key);
    }

    /// Frees one entry when full; answers false when every entry is locked. A locked entry (a
    /// full window not yet over) is never evicted: that would let a flood of other emails
    /// reset someone's lock.
    fn make_room(&mut self, now: u64) -> bool {
        let since = now.saturating_sub(self.window_ms);
        if now >= self.next_sweep_ms {
            self.hits
                .retain(|_, h| h.back().is_some_and(|&t| t > since));
            self.next_sweep_ms = now + 60_000;
        }
        if self.hits.len() < self.capacity {
            return true;
        }
        let limit = self.limit;
        let unlocked = |h: &VecDeque<u64>| h.iter().filter(|&&t| t > since).count() < limit;
        match self.hits.iter().find(|(_, h)| unlocked(h)).map(|(k, _)| *k) {
            Some(victim) => {
                self.hits.remove(&victim);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000;

    #[test]
    fn the_throttle_stays_bounded() {
        let mut t = Throttle::new(2, 1_000, 10);
        for i in 0..100u64 {
            t.hit(&format!("user{i}@b.co"), T0 + i).unwrap();
            assert!(t.hits.len() <= 10);
        }
        t.hit("x@b.co", T0 + 2_000).unwrap();
        assert!(t.hits.len() <= 10);
    }

    #[test]
    fn a_locked_email_is_never_evicted_before_its_window_ends() {
        let mut t = Throttle::new(2, 10_000, 10);
        t.hit("victim", T0).unwrap();
        t.hit("victim", T0 + 1).unwrap();
        assert!(t.hit("victim", T0 + 2).is_err(), "locked");
        // A flood of other emails fills the table many times over.
        for i in 0..1_000u64 {
            let _ = t.hit(&format!("flood{i}"), T0 + 10 + i);
            assert!(t.hits.len() <= 10);
        }
        assert!(t.hit("victim", T0 + 5_000).is_err(), "still locked");
        assert_eq!(
            t.hit("victim", T0 + 10_001),
            Ok(()),
            "free once its window ends"
        );
    }

    #[test]
    fn a_table_of_locked_entries_refuses_newcomers_instead_of_forgetting_a_lock() {
        let mut t = Throttle::new(1, 10_000, 3);
        for e in ["a", "b", "c"] {
            t.hit(e, T0).unwrap();
        }
        assert_eq!(t.hit("d", T0 + 1), Err(10));
        for e in ["a", "b", "c"] {
            assert!(t.hit(e, T0 + 2).is_err(), "{e} stays locked");
        }
        assert_eq!(t.hit("d", T0 + 10_001), Ok(()));
    }

    #[test]
    fn a_full_window_answers_the_seconds_until_its_oldest_hit_leaves() {
        let mut t = Throttle::new(2, 10_000, 10);
        t.hit("a", T0).unwrap();
        t.hit("a", T0 + 2_500).unwrap();
        assert_eq!(t.hit("a", T0 + 3_000), Err(7));
        assert_eq!(t.hit("a", T0 + 9_999), Err(1));
        assert_eq!(t.hit("a", T0 + 10_000), Ok(()));
        t.clear("a");
        assert_eq!(t.hit("a", T0 + 10_001), Ok(()));
    }
}
