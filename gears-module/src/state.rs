//! The module's global state, created once at load.
//!
//! Redis cannot unload the module (it is refused), so the state lives for the whole
//! process. The configuration is behind a `Mutex` (commands change it on the main
//! thread, execution threads read it); a panic while the lock was held must not
//! brick the module, so a poisoned lock is recovered. The engine (execution store and
//! worker pool) is created at load, sized by `ExecutionThreads`.

use gears_executions::pool::WorkerPool;
use gears_executions::store::ExecutionStore;
use gears_protocol::config::GearsConfig;
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

/// Installs the configuration read from the module arguments. Returns false if it was
/// already installed (a second load of the module into the same process).
pub fn install_config(config: GearsConfig) -> bool {
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
    let pool = WorkerPool::new(threads, "rg-execution", on_panic)?;
    let _ = ENGINE.set(Engine {
        store: ExecutionStore::default(),
        pool,
    });
    Ok(())
}

/// The engine, once load has started it.
pub fn engine() -> Option<&'static Engine> {
    ENGINE.get()
}
