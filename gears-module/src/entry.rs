//! The one door into the module: every command handler runs through [`command`].
//!
//! A Rust panic must never unwind into Redis (an unwind across `extern "C"` aborts
//! the whole server). [`command`] runs the handler under `catch_unwind`, turns a
//! panic into the error reply [`gears_protocol::errors::internal_error`] plus a
//! warning in the Redis log that says where it panicked, and sends the handler's
//! [`Reply`] itself so that errors nested in arrays keep their exact text.

use crate::log;
use crate::reply::send_reply;
use gears_protocol::errors;
use gears_protocol::{Reply, Request};
use redis_module::{Context, RedisResult, RedisString, RedisValue};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Where the last panic on this thread happened, recorded by the panic hook so
    /// the guard can log it (the payload alone does not carry the location).
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static PANIC_HOOK: Once = Once::new();

/// Installs a panic hook that records the location of a panic for the guard.
///
/// The default hook's message goes to stderr, which Redis does not capture in its
/// log; the guard writes the location into the Redis log instead.
pub fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_else(|| "unknown location".to_owned());
            LAST_PANIC_LOCATION.with(|slot| *slot.borrow_mut() = Some(location));
            previous(info);
        }));
    });
}

/// Runs `handler` for the command `name` with its panics contained.
///
/// Always returns `NoReply` to redis-module: the reply has already been sent.
///
/// `handler` gets the argv as bytes (argv\[0] is the command name as the client
/// typed it) and returns the reply.
pub fn command<H>(ctx: &Context, args: Vec<RedisString>, name: &str, handler: H) -> RedisResult
where
    H: FnOnce(&Context, &[&[u8]]) -> Reply,
{
    command_or_block(ctx, args, name, |ctx, argv| Some(handler(ctx, argv)))
}

/// Like [`command`], for handlers that may block the client: `None` means the
/// client was blocked and its reply will come later.
pub fn command_or_block<H>(
    ctx: &Context,
    args: Vec<RedisString>,
    name: &str,
    handler: H,
) -> RedisResult
where
    H: FnOnce(&Context, &[&[u8]]) -> Option<Reply>,
{
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let argv: Vec<&[u8]> = args.iter().map(RedisString::as_slice).collect();
        // Redis runs command handlers with its lock held.
        crate::redis_access::holding_lock(ctx.ctx, || handler(ctx, &argv))
    }));
    let reply = match outcome {
        Ok(Some(reply)) => reply,
        Ok(None) => return Ok(RedisValue::NoReply),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-text panic payload".to_owned());
            let location = LAST_PANIC_LOCATION
                .with(|slot| slot.borrow_mut().take())
                .unwrap_or_else(|| "unknown location".to_owned());
            log::warning(&format!(
                "internal error in {name}: panic at {location}: {message}; the command was aborted and the server keeps running"
            ));
            errors::internal_error(name)
        }
    };
    // Sending can only fail on an allocation failure inside Redis; keep that inside too.
    if catch_unwind(AssertUnwindSafe(|| send_reply(ctx, &reply))).is_err() {
        log::warning(&format!(
            "internal error in {name}: the reply could not be sent"
        ));
    }
    Ok(RedisValue::NoReply)
}

/// Like [`command`], for handlers that take the parsed [`Request`]: a malformed call
/// is answered with its exact error text before the handler runs.
pub fn request<H>(ctx: &Context, args: Vec<RedisString>, name: &str, handler: H) -> RedisResult
where
    H: FnOnce(&Context, Request) -> Reply,
{
    request_or_block(ctx, args, name, |ctx, request| Some(handler(ctx, request)))
}

/// Like [`request`], for handlers that may block the client (`None`).
pub fn request_or_block<H>(
    ctx: &Context,
    args: Vec<RedisString>,
    name: &str,
    handler: H,
) -> RedisResult
where
    H: FnOnce(&Context, Request) -> Option<Reply>,
{
    command_or_block(ctx, args, name, |ctx, argv| match Request::parse(argv) {
        Ok(request) => handler(ctx, request),
        Err(error) => Some(error.reply()),
    })
}
