//! Objects with their history, under one global resourceVersion counter, as etcd keeps them.
//!
//! Every write takes the next resourceVersion and appends a revision to the object's history, so a
//! read at an older resourceVersion sees the objects as they were then. Revisions older than the
//! compaction point are gone, as after an etcd compaction.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::meta::set;

/// Identifies a collection: (group, resource).
pub(crate) type CollectionKey = (String, String);

/// Why a read at a resourceVersion cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Older than the compaction point.
    Compacted,
    /// Newer than the current resourceVersion.
    TooLarge {
        /// The current resourceVersion.
        current: u64,
    },
}

/// One version of an object: `None` once deleted.
#[derive(Debug, Clone)]
struct Revision {
    rv: u64,
    object: Option<Arc<Value>>,
}

/// A page of a list.
#[derive(Debug)]
pub(crate) struct Page {
    /// The objects, in key order.
    pub items: Vec<Arc<Value>>,
    /// Key after which the next page starts, when there is more.
    pub next_key: Option<String>,
    /// How many objects follow the page (all of them, matching or not).
    pub remaining: u64,
}

/// All objects and their history.
#[derive(Debug, Default)]
pub(crate) struct Store {
    collections: HashMap<CollectionKey, BTreeMap<String, Vec<Revision>>>,
    current: u64,
    compacted: u64,
}

/// The storage key of an object within its collection: `namespace/name`, or `name` when
/// cluster-scoped. Listing a namespace is listing the prefix `namespace/`.
pub(crate) fn object_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

impl Store {
    /// Adds a recorded object at its own resourceVersion, without bumping the counter.
    pub fn seed(&mut self, collection: &CollectionKey, key: String, object: Value) {
        let rv = resource_version_of(&object).unwrap_or(0);
        self.current = self.current.max(rv);
        let history = self
            .collections
            .entry(collection.clone())
            .or_default()
            .entry(key)
            .or_default();
        history.push(Revision {
            rv,
            object: Some(Arc::new(object)),
        });
        history.sort_by_key(|revision| revision.rv);
    }

    /// Raises the current resourceVersion to at least `rv` (a recorded list's resourceVersion).
    pub fn observe(&mut self, rv: u64) {
        self.current = self.current.max(rv);
    }

    /// The current resourceVersion.
    pub fn current(&self) -> u64 {
        self.current
    }

    /// The oldest resourceVersion a read can ask for.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Forgets history before the current resourceVersion, as an etcd compaction does.
    pub fn compact(&mut self) {
        let at = self.current;
        for objects in self.collections.values_mut() {
            objects.retain(|_, history| {
                let keep_from = history.iter().rposition(|r| r.rv <= at).unwrap_or(0);
                history.drain(..keep_from);
                history.iter().any(|r| r.object.is_some())
            });
        }
        self.compacted = at;
    }

    /// Checks that a read at `rv` can be served.
    pub fn check_readable(&self, rv: u64) -> Result<(), ReadError> {
        if rv < self.compacted {
            Err(ReadError::Compacted)
        } else if rv > self.current {
            Err(ReadError::TooLarge {
                current: self.current,
            })
        } else {
            Ok(())
        }
    }

    /// The object at `key` as of now.
    pub fn get(&self, collection: &CollectionKey, key: &str) -> Option<Arc<Value>> {
        let history = self.collections.get(collection)?.get(key)?;
        history.last()?.object.clone()
    }

    /// Objects under `prefix` as of `rv`, starting after `start_after`, at most `limit` of those
    /// `keep` accepts. The caller has checked `rv` with [`Store::check_readable`].
    pub fn list(
        &self,
        collection: &CollectionKey,
        prefix: &str,
        rv: u64,
        start_after: Option<&str>,
        limit: Option<usize>,
        keep: &dyn Fn(&Value) -> bool,
    ) -> Page {
        let mut page = Page {
            items: Vec::new(),
            next_key: None,
            remaining: 0,
        };
        let Some(objects) = self.collections.get(collection) else {
            return page;
        };
        let lower = match start_after {
            Some(start) if start >= prefix => Bound::Excluded(start.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        let visible = objects
            .range((lower, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter_map(|(key, history)| Some((key, at(history, rv)?)));
        let mut last_key = None;
        for (key, object) in visible {
            if limit.is_some_and(|limit| page.items.len() >= limit) {
                page.remaining += 1;
                page.next_key = last_key.clone();
                continue;
            }
            if keep(&object) {
                page.items.push(object);
            }
            last_key = Some(key.clone());
        }
        page
    }

    /// Writes `object` (or deletes, with `None`) at the next resourceVersion, which it sets in the
    /// object's `metadata.resourceVersion`. Returns the stored object.
    pub fn write(
        &mut self,
        collection: &CollectionKey,
        key: String,
        object: Option<Value>,
    ) -> Option<Arc<Value>> {
        self.current += 1;
        let rv = self.current;
        let object = object.map(|mut object| {
            set(
                &mut object,
                &["metadata", "resourceVersion"],
                json!(rv.to_string()),
            );
            Arc::new(object)
        });
        self.collections
            .entry(collection.clone())
            .or_default()
            .entry(key)
            .or_default()
            .push(Revision {
                rv,
                object: object.clone(),
            });
        object
    }
}

/// The object in `history` as of `rv`.
fn at(history: &[Revision], rv: u64) -> Option<Arc<Value>> {
    history
        .iter()
        .rev()
        .find(|revision| revision.rv <= rv)?
        .object
        .clone()
}

/// `metadata.resourceVersion` as a number.
pub(crate) fn resource_version_of(object: &Value) -> Option<u64> {
    object["metadata"]["resourceVersion"].as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CollectionKey {
        (String::new(), "configmaps".into())
    }

    fn cm(name: &str, rv: u64) -> Value {
        json!({"metadata": {"name": name, "namespace": "a", "resourceVersion": rv.to_string()}})
    }

    fn names(page: &Page) -> Vec<&str> {
        page.items
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn reads_at_an_older_version_see_the_state_then() {
        let mut store = Store::default();
        store.seed(&key(), "a/one".into(), cm("one", 5));
        store.observe(10);
        let before = store.current();
        store.write(&key(), "a/two".into(), Some(cm("two", 0)));
        store.write(&key(), "a/one".into(), None);
        let all = |rv| store.list(&key(), "a/", rv, None, None, &|_| true);
        assert_eq!(names(&all(before)), ["one"]);
        assert_eq!(names(&all(before + 1)), ["one", "two"]);
        assert_eq!(names(&all(store.current())), ["two"]);
        assert_eq!(
            store.get(&key(), "a/two").unwrap()["metadata"]["resourceVersion"],
            "11"
        );
    }

    #[test]
    fn compaction_makes_older_reads_fail_and_keeps_the_current_state() {
        let mut store = Store::default();
        store.seed(&key(), "a/one".into(), cm("one", 5));
        store.write(&key(), "a/one".into(), Some(cm("one", 0)));
        store.write(&key(), "a/two".into(), Some(cm("two", 0)));
        store.write(&key(), "a/two".into(), None);
        store.compact();
        assert_eq!(store.check_readable(6), Err(ReadError::Compacted));
        assert_eq!(
            store.check_readable(9),
            Err(ReadError::TooLarge { current: 8 })
        );
        let page = store.list(&key(), "a/", store.current(), None, None, &|_| true);
        assert_eq!(names(&page), ["one"]);
    }

    #[test]
    fn pages_stop_at_the_limit_and_say_where_to_go_on() {
        let mut store = Store::default();
        for name in ["a", "b", "c", "d"] {
            store.seed(&key(), format!("a/{name}"), cm(name, 1));
        }
        store.seed(&key(), "b/e".into(), cm("e", 1));
        let page = store.list(&key(), "a/", 1, None, Some(3), &|_| true);
        assert_eq!(names(&page), ["a", "b", "c"]);
        assert_eq!(page.next_key.as_deref(), Some("a/c"));
        assert_eq!(page.remaining, 1);
        let next = store.list(&key(), "a/", 1, Some("a/c"), Some(3), &|_| true);
        assert_eq!(names(&next), ["d"]);
        assert_eq!(next.next_key, None);
    }
}
