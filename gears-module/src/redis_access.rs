//! Reaching Redis from any thread: the Redis lock and `RedisModule_Call`.
//!
//! Command handlers and keyspace callbacks run with the Redis lock already held
//! (on the main thread, or on a pool thread when a background write fires an event);
//! background threads must take it through a thread-safe context. [`with_redis`]
//! hides the difference: it records, per thread, the context that currently holds
//! the lock, reuses it when there is one and takes the lock otherwise, so nothing
//! ever takes the lock twice (which would deadlock).
//!
//! Lock order (architecture.md): the Redis lock, then the Python GIL. Callers that
//! hold the GIL must release it before calling [`with_redis`].

use gears_protocol::Reply;
use redis_module::{
    raw, CallOptions, CallOptionsBuilder, CallReply, CallResult, Context, ThreadSafeContext,
};
use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::OnceLock;

thread_local! {
    /// The context holding the Redis lock on this thread, or null.
    static LOCK_HOLDER: Cell<*mut raw::RedisModuleCtx> = const { Cell::new(ptr::null_mut()) };
    /// This thread's thread-safe context, created on first use and kept: creating
    /// one allocates a fake client, too costly per call.
    static THREAD_CONTEXT: RefCell<Option<ThreadSafeContext<redis_module::DetachedFromClient>>> = const { RefCell::new(None) };
}

/// Runs `body` with `ctx` recorded as holding the Redis lock on this thread (for a
/// command handler or a callback that Redis calls with the lock held).
pub fn holding_lock<R>(ctx: *mut raw::RedisModuleCtx, body: impl FnOnce() -> R) -> R {
    let previous = LOCK_HOLDER.with(|holder| holder.replace(ctx));
    let _restore = Restore(previous);
    body()
}

struct Restore(*mut raw::RedisModuleCtx);

impl Drop for Restore {
    fn drop(&mut self) {
        LOCK_HOLDER.with(|holder| holder.set(self.0));
    }
}

/// True when this thread holds the Redis lock (through [`holding_lock`] or
/// [`with_redis`]).
pub fn lock_held() -> bool {
    LOCK_HOLDER.with(|holder| !holder.get().is_null())
}

/// Runs `body` under the Redis lock, taking it only if this thread does not hold it.
pub fn with_redis<R>(body: impl FnOnce(&Context) -> R) -> R {
    let holder = LOCK_HOLDER.with(Cell::get);
    if !holder.is_null() {
        return body(&Context::new(holder));
    }
    THREAD_CONTEXT.with(|slot| {
        let mut slot = slot.borrow_mut();
        let context = slot.get_or_insert_with(ThreadSafeContext::new);
        let guard = context.lock();
        holding_lock(guard.ctx, || body(&guard))
    })
}

fn call_options() -> &'static CallOptions {
    static OPTIONS: OnceLock<CallOptions> = OnceLock::new();
    // `E`: errors come back as replies with their real text; `v`: replicate the
    // command (writes done by executions reach replicas and the AOF).
    OPTIONS.get_or_init(|| {
        CallOptionsBuilder::new()
            .errors_as_replies()
            .replicate()
            .build()
    })
}

/// Calls a Redis command (binary-safe arguments) with the lock held by the caller;
/// the reply comes back owned, so it outlives the lock.
pub fn call(ctx: &Context, command: &str, args: &[&[u8]]) -> Reply {
    let result: CallResult<'static> = ctx.call_ext(command, call_options(), args);
    match result {
        Ok(reply) => owned_reply(&reply),
        Err(error) => Reply::error(
            error
                .to_utf8_string()
                .unwrap_or_else(|| "Failed executing command".to_owned()),
        ),
    }
}

fn owned_reply(reply: &CallReply<'_>) -> Reply {
    match reply {
        CallReply::String(text) => Reply::bulk(text.as_bytes().to_vec()),
        CallReply::I64(value) => Reply::Integer(value.to_i64()),
        CallReply::Array(items) => Reply::array(items.iter().map(|item| match item {
            Ok(item) => owned_reply(&item),
            Err(error) => Reply::error(error.to_utf8_string().unwrap_or_default()),
        })),
        CallReply::Null(_) => Reply::Nil,
        CallReply::Bool(value) => Reply::Integer(i64::from(value.to_bool())),
        CallReply::Double(value) => Reply::Double(value.to_double()),
        CallReply::BigNumber(value) => Reply::bulk(value.to_string().unwrap_or_default()),
        CallReply::VerbatimString(value) => {
            Reply::bulk(value.to_parts().map(|(_, bytes)| bytes).unwrap_or_default())
        }
        CallReply::Map(map) => Reply::array(map.iter().flat_map(|(key, value)| {
            [key, value].map(|part| match part {
                Ok(part) => owned_reply(&part),
                Err(error) => Reply::error(error.to_utf8_string().unwrap_or_default()),
            })
        })),
        CallReply::Set(items) => Reply::array(items.iter().map(|item| match item {
            Ok(item) => owned_reply(&item),
            Err(error) => Reply::error(error.to_utf8_string().unwrap_or_default()),
        })),
        CallReply::Unknown => Reply::Nil,
    }
}
