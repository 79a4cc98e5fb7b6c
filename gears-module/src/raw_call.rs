//! `RedisModule_Call` without the redis-module crate's wrappers, for the calls
//! every execution makes: Python's `execute()`, and the StreamReader's reads and
//! acknowledgements.
//!
//! [`call_raw`] terminates the command name on the stack, keeps the argument
//! strings in a small inline array and hands the live reply to the caller, who
//! reads what it needs before it is freed: [`owned_reply`] copies a RESP2 reply
//! into an owned [`Reply`]; [`call_resp`] takes its protocol bytes.
//!
//! Why the bytes: reading a reply through the module API (asking for its type)
//! makes Redis parse the whole reply into a tree of `CallReply`s, which is then
//! copied element by element. For a StreamReader batch (1000 entries of nested
//! arrays) that parse and copy cost more than reading the entries did. The protocol
//! text Redis produced is already a complete, compact form of the reply, and Redis
//! 7 parses it only when asked: `RedisModule_CallReplyProto` leaves the tree
//! unbuilt, and the one copy made here lets the caller decode it after the Redis
//! lock is released.

use gears_protocol::Reply;
use redis_module::{raw, Context};
use std::os::raw::c_char;
use std::ptr;

/// `v`: the arguments are an array of RedisModuleStrings; `!`: the command is
/// replicated (to replicas and the AOF), as the commands executions run are.
/// Without `E`, as for Python's `execute()`: RedisGears reports a command Redis
/// refuses before running it (unknown command, wrong arity) by errno text, and the
/// errors a command replies with come back as error replies either way.
const FORMAT: &[u8] = b"v!\0";

/// Arguments passed from the stack; more go through the heap.
const INLINE_ARGS: usize = 8;

/// Calls `command` with binary-safe `args` under the Redis lock, which the caller
/// holds through `ctx`, and gives the live reply to `read`. `Err` is the text of a
/// refusal before the command ran (Redis gives no reply then): `strerror(errno)`,
/// or `Failed executing command`.
pub fn call_raw<T>(
    ctx: &Context,
    command: &[u8],
    args: &[&[u8]],
    read: impl FnOnce(*mut raw::RedisModuleCallReply) -> T,
) -> Result<T, String> {
    if command.contains(&0) {
        return Err(errno_text(0));
    }
    // SAFETY: reading function pointers that RedisModule_Init has filled.
    let functions = unsafe {
        (
            raw::RedisModule_CreateString,
            raw::RedisModule_FreeString,
            raw::RedisModule_Call,
            raw::RedisModule_FreeCallReply,
        )
    };
    let (Some(create), Some(free_string), Some(call), Some(free_reply)) = functions else {
        return Err(errno_text(0));
    };
    // The name NUL-terminated, on the stack for any real command name.
    let mut short = [0u8; 64];
    let long: Vec<u8>;
    let name: &[u8] = if command.len() < short.len() {
        short[..command.len()].copy_from_slice(command);
        &short[..=command.len()]
    } else {
        long = [command, &[0]].concat();
        &long
    };
    // On the stack for the usual few arguments (a plain array: collecting into a
    // SmallVec costs more than the strings' pointers).
    let mut inline = [ptr::null_mut::<raw::RedisModuleString>(); INLINE_ARGS];
    let mut spilled: Vec<*mut raw::RedisModuleString>;
    let argv: &mut [*mut raw::RedisModuleString] = if args.len() <= INLINE_ARGS {
        &mut inline[..args.len()]
    } else {
        spilled = vec![ptr::null_mut(); args.len()];
        &mut spilled
    };
    for (slot, arg) in argv.iter_mut().zip(args) {
        // SAFETY: a string tied to no context (freed below), copied from a live slice
        // of the given length.
        *slot = unsafe { create(ptr::null_mut(), arg.as_ptr().cast::<c_char>(), arg.len()) };
    }
    // SAFETY: the caller holds the Redis lock through ctx; `name` is NUL-terminated
    // with no other NUL (checked above); the format says one array of argv.len()
    // strings follows, which is what is passed.
    let reply = unsafe {
        call(
            ctx.ctx,
            name.as_ptr().cast::<c_char>(),
            FORMAT.as_ptr().cast::<c_char>(),
            argv.as_mut_ptr(),
            argv.len(),
        )
    };
    // Read errno before anything else can change it (only a refused call sets it).
    let errno = if reply.is_null() {
        // SAFETY: __errno_location returns this thread's errno, always valid to read.
        unsafe { *libc::__errno_location() }
    } else {
        0
    };
    for &mut string in argv {
        // SAFETY: each string was created above with no context and is freed once;
        // Redis took its own references to the ones it keeps.
        unsafe { free_string(ptr::null_mut(), string) };
    }
    if reply.is_null() {
        return Err(errno_text(errno));
    }
    let result = read(reply);
    // SAFETY: the reply returned above, freed once; `read` has copied what it needs.
    unsafe { free_reply(reply) };
    Ok(result)
}

/// Calls `command` like [`call_raw`] and returns the reply as its RESP2 bytes.
pub fn call_resp(ctx: &Context, command: &[u8], args: &[&[u8]]) -> Result<Vec<u8>, String> {
    call_raw(ctx, command, args, |reply| {
        // SAFETY: reading a function pointer that RedisModule_Init has filled.
        let Some(proto) = (unsafe { raw::RedisModule_CallReplyProto }) else {
            return Vec::new();
        };
        let mut len = 0usize;
        // SAFETY: `reply` is live for this closure; the bytes Redis points to stay
        // valid (and `len` long) until the reply is freed, after the copy.
        unsafe {
            let text = proto(reply, &mut len);
            if text.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(text.cast::<u8>(), len).to_vec()
            }
        }
    })
}

/// A RESP2 call reply as an owned [`Reply`].
///
/// # Safety
/// `reply` is a live reply (or element of one) of `RedisModule_Call`.
pub unsafe fn owned_reply(reply: *mut raw::RedisModuleCallReply) -> Reply {
    // SAFETY: reading function pointers that RedisModule_Init has filled.
    let functions = unsafe {
        (
            raw::RedisModule_CallReplyType,
            raw::RedisModule_CallReplyInteger,
            raw::RedisModule_CallReplyStringPtr,
            raw::RedisModule_CallReplyLength,
            raw::RedisModule_CallReplyArrayElement,
        )
    };
    let (Some(kind), Some(integer), Some(string), Some(length), Some(element)) = functions else {
        return Reply::Nil;
    };
    let text = || {
        let mut len = 0usize;
        // SAFETY: the caller's contract; Redis gives `len` readable bytes at the
        // pointer while the reply lives, and they are copied at once.
        unsafe {
            let data = string(reply, &mut len);
            if data.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(data.cast::<u8>(), len).to_vec()
            }
        }
    };
    // SAFETY: the caller's contract.
    match unsafe { kind(reply) } as isize {
        raw::REDISMODULE_REPLY_STRING => Reply::Bulk(text()),
        raw::REDISMODULE_REPLY_ERROR => Reply::error(String::from_utf8_lossy(&text())),
        // SAFETY: the caller's contract.
        raw::REDISMODULE_REPLY_INTEGER => Reply::Integer(unsafe { integer(reply) }),
        raw::REDISMODULE_REPLY_ARRAY => {
            // SAFETY: the caller's contract.
            let count = unsafe { length(reply) };
            Reply::Array(
                (0..count)
                    // SAFETY: an element of a live array reply, below its length; it
                    // lives as long as the array.
                    .map(|index| unsafe { owned_reply(element(reply, index)) })
                    .collect(),
            )
        }
        _ => Reply::Nil,
    }
}

/// What RedisGears says when Redis refuses to run a command: `strerror(errno)`.
fn errno_text(errno: i32) -> String {
    if errno == 0 {
        return "Failed executing command".to_owned();
    }
    // SAFETY: strerror returns a pointer to a static (or thread-local) C string.
    let text = unsafe { std::ffi::CStr::from_ptr(libc::strerror(errno)) };
    text.to_string_lossy().into_owned()
}
