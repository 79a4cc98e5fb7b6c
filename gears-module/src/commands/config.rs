//! RG.CONFIGGET and RG.CONFIGSET (behaviour.md §7).
//!
//! Both answer one array element per key; the rules and texts live in
//! [`gears_protocol::config::GearsConfig`]. RG.CONFIGSET changes this shard only, as
//! in RedisGears.

use crate::entry;
use crate::state;
use gears_protocol::{errors, Reply, Request};
use redis_module::{Context, RedisResult, RedisString};

/// `RG.CONFIGGET <key> [...]`
pub fn configget(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.CONFIGGET", |_, request| match request {
        Request::ConfigGet(get) => state::config().config_get(&get.keys),
        other => misrouted(other),
    })
}

/// `RG.CONFIGSET <key> <value> [...]`
pub fn configset(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::request(ctx, args, "RG.CONFIGSET", |_, request| match request {
        Request::ConfigSet(set) => {
            let mut config = state::config();
            let reply = config.config_set(&set.flat_args());
            state::refresh_hot(&config);
            reply
        }
        other => misrouted(other),
    })
}

/// A request of another command reached this handler: a registration mistake.
fn misrouted(request: Request) -> Reply {
    crate::log::warning(&format!("request routed to the wrong handler: {request:?}"));
    errors::internal_error("RG.CONFIG*")
}
