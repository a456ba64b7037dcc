//! A bounded least-recently-used map: the per-isolate tier of the introspection, token-exchange,
//! decision and split-token caches. Each use stamps an entry with a logical clock; when the map is
//! full, inserting a new key first drops the entry used longest ago.
//!
//! Eviction scans the map (O(capacity)): the caches hold at most a few thousand entries and evict
//! only on a miss that is about to cost a network round trip, so a linked structure would buy
//! nothing measurable. Expiry is the caller's: entries carry their own `until`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// A map that keeps at most the capacity given to [`Lru::insert`], dropping the least recently
/// used entry first.
#[derive(Debug)]
pub struct Lru<K, V> {
    entries: HashMap<K, (V, u64)>,
    clock: u64,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Lru {
            entries: HashMap::new(),
            clock: 0,
        }
    }
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    /// The entry for `key`, marked as just used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.clock += 1;
        let tick = self.clock;
        let (value, used) = self.entries.get_mut(key)?;
        *used = tick;
        Some(value)
    }

    /// Stores `value` under `key`, marked as just used. A new key in a map holding `capacity`
    /// entries first drops the least recently used one; a `capacity` of 0 stores nothing.
    pub fn insert(&mut self, key: K, value: V, capacity: usize) {
        if capacity == 0 {
            return;
        }
        self.clock += 1;
        let tick = self.clock;
        if self.entries.len() >= capacity && !self.entries.contains_key(&key) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (value, tick));
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut lru = Lru::default();
        lru.insert(1, "a", 2);
        lru.insert(2, "b", 2);
        assert_eq!(lru.get(&1).copied(), Some("a")); // 2 is now the oldest
        lru.insert(3, "c", 2);
        assert_eq!(lru.get(&2), None);
        assert_eq!(lru.get(&1).copied(), Some("a"));
        assert_eq!(lru.get(&3).copied(), Some("c"));
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn replacing_a_key_evicts_nothing_and_capacity_zero_stores_nothing() {
        let mut lru = Lru::default();
        lru.insert("k", 1, 1);
        lru.insert("k", 2, 1);
        assert_eq!(lru.get(&"k").copied(), Some(2));
        assert_eq!(lru.len(), 1);
        let mut none: Lru<&str, i32> = Lru::default();
        none.insert("k", 1, 0);
        assert!(none.is_empty());
    }
}
