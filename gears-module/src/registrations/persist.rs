//! Registrations that outlive the process: RDB aux data, the loading events, and
//! replication (behaviour.md §5.7).
//!
//! - **RDB.** A module type `GEARS_DT0` carries no keys, only aux data after the
//!   keyspace: every registration in the form of
//!   [`gears_registrations::persist`]. On Redis 7.2 and later nothing is written
//!   when there is nothing to save, so the RDB of a server without registrations
//!   loads without the module; Redis 7.0 always writes the aux field (it has no
//!   `aux_save2`), so there an empty list is saved.
//!   The encoding version (100) keeps upstream RedisGears' RDBs (same type name,
//!   small versions) from being misread: they are refused with a log line.
//! - **Loading.** When loading starts (RDB, AOF or a full sync from a master), every
//!   registration, session and execution is dropped. Loaded registrations are
//!   installed at once but start (their `onRegistered`, a StreamReader's first scan)
//!   only when loading has ended.
//! - **Replication and AOF.** Applying a registration replicates
//!   `RG.INNERREGISTER <blob>`; removing one, `RG.INNERUNREGISTER <id>`. Those two
//!   commands are refused from clients. A replica holds its registrations without
//!   firing them; when it becomes master, its StreamReader registrations start.

use super::{registry, sessions, RegistrationEntry};
use crate::log;
use crate::redis_access::{holding_lock, subscribe_server_event, ServerEventHandler};
use gears_protocol::GearsId;
use gears_python::pyo3::Python;
use gears_registrations::persist::{decode, encode, SavedEntry};
use redis_module::native_types::RedisType;
use redis_module::{raw, Context};
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The encoding version of gears-rs' aux data.
const ENCODING_VERSION: i32 = 100;

/// The module type whose aux data holds the registrations.
pub static GEARS_TYPE: RedisType = RedisType::new(
    "GEARS_DT0",
    ENCODING_VERSION,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: None,
        rdb_save: None,
        aof_rewrite: None,
        mem_usage: None,
        digest: None,
        free: None,
        aux_load: Some(aux_load),
        aux_save: Some(aux_save_always),
        aux_save_triggers: raw::REDISMODULE_AUX_AFTER_RDB as c_int,
        free_effort: None,
        unlink: None,
        copy: None,
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        // Redis 7.2 and later call this variant, which may write nothing at all (the
        // aux field is then left out); Redis 7.0 knows only `aux_save`, whose field
        // is always there and so must always hold a value.
        aux_save2: Some(aux_save_if_any),
    },
);

/// Registrations installed while loading, started when loading ends.
static LOADED: Mutex<Vec<Arc<RegistrationEntry>>> = Mutex::new(Vec::new());

fn loaded() -> std::sync::MutexGuard<'static, Vec<Arc<RegistrationEntry>>> {
    LOADED.lock().unwrap_or_else(PoisonError::into_inner)
}

extern "C" fn aux_save_always(rdb: *mut raw::RedisModuleIO, when: c_int) {
    save(rdb, when, true);
}

extern "C" fn aux_save_if_any(rdb: *mut raw::RedisModuleIO, when: c_int) {
    save(rdb, when, false);
}

fn save(rdb: *mut raw::RedisModuleIO, when: c_int, even_if_empty: bool) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if when != raw::REDISMODULE_AUX_AFTER_RDB as c_int {
            return;
        }
        let entries: Vec<SavedEntry> = registry()
            .entries()
            .iter()
            .map(|entry| entry.payload().saved.clone())
            .collect();
        if entries.is_empty() && !even_if_empty {
            return;
        }
        raw::save_slice(rdb, &encode(&entries));
    }));
    if outcome.is_err() {
        log::warning(
            "internal error while saving the registrations; they are missing from this RDB",
        );
    }
}

extern "C" fn aux_load(rdb: *mut raw::RedisModuleIO, encver: c_int, when: c_int) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if encver != ENCODING_VERSION {
            log::warning(&format!(
                "this RDB holds RedisGears data of encoding version {encver}, written by RedisGears itself; gears-rs can not load it"
            ));
            return false;
        }
        if when != raw::REDISMODULE_AUX_AFTER_RDB as c_int {
            return true;
        }
        let blob = match raw::load_string_buffer(rdb) {
            Ok(blob) => blob,
            Err(_) => {
                log::warning("the registrations in this RDB could not be read");
                return false;
            }
        };
        // Installing calls no Redis command (an RDB's context can not): what needs
        // one (the hooks' COMMAND INFO) waits for the registration's activation.
        match install_all(blob.as_ref()) {
            Ok(entries) => {
                loaded().extend(entries);
                true
            }
            Err(error) => {
                log::warning(&format!(
                    "the registrations in this RDB could not be loaded: {error}"
                ));
                false
            }
        }
    }));
    match outcome {
        Ok(true) => raw::REDISMODULE_OK as c_int,
        _ => raw::REDISMODULE_ERR as c_int,
    }
}

/// Installs the registrations of a blob (not started).
fn install_all(blob: &[u8]) -> Result<Vec<Arc<RegistrationEntry>>, String> {
    let entries = decode(blob).map_err(|error| error.to_string())?;
    let mut installed = Vec::new();
    for saved in entries {
        let (plan, on_registered) =
            Python::attach(|py| gears_python::pickling::unpickle_plan(py, &saved.plan))?;
        if let Some(entry) = sessions::install(saved, plan, on_registered) {
            installed.push(entry);
        }
    }
    Ok(installed)
}

/// Whether the server is loading data (between a loading event's start and its
/// end or failure).
static LOADING: AtomicBool = AtomicBool::new(false);
/// Whether the server is a replica (kept by the replication-role events).
static REPLICA: AtomicBool = AtomicBool::new(false);

/// Whether the server is a replica or is loading data now: keyspace events and
/// command hooks are then ignored (behaviour.md §3.1, §3.2). The same answer as
/// `RedisModule_GetContextFlags`, kept by the loading and role events: every
/// keyspace event and every hooked command asks, and reading the flags builds
/// them all (about 130 instructions, most of an event that matches nothing).
pub fn replica_or_loading() -> bool {
    LOADING.load(Ordering::Relaxed) || is_replica()
}

/// Subscribes to the loading and replication-role events (at module load), and
/// takes the state they keep from the server as it is now.
pub fn subscribe_server_events(ctx: &Context) {
    let flags = crate::redis_access::context_flags(ctx.ctx);
    LOADING.store(
        flags & raw::REDISMODULE_CTX_FLAGS_LOADING != 0,
        Ordering::Relaxed,
    );
    REPLICA.store(
        flags & raw::REDISMODULE_CTX_FLAGS_SLAVE != 0,
        Ordering::Relaxed,
    );
    let events = [
        (
            raw::REDISMODULE_EVENT_LOADING,
            on_loading as ServerEventHandler,
        ),
        (
            raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
            on_role_changed as ServerEventHandler,
        ),
    ];
    for (id, handler) in events {
        // SAFETY: ctx is the load context (the lock is held during load); the
        // handlers live for the process.
        unsafe { subscribe_server_event(ctx.ctx, id, Some(handler)) };
    }
}

unsafe extern "C" fn on_loading(
    ctx: *mut raw::RedisModuleCtx,
    _event: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    // Server events run on the main thread with the Redis lock held: `onRegistered`
    // may call `execute`, which must not take the lock again.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        holding_lock(ctx, || match subevent {
            raw::REDISMODULE_SUBEVENT_LOADING_RDB_START
            | raw::REDISMODULE_SUBEVENT_LOADING_AOF_START
            | raw::REDISMODULE_SUBEVENT_LOADING_REPL_START => {
                LOADING.store(true, Ordering::Relaxed);
                loaded().clear();
                super::clear();
                sessions::clear();
                if let Some(engine) = crate::state::engine() {
                    engine.store.clear();
                }
            }
            raw::REDISMODULE_SUBEVENT_LOADING_ENDED => {
                LOADING.store(false, Ordering::Relaxed);
                let entries = std::mem::take(&mut *loaded());
                for entry in &entries {
                    sessions::activate(entry);
                }
            }
            raw::REDISMODULE_SUBEVENT_LOADING_FAILED => {
                LOADING.store(false, Ordering::Relaxed);
                loaded().clear();
            }
            _ => {}
        })
    }));
    if outcome.is_err() {
        log::warning("internal error while handling a loading event");
    }
}

unsafe extern "C" fn on_role_changed(
    ctx: *mut raw::RedisModuleCtx,
    _event: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        holding_lock(ctx, || {
            let master = subevent == raw::REDISMODULE_EVENT_REPLROLECHANGED_NOW_MASTER;
            REPLICA.store(!master, Ordering::Relaxed);
            let entries = registry().entries().to_vec();
            for entry in &entries {
                super::streams::role_changed(entry, master);
            }
        })
    }));
    if outcome.is_err() {
        log::warning("internal error while handling a replication role change");
    }
}

/// Whether this server is a replica now (kept by the role events).
pub fn is_replica() -> bool {
    REPLICA.load(Ordering::Relaxed)
}

/// Replicates a registration being applied to replicas and the AOF.
pub fn replicate_register(ctx: &Context, saved: &SavedEntry) {
    let blob = encode(std::slice::from_ref(saved));
    ctx.replicate("RG.INNERREGISTER", &[blob.as_slice()][..]);
}

/// Replicates a registration being removed.
pub fn replicate_unregister(ctx: &Context, id: &GearsId, abort_pending: bool) {
    let id = id.to_string();
    if abort_pending {
        ctx.replicate("RG.INNERUNREGISTER", &[id.as_bytes(), b"abortpending"][..]);
    } else {
        ctx.replicate("RG.INNERUNREGISTER", &[id.as_bytes()][..]);
    }
}

/// `RG.INNERREGISTER <blob>` from a master or the AOF: installs the registration
/// (started now, or when loading ends).
pub fn inner_register(blob: &[u8], loading: bool) -> Result<(), String> {
    let entries = install_all(blob)?;
    if loading {
        loaded().extend(entries);
    } else {
        for entry in &entries {
            sessions::activate(entry);
        }
    }
    Ok(())
}
