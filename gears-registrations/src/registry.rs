//! The registry: every live registration, and the indexes that find the ones an event
//! fires.
//!
//! Registrations are kept in the order they were made (RG.DUMPREGISTRATIONS lists
//! them so, and events fire them so). Besides the id, indexes answer the questions
//! the event side asks: which StreamReader registrations a stream concerns (the
//! prefix rule of [`crate::prefix`]), which registration a trigger name runs, and
//! which hooks a command has (newest first). KeysReader registrations need no index
//! here: the module keeps its own copy of them for its keyspace events, taken when
//! registrations change ([`Registry::keys_matching`] says what it must match). The checks RedisGears
//! makes before it accepts a CommandReader registration live here too
//! ([`Registry::verify`]), with its error texts.
//!
//! `P` is what the runtime keeps beside each registration (the plan with its
//! callbacks); the registry never looks into it.

use crate::prefix::{KeyRule, PrefixIndex};
use crate::registration::{CommandTrigger, Mode, ReaderArgs, Registration};
use gears_protocol::GearsId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One registration in the registry: its model (stats change from any thread, so it
/// is behind a lock) and the runtime's payload.
#[derive(Debug)]
pub struct Entry<P> {
    id: GearsId,
    registration: Mutex<Registration>,
    payload: P,
    /// Executions triggered and not yet added to the stats. The thread of the
    /// event counts them here, without the registration's lock, which the
    /// worker takes once per finished execution: sharing that lock's memory per
    /// event between the two threads costs more than the counting. On its own
    /// cache line for the same reason.
    triggered: PaddedCounter,
}

/// A counter alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct PaddedCounter(AtomicU64);

impl<P> Entry<P> {
    /// Its id.
    pub fn id(&self) -> GearsId {
        self.id
    }

    /// The registration, locked (finished executions are counted through it; read
    /// the stats through [`Entry::counted`], which adds the triggered ones).
    pub fn registration(&self) -> MutexGuard<'_, Registration> {
        self.registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The runtime's payload.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// Counts a triggered execution (added to the stats by [`Entry::counted`]).
    pub fn count_triggered(&self) {
        self.triggered.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The registration, locked, with every triggered execution in its stats: what
    /// readers of the stats take.
    pub fn counted(&self) -> MutexGuard<'_, Registration> {
        let mut registration = self.registration();
        let triggered = self.triggered.0.swap(0, Ordering::AcqRel);
        registration.stats.triggered = registration.stats.triggered.saturating_add(triggered);
        registration
    }
}

/// A registration not yet in the registry: what [`Registry::verify`] looks at.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Reader and arguments.
    pub reader: &'a ReaderArgs,
    /// Its mode.
    pub mode: Mode,
}

/// Every live registration.
#[derive(Debug)]
pub struct Registry<P> {
    entries: Vec<Arc<Entry<P>>>,
    streams: PrefixIndex<GearsId>,
    triggers: HashMap<String, GearsId>,
    /// Hooked command (lower case) → registrations, newest first.
    hooks: HashMap<String, Vec<GearsId>>,
    /// Command (lower case) → KeysReader registrations linked to it (`commands=`).
    keys_commands: HashMap<String, Vec<GearsId>>,
}

impl<P> Default for Registry<P> {
    fn default() -> Registry<P> {
        Registry {
            entries: Vec::new(),
            streams: PrefixIndex::new(),
            triggers: HashMap::new(),
            hooks: HashMap::new(),
            keys_commands: HashMap::new(),
        }
    }
}

impl<P> Registry<P> {
    /// An empty registry.
    pub fn new() -> Registry<P> {
        Registry::default()
    }

    /// Whether `candidate` may be added, given that the registrations in `replacing`
    /// are about to be removed (a session upgrade) and that `same_session` were made
    /// earlier by the same script. The error is RedisGears' text.
    pub fn verify(
        &self,
        candidate: Candidate<'_>,
        replacing: &[GearsId],
        same_session: &[Candidate<'_>],
    ) -> Result<(), &'static str> {
        let ReaderArgs::Command { trigger, .. } = candidate.reader else {
            return Ok(());
        };
        match trigger {
            CommandTrigger::Trigger(name) => {
                if self
                    .triggers
                    .get(name)
                    .is_some_and(|id| !replacing.contains(id))
                {
                    return Err("trigger already registered");
                }
                let twice = same_session.iter().any(|other| {
                    matches!(other.reader, ReaderArgs::Command { trigger: CommandTrigger::Trigger(n), .. } if n == name)
                });
                if twice {
                    return Err("trigger already registered in this session");
                }
            }
            CommandTrigger::Hook { command, .. } => {
                let command = command.to_ascii_lowercase();
                if let Some(top) = self.hooks.get(&command).and_then(|ids| ids.first()) {
                    if self
                        .get(top)
                        .is_some_and(|e| e.registration().mode != Mode::Sync)
                    {
                        return Err("Can not override a none sync registration");
                    }
                }
                let async_twice = same_session.iter().any(|other| {
                    other.mode != Mode::Sync
                        && matches!(other.reader, ReaderArgs::Command { trigger: CommandTrigger::Hook { command: c, .. }, .. } if c.eq_ignore_ascii_case(&command))
                });
                if async_twice {
                    return Err(
                        "Can not override a none sync registration which already created on this session",
                    );
                }
            }
        }
        Ok(())
    }

    /// Adds a registration (verified by the caller) and returns its entry.
    pub fn insert(&mut self, registration: Registration, payload: P) -> Arc<Entry<P>> {
        let id = registration.id;
        match &registration.reader {
            ReaderArgs::Keys(keys) => {
                for command in keys.commands.iter().flatten() {
                    self.keys_commands
                        .entry(command.to_ascii_lowercase())
                        .or_default()
                        .push(id);
                }
            }
            ReaderArgs::Stream(stream) => self.streams.insert(&stream.prefix, id),
            ReaderArgs::Command { trigger, .. } => match trigger {
                CommandTrigger::Trigger(name) => {
                    self.triggers.insert(name.clone(), id);
                }
                CommandTrigger::Hook { command, .. } => {
                    self.hooks
                        .entry(command.to_ascii_lowercase())
                        .or_default()
                        .insert(0, id);
                }
            },
        }
        let entry = Arc::new(Entry {
            id,
            registration: Mutex::new(registration),
            payload,
            triggered: PaddedCounter::default(),
        });
        self.entries.push(entry.clone());
        entry
    }

    /// Removes a registration; `None` if there is none with that id.
    pub fn remove(&mut self, id: &GearsId) -> Option<Arc<Entry<P>>> {
        let position = self.entries.iter().position(|e| e.id == *id)?;
        let entry = self.entries.remove(position);
        self.streams.remove(id);
        self.triggers.retain(|_, trigger| trigger != id);
        unlink(&mut self.hooks, id);
        unlink(&mut self.keys_commands, id);
        Some(entry)
    }

    /// The registration with `id`.
    pub fn get(&self, id: &GearsId) -> Option<&Arc<Entry<P>>> {
        self.entries.iter().find(|e| e.id == *id)
    }

    /// The KeysReader registrations whose prefix rule matches `key`, oldest first.
    pub fn keys_matching(&self, key: &[u8]) -> Vec<Arc<Entry<P>>> {
        self.entries
            .iter()
            .filter(|entry| {
                matches!(&entry.registration().reader,
                    ReaderArgs::Keys(keys) if KeyRule::from_prefix(&keys.prefix).matches(key))
            })
            .cloned()
            .collect()
    }

    /// The StreamReader registrations whose prefix rule matches `key`, oldest first.
    pub fn streams_matching(&self, key: &[u8]) -> Vec<Arc<Entry<P>>> {
        self.resolve(&self.streams.matching(key))
    }

    /// Whether any KeysReader registration exists.
    pub fn has_keys_registrations(&self) -> bool {
        self.entries
            .iter()
            .any(|entry| matches!(entry.registration().reader, ReaderArgs::Keys(_)))
    }

    /// Whether any StreamReader registration exists.
    pub fn has_stream_registrations(&self) -> bool {
        !self.streams.is_empty()
    }

    /// The registration `RG.TRIGGER <name>` runs.
    pub fn trigger(&self, name: &str) -> Option<Arc<Entry<P>>> {
        self.triggers.get(name).and_then(|id| self.get(id)).cloned()
    }

    /// The hooks of `command` (any case), newest first.
    pub fn hooks(&self, command: &str) -> Vec<Arc<Entry<P>>> {
        match self.hooks.get(&command.to_ascii_lowercase()) {
            Some(ids) => self.resolve(ids),
            None => Vec::new(),
        }
    }

    /// The KeysReader registrations linked to `command` (any case) by `commands=`.
    pub fn keys_with_command(&self, command: &str) -> Vec<Arc<Entry<P>>> {
        match self.keys_commands.get(&command.to_ascii_lowercase()) {
            Some(ids) => self.resolve(ids),
            None => Vec::new(),
        }
    }

    /// Whether any command is hooked or linked (the command filter has work).
    pub fn has_command_hooks(&self) -> bool {
        !self.hooks.is_empty() || !self.keys_commands.is_empty()
    }

    /// The commands (lowercase, sorted) that have a hook or a linked KeysReader
    /// registration: the ones whose arguments the command filter has to look at.
    pub fn intercepted_commands(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .hooks
            .keys()
            .chain(self.keys_commands.keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Whether `command` (any case) has a hook.
    pub fn is_hooked(&self, command: &str) -> bool {
        !self.hooks.is_empty() && self.hooks.contains_key(&command.to_ascii_lowercase())
    }

    /// Every registration, oldest first.
    pub fn entries(&self) -> &[Arc<Entry<P>>] {
        &self.entries
    }

    /// How many registrations there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes everything (loading an RDB starts from an empty registry) and returns
    /// what was there.
    pub fn clear(&mut self) -> Vec<Arc<Entry<P>>> {
        let entries = std::mem::take(&mut self.entries);
        *self = Registry::default();
        entries
    }

    fn resolve(&self, ids: &[GearsId]) -> Vec<Arc<Entry<P>>> {
        ids.iter().filter_map(|id| self.get(id)).cloned().collect()
    }
}

/// Takes `id` out of every list of a command-name index, dropping lists left empty.
fn unlink(index: &mut HashMap<String, Vec<GearsId>>, id: &GearsId) {
    index.retain(|_, ids| {
        ids.retain(|listed| listed != id);
        !ids.is_empty()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registration::{KeysArgs, Stats};
    use gears_protocol::ShardId;

    fn id(n: u64) -> GearsId {
        GearsId::new(ShardId::STANDALONE, n)
    }

    fn registration(n: u64, reader: ReaderArgs, mode: Mode) -> Registration {
        Registration {
            id: id(n),
            reader,
            description: None,
            mode,
            session_id: "s".to_owned(),
            stats: Stats::default(),
        }
    }

    fn keys(prefix: &str) -> ReaderArgs {
        ReaderArgs::Keys(KeysArgs {
            prefix: prefix.as_bytes().to_vec(),
            event_types: None,
            key_types: None,
            read_value: true,
            commands: None,
        })
    }

    fn trigger(name: &str) -> ReaderArgs {
        ReaderArgs::Command {
            trigger: CommandTrigger::Trigger(name.to_owned()),
            in_order: false,
        }
    }

    fn hook(command: &str) -> ReaderArgs {
        ReaderArgs::Command {
            trigger: CommandTrigger::Hook {
                command: command.to_owned(),
                key_prefix: None,
            },
            in_order: false,
        }
    }

    #[test]
    fn keys_events_find_their_registrations_in_order() {
        let mut registry = Registry::new();
        registry.insert(registration(1, keys("user:*"), Mode::Sync), "audit");
        registry.insert(registration(2, keys("user:1"), Mode::Async), "vip");
        registry.insert(registration(3, keys("order:*"), Mode::Async), "orders");
        let found: Vec<&str> = registry
            .keys_matching(b"user:1")
            .iter()
            .map(|e| *e.payload())
            .collect();
        assert_eq!(found, vec!["audit", "vip"]);
        assert!(registry.keys_matching(b"item:1").is_empty());
        assert_eq!(registry.len(), 3);
        assert!(registry.remove(&id(1)).is_some());
        assert!(registry.remove(&id(1)).is_none());
        let found: Vec<&str> = registry
            .keys_matching(b"user:1")
            .iter()
            .map(|e| *e.payload())
            .collect();
        assert_eq!(found, vec!["vip"]);
    }

    #[test]
    fn a_trigger_name_is_taken_once() {
        let mut registry = Registry::new();
        let args = trigger("t");
        let candidate = Candidate {
            reader: &args,
            mode: Mode::Async,
        };
        assert_eq!(registry.verify(candidate, &[], &[]), Ok(()));
        assert_eq!(
            registry.verify(candidate, &[], &[candidate]),
            Err("trigger already registered in this session")
        );
        registry.insert(registration(1, trigger("t"), Mode::Async), ());
        assert_eq!(
            registry.verify(candidate, &[], &[]),
            Err("trigger already registered")
        );
        // An upgrade of the session that holds it may take it over.
        assert_eq!(registry.verify(candidate, &[id(1)], &[]), Ok(()));
        assert!(registry.trigger("t").is_some());
        assert!(registry.trigger("T").is_none());
        registry.remove(&id(1));
        assert!(registry.trigger("t").is_none());
    }

    #[test]
    fn hooks_stack_newest_first_and_only_over_sync_ones() {
        let mut registry = Registry::new();
        registry.insert(registration(1, hook("hset"), Mode::Sync), "first");
        registry.insert(registration(2, hook("HSET"), Mode::Sync), "second");
        let order: Vec<&str> = registry
            .hooks("hset")
            .iter()
            .map(|e| *e.payload())
            .collect();
        assert_eq!(order, vec!["second", "first"]);
        assert!(registry.is_hooked("Hset"));
        registry.insert(registration(3, hook("hset"), Mode::Async), "async");
        let args = hook("hset");
        let candidate = Candidate {
            reader: &args,
            mode: Mode::Sync,
        };
        assert_eq!(
            registry.verify(candidate, &[], &[]),
            Err("Can not override a none sync registration")
        );
        let other = hook("set");
        let async_one = Candidate {
            reader: &other,
            mode: Mode::Async,
        };
        assert_eq!(
            registry.verify(async_one, &[], &[async_one]),
            Err("Can not override a none sync registration which already created on this session")
        );
        registry.remove(&id(3));
        registry.remove(&id(2));
        registry.remove(&id(1));
        assert!(!registry.is_hooked("hset"));
    }

    #[test]
    fn intercepted_commands_are_the_hooked_and_the_linked_ones_once_each() {
        let mut registry = Registry::new();
        assert!(registry.intercepted_commands().is_empty());
        registry.insert(registration(1, hook("HSET"), Mode::Sync), ());
        registry.insert(registration(2, hook("hset"), Mode::Sync), ());
        let linked = KeysArgs {
            prefix: b"user:*".to_vec(),
            event_types: None,
            key_types: None,
            read_value: true,
            commands: Some(vec!["Set".to_owned(), "hset".to_owned()]),
        };
        registry.insert(registration(3, ReaderArgs::Keys(linked), Mode::Sync), ());
        registry.insert(registration(4, keys("plain:*"), Mode::Sync), ());
        assert_eq!(registry.intercepted_commands(), vec!["hset", "set"]);
        registry.remove(&id(3));
        assert_eq!(registry.intercepted_commands(), vec!["hset"]);
        registry.remove(&id(1));
        registry.remove(&id(2));
        assert!(registry.intercepted_commands().is_empty());
        assert!(!registry.has_command_hooks());
    }

    #[test]
    fn clear_empties_every_index() {
        let mut registry = Registry::new();
        registry.insert(registration(1, keys("*"), Mode::Sync), ());
        registry.insert(registration(2, trigger("t"), Mode::Sync), ());
        assert!(registry.has_keys_registrations());
        assert_eq!(registry.clear().len(), 2);
        assert!(registry.is_empty());
        assert!(!registry.has_keys_registrations());
        assert!(registry.trigger("t").is_none());
    }
}
