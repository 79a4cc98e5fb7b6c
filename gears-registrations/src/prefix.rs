//! Which registrations a key event fires: RedisGears' prefix rule.
//!
//! A registration's `prefix` ending in `*` matches every key that starts with the
//! part before the `*`; any other prefix matches only the key equal to it (it is not
//! a glob: `user:*:name` is an exact key). Matches come back in the order the
//! registrations were added, which is the order RedisGears fires them in.

use std::collections::HashMap;
use std::hash::Hash;

/// A registration's key rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRule {
    /// Keys starting with these bytes (the prefix had a trailing `*`).
    StartsWith(Vec<u8>),
    /// Exactly this key.
    Exact(Vec<u8>),
}

impl KeyRule {
    /// The rule of a registration's `prefix` argument.
    pub fn from_prefix(prefix: &[u8]) -> KeyRule {
        match prefix.strip_suffix(b"*") {
            Some(start) => KeyRule::StartsWith(start.to_vec()),
            None => KeyRule::Exact(prefix.to_vec()),
        }
    }

    /// Whether `key` matches.
    pub fn matches(&self, key: &[u8]) -> bool {
        match self {
            KeyRule::StartsWith(start) => key.starts_with(start),
            KeyRule::Exact(exact) => key == exact.as_slice(),
        }
    }
}

/// Registrations by key rule; `R` identifies a registration.
#[derive(Debug)]
pub struct PrefixIndex<R> {
    /// Exact keys → (insertion number, registration).
    exact: HashMap<Vec<u8>, Vec<(u64, R)>>,
    /// Prefix rules, in insertion order.
    prefixes: Vec<(u64, Vec<u8>, R)>,
    next: u64,
}

impl<R> Default for PrefixIndex<R> {
    fn default() -> PrefixIndex<R> {
        PrefixIndex {
            exact: HashMap::new(),
            prefixes: Vec::new(),
            next: 0,
        }
    }
}

impl<R: Clone + PartialEq + Eq + Hash> PrefixIndex<R> {
    /// An empty index.
    pub fn new() -> PrefixIndex<R> {
        PrefixIndex::default()
    }

    /// Adds a registration with the rule of `prefix`.
    pub fn insert(&mut self, prefix: &[u8], registration: R) {
        let order = self.next;
        self.next += 1;
        match KeyRule::from_prefix(prefix) {
            KeyRule::Exact(key) => self
                .exact
                .entry(key)
                .or_default()
                .push((order, registration)),
            KeyRule::StartsWith(start) => self.prefixes.push((order, start, registration)),
        }
    }

    /// Removes every rule of `registration`.
    pub fn remove(&mut self, registration: &R) {
        self.prefixes.retain(|(_, _, r)| r != registration);
        self.exact.retain(|_, entries| {
            entries.retain(|(_, r)| r != registration);
            !entries.is_empty()
        });
    }

    /// The registrations `key` fires, in the order they were added.
    pub fn matching(&self, key: &[u8]) -> Vec<R> {
        let mut found: Vec<(u64, R)> = self
            .prefixes
            .iter()
            .filter(|(_, start, _)| key.starts_with(start))
            .map(|(order, _, r)| (*order, r.clone()))
            .collect();
        if let Some(entries) = self.exact.get(key) {
            found.extend(entries.iter().cloned());
            found.sort_by_key(|(order, _)| *order);
        }
        found.into_iter().map(|(_, r)| r).collect()
    }

    /// True when no registration is indexed.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.exact.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(b"*".as_slice(), b"anything".as_slice(), true)]
    #[case(b"*", b"", true)]
    #[case(b"user:*", b"user:1", true)]
    #[case(b"user:*", b"user:", true)]
    #[case(b"user:*", b"users:1", false)]
    #[case(b"user", b"user", true)]
    #[case(b"user", b"user:1", false)]
    #[case(b"user:*:name", b"user:1:name", false)]
    #[case(b"user:*:name", b"user:*:name", true)]
    #[case(b"*stream*", b"mystream", false)]
    #[case(b"*stream*", b"*stream-1", true)]
    fn the_prefix_rule_is_not_a_glob(
        #[case] prefix: &[u8],
        #[case] key: &[u8],
        #[case] matches: bool,
    ) {
        assert_eq!(KeyRule::from_prefix(prefix).matches(key), matches);
    }

    #[test]
    fn matches_come_in_registration_order() {
        let mut index = PrefixIndex::new();
        index.insert(b"user:*", "prefix-a");
        index.insert(b"user:1", "exact-b");
        index.insert(b"*", "all-c");
        index.insert(b"order:*", "other-d");
        assert_eq!(
            index.matching(b"user:1"),
            vec!["prefix-a", "exact-b", "all-c"]
        );
        assert_eq!(index.matching(b"user:2"), vec!["prefix-a", "all-c"]);
        assert_eq!(index.matching(b"x"), vec!["all-c"]);
        index.remove(&"all-c");
        index.remove(&"exact-b");
        assert_eq!(index.matching(b"user:1"), vec!["prefix-a"]);
        index.remove(&"prefix-a");
        index.remove(&"other-d");
        assert!(index.is_empty());
    }
}
