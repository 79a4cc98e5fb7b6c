//! Keyspace events for KeysReader registrations (behaviour.md §3.1), and the `xadd`
//! events StreamReader registrations wait for (§3.3).
//!
//! The module subscribes to every keyspace event plus `keymiss` through the module
//! API (no `notify-keyspace-events` needed), the first time a KeysReader or
//! StreamReader registration is made: a server without one pays nothing. Redis
//! cannot take a subscription back, so afterwards an atomic flag keeps the callback
//! to one load while no such registration exists.
//!
//! Events are ignored while loading and on replicas. For each registration whose
//! prefix rule matches the key (and whose `eventTypes` and `keyTypes` accept it),
//! one execution starts with a reader of that one key. The key is read in the
//! event's callback, once for all registrations: the callback holds the Redis lock
//! already, so an `async` execution does not have to take it again to read the key,
//! and its record shows the value the event left.

use super::{hooks, registry, running_here, trigger, RegistrationEntry};
use crate::keyspace::{key_types_name, read_named_key};
use crate::published::{LocalCopy, Published};
use crate::redis_access::holding_lock;
use gears_executions::reader::KeyEventReader;
use gears_executions::record::{KeyEntry, KeyType, KeyValue};
use gears_registrations::prefix::KeyRule;
use gears_registrations::registration::{KeysArgs, Mode, ReaderArgs};
use redis_module::raw;
use std::cell::RefCell;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

static SUBSCRIBED: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// One KeysReader registration as its events see it: the rule, filters and mode,
/// copied when registrations change, so that an event reads them without taking
/// the registry's lock or the registration's.
#[derive(Clone)]
struct KeysTarget {
    rule: KeyRule,
    entry: Arc<RegistrationEntry>,
    args: KeysArgs,
    mode: Mode,
}

/// What keyspace events look at: the KeysReader registrations in the order they
/// were added (the order they fire in), and whether StreamReaders wait for `xadd`.
#[derive(Clone, Default)]
struct Targets {
    keys: Vec<KeysTarget>,
    streams: bool,
}

/// What keyspace events look at, published when registrations change (read
/// through a per-thread copy: see [`crate::published`]).
static TARGETS: Published<Targets> = Published::new();

thread_local! {
    static LOCAL_TARGETS: LocalCopy<Targets> = const { RefCell::new(None) };
}

fn targets() -> Option<Rc<Targets>> {
    TARGETS.read(&LOCAL_TARGETS)
}

/// Called after registrations were added or removed: subscribes on the first
/// KeysReader or StreamReader registration and keeps what events look at current.
pub fn registrations_changed() {
    let targets = {
        let registry = registry();
        let keys = registry
            .entries()
            .iter()
            .filter_map(|entry| {
                let registration = entry.registration();
                let ReaderArgs::Keys(args) = &registration.reader else {
                    return None;
                };
                Some(KeysTarget {
                    rule: KeyRule::from_prefix(&args.prefix),
                    entry: entry.clone(),
                    args: args.clone(),
                    mode: registration.mode,
                })
            })
            .collect();
        Targets {
            keys,
            streams: registry.has_stream_registrations(),
        }
    };
    let active = !targets.keys.is_empty() || targets.streams;
    // Runs kept in a log are the ones that park the GIL on the main thread.
    crate::gil_parking::set_wanted(
        targets
            .keys
            .iter()
            .any(|target| target.entry.payload().runs.is_some()),
    );
    TARGETS.publish(targets);
    ACTIVE.store(active, Ordering::Release);
    if active && !SUBSCRIBED.swap(true, Ordering::AcqRel) {
        subscribe();
    }
}

fn subscribe() {
    let Some(ctx) = crate::MODULE_CTX.get() else {
        crate::log::warning("keyspace events could not be subscribed: no module context");
        return;
    };
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let Some(subscribe) = (unsafe { raw::RedisModule_SubscribeToKeyspaceEvents }) else {
        return;
    };
    let types = raw::REDISMODULE_NOTIFY_ALL | raw::REDISMODULE_NOTIFY_KEY_MISS;
    // SAFETY: called on the main thread (registrations are made by commands); the
    // callback matches RedisModuleNotificationFunc and lives for the process.
    let status = unsafe { subscribe(ctx.0, types, Some(on_keyspace_event)) };
    if status != raw::REDISMODULE_OK as c_int {
        crate::log::warning("subscribing to keyspace events failed");
    }
}

/// The keyspace notification callback.
unsafe extern "C" fn on_keyspace_event(
    ctx: *mut raw::RedisModuleCtx,
    _type: c_int,
    event: *const c_char,
    name: *mut raw::RedisModuleString,
) -> c_int {
    if !ACTIVE.load(Ordering::Acquire) || event.is_null() || name.is_null() {
        return raw::REDISMODULE_OK as c_int;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes a NUL-terminated event name that lives for the call.
        let event = unsafe { CStr::from_ptr(event) }.to_bytes();
        // SAFETY: Redis passes a live key name that lives for the call.
        let key = unsafe { crate::keyspace::string_bytes(name) };
        on_event(ctx, event, name, key);
    }));
    if outcome.is_err() {
        crate::log::warning("internal error while handling a keyspace event; it was skipped");
    }
    raw::REDISMODULE_OK as c_int
}

fn on_event(
    ctx: *mut raw::RedisModuleCtx,
    event: &[u8],
    name: *mut raw::RedisModuleString,
    key: &[u8],
) {
    if event == b"keymiss" && crate::keyspace::reading_internally() {
        return;
    }
    let Some(targets) = targets() else {
        return;
    };
    let xadd = event == b"xadd" && targets.streams;
    let mut matching = targets
        .keys
        .iter()
        .filter(|target| target.rule.matches(key))
        .peekable();
    if matching.peek().is_none() && !xadd {
        return;
    }
    if super::persist::replica_or_loading() {
        return;
    }
    let mut key_read = EventKey::new(ctx, name, key);
    holding_lock(ctx, || {
        while let Some(target) = matching.next() {
            let last = matching.peek().is_none();
            fire(target, event, &mut key_read, last);
        }
        if xadd {
            super::streams::on_xadd(key);
        }
    });
}

/// The key of one event, read at most once however many registrations want it.
struct EventKey<'a> {
    ctx: *mut raw::RedisModuleCtx,
    name: *mut raw::RedisModuleString,
    key: &'a [u8],
    read: Option<(KeyType, Option<KeyValue>)>,
}

impl<'a> EventKey<'a> {
    fn new(
        ctx: *mut raw::RedisModuleCtx,
        name: *mut raw::RedisModuleString,
        key: &'a [u8],
    ) -> EventKey<'a> {
        EventKey {
            ctx,
            name,
            key,
            read: None,
        }
    }

    /// The record of the event for one registration, with what it read.
    fn entry(&self, event: &[u8], value: Option<(KeyType, KeyValue)>) -> KeyEntry {
        KeyEntry {
            key: self.key.to_vec(),
            event: Some(shared_event_name(event)),
            value,
        }
    }

    /// The key's type, and its value if `read_value` (read again only when an
    /// earlier registration did not want the value). The `last` registration of
    /// the event takes the value instead of a copy: most events fire one.
    fn read(&mut self, read_value: bool, last: bool) -> (KeyType, Option<KeyValue>) {
        let stale = match &self.read {
            None => true,
            Some((_, value)) => read_value && value.is_none(),
        };
        if stale {
            // SAFETY: `ctx` and `name` are the keyspace callback's, which runs with
            // the Redis lock held; this runs inside that callback.
            self.read = Some(unsafe { read_named_key(self.ctx, self.name, self.key, read_value) });
        }
        match &mut self.read {
            Some((kind, value)) if read_value && last => (*kind, value.take()),
            Some((kind, value)) => (*kind, if read_value { value.clone() } else { None }),
            None => (KeyType::Empty, None),
        }
    }
}

/// What a registration's record holds of the key: `None` when `keyTypes` turns the
/// event away; else the type and value if the registration reads values.
fn read_for(
    args: &KeysArgs,
    key: &mut EventKey<'_>,
    last: bool,
) -> Option<Option<(KeyType, KeyValue)>> {
    let read_value = args.read_value;
    if !read_value && args.key_types.is_none() {
        return Some(None);
    }
    let (kind, value) = key.read(read_value, last);
    if !args.accepts_key_type(key_types_name(kind)) {
        return None;
    }
    Some(value.map(|value| (kind, value)))
}

thread_local! {
    /// The event names this thread has seen, shared by the records of their events.
    static EVENT_NAMES: RefCell<Vec<Arc<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// The event name as records share it. Redis has a few dozen event names; other
/// modules may raise their own, so at most [`EVENT_NAMES_KEPT`] are kept per thread
/// (beyond that, a name is copied for its record).
fn shared_event_name(event: &[u8]) -> Arc<[u8]> {
    EVENT_NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(name) = names.iter().find(|name| ***name == *event) {
            return name.clone();
        }
        let name: Arc<[u8]> = event.into();
        if names.len() < EVENT_NAMES_KEPT {
            names.push(name.clone());
        }
        name
    })
}

const EVENT_NAMES_KEPT: usize = 256;

fn fire(target: &KeysTarget, event: &[u8], key: &mut EventKey<'_>, last: bool) {
    let KeysTarget {
        entry, args, mode, ..
    } = target;
    if running_here(entry.id()) || !args.accepts_event(event) {
        return;
    }
    // `commands=` registrations fire only inside one of their commands, and are
    // linked to it.
    let linked = match &args.commands {
        Some(commands) => match hooks::linked_command(commands) {
            Some(linked) => Some(linked),
            None => return,
        },
        None => None,
    };
    // Only sync registrations without `commands=` have a log; their runs go to it
    // unless executions are profiled (a log keeps no step durations).
    if let Some(log) = &entry.payload().runs {
        if !crate::state::hot().profile_executions {
            // The read and the run, with the registration marked running here once
            // for both: neither an expiry the read causes nor the function's own
            // writes fire it again.
            super::as_running(entry.id(), || {
                if let Some(value) = read_for(args, key, last) {
                    super::run_logged(entry, log, key.entry(event, value));
                }
            });
            return;
        }
    }
    let Some(value) = super::as_running(entry.id(), || read_for(args, key, last)) else {
        return;
    };
    let entry_record = key.entry(event, value);
    let reader = KeyEventReader::new(entry_record);
    let context = linked.clone().map(hooks::CommandContext::Linked);
    let execution = trigger(entry, reader, *mode == Mode::Sync, None, context);
    if let (Some(linked), Some(execution)) = (linked, execution) {
        hooks::link_execution(&linked, execution);
    }
}
