//! A least-recently-used map bounded by the total weight of its values (their size in bytes).
//!
//! Used for decoded tree nodes and for data blobs. Lookups and inserts are O(log n): the map holds
//! each value with the tick of its last use, and a B-tree orders the keys by that tick.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// The map; values are cloned out (they are `Arc`s).
pub(crate) struct Lru<K, V> {
    map: HashMap<K, Slot<V>>,
    order: BTreeMap<u64, K>,
    tick: u64,
    weight: usize,
    budget: usize,
}

struct Slot<V> {
    value: V,
    weight: usize,
    tick: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Lru<K, V> {
    /// An empty map that holds at most `budget` in total weight.
    pub(crate) fn new(budget: usize) -> Self {
        Lru {
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            weight: 0,
            budget,
        }
    }

    /// The value of `key`, marking it used.
    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        self.tick += 1;
        let slot = self.map.get_mut(key)?;
        self.order.remove(&slot.tick);
        slot.tick = self.tick;
        self.order.insert(self.tick, key.clone());
        Some(slot.value.clone())
    }

    /// The value of `key` without marking it used.
    pub(crate) fn peek(&self, key: &K) -> Option<V> {
        self.map.get(key).map(|s| s.value.clone())
    }

    /// True when `key` is held.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Inserts (or replaces) a value, then drops the least recently used values until the total
    /// fits the budget. A value heavier than the whole budget is not kept.
    pub(crate) fn insert(&mut self, key: K, value: V, weight: usize) {
        self.remove(&key);
        if weight > self.budget {
            return;
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.map.insert(
            key,
            Slot {
                value,
                weight,
                tick: self.tick,
            },
        );
        self.weight += weight;
        while self.weight > self.budget {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(slot) = self.map.remove(&oldest) {
                self.weight -= slot.weight;
            }
        }
    }

    /// Removes a value.
    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(slot) = self.map.remove(key) {
            self.order.remove(&slot.tick);
            self.weight -= slot.weight;
        }
    }

    /// Total weight held.
    pub(crate) fn weight(&self) -> usize {
        self.weight
    }

    /// Number of values held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_to_stay_in_budget() {
        let mut lru = Lru::new(10);
        lru.insert("a", 1, 4);
        lru.insert("b", 2, 4);
        assert_eq!(lru.get(&"a"), Some(1));
        lru.insert("c", 3, 4);
        assert_eq!(lru.peek(&"b"), None, "b was least recently used");
        assert_eq!((lru.peek(&"a"), lru.peek(&"c")), (Some(1), Some(3)));
        assert_eq!((lru.len(), lru.weight()), (2, 8));
        lru.insert("huge", 9, 11);
        assert!(!lru.contains(&"huge"));
        lru.insert("a", 5, 2);
        assert_eq!((lru.get(&"a"), lru.weight()), (Some(5), 6));
        lru.remove(&"a");
        assert_eq!((lru.len(), lru.weight()), (1, 4));
    }
}
