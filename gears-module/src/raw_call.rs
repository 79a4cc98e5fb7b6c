//! `RedisModule_Call` without the redis-module crate's wrappers, for the calls
//! every execution makes: Python's `execute()`, and the StreamReader's reads and
//! acknowledgements.
//!
//! [`call_raw`] terminates the command name on the stack, passes up to eight
//! arguments as pointers and lengths (see [`FORMATS`]) and hands the live reply to
//! the caller, who
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

/// The formats of a call with a few arguments, by their number: `b` is one
/// argument as a pointer and a length, from which Redis makes the string it keeps;
/// `!`: the command is replicated (to replicas and the AOF), as the commands
/// executions run are. Without `E`, as for Python's `execute()`: RedisGears reports
/// a command Redis refuses before running it (unknown command, wrong arity) by
/// errno text, and the errors a command replies with come back as error replies
/// either way.
///
/// Why not one array (`v`) of module strings for every call: Redis then grows the
/// argument vector it has just allocated (a second allocation, both accounted), and
/// each argument is a module string made and freed around the call. With `b`, Redis
/// makes each argument string once, in a vector of the right size (about 700
/// instructions less per `execute('INCR', 'counter')`, benchmarks.md B1 and B6).
const FORMATS: [&[u8]; INLINE_ARGS + 1] = [
    b"!\0",
    b"b!\0",
    b"bb!\0",
    b"bbb!\0",
    b"bbbb!\0",
    b"bbbbb!\0",
    b"bbbbbb!\0",
    b"bbbbbbb!\0",
    b"bbbbbbbb!\0",
];

/// `v`: the arguments are an array of module strings (more than [`INLINE_ARGS`]);
/// `!` as above.
const VECTOR_FORMAT: &[u8] = b"v!\0";

/// Arguments passed one by one (`b`); more go through an array of module strings.
const INLINE_ARGS: usize = 8;

/// The type of `RedisModule_Call`.
type CallFunction = unsafe extern "C" fn(
    *mut raw::RedisModuleCtx,
    *const c_char,
    *const c_char,
    ...
) -> *mut raw::RedisModuleCallReply;

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
    let functions = unsafe { (raw::RedisModule_Call, raw::RedisModule_FreeCallReply) };
    let (Some(call), Some(free_reply)) = functions else {
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
    // SAFETY: the caller holds the Redis lock through ctx; `name` is NUL-terminated
    // with no other NUL (checked above).
    let reply = unsafe {
        if args.len() <= INLINE_ARGS {
            call_inline(call, ctx.ctx, name.as_ptr().cast::<c_char>(), args)
        } else {
            call_vector(call, ctx.ctx, name.as_ptr().cast::<c_char>(), args)
        }
    };
    let reply = match reply {
        Ok(reply) => reply,
        Err(errno) => return Err(errno_text(errno)),
    };
    let result = read(reply);
    // SAFETY: the reply returned above, freed once; `read` has copied what it needs.
    unsafe { free_reply(reply) };
    Ok(result)
}

/// The reply of a call that just returned, or, when it gave none, this thread's
/// errno (only a refused call sets it), read before anything else can change it.
fn reply_or_errno(
    reply: *mut raw::RedisModuleCallReply,
) -> Result<*mut raw::RedisModuleCallReply, i32> {
    if reply.is_null() {
        // SAFETY: __errno_location returns this thread's errno, always valid to read.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(reply)
    }
}

/// `RedisModule_Call` with at most [`INLINE_ARGS`] arguments, each passed as a
/// pointer and a length (`b`). `Err` is errno when Redis refused the call.
///
/// # Safety
/// As `RedisModule_Call`: a live context whose thread holds the Redis lock, and a
/// NUL-terminated command name.
unsafe fn call_inline(
    call: CallFunction,
    ctx: *mut raw::RedisModuleCtx,
    name: *const c_char,
    args: &[&[u8]],
) -> Result<*mut raw::RedisModuleCallReply, i32> {
    // An empty slice's pointer is dangling: Redis copies zero bytes from it, but a
    // real address is passed all the same.
    static EMPTY: [u8; 1] = [0];
    let buffer = |index: usize| match args.get(index) {
        Some(arg) if !arg.is_empty() => arg.as_ptr().cast::<c_char>(),
        _ => EMPTY.as_ptr().cast::<c_char>(),
    };
    let len = |index: usize| args.get(index).map_or(0, |arg| arg.len());
    let Some(format) = FORMATS.get(args.len()) else {
        return Err(0);
    };
    let format = format.as_ptr().cast::<c_char>();
    // The call with the arguments listed, each passed as its pointer and length.
    macro_rules! call_with {
        ($($index:literal)*) => {
            call(ctx, name, format $(, buffer($index), len($index))*)
        };
    }
    // SAFETY: the caller's contract; each format has one `b` per argument passed,
    // and each `b` takes a pointer to `len` readable bytes and that `len` (a
    // size_t), which Redis copies before the call returns.
    let reply = unsafe {
        match args.len() {
            0 => call_with!(),
            1 => call_with!(0),
            2 => call_with!(0 1),
            3 => call_with!(0 1 2),
            4 => call_with!(0 1 2 3),
            5 => call_with!(0 1 2 3 4),
            6 => call_with!(0 1 2 3 4 5),
            7 => call_with!(0 1 2 3 4 5 6),
            _ => call_with!(0 1 2 3 4 5 6 7),
        }
    };
    reply_or_errno(reply)
}

/// `RedisModule_Call` with the arguments as one array of module strings (`v`).
/// `Err` is errno when Redis refused the call.
///
/// # Safety
/// As [`call_inline`].
unsafe fn call_vector(
    call: CallFunction,
    ctx: *mut raw::RedisModuleCtx,
    name: *const c_char,
    args: &[&[u8]],
) -> Result<*mut raw::RedisModuleCallReply, i32> {
    // SAFETY: reading function pointers that RedisModule_Init has filled.
    let functions = unsafe { (raw::RedisModule_CreateString, raw::RedisModule_FreeString) };
    let (Some(create), Some(free_string)) = functions else {
        return Err(0);
    };
    let mut argv: Vec<*mut raw::RedisModuleString> = args
        .iter()
        // SAFETY: a string tied to no context (freed below), copied from a live
        // slice of the given length.
        .map(|arg| unsafe { create(ptr::null_mut(), arg.as_ptr().cast::<c_char>(), arg.len()) })
        .collect();
    // SAFETY: the caller's contract; the format says one array of argv.len()
    // strings follows, which is what is passed.
    let reply = unsafe {
        call(
            ctx,
            name,
            VECTOR_FORMAT.as_ptr().cast::<c_char>(),
            argv.as_mut_ptr(),
            argv.len(),
        )
    };
    let result = reply_or_errno(reply);
    for string in argv {
        // SAFETY: each string was created above with no context and is freed once;
        // Redis took its own references to the ones it keeps.
        unsafe { free_string(ptr::null_mut(), string) };
    }
    result
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
