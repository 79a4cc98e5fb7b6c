//! The keyspace as KeysReader reads it, over the Redis module API.
//!
//! A scan step takes the Redis lock once and walks the keyspace with
//! `RedisModule_Scan` (no reply objects are built, unlike `SCAN` through
//! `RedisModule_Call`) until it has about `count` keys, matching them against the
//! glob with Redis' own rules and reading string values in place; hash and list
//! values are read with `HGETALL`/`LRANGE` after the walk, still under the lock, so
//! nothing touches the keyspace while it is being walked. The lock is released
//! between steps: the server stalls for one step at a time, never for the whole
//! scan.

use crate::redis_access::{call, with_redis};
use gears_executions::glob::glob_match;
use gears_executions::reader::{KeyScanner, KeySpace};
use gears_executions::record::{KeyEntry, KeyType, KeyValue};
use gears_protocol::Reply;
use redis_module::{raw, Context, RedisString};
use std::os::raw::c_void;
use std::ptr;

/// The server's keyspace.
#[derive(Debug, Default)]
pub struct RedisKeySpace;

impl KeySpace for RedisKeySpace {
    fn scanner(&self, pattern: &[u8], read_value: bool) -> Box<dyn KeyScanner> {
        Box::new(RedisScanner {
            cursor: ScanCursor::new(),
            pattern: pattern.to_vec(),
            read_value,
            done: false,
        })
    }

    fn read_key(&self, key: &[u8], read_value: bool) -> Result<KeyEntry, String> {
        Ok(with_redis(|ctx| read_entry(ctx, key, read_value)))
    }
}

/// A `RedisModuleScanCursor`, destroyed on drop.
struct ScanCursor(*mut raw::RedisModuleScanCursor);

// SAFETY: a scan cursor is plain memory owned by this wrapper; it is only used by
// one scanner at a time, and only while the Redis lock is held.
unsafe impl Send for ScanCursor {}

impl ScanCursor {
    fn new() -> ScanCursor {
        // SAFETY: reading a function pointer that RedisModule_Init has filled.
        match unsafe { raw::RedisModule_ScanCursorCreate } {
            // SAFETY: creating a cursor has no preconditions.
            Some(create) => ScanCursor(unsafe { create() }),
            None => ScanCursor(ptr::null_mut()),
        }
    }
}

impl Drop for ScanCursor {
    fn drop(&mut self) {
        // SAFETY: reading a function pointer that RedisModule_Init has filled.
        if let (false, Some(destroy)) = (self.0.is_null(), unsafe {
            raw::RedisModule_ScanCursorDestroy
        }) {
            // SAFETY: the cursor was created by RedisModule_ScanCursorCreate and is
            // destroyed once.
            unsafe { destroy(self.0) };
        }
    }
}

struct RedisScanner {
    cursor: ScanCursor,
    pattern: Vec<u8>,
    read_value: bool,
    done: bool,
}

/// What the scan callback collects during one step.
struct Collected<'a> {
    pattern: &'a [u8],
    read_value: bool,
    entries: Vec<KeyEntry>,
}

impl KeyScanner for RedisScanner {
    fn next(&mut self, count: usize) -> Result<Option<Vec<KeyEntry>>, String> {
        if self.done {
            return Ok(None);
        }
        // SAFETY: reading a function pointer that RedisModule_Init has filled.
        let scan = unsafe { raw::RedisModule_Scan };
        let (Some(scan), false) = (scan, self.cursor.0.is_null()) else {
            return Err("the module scan API is not available".to_owned());
        };
        let cursor = self.cursor.0;
        let mut collected = Collected {
            pattern: &self.pattern,
            read_value: self.read_value,
            entries: Vec::new(),
        };
        let more = with_redis(|ctx| {
            let mut more = true;
            while more && collected.entries.len() < count {
                // SAFETY: the Redis lock is held (with_redis); the callback only
                // reads the key it is given and writes to `collected`, which outlives
                // the call; the cursor belongs to this scanner.
                more = unsafe {
                    scan(
                        ctx.ctx,
                        cursor,
                        Some(on_key),
                        (&mut collected as *mut Collected<'_>).cast(),
                    )
                } != 0;
            }
            // Hash and list values, read now that the walk has stopped.
            for entry in &mut collected.entries {
                if let Some((kind, value)) = &mut entry.value {
                    if let Some(read) = collection_value(ctx, &entry.key, *kind) {
                        *value = read;
                    }
                }
            }
            more
        });
        if !more {
            self.done = true;
        }
        Ok(Some(collected.entries))
    }
}

/// The `RedisModuleScanCB`: keeps the keys that match, with their type (and their
/// value, for strings).
unsafe extern "C" fn on_key(
    _ctx: *mut raw::RedisModuleCtx,
    name: *mut raw::RedisModuleString,
    key: *mut raw::RedisModuleKey,
    private: *mut c_void,
) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `private` is the `Collected` that `next` passed to RedisModule_Scan,
        // alive and not otherwise borrowed during the call.
        let collected = unsafe { &mut *private.cast::<Collected<'_>>() };
        // SAFETY: Redis hands the scan callback a live key name for the call.
        let name = unsafe { string_bytes(name) };
        if !glob_match(collected.pattern, name) {
            return;
        }
        let entry_value = if key.is_null() {
            None
        } else {
            // SAFETY: Redis opened `key` for reading for the duration of this callback.
            let (kind, expire) = unsafe {
                (
                    raw::RedisModule_KeyType.map(|f| f(key)),
                    raw::RedisModule_GetExpire.map(|f| f(key)),
                )
            };
            // A key whose time is up is logically gone (SCAN skips it too).
            if expire == Some(0) {
                return;
            }
            let kind = key_type(kind.unwrap_or(raw::REDISMODULE_KEYTYPE_EMPTY as i32));
            let value = match kind {
                KeyType::String if collected.read_value => KeyValue::String(string_value(key)),
                // Read after the walk (see `next`).
                KeyType::Hash => KeyValue::Hash(Vec::new()),
                KeyType::List => KeyValue::List(Vec::new()),
                _ => KeyValue::None,
            };
            Some((kind, value))
        };
        collected.entries.push(KeyEntry {
            key: name.to_vec(),
            event: None,
            value: if collected.read_value {
                entry_value
            } else {
                None
            },
        });
    }));
    if outcome.is_err() {
        crate::log::warning("internal error while scanning the keyspace; a key was skipped");
    }
}

fn key_type(kind: i32) -> KeyType {
    match kind as isize {
        raw::REDISMODULE_KEYTYPE_STRING => KeyType::String,
        raw::REDISMODULE_KEYTYPE_LIST => KeyType::List,
        raw::REDISMODULE_KEYTYPE_HASH => KeyType::Hash,
        raw::REDISMODULE_KEYTYPE_SET => KeyType::Set,
        raw::REDISMODULE_KEYTYPE_ZSET => KeyType::ZSet,
        raw::REDISMODULE_KEYTYPE_MODULE => KeyType::Module,
        raw::REDISMODULE_KEYTYPE_STREAM => KeyType::Stream,
        _ => KeyType::Empty,
    }
}

/// The bytes of a module string (valid while the string is).
///
/// # Safety
/// `string` must be a live module string that outlives the returned slice.
pub unsafe fn string_bytes<'a>(string: *mut raw::RedisModuleString) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let Some(ptr_len) = (unsafe { raw::RedisModule_StringPtrLen }) else {
        return &[];
    };
    // SAFETY: `string` is a live module string handed to us by Redis.
    let data = unsafe { ptr_len(string, &mut len) };
    if data.is_null() {
        return &[];
    }
    // SAFETY: Redis guarantees `len` readable bytes at `data` while the string lives.
    unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
}

/// A string key's value, copied out of the key (see [`crate::string_value`]: the
/// key is left as it is).
fn string_value(key: *mut raw::RedisModuleKey) -> Vec<u8> {
    // SAFETY: both callers pass a string key they opened for reading and have not
    // closed, with the Redis lock held.
    unsafe { crate::string_value::copy_string_value(key) }
}

thread_local! {
    /// Set while gears-rs itself reads a key: a miss there is not a client's miss,
    /// so it must not fire `keymiss` registrations.
    static READING_INTERNALLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is inside one of gears-rs' own key reads.
pub fn reading_internally() -> bool {
    READING_INTERNALLY.with(std::cell::Cell::get)
}

fn internal_read<R>(body: impl FnOnce() -> R) -> R {
    let previous = READING_INTERNALLY.with(|flag| flag.replace(true));
    let result = body();
    READING_INTERNALLY.with(|flag| flag.set(previous));
    result
}

/// A key's type, and its value when `read_value`. A keyspace event's key is opened
/// with the event's own name (no new Redis string is made); strings are copied
/// straight out of the key; hash and list values are read with `HGETALL`/`LRANGE`
/// once it is closed.
///
/// # Safety
/// `ctx` is a live context and `name` a live string naming `key` (a keyspace
/// callback's own, for instance), and the caller holds the Redis lock (Redis holds
/// it while it runs keyspace callbacks).
pub unsafe fn read_named_key(
    ctx: *mut raw::RedisModuleCtx,
    name: *mut raw::RedisModuleString,
    key: &[u8],
    read_value: bool,
) -> (KeyType, Option<KeyValue>) {
    internal_read(|| {
        // SAFETY: reading function pointers that RedisModule_Init has filled.
        let functions = unsafe {
            (
                raw::RedisModule_OpenKey,
                raw::RedisModule_KeyType,
                raw::RedisModule_CloseKey,
            )
        };
        let (Some(open), Some(type_of), Some(close)) = functions else {
            return (KeyType::Empty, read_value.then_some(KeyValue::None));
        };
        // SAFETY: the caller's contract: a live context and key name, lock held.
        let handle = unsafe { open(ctx, name, raw::REDISMODULE_READ as i32) };
        if handle.is_null() {
            return (KeyType::Empty, read_value.then_some(KeyValue::None));
        }
        // SAFETY: `handle` is the key just opened, closed once below.
        let kind = key_type(unsafe { type_of(handle) });
        let value = match kind {
            KeyType::String if read_value => Some(KeyValue::String(string_value(handle))),
            _ => None,
        };
        // SAFETY: as above; nothing uses `handle` after this.
        unsafe { close(handle) };
        if !read_value {
            return (kind, None);
        }
        let value = value
            .or_else(|| collection_value(&Context::new(ctx), key, kind))
            .unwrap_or(KeyValue::None);
        (kind, Some(value))
    })
}

/// The value of a hash (`HGETALL`) or list (`LRANGE 0 -1`) key; `None` for the
/// other types, whose values are read in place or not at all.
fn collection_value(ctx: &Context, key: &[u8], kind: KeyType) -> Option<KeyValue> {
    match kind {
        KeyType::Hash => Some(KeyValue::Hash(pairs(call(ctx, "HGETALL", &[key])))),
        KeyType::List => Some(KeyValue::List(strings(call(
            ctx,
            "LRANGE",
            &[key, b"0", b"-1"],
        )))),
        _ => None,
    }
}

/// A key type as KeysReader registrations name it in `keyTypes` (`string`, `hash`,
/// ..., `stream`, `module`, or `empty` for a missing key). Records name a stream
/// `unknown`; `keyTypes` says `stream`.
pub fn key_types_name(kind: KeyType) -> &'static str {
    match kind {
        KeyType::Stream => "stream",
        other => other.record_name(),
    }
}

/// One key by name, with the Redis lock held (as [`read_named_key`] reads it,
/// without the type when values are not read).
fn read_entry(ctx: &Context, key: &[u8], read_value: bool) -> KeyEntry {
    let value = if read_value {
        // Not `Context::create_string`: it goes through a CString and panics on a
        // NUL, which key names may contain.
        let name = RedisString::create_from_slice(ctx.ctx, key);
        // SAFETY: `ctx` is a live context with the Redis lock held (the caller's
        // contract) and `name` a live string it made, alive for the call.
        let (kind, value) = unsafe { read_named_key(ctx.ctx, name.inner, key, true) };
        value.map(|value| (kind, value))
    } else {
        None
    };
    KeyEntry {
        key: key.to_vec(),
        event: None,
        value,
    }
}

fn strings(reply: Reply) -> Vec<Vec<u8>> {
    match reply {
        Reply::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Reply::Bulk(bytes) => Some(bytes),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn pairs(reply: Reply) -> Vec<(Vec<u8>, Vec<u8>)> {
    let flat = strings(reply);
    flat.chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}
