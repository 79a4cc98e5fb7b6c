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
use redis_module::{raw, CallOptions, CallOptionsBuilder, CallReply, CallResult, Context};
use std::cell::{Cell, RefCell};
use std::os::raw::{c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

/// A thread-safe context of this thread, created on first use and kept: creating
/// one allocates a fake client, too costly per lock.
struct ThreadContext(*mut raw::RedisModuleCtx);

impl Drop for ThreadContext {
    fn drop(&mut self) {
        // SAFETY: reading a function pointer that RedisModule_Init has filled.
        if let Some(free) = unsafe { raw::RedisModule_FreeThreadSafeContext } {
            // SAFETY: the context was created by RedisModule_GetThreadSafeContext and
            // is freed once, when its thread ends.
            unsafe { free(self.0) };
        }
    }
}

thread_local! {
    /// The context holding the Redis lock on this thread, or null.
    static LOCK_HOLDER: Cell<*mut raw::RedisModuleCtx> = const { Cell::new(ptr::null_mut()) };
    static THREAD_CONTEXT: RefCell<Option<ThreadContext>> = const { RefCell::new(None) };
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

/// True when this thread holds the Redis lock (through [`holding_lock`],
/// [`with_redis`] or [`acquire`]).
pub fn lock_held() -> bool {
    LOCK_HOLDER.with(|holder| !holder.get().is_null())
}

/// Takes the Redis lock on this thread unless it holds it already; returns whether
/// it was taken here (and must be given back with [`release`]).
pub fn acquire() -> bool {
    if lock_held() {
        return false;
    }
    // SAFETY: reading function pointers that RedisModule_Init has filled.
    let (get, lock) = unsafe {
        (
            raw::RedisModule_GetDetachedThreadSafeContext,
            raw::RedisModule_ThreadSafeContextLock,
        )
    };
    let (Some(get), Some(lock), Some(module_ctx)) = (get, lock, crate::MODULE_CTX.get()) else {
        return false;
    };
    let ctx = THREAD_CONTEXT.with(|slot| {
        slot.borrow_mut()
            // SAFETY: a detached thread-safe context tied to the module (so that the
            // module's own calls through it are known as its own: the hooks' filter
            // skips them), created from the module context kept since load.
            .get_or_insert_with(|| ThreadContext(unsafe { get(module_ctx.0) }))
            .0
    });
    // SAFETY: ctx is this thread's live thread-safe context; this thread does not
    // hold the lock (checked above), so locking cannot deadlock on itself.
    unsafe { lock(ctx) };
    LOCK_HOLDER.with(|holder| holder.set(ctx));
    true
}

/// Gives back the lock [`acquire`] took (`taken == true`).
pub fn release(taken: bool) {
    if !taken {
        return;
    }
    let ctx = LOCK_HOLDER.with(|holder| holder.replace(ptr::null_mut()));
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    if let (false, Some(unlock)) = (ctx.is_null(), unsafe {
        raw::RedisModule_ThreadSafeContextUnlock
    }) {
        // SAFETY: ctx is the context acquire() locked on this thread.
        unsafe { unlock(ctx) };
    }
}

/// The `REDISMODULE_CTX_FLAGS_*` of `ctx` (0 if they can not be read).
pub(crate) fn context_flags(ctx: *mut raw::RedisModuleCtx) -> u32 {
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let Some(flags) = (unsafe { raw::RedisModule_GetContextFlags }) else {
        return 0;
    };
    if ctx.is_null() {
        return 0;
    }
    // SAFETY: ctx is a live context (a callback's, or the module's detached one);
    // reading its flags only reads server state.
    u32::try_from(unsafe { flags(ctx) }).unwrap_or(0)
}

/// A server event handler, as `RedisModule_SubscribeToServerEvent` takes it.
pub(crate) type ServerEventHandler =
    unsafe extern "C" fn(*mut raw::RedisModuleCtx, raw::RedisModuleEvent, u64, *mut c_void);

/// Subscribes `handler` to the server event `id`, or with `None` ends the
/// subscription; false when Redis refused (a server without that event), after a
/// warning naming it.
///
/// # Safety
/// `ctx` is the module's own context (the load context, or the detached one) and
/// the Redis lock is held; `handler` lives for the process.
pub(crate) unsafe fn subscribe_server_event(
    ctx: *mut raw::RedisModuleCtx,
    id: u64,
    handler: Option<ServerEventHandler>,
) -> bool {
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let Some(subscribe) = (unsafe { raw::RedisModule_SubscribeToServerEvent }) else {
        return false;
    };
    let event = raw::RedisModuleEvent { id, dataver: 1 };
    // SAFETY: the caller's contract; the handler matches RedisModuleEventCallback.
    let subscribed = unsafe { subscribe(ctx, event, handler) } == raw::REDISMODULE_OK as c_int;
    if !subscribed {
        crate::log::warning(&format!("subscribing to server event {id} failed"));
    }
    subscribed
}

/// Runs `body` under the Redis lock, taking it only if this thread does not hold it.
pub fn with_redis<R>(body: impl FnOnce(&Context) -> R) -> R {
    let taken = acquire();
    let holder = LOCK_HOLDER.with(Cell::get);
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&Context::new(holder))));
    release(taken);
    match result {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

fn call_options() -> &'static CallOptions {
    static OPTIONS: OnceLock<CallOptions> = OnceLock::new();
    // `E`: errors come back as replies with their real text; `!`: replicate the
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

/// Calls a command the way Python's `execute()` does in RedisGears: a command Redis
/// refuses before running it gives `strerror(errno)` (e.g. `No such file or
/// directory` for an unknown command) or `Failed executing command`. It is the call
/// every `execute()` of every execution makes, so it goes to `RedisModule_Call`
/// directly ([`crate::raw_call`]) and reads the RESP2 reply once.
pub fn call_for_python(ctx: &Context, command: &[u8], args: &[&[u8]]) -> Reply {
    // SAFETY: a reply of the call, read while it lives.
    crate::raw_call::call_raw(ctx, command, args, |reply| unsafe {
        crate::raw_call::owned_reply(reply)
    })
    .unwrap_or_else(Reply::error)
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
