//! What Python needs from the server, as a trait the module implements.
//!
//! `execute`, `atomic`, `log`, `configGet`, `hashtag` and the readers reach Redis
//! only through the [`Host`] installed with [`set_host`]. The Python side always
//! releases the GIL before calling into the host, because the host may take the
//! Redis lock (lock order: the Redis lock, then the GIL).

use gears_executions::reader::KeySpace;
use gears_protocol::Reply;
use gears_registrations::registry::Candidate;
use std::sync::{Arc, OnceLock};

/// Severity of a `log()` line, with the names Redis and RedisGears use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `verbose`
    Verbose,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
}

/// The server, as the Python runtime sees it.
pub trait Host: Send + Sync {
    /// Runs a Redis command with replication on, taking the Redis lock if this
    /// thread does not hold it; the reply is owned.
    fn execute(&self, args: &[&[u8]]) -> Reply;
    /// Takes the Redis lock for an `atomic()` block (a no-op when this thread holds
    /// it already). Returns whether it was taken here, for [`Host::atomic_end`].
    fn atomic_begin(&self) -> bool;
    /// Releases what [`Host::atomic_begin`] took.
    fn atomic_end(&self, taken: bool);
    /// Writes a line to the Redis log.
    fn log(&self, level: LogLevel, message: &str);
    /// A value of the extra configuration dictionary (Python's `configGet`).
    fn config_get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// `PythonAttemptTraceback`: whether error texts carry the traceback.
    fn attempt_traceback(&self) -> bool;
    /// The keyspace KeysReader reads.
    fn keyspace(&self) -> Arc<dyn KeySpace>;
    /// A short string that hashes to a slot this shard owns (`06S` standalone).
    fn hashtag(&self) -> String;
    /// False inside MULTI, Lua, or where the client cannot block.
    fn is_async_allowed(&self) -> bool;
    /// Takes the next plan/registration id (behaviour.md §5.1: every builder takes
    /// one, even for an unknown reader).
    fn next_plan_id(&self) -> String;
    /// `call_next(*args)` inside a CommandReader hook: the next hook, or the hooked
    /// command itself, with `args`. Outside a hook: `Can not get CommandHook ctx`.
    fn call_next(&self, args: &[&[u8]]) -> Result<Reply, String> {
        let _ = args;
        Err("Can not get CommandHook ctx".to_owned())
    }
    /// `get_command()` inside an execution a KeysReader `commands=` registration
    /// started: the command's argv. Outside one: `Can not get command ctx`.
    fn get_command(&self) -> Result<Vec<Vec<u8>>, String> {
        Err("Can not get command ctx".to_owned())
    }
    /// `override_reply(value)` there: replaces the client's reply (once).
    fn override_reply(&self, reply: Reply) -> Result<(), String> {
        let _ = reply;
        Err("Can not get command ctx".to_owned())
    }
    /// Whether the calling thread holds the Redis lock now (so `execute` takes no
    /// lock and need not give up the GIL).
    fn holds_redis_lock(&self) -> bool {
        false
    }
    /// Checks a registration against the live ones before the script may make it
    /// (RedisGears' `verifyRegister`): RedisGears' error text if it may not.
    /// `same_session` are the registrations this script made before it.
    fn verify_registration(
        &self,
        candidate: Candidate<'_>,
        same_session: &[Candidate<'_>],
    ) -> Result<(), String> {
        let _ = (candidate, same_session);
        Ok(())
    }
}

static HOST: OnceLock<Arc<dyn Host>> = OnceLock::new();

/// Installs the host; the first call wins.
pub fn set_host(host: Arc<dyn Host>) -> bool {
    HOST.set(host).is_ok()
}

/// The installed host, if any.
pub fn host() -> Option<&'static Arc<dyn Host>> {
    HOST.get()
}
