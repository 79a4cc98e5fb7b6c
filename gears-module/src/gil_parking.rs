//! When the main thread may park the GIL (`gears_python::parked_gil`): from the
//! event loop's `AFTER_SLEEP` (Redis has taken its lock back) to its `BEFORE_SLEEP`
//! (Redis is about to give its lock to other threads and sleep), where a parked GIL
//! is given back.
//!
//! The module listens to the event loop only while a `sync` KeysReader registration
//! with a run log exists (the runs that park): Redis fires the event twice per pass
//! of its loop, and a server without such a registration should not pay for that
//! (benchmarks.md B7).

use crate::redis_access::{subscribe_server_event, ServerEventHandler};
use gears_python::parked_gil;
use redis_module::raw;
use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

static LISTENING: AtomicBool = AtomicBool::new(false);

/// Listens to the event loop when `wanted` and not yet, stops when not `wanted`
/// (giving back a GIL this thread parked). Called with the Redis lock held, when
/// registrations change.
pub fn set_wanted(wanted: bool) {
    if LISTENING.load(Ordering::Acquire) == wanted {
        return;
    }
    let Some(ctx) = crate::MODULE_CTX.get() else {
        return;
    };
    if !wanted {
        parked_gil::allow(false);
    }
    let handler: Option<ServerEventHandler> = wanted.then_some(on_event_loop);
    // SAFETY: the module's context, with the Redis lock held; the handler lives for
    // the process. (Redis before 7.0 has no such event: runs then take the GIL
    // each time.)
    if unsafe { subscribe_server_event(ctx.0, raw::REDISMODULE_EVENT_EVENTLOOP, handler) } {
        LISTENING.store(wanted, Ordering::Release);
    }
}

unsafe extern "C" fn on_event_loop(
    _ctx: *mut raw::RedisModuleCtx,
    _event: raw::RedisModuleEvent,
    subevent: u64,
    _data: *mut c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let after_sleep = subevent == raw::REDISMODULE_SUBEVENT_EVENTLOOP_AFTER_SLEEP;
        parked_gil::allow(after_sleep);
    }));
}
