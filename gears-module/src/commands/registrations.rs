//! RG.DUMPREGISTRATIONS, RG.UNREGISTER, RG.CLEARREGISTRATIONSSTATS,
//! RG.PAUSEREGISTRATIONS and RG.UNPAUSEREGISTRATIONS (behaviour.md §8).
//!
//! Standalone for now: what RedisGears does on every shard through an internal
//! execution is done here on this one (and takes the execution id that internal
//! execution takes, so ids stay as upstream's).

use crate::entry;
use crate::registrations::{self, persist, registry, streams};
use crate::state;
use gears_protocol::replies;
use gears_protocol::request::PauseRegistrations;
use gears_protocol::{errors, Reply, Request};
use redis_module::{Context, ContextFlags, RedisResult, RedisString};

/// Takes the execution id of the internal execution RedisGears runs for a
/// management command on all shards.
fn internal_execution() {
    if let Some(engine) = state::engine() {
        engine.store.next_execution_id();
    }
}

/// `RG.DUMPREGISTRATIONS`
pub fn dumpregistrations(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.DUMPREGISTRATIONS", |_, _| {
        let entries = registry().entries().to_vec();
        let views: Vec<_> = entries
            .iter()
            .map(|entry| {
                let private_data = entry.payload().session.private_data();
                let stream = entry.payload().stream.as_ref().map(|s| s.dump_fields());
                registrations::stats_of(entry).view(stream, Some(private_data))
            })
            .collect();
        replies::dump_registrations(&views)
    })
}

/// `RG.UNREGISTER <id> [abortpending]`
pub fn unregister(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.UNREGISTER", |ctx, request| {
        let Request::Unregister { id, abort_pending } = request else {
            return errors::internal_error("RG.UNREGISTER");
        };
        let Some(id) = id.id else {
            return errors::execution_is_not_registered();
        };
        if registrations::remove(&id, abort_pending) {
            persist::replicate_unregister(ctx, &id, abort_pending);
            Reply::ok()
        } else {
            errors::execution_is_not_registered()
        }
    })
}

/// `RG.CLEARREGISTRATIONSSTATS`
pub fn clearregistrationsstats(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.CLEARREGISTRATIONSSTATS", |_, _| {
        internal_execution();
        let entries = registry().entries().to_vec();
        for entry in entries {
            registrations::stats_of(&entry).stats.clear();
            if let Some(stream) = &entry.payload().stream {
                stream.clear_stats();
            }
        }
        Reply::ok()
    })
}

/// `RG.PAUSEREGISTRATIONS <id>`
pub fn pauseregistrations(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(
        ctx,
        args,
        "RG.PAUSEREGISTRATIONS",
        |_, request| match request {
            Request::PauseRegistrations(request) => pause(&request, true),
            _ => errors::internal_error("RG.PAUSEREGISTRATIONS"),
        },
    )
}

/// `RG.UNPAUSEREGISTRATIONS <id>`
pub fn unpauseregistrations(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(
        ctx,
        args,
        "RG.UNPAUSEREGISTRATIONS",
        |_, request| match request {
            Request::UnpauseRegistrations(request) => pause(&request, false),
            _ => errors::internal_error("RG.UNPAUSEREGISTRATIONS"),
        },
    )
}

fn pause(request: &PauseRegistrations, pausing: bool) -> Reply {
    internal_execution();
    let shard = state::engine()
        .map(|engine| engine.store.shard().to_string())
        .unwrap_or_default();
    // The arity check lets exactly one id through (the docs' list of ids is not
    // what RedisGears parses).
    if let Some(id) = request.ids.first() {
        let entry = id.id.and_then(|id| registry().get(&id).cloned());
        let Some(entry) = entry else {
            return errors::registration_not_on_shard(&id.raw, &shard);
        };
        // Only StreamReader registrations pause.
        if !streams::set_paused(&entry, pausing) {
            let reader = entry.registration().reader.reader_name();
            return if pausing {
                errors::reader_does_not_support_pause(reader)
            } else {
                errors::reader_does_not_support_unpause(reader)
            };
        }
    }
    Reply::ok()
}

/// Whether a command comes from a master or the AOF (the only senders the internal
/// replication commands accept), and whether it is the AOF being loaded.
fn from_replication(ctx: &Context) -> Option<bool> {
    let flags = ctx.get_flags();
    let loading = flags.contains(ContextFlags::LOADING);
    (loading || flags.contains(ContextFlags::REPLICATED)).then_some(loading)
}

/// `RG.INNERREGISTER <blob>`: a registration applied on the master, or in the AOF.
pub fn innerregister(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.INNERREGISTER", |ctx, request| {
        let Some(loading) = from_replication(ctx) else {
            return errors::internal_command_not_for_clients("RG.INNERREGISTER");
        };
        let Request::InnerRegister { blob } = request else {
            return errors::internal_error("RG.INNERREGISTER");
        };
        match persist::inner_register(&blob, loading) {
            Ok(()) => Reply::ok(),
            Err(error) => {
                crate::log::warning(&format!("RG.INNERREGISTER failed: {error}"));
                Reply::error(format!("ERR {error}"))
            }
        }
    })
}

/// `RG.INNERUNREGISTER <id> [abortpending]`: a registration removed on the master.
pub fn innerunregister(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.INNERUNREGISTER", |ctx, request| {
        if from_replication(ctx).is_none() {
            return errors::internal_command_not_for_clients("RG.INNERUNREGISTER");
        }
        let Request::InnerUnregister { id, abort_pending } = request else {
            return errors::internal_error("RG.INNERUNREGISTER");
        };
        match id.id {
            Some(id) if registrations::remove(&id, abort_pending) => Reply::ok(),
            _ => errors::execution_is_not_registered(),
        }
    })
}
