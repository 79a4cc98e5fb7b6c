//! Copying a string key's value out of an open key without changing the key.
//!
//! The module API's only way to read a string key in place, `RedisModule_StringDMA`,
//! first "unshares" every value that is not a plain (raw) string: a short string
//! (embstr, up to 44 bytes) or a number (int encoding) is replaced in the keyspace
//! by a new raw copy. So a read-only KeysReader run over a million short strings
//! re-allocated a million values and left each one bigger than before, and a
//! registration paid that allocation on every event it read (about 0.8k
//! instructions, most of a KeysReader event's read; benchmarks.md B1, B3).
//!
//! Like RedisGears 1.x (`GearsModuleKey` in its `redisgears_memory.h`), this reads
//! the value through Redis' own layout of an open key and of a string object, which
//! have not changed from Redis 5 to 7:
//!
//! - `struct RedisModuleKey` (module.c) starts with `ctx`, `db`, `key`, `value`;
//! - `robj` (server.h) is `type:4, encoding:4, lru:24`, `refcount`, `ptr`;
//! - an sds string keeps its length in a header before its bytes, whose type is in
//!   the low 3 bits of the byte just before them (sds.h).
//!
//! It is used only on servers of those versions, and every value it reads is
//! checked against the length the public API gives (`RedisModule_ValueLength`):
//! anything else (another version, another encoding, a length that disagrees) goes
//! through `RedisModule_StringDMA` as before.

use redis_module::raw;
use std::os::raw::c_void;
use std::sync::OnceLock;

/// The start of Redis' `struct RedisModuleKey`.
#[repr(C)]
struct OpenKeyHead {
    _ctx: *mut c_void,
    _db: *mut c_void,
    _key: *mut c_void,
    value: *const RedisObject,
}

/// Redis' `robj`.
#[repr(C)]
struct RedisObject {
    /// `type:4, encoding:4, lru:24`, as GCC lays out bit fields on little-endian
    /// machines (the first field in the lowest bits).
    type_and_encoding: u32,
    _refcount: i32,
    ptr: *mut c_void,
}

const OBJ_STRING: u32 = 0;
const OBJ_ENCODING_RAW: u32 = 0;
const OBJ_ENCODING_INT: u32 = 1;
const OBJ_ENCODING_EMBSTR: u32 = 8;

/// The servers whose layouts are the ones above (`RedisModule_GetServerVersion`'s
/// `0x00MMmmpp`): 5.0 up to, not including, 8.0.
const KNOWN_LAYOUTS: std::ops::Range<i32> = 0x05_00_00..0x08_00_00;

/// Whether this server's layouts are known (asked once).
fn layouts_known() -> bool {
    static KNOWN: OnceLock<bool> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        // SAFETY: reading a function pointer that RedisModule_Init has filled, then
        // calling it (it reads a constant).
        let version = unsafe { raw::RedisModule_GetServerVersion.map(|get| get()) };
        version.is_some_and(|version| KNOWN_LAYOUTS.contains(&version))
    })
}

/// The value of `key`, a string key opened for reading, copied out.
///
/// # Safety
/// `key` is a key opened with `RedisModule_OpenKey` whose type is
/// `REDISMODULE_KEYTYPE_STRING`, still open, on a thread that holds the Redis lock.
pub unsafe fn copy_string_value(key: *mut raw::RedisModuleKey) -> Vec<u8> {
    if layouts_known() {
        // SAFETY: the caller's contract, and the layouts this server has.
        if let Some(value) = unsafe { read_in_place(key) } {
            return value;
        }
    }
    // SAFETY: the caller's contract.
    unsafe { read_through_dma(key) }
}

/// The value read through the layouts above; `None` when it is not a string
/// object of a known encoding, or its length disagrees with the module API's.
unsafe fn read_in_place(key: *mut raw::RedisModuleKey) -> Option<Vec<u8>> {
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let value_length = unsafe { raw::RedisModule_ValueLength }?;
    // SAFETY: `key` is an open key, which starts with `OpenKeyHead` on this server.
    let object = unsafe { (*key.cast::<OpenKeyHead>()).value };
    if object.is_null() {
        return None;
    }
    // SAFETY: a string key's `value` is a live string object while the key is open.
    let (bits, ptr) = unsafe { ((*object).type_and_encoding, (*object).ptr) };
    if bits & 0xf != OBJ_STRING {
        return None;
    }
    // SAFETY: `key` is an open key.
    let expected = unsafe { value_length(key) };
    match (bits >> 4) & 0xf {
        OBJ_ENCODING_RAW | OBJ_ENCODING_EMBSTR if !ptr.is_null() => {
            // SAFETY: a raw or embstr string object points at an sds string.
            let len = unsafe { sds_len(ptr.cast::<u8>()) }?;
            // Checked before a byte is copied: a length read wrongly is never used.
            (len == expected).then(|| {
                // SAFETY: an sds string has `len` bytes at `ptr`.
                unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }.to_vec()
            })
        }
        // An int-encoded string keeps the number itself in `ptr`.
        OBJ_ENCODING_INT => {
            let value = (ptr as isize as i64).to_string().into_bytes();
            (value.len() == expected).then_some(value)
        }
        _ => None,
    }
}

/// The length of an sds string (sds.h: the header type in the low 3 bits of the
/// byte before the bytes; packed headers `len, alloc, flags` of 8, 16, 32 or 64
/// bits, or for type 5 the length in the flag byte's upper 5 bits).
///
/// # Safety
/// `s` points at the bytes of a live sds string.
unsafe fn sds_len(s: *const u8) -> Option<usize> {
    // SAFETY: every sds string has its flags byte just before its bytes, and the
    // header its type names before that.
    unsafe {
        let flags = *s.sub(1);
        match flags & 7 {
            0 => Some(usize::from(flags >> 3)),
            1 => Some(usize::from(*s.sub(3))),
            2 => Some(usize::from(s.sub(5).cast::<u16>().read_unaligned())),
            3 => usize::try_from(s.sub(9).cast::<u32>().read_unaligned()).ok(),
            4 => usize::try_from(s.sub(17).cast::<u64>().read_unaligned()).ok(),
            _ => None,
        }
    }
}

/// The value copied through `RedisModule_StringDMA` (which unshares it first).
unsafe fn read_through_dma(key: *mut raw::RedisModuleKey) -> Vec<u8> {
    let mut len = 0usize;
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let Some(dma) = (unsafe { raw::RedisModule_StringDMA }) else {
        return Vec::new();
    };
    // SAFETY: `key` is a string key opened for reading; READ access leaves its bytes
    // alone (it may re-encode the value, see the module documentation).
    let data = unsafe { dma(key, &mut len, raw::REDISMODULE_READ as i32) };
    if data.is_null() {
        return Vec::new();
    }
    // SAFETY: Redis guarantees `len` readable bytes at `data` while the key is open.
    unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }.to_vec()
}
