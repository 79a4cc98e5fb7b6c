//! Blocked clients: a client that waits for an execution and gets its reply later,
//! from whatever thread finishes it.
//!
//! The reply is built in a thread-safe context bound to the blocked client (reply
//! functions need no Redis lock there) and delivered when the client is unblocked.
//! A [`BlockedClient`] that is dropped without a reply answers an error, so a client
//! can never stay blocked forever because of a lost waiter.

use crate::reply::send_reply;
use gears_protocol::Reply;
use redis_module::{raw, Context, ContextFlags};
use std::ptr;

/// A client blocked until [`BlockedClient::reply`].
pub struct BlockedClient {
    handle: *mut raw::RedisModuleBlockedClient,
}

// SAFETY: a RedisModuleBlockedClient is meant to be completed from another thread;
// this wrapper only hands it to RedisModule_GetThreadSafeContext and
// RedisModule_UnblockClient, once.
unsafe impl Send for BlockedClient {}

impl BlockedClient {
    /// Blocks the client of `ctx` (no timeout: the execution decides when it ends).
    /// `None` when the client cannot be blocked (MULTI, Lua, DENY_BLOCKING, which
    /// includes a command an execution runs through `execute()`). Redis 7.0 blocks
    /// such a client anyway and then fails an assertion when the command returns,
    /// so the check is made here, for every caller.
    pub fn block(ctx: &Context) -> Option<BlockedClient> {
        if !BlockedClient::allowed(ctx) {
            return None;
        }
        // SAFETY: reading a function pointer that RedisModule_Init has filled.
        let block = unsafe { raw::RedisModule_BlockClient }?;
        // SAFETY: ctx is a command context; no callbacks are given, so Redis never
        // calls back into module code for this client.
        let handle = unsafe { block(ctx.ctx, None, None, None, 0) };
        (!handle.is_null()).then_some(BlockedClient { handle })
    }

    /// Whether a non-sync execution may block the client of `ctx`: not inside MULTI
    /// or Lua, not where blocking is denied, not while loading.
    pub fn allowed(ctx: &Context) -> bool {
        !ctx.get_flags().intersects(
            ContextFlags::MULTI
                | ContextFlags::LUA
                | ContextFlags::DENY_BLOCKING
                | ContextFlags::LOADING,
        )
    }

    /// Sends `reply` to the client and unblocks it.
    pub fn reply(mut self, reply: &Reply) {
        self.complete(reply);
    }

    fn complete(&mut self, reply: &Reply) {
        let handle = std::mem::replace(&mut self.handle, ptr::null_mut());
        if handle.is_null() {
            return;
        }
        // SAFETY: reading function pointers that RedisModule_Init has filled.
        let (get, free, unblock) = unsafe {
            (
                raw::RedisModule_GetThreadSafeContext,
                raw::RedisModule_FreeThreadSafeContext,
                raw::RedisModule_UnblockClient,
            )
        };
        let (Some(get), Some(free), Some(unblock)) = (get, free, unblock) else {
            return;
        };
        // SAFETY: handle is a live blocked client, completed exactly once (it was
        // swapped out above); the thread-safe context bound to it only accumulates
        // reply data, which needs no Redis lock, and is freed before the unblock
        // hands that data to the client.
        unsafe {
            let reply_ctx = get(handle);
            send_reply(&Context::new(reply_ctx), reply);
            free(reply_ctx);
            unblock(handle, ptr::null_mut());
        }
    }
}

impl Drop for BlockedClient {
    fn drop(&mut self) {
        self.complete(&Reply::error(
            "ERR the execution was lost before it could reply",
        ));
    }
}
