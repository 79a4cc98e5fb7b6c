//! RG.GETRESULTS, RG.GETRESULTSBLOCKING, RG.GETEXECUTION, RG.DUMPEXECUTIONS,
//! RG.DROPEXECUTION and RG.ABORTEXECUTION (behaviour.md §5, §8).
//!
//! Standalone only for now: RG.GETEXECUTION CLUSTER answers the no-cluster error,
//! and abort/drop act on this shard.

use crate::blocked::BlockedClient;
use crate::entry;
use crate::state::{self, Engine};
use gears_executions::execution::Execution;
use gears_protocol::replies;
use gears_protocol::request::{GetExecutionScope, IdArg};
use gears_protocol::{errors, Reply, Request};
use redis_module::{Context, RedisResult, RedisString};
use std::sync::Arc;

fn with_engine(body: impl FnOnce(&Engine) -> Reply) -> Reply {
    match state::engine() {
        Some(engine) => body(engine),
        None => errors::internal_error("the execution engine is not started"),
    }
}

fn find(engine: &Engine, id: &IdArg) -> Option<Arc<Execution>> {
    id.id.and_then(|id| engine.store.get(&id))
}

/// `RG.GETRESULTS <id>`
pub fn getresults(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.GETRESULTS", |_, request| {
        let Request::GetResults(id) = request else {
            return errors::internal_error("RG.GETRESULTS");
        };
        with_engine(|engine| match find(engine, &id) {
            None => errors::execution_plan_does_not_exist(),
            Some(execution) => match execution.outcome() {
                Some(outcome) => outcome.reply(),
                None => errors::execution_is_still_running(),
            },
        })
    })
}

/// `RG.GETRESULTSBLOCKING <id>`: replies when the execution is done.
pub fn getresultsblocking(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request_or_block(ctx, args, "RG.GETRESULTSBLOCKING", |ctx, request| {
        let Request::GetResultsBlocking(id) = request else {
            return Some(errors::internal_error("RG.GETRESULTSBLOCKING"));
        };
        let Some(engine) = state::engine() else {
            return Some(errors::internal_error(
                "the execution engine is not started",
            ));
        };
        let Some(execution) = find(engine, &id) else {
            return Some(errors::execution_plan_does_not_exist());
        };
        if let Some(outcome) = execution.outcome() {
            return Some(outcome.reply());
        }
        let Some(blocked) = BlockedClient::block(ctx) else {
            return Some(errors::can_not_run_gears_here());
        };
        execution.on_done(move |outcome| blocked.reply(&outcome.reply()));
        None
    })
}

/// `RG.GETEXECUTION <id> [SHARD|CLUSTER]`
pub fn getexecution(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.GETEXECUTION", |_, request| {
        let Request::GetExecution(get) = request else {
            return errors::internal_error("RG.GETEXECUTION");
        };
        with_engine(|engine| {
            // RedisGears looks the id up before it looks at the scope.
            let Some(execution) = find(engine, &get.id) else {
                return errors::execution_plan_does_not_exist();
            };
            match get.scope {
                None | Some(GetExecutionScope::Shard) => {
                    replies::get_execution_shard(&execution.plan_view(engine.store.shard()))
                }
                Some(GetExecutionScope::Cluster) => errors::no_cluster_detected(),
                Some(GetExecutionScope::Unknown(_)) => errors::unknown_subcommand(),
            }
        })
    })
}

/// `RG.DUMPEXECUTIONS`
pub fn dumpexecutions(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.DUMPEXECUTIONS", |_, _| {
        with_engine(|engine| {
            let summaries: Vec<_> = engine.store.list().iter().map(|e| e.summary()).collect();
            replies::dump_executions(&summaries)
        })
    })
}

/// `RG.DROPEXECUTION <id>`
pub fn dropexecution(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.DROPEXECUTION", |_, request| {
        let Request::DropExecution(id) = request else {
            return errors::internal_error("RG.DROPEXECUTION");
        };
        with_engine(|engine| match find(engine, &id) {
            None => errors::execution_plan_does_not_exist(),
            Some(execution) if !execution.status().is_finished() => {
                errors::can_not_drop_running_execution()
            }
            Some(execution) => {
                engine.store.remove(&execution.id());
                Reply::ok()
            }
        })
    })
}

/// `RG.ABORTEXECUTION <id>`: stops a running execution; OK for a finished one.
pub fn abortexecution(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.ABORTEXECUTION", |_, request| {
        let Request::AbortExecution(id) = request else {
            return errors::internal_error("RG.ABORTEXECUTION");
        };
        with_engine(|engine| {
            // RedisGears aborts through an internal all-shards execution of an internal
            // plan, so an abort takes one id of each counter (behaviour.md §5.1).
            engine.store.next_plan_id();
            engine.store.next_execution_id();
            match find(engine, &id) {
                None => errors::execution_does_not_exist(),
                Some(execution) => {
                    execution.abort();
                    Reply::ok()
                }
            }
        })
    })
}
