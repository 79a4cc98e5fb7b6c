//! RG.TRIGGER and RG.TRIGGERONKEY: run a CommandReader registration with the
//! command's arguments as its record (behaviour.md §3.6, §8).
//!
//! The reply is the execution's results, or its first error. A `sync` registration
//! runs inline; the others block the client until their execution is done, which
//! is not possible inside MULTI, Lua or where the client cannot block.

use crate::blocked::BlockedClient;
use crate::entry;
use crate::registrations::{registry, trigger};
use gears_executions::execution::{Execution, Outcome};
use gears_executions::reader::VecReader;
use gears_executions::record::Record;
use gears_protocol::{errors, Reply, Request};
use gears_registrations::registration::Mode;
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
    let mode = entry.registration().mode;
    let record = Record::List(request.record().into_iter().map(Record::Text).collect());
    let reader = Box::new(VecReader::new(vec![record]));
    if mode == Mode::Sync {
        let execution = trigger(&entry, reader, true, None, None)?;
        return Some(match execution.outcome() {
            Some(outcome) => trigger_reply(outcome),
            None => errors::internal_error("RG.TRIGGER"),
        });
    }
    if !BlockedClient::allowed(ctx) {
        return Some(errors::non_sync_not_allowed_here());
    }
    let Some(blocked) = BlockedClient::block(ctx) else {
        return Some(errors::non_sync_not_allowed_here());
    };
    let on_done = Box::new(move |execution: &Execution| {
        if let Some(outcome) = execution.outcome() {
            blocked.reply(&trigger_reply(outcome));
        }
    });
    // Whatever happens now, the blocked client gets its reply: from the execution,
    // or from the blocked-client guard if the execution could not start.
    let _ = trigger(&entry, reader, false, Some(on_done), None);
    None
}
