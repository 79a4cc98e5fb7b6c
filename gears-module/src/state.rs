//! The module's global state, created once at load.
//!
//! Redis cannot unload the module (it is refused), so the state lives for the whole
//! process. Everything is behind a `Mutex`: commands run on the main thread, but the
//! execution threads of later issues read the configuration too. A panic while the
//! lock was held must not brick the module, so a poisoned lock is recovered.

use gears_protocol::config::GearsConfig;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

static CONFIG: OnceLock<Mutex<GearsConfig>> = OnceLock::new();

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
