//! Test-only commands, compiled in with the `debug-commands` feature.
//!
//! `RG.DEBUGPANIC` panics inside its handler on purpose, so a test can prove that
//! the entry wrapper turns a panic into an error reply and a log line and that the
//! server keeps serving. `RG.DEBUGRUN` runs a native execution, so the execution
//! commands can be tested against a real server independently of Python.

use crate::blocked::BlockedClient;
use crate::entry;
use gears_executions::execution::Execution;
use gears_executions::plan::{Plan, Step, StepKind, StepResult};
use gears_executions::reader::{KeysReader, VecReader};
use gears_executions::record::Record;
use gears_executions::runner::{run, NativeRuntime};
use gears_protocol::Reply;
use redis_module::{Context, RedisResult, RedisString};
use std::sync::Arc;

/// `RG.DEBUGPANIC [message]`: panics with the message (or a default one).
pub fn debug_panic(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::command(ctx, args, "RG.DEBUGPANIC", |_, argv| {
        let message = argv
            .get(1)
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_else(|| "RG.DEBUGPANIC was asked to panic".to_owned());
        panic!("{message}");
    })
}

/// A native callback that sleeps, then passes the record on: lets tests run real
/// executions (long enough to abort) before any language runtime is involved.
#[derive(Debug)]
struct Sleeper(std::time::Duration);

impl gears_executions::plan::Callback for Sleeper {
    fn map(&self, record: Record) -> StepResult<Record> {
        std::thread::sleep(self.0);
        Ok(record)
    }
    fn describe(&self) -> String {
        format!("<sleep {} ms>", self.0.as_millis())
    }
}

/// `RG.DEBUGRUN <count> <sleep ms per record> [UNBLOCKING]`: runs a native execution
/// over the integers `0..count` on the execution threads, exactly as RG.PYEXECUTE
/// runs a batch program (a blocking run replies `[[results], [errors]]` and is
/// dropped; UNBLOCKING replies the execution id).
pub fn debug_run(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::command_or_block(ctx, args, "RG.DEBUGRUN", |ctx, argv| {
        let number = |index: usize| {
            argv.get(index)
                .and_then(|a| gears_protocol::numbers::parse_redis_integer(a))
                .and_then(|n| u64::try_from(n).ok())
        };
        let (Some(count), Some(sleep_ms)) = (number(1), number(2)) else {
            return Some(gears_protocol::errors::wrong_arity(b"rg.debugrun"));
        };
        let unblocking = argv
            .get(3)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"UNBLOCKING"));
        let Some(engine) = crate::state::engine() else {
            return Some(gears_protocol::errors::internal_error("RG.DEBUGRUN"));
        };
        let plan = Arc::new(Plan {
            reader: "PythonReader".into(),
            steps: vec![Step::with_callback(
                StepKind::Map,
                "DebugSleepMapper",
                Arc::new(Sleeper(std::time::Duration::from_millis(sleep_ms))),
            )]
            .into(),
            description: None,
        });
        let execution = Arc::new(Execution::new(
            engine.store.next_execution_id(),
            plan,
            false,
        ));
        engine.store.add(execution.clone());
        let reply = if unblocking {
            Some(Reply::bulk(execution.id().to_string()))
        } else {
            let Some(blocked) = BlockedClient::block(ctx) else {
                return Some(gears_protocol::errors::can_not_run_gears_here());
            };
            let id = execution.id();
            execution.on_done(move |outcome| {
                if let Some(engine) = crate::state::engine() {
                    engine.store.remove(&id);
                }
                blocked.reply(&outcome.reply());
            });
            None
        };
        let running = execution.clone();
        let profile = crate::state::hot().profile_executions;
        engine.pool.submit(Box::new(move || {
            let records = (0..count).map(|n| Record::Long(n as i64)).collect();
            run(
                &running,
                &mut VecReader::new(records),
                &NativeRuntime,
                profile,
            );
        }));
        reply
    })
}

/// `RG.DEBUGSCAN <pattern> [NOSCAN]`: a blocking native KeysReader execution with no
/// steps; each result is `[key, value]` (behaviour.md §6.7, native key records), so
/// the keyspace reader can be tested against a real server before Python.
pub fn debug_scan(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::command_or_block(ctx, args, "RG.DEBUGSCAN", |ctx, argv| {
        let Some(pattern) = argv.get(1).map(|p| p.to_vec()) else {
            return Some(gears_protocol::errors::wrong_arity(b"rg.debugscan"));
        };
        let no_scan = argv
            .get(2)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"NOSCAN"));
        let Some(engine) = crate::state::engine() else {
            return Some(gears_protocol::errors::internal_error("RG.DEBUGSCAN"));
        };
        let plan = Arc::new(Plan {
            reader: "KeysReader".into(),
            steps: Vec::new().into(),
            description: None,
        });
        let execution = Arc::new(Execution::new(
            engine.store.next_execution_id(),
            plan,
            false,
        ));
        let Some(blocked) = BlockedClient::block(ctx) else {
            return Some(gears_protocol::errors::can_not_run_gears_here());
        };
        execution.on_done(move |outcome| blocked.reply(&outcome.reply()));
        engine.pool.submit(Box::new(move || {
            let keyspace = Arc::new(crate::keyspace::RedisKeySpace);
            let mut reader = KeysReader::new(keyspace, pattern, no_scan, true).with_batch(7);
            run(&execution, &mut reader, &NativeRuntime, false);
        }));
        None
    })
}
