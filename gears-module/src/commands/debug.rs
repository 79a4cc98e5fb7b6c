//! Test-only commands, compiled in with the `debug-commands` feature.
//!
//! `RG.DEBUGPANIC` panics inside its handler on purpose, so a test can prove that
//! the entry wrapper turns a panic into an error reply and a log line and that the
//! server keeps serving.

use crate::entry;
use redis_module::{Context, RedisResult, RedisString};

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
