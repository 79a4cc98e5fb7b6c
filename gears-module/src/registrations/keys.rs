//! Keyspace events for KeysReader registrations (behaviour.md §3.1), and the `xadd`
//! events StreamReader registrations wait for (§3.3).
//!
//! The module subscribes to every keyspace event plus `keymiss` through the module
//! API (no `notify-keyspace-events` needed), the first time a KeysReader
//! registration is made: a server without one pays nothing. Redis cannot take a
//! subscription back, so afterwards an atomic flag keeps the callback to one load
//! while no KeysReader registration exists.
//!
//! Events are ignored while loading and on replicas. For each registration whose
//! prefix rule matches the key (and whose `eventTypes` and `keyTypes` accept it),
//! one execution starts with a reader of that one key.

use super::{hooks, registry, running_here, trigger, RegistrationEntry};
use crate::keyspace::{key_type_name, RedisKeySpace};
use crate::redis_access::{context_flags, holding_lock};
use gears_executions::reader::KeyEventReader;
use gears_registrations::registration::{Mode, ReaderArgs};
use redis_module::raw;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

static SUBSCRIBED: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Called after registrations were added or removed: subscribes on the first
/// KeysReader or StreamReader registration and keeps the fast-path flag current.
pub fn registrations_changed() {
    let active = {
        let registry = registry();
        registry.has_keys_registrations() || registry.has_stream_registrations()
    };
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
    key: *mut raw::RedisModuleString,
) -> c_int {
    if !ACTIVE.load(Ordering::Acquire) || event.is_null() || key.is_null() {
        return raw::REDISMODULE_OK as c_int;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Redis passes a NUL-terminated event name that lives for the call.
        let event = unsafe { CStr::from_ptr(event) }.to_bytes();
        // SAFETY: Redis passes a live key name that lives for the call.
        let key = unsafe { crate::keyspace::string_bytes(key) };
        on_event(ctx, event, key);
    }));
    if outcome.is_err() {
        crate::log::warning("internal error while handling a keyspace event; it was skipped");
    }
    raw::REDISMODULE_OK as c_int
}

fn on_event(ctx: *mut raw::RedisModuleCtx, event: &[u8], key: &[u8]) {
    if event == b"keymiss" && crate::keyspace::reading_internally() {
        return;
    }
    let (entries, xadd) = {
        let registry = registry();
        let xadd = event == b"xadd" && registry.has_stream_registrations();
        (registry.keys_matching(key), xadd)
    };
    if entries.is_empty() && !xadd {
        return;
    }
    let flags = context_flags(ctx);
    if flags & (raw::REDISMODULE_CTX_FLAGS_LOADING | raw::REDISMODULE_CTX_FLAGS_SLAVE) != 0 {
        return;
    }
    let event_name = String::from_utf8_lossy(event);
    holding_lock(ctx, || {
        for entry in &entries {
            fire(entry, &event_name, key);
        }
        if xadd {
            super::streams::on_xadd(key);
        }
    });
}

fn fire(entry: &Arc<RegistrationEntry>, event: &str, key: &[u8]) {
    if running_here(entry.id()) {
        return;
    }
    let (mode, read_value, key_types, linked) = {
        let registration = entry.registration();
        let ReaderArgs::Keys(args) = &registration.reader else {
            return;
        };
        if !args.accepts_event(event) {
            return;
        }
        // `commands=` registrations fire only inside one of their commands, and
        // are linked to it.
        let linked = match &args.commands {
            Some(commands) => match hooks::linked_command(commands) {
                Some(linked) => Some(linked),
                None => return,
            },
            None => None,
        };
        (
            registration.mode,
            args.read_value,
            args.key_types.clone(),
            linked,
        )
    };
    if let Some(types) = key_types {
        let found = super::as_running(entry.id(), || key_type_name(key));
        if !types.iter().any(|t| t == found) {
            return;
        }
    }
    let reader = KeyEventReader::new(
        Arc::new(RedisKeySpace),
        key.to_vec(),
        event.as_bytes().to_vec(),
        read_value,
    );
    let context = linked.clone().map(hooks::CommandContext::Linked);
    let execution = trigger(entry, Box::new(reader), mode == Mode::Sync, None, context);
    if let (Some(linked), Some(execution)) = (linked, execution) {
        hooks::link_execution(&linked, execution);
    }
}
