//! The module's global state, created once at load.
//!
//! Redis cannot unload the module (it is refused), so the state lives for the whole
//! process. The configuration is behind a `Mutex` (commands change it on the main
//! thread, execution threads read it); a panic while the lock was held must not
//! brick the module, so a poisoned lock is recovered. The engine (execution store and
//! worker pool) is created at load, sized by `ExecutionThreads`.

use gears_executions::pool::{ThreadScope, WorkerPool};
use gears_executions::store::ExecutionStore;
use gears_protocol::config::GearsConfig;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

static CONFIG: OnceLock<Mutex<GearsConfig>> = OnceLock::new();
static ENGINE: OnceLock<Engine> = OnceLock::new();

/// The execution side of the module.
pub struct Engine {
    /// Ids and listed executions.
    pub store: ExecutionStore,
    /// The `ExecutionThreads` pool.
    pub pool: WorkerPool,
}

/// The settings every execution reads, kept out of the configuration's lock: a
/// registration reads them once per event.
#[derive(Debug)]
struct HotSettings {
    max_executions: AtomicI64,
    max_executions_per_registration: AtomicI64,
    profile_executions: AtomicBool,
}

static HOT: HotSettings = HotSettings {
    max_executions: AtomicI64::new(1000),
    max_executions_per_registration: AtomicI64::new(100),
    profile_executions: AtomicBool::new(false),
};

/// A copy of the settings executions read.
#[derive(Clone, Copy, Debug)]
pub struct Hot {
    /// `MaxExecutions`.
    pub max_executions: i64,
    /// `MaxExecutionsPerRegistration`.
    pub max_executions_per_registration: i64,
    /// `ProfileExecutions`.
    pub profile_executions: bool,
}

/// The settings executions read, without taking the configuration's lock.
pub fn hot() -> Hot {
    Hot {
        max_executions: HOT.max_executions.load(Ordering::Relaxed),
        max_executions_per_registration: HOT
            .max_executions_per_registration
            .load(Ordering::Relaxed),
        profile_executions: HOT.profile_executions.load(Ordering::Relaxed),
    }
}

/// Copies the hot settings out of `config` (after load and after RG.CONFIGSET).
pub fn refresh_hot(config: &GearsConfig) {
    HOT.max_executions
        .store(config.max_executions(), Ordering::Relaxed);
    HOT.max_executions_per_registration
        .store(config.max_executions_per_registration(), Ordering::Relaxed);
    HOT.profile_executions
        .store(config.profile_executions(), Ordering::Relaxed);
    // The store applies MaxExecutions to the runs registrations log themselves.
    if let Some(engine) = engine() {
        engine.store.set_max_executions(config.max_executions());
    }
}

/// Installs the configuration read from the module arguments. Returns false if it was
/// already installed (a second load of the module into the same process).
pub fn install_config(config: GearsConfig) -> bool {
    refresh_hot(&config);
    CONFIG.set(Mutex::new(config)).is_ok()
}

/// The live configuration. Before load finishes it is the default configuration.
pub fn config() -> MutexGuard<'static, GearsConfig> {
    CONFIG
        .get_or_init(|| Mutex::new(GearsConfig::default()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Starts the engine with `threads` execution threads.
pub fn start_engine(threads: usize) -> std::io::Result<()> {
    let on_panic = Arc::new(|message: String| {
        crate::log::warning(&format!(
            "internal error on an execution thread: panic: {message}; the thread keeps serving"
        ));
    });
    // Each execution thread keeps a Python thread state for its life (see
    // keep_thread_state: aborts are never lost, and GIL hand-overs reuse it).
    let scope: ThreadScope = Arc::new(gears_python::callback::keep_thread_state);
    let pool = WorkerPool::with_thread_scope(threads, "rg-execution", on_panic, Some(scope))?;
    let store = ExecutionStore::default();
    store.set_max_executions(HOT.max_executions.load(Ordering::Relaxed));
    let _ = ENGINE.set(Engine { store, pool });
    Ok(())
}

/// The engine, once load has started it.
pub fn engine() -> Option<&'static Engine> {
    ENGINE.get()
}
