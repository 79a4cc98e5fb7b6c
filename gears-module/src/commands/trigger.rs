//! RG.TRIGGER and RG.TRIGGERONKEY: run a CommandReader registration with the
//! command's arguments as its record (behaviour.md §3.6, §8).
//!
//! The reply is the execution's results, or its first error. A `sync` registration
//! runs inline; the others block the client until their execution is done, which
//! is not possible inside MULTI, Lua or where the client cannot block.

use crate::entry;
use crate::registrations::{registry, run_for_client};
use gears_executions::execution::Outcome;
use gears_protocol::{errors, Reply, Request};
use redis_module::{Context, RedisResult, RedisString};

/// `RG.TRIGGER <name> [args...]`
pub fn rg_trigger(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request_or_block(ctx, args, "RG.TRIGGER", run_trigger)
}

/// `RG.TRIGGERONKEY <name> <key> [args...]`
pub fn rg_triggeronkey(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request_or_block(ctx, args, "RG.TRIGGERONKEY", run_trigger)
}

/// `RG.INNERHOOK <token> <command> <args...>`: what the command filter turns a
/// hooked command into.
pub fn rg_innerhook(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request_or_block(ctx, args, "RG.INNERHOOK", |ctx, request| match request {
        Request::InnerHook { argv } => crate::registrations::hooks::run_hooked(ctx, argv),
        _ => Some(errors::internal_error("RG.INNERHOOK")),
    })
}

/// The reply of a trigger: the results, or the first error as an error reply.
fn trigger_reply(outcome: Outcome) -> Reply {
    match outcome.errors.into_iter().next() {
        Some(error) => Reply::error(error),
        None => Reply::Array(outcome.results),
    }
}

fn run_trigger(ctx: &Context, request: Request) -> Option<Reply> {
    let Request::Trigger(request) = request else {
        return Some(errors::internal_error("RG.TRIGGER"));
    };
    let name = String::from_utf8_lossy(&request.name).into_owned();
    let Some(entry) = registry().trigger(&name) else {
        return Some(errors::subcommand_not_found());
    };
    run_for_client(ctx, &entry, request.record(), None, trigger_reply)
}
