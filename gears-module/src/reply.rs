//! Sending a [`Reply`] through the module API.
//!
//! Each variant maps to one `RedisModule_ReplyWith*` call, so Redis renders it for
//! the client's protocol (RESP2 or RESP3) itself. Error texts go through
//! `RedisModule_ReplyWithError`, which sends them verbatim (no `ERR ` prefix).

use gears_protocol::Reply;
use redis_module::{raw, Context};
use std::ffi::CString;
use std::os::raw::{c_char, c_long};

/// Sends `reply` to the client of `ctx`.
pub fn send_reply(ctx: &Context, reply: &Reply) {
    let raw_ctx = ctx.ctx;
    match reply {
        Reply::Simple(text) => {
            let text = c_text(text);
            raw::reply_with_simple_string(raw_ctx, text.as_ptr());
        }
        Reply::Error(text) => {
            let text = c_text(text);
            // Not `raw::reply_with_error`: it cuts every character to its low byte,
            // which mangles any non-ASCII text (a Python exception's message, an
            // echoed argument). Redis itself turns line breaks into spaces.
            // SAFETY: reading a function pointer that RedisModule_Init has filled.
            if let Some(reply_with_error) = unsafe { raw::RedisModule_ReplyWithError } {
                // SAFETY: a reply context; `text` is NUL-terminated and alive for the call.
                unsafe { reply_with_error(raw_ctx, text.as_ptr()) };
            }
        }
        Reply::Bulk(bytes) => {
            raw::reply_with_string_buffer(raw_ctx, bytes.as_ptr().cast::<c_char>(), bytes.len());
        }
        Reply::Integer(value) => {
            raw::reply_with_long_long(raw_ctx, *value);
        }
        Reply::Double(value) => {
            raw::reply_with_double(raw_ctx, *value);
        }
        Reply::Nil => {
            raw::reply_with_null(raw_ctx);
        }
        Reply::Array(items) => {
            raw::reply_with_array(raw_ctx, items.len() as c_long);
            for item in items {
                send_reply(ctx, item);
            }
        }
    }
}

/// A C string for status and error texts; a NUL byte (which the protocol cannot
/// carry in these types anyway) is shown as `\0` instead of cutting the text.
fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}
