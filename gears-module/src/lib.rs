//! # gears-module: the Redis module `rg`
//!
//! The only crate that touches the Redis module API. It registers the `RG.*`
//! commands, reads the module arguments into the configuration, writes the INFO
//! section and the Redis log, and refuses `MODULE UNLOAD` (an embedded Python cannot
//! be torn down safely, and neither could RedisGears).
//!
//! Every command handler goes through [`entry`], which contains panics: a bug in
//! gears-rs answers an error and leaves a line in the log, it never takes the server
//! down.
//!
//! Load it with `redis-server --loadmodule target/release/librg.so [k v ...]`, or run
//! `cargo xtask run`.

pub mod allocator;
pub mod blocked;
pub mod commands;
pub mod entry;
pub mod gil_parking;
pub mod info;
pub mod keyspace;
pub mod log;
pub mod published;
pub mod python_host;
pub mod raw_call;
pub mod redis_access;
pub mod registrations;
pub mod reply;
pub mod state;
pub mod string_value;

use gears_protocol::config::GearsConfig;
use redis_module::{raw, Context, RedisString, Status};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

/// A context that stays valid after load, used for logging from any thread.
pub struct ModuleContext(pub *mut raw::RedisModuleCtx);

// SAFETY: a detached thread-safe context is meant to be used from any thread; it is
// only ever handed to RedisModule_Log, which does not need the Redis lock.
unsafe impl Send for ModuleContext {}
// SAFETY: as above; the pointer itself is never mutated after it is stored.
unsafe impl Sync for ModuleContext {}

/// The detached context created at load.
pub static MODULE_CTX: OnceLock<ModuleContext> = OnceLock::new();

/// Module load: read the configuration and set up logging and INFO.
#[cfg_attr(test, allow(dead_code))]
fn init(ctx: &Context, args: &[RedisString]) -> Status {
    entry::install_panic_hook();
    match catch_unwind(AssertUnwindSafe(|| load(ctx, args))) {
        Ok(status) => status,
        Err(_) => {
            log::warning("internal error while loading the module; the load is aborted");
            Status::Err
        }
    }
}

#[cfg_attr(test, allow(dead_code))]
fn load(ctx: &Context, args: &[RedisString]) -> Status {
    if let Some(detach) =
        // SAFETY: reading a function pointer that RedisModule_Init has filled.
        unsafe { raw::RedisModule_GetDetachedThreadSafeContext }
    {
        // SAFETY: ctx is the valid load context; the detached context it returns is
        // owned by the module for the rest of the process.
        let detached = unsafe { detach(ctx.ctx) };
        let _ = MODULE_CTX.set(ModuleContext(detached));
    }

    let argv: Vec<&[u8]> = args.iter().map(RedisString::as_slice).collect();
    let config = match GearsConfig::from_module_args(&argv) {
        Ok(config) => config,
        Err(error) => {
            log::warning(&error.message);
            log::warning("could not initialize gears config");
            return Status::Err;
        }
    };
    log::notice(&format!(
        "gears-rs {} (RedisGears 1.2 compatible, module version {})",
        env!("CARGO_PKG_VERSION"),
        gears_protocol::MODULE_VERSION
    ));
    for line in config.summary() {
        log::notice(&line);
    }
    for plugin in config.plugins() {
        log::notice(&format!(
            "Plugin {plugin} is accepted and not loaded: Python support is built into gears-rs"
        ));
    }
    let threads = usize::try_from(config.execution_threads()).unwrap_or(1);
    if !state::install_config(config) {
        log::warning("the module is already loaded in this process");
        return Status::Err;
    }
    if let Err(error) = python_host::start_python() {
        log::warning(&format!("could not start Python: {error}"));
        return Status::Err;
    }
    if let Err(error) = state::start_engine(threads) {
        log::warning(&format!("could not start the execution threads: {error}"));
        return Status::Err;
    }
    raw::register_info_function(ctx.ctx, Some(info::info_callback));
    registrations::persist::subscribe_server_events(ctx);

    #[cfg(feature = "debug-commands")]
    if register_debug_commands(ctx) == Status::Err {
        return Status::Err;
    }
    Status::Ok
}

/// `MODULE UNLOAD rg` is refused: Python and the execution threads cannot be torn
/// down while Redis keeps running.
#[cfg_attr(test, allow(dead_code))]
fn deinit(_ctx: &Context) -> Status {
    log::warning("MODULE UNLOAD of rg is refused: the module can not be unloaded, restart the server instead");
    Status::Err
}

#[cfg(feature = "debug-commands")]
fn register_debug_commands(ctx: &Context) -> Status {
    use std::os::raw::c_int;

    /// An `extern "C"` command function around a handler of `commands::debug`.
    macro_rules! debug_command {
        ($name:ident, $handler:path) => {
            extern "C" fn $name(
                ctx: *mut raw::RedisModuleCtx,
                argv: *mut *mut raw::RedisModuleString,
                argc: c_int,
            ) -> c_int {
                let context = Context::new(ctx);
                let args = redis_module::decode_args(ctx, argv, argc);
                let _ = $handler(&context, args);
                raw::Status::Ok as c_int
            }
        };
    }
    debug_command!(debug_panic, commands::debug::debug_panic);
    debug_command!(debug_run, commands::debug::debug_run);
    debug_command!(debug_scan, commands::debug::debug_scan);

    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let create = unsafe { raw::RedisModule_CreateCommand };
    let Some(create) = create else {
        return Status::Err;
    };
    let commands: [(&std::ffi::CStr, raw::RedisModuleCmdFunc); 3] = [
        (c"rg.debugpanic", Some(debug_panic)),
        (c"rg.debugrun", Some(debug_run)),
        (c"rg.debugscan", Some(debug_scan)),
    ];
    for (name, handler) in commands {
        // SAFETY: the name and flags are static C strings and the handler matches
        // the RedisModuleCmdFunc signature; ctx is the valid load context.
        let result = unsafe {
            create(
                ctx.ctx,
                name.as_ptr(),
                handler,
                c"readonly".as_ptr(),
                0,
                0,
                0,
            )
        };
        if result != raw::Status::Ok as c_int {
            return Status::Err;
        }
    }
    Status::Ok
}

// The module entry points. Not compiled into unit tests: the allocator below needs a
// running Redis.
#[cfg(not(test))]
#[allow(missing_docs)]
mod entry_points {
    use super::{commands, deinit, init};
    use crate::registrations::persist::GEARS_TYPE;

    redis_module::redis_module! {
        name: gears_protocol::MODULE_NAME,
        version: gears_protocol::MODULE_VERSION,
        allocator: (crate::allocator::GearsAlloc, crate::allocator::GearsAlloc),
        data_types: [GEARS_TYPE],
        init: init,
        deinit: deinit,
        commands: [
            ["rg.configget", commands::config::configget, "readonly", 0, 0, 0, ""],
            ["rg.configset", commands::config::configset, "readonly", 0, 0, 0, ""],
            ["rg.pyexecute", commands::pyexecute::pyexecute, "readonly", 0, 0, 0, ""],
            ["rg.getresults", commands::executions::getresults, "readonly", 0, 0, 0, ""],
            ["rg.getresultsblocking", commands::executions::getresultsblocking, "readonly", 0, 0, 0, ""],
            ["rg.getexecution", commands::executions::getexecution, "readonly", 0, 0, 0, ""],
            ["rg.dumpexecutions", commands::executions::dumpexecutions, "readonly", 0, 0, 0, ""],
            ["rg.dropexecution", commands::executions::dropexecution, "readonly", 0, 0, 0, ""],
            ["rg.abortexecution", commands::executions::abortexecution, "readonly", 0, 0, 0, ""],
            ["rg.dumpregistrations", commands::registrations::dumpregistrations, "readonly", 0, 0, 0, ""],
            ["rg.unregister", commands::registrations::unregister, "readonly", 0, 0, 0, ""],
            ["rg.clearregistrationsstats", commands::registrations::clearregistrationsstats, "readonly", 0, 0, 0, ""],
            ["rg.pauseregistrations", commands::registrations::pauseregistrations, "readonly", 0, 0, 0, ""],
            ["rg.unpauseregistrations", commands::registrations::unpauseregistrations, "readonly", 0, 0, 0, ""],
            ["rg.innerregister", commands::registrations::innerregister, "readonly", 0, 0, 0, ""],
            ["rg.innerunregister", commands::registrations::innerunregister, "readonly", 0, 0, 0, ""],
            ["rg.trigger", commands::trigger::rg_trigger, "readonly", 0, 0, 0, ""],
            ["rg.innerhook", commands::trigger::rg_innerhook, "readonly", 0, 0, 0, ""],
            ["rg.triggeronkey", commands::trigger::rg_triggeronkey, "readonly", 2, 2, 1, ""],
        ],
    }
}
