//! The server as the Python runtime sees it: [`gears_python::host::Host`] over the
//! module API, and the start of the embedded interpreter at load.

use crate::keyspace::RedisKeySpace;
use crate::log;
use crate::redis_access::{acquire, call_for_python, release, with_redis};
use crate::state;
use gears_executions::reader::KeySpace;
use gears_protocol::Reply;
use gears_python::host::{Host, LogLevel};
use gears_registrations::registry::Candidate;
use std::sync::Arc;

/// The host gears-python calls for `execute`, `atomic`, `log`, `configGet`, ...
#[derive(Debug, Default)]
pub struct ModuleHost;

impl Host for ModuleHost {
    fn execute(&self, args: &[&[u8]]) -> Reply {
        let Some((command, rest)) = args.split_first() else {
            return Reply::Array(Vec::new());
        };
        with_redis(|ctx| call_for_python(ctx, command, rest))
    }

    fn atomic_begin(&self) -> bool {
        acquire()
    }

    fn atomic_end(&self, taken: bool) {
        release(taken);
    }

    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Verbose => log::Level::Verbose,
            LogLevel::Notice => log::Level::Notice,
            LogLevel::Warning => log::Level::Warning,
        };
        log::log(level, message);
    }

    fn config_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        state::config().extra(key).map(<[u8]>::to_vec)
    }

    fn attempt_traceback(&self) -> bool {
        state::config().python_attempt_traceback()
    }

    fn keyspace(&self) -> Arc<dyn KeySpace> {
        Arc::new(RedisKeySpace)
    }

    fn hashtag(&self) -> String {
        // The short string of slot 0, which a standalone server owns.
        "06S".to_owned()
    }

    fn next_plan_id(&self) -> String {
        state::engine()
            .map(|engine| engine.store.next_plan_id().to_string())
            .unwrap_or_default()
    }

    fn call_next(&self, args: &[&[u8]]) -> Result<Reply, String> {
        crate::registrations::hooks::call_next(args)
    }

    fn get_command(&self) -> Result<Vec<Vec<u8>>, String> {
        crate::registrations::hooks::get_command()
    }

    fn override_reply(&self, reply: Reply) -> Result<(), String> {
        crate::registrations::hooks::override_reply(reply)
    }

    fn holds_redis_lock(&self) -> bool {
        crate::redis_access::lock_held()
    }

    fn verify_registration(
        &self,
        candidate: Candidate<'_>,
        same_session: &[Candidate<'_>],
    ) -> Result<(), String> {
        with_redis(|ctx| crate::registrations::hooks::verify(ctx, candidate.reader))?;
        let replacing = crate::registrations::sessions::replacing();
        crate::registrations::registry()
            .verify(candidate, &replacing, same_session)
            .map_err(str::to_owned)
    }

    fn is_async_allowed(&self) -> bool {
        // Scripts run only where blocking is allowed (RG.PYEXECUTE refuses MULTI and
        // Lua), and executions run on the execution threads.
        true
    }
}

/// Starts Python and installs the host; the error text fails the module load.
pub fn start_python() -> Result<(), String> {
    gears_python::start(&gears_python::StartOptions::default())
        .map_err(|error| error.to_string())?;
    gears_python::host::set_host(Arc::new(ModuleHost));
    Ok(())
}
