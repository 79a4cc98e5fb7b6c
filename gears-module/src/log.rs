//! Writing to the Redis log.
//!
//! `RedisModule_Log` takes a printf format. The message is always passed as the
//! argument of a fixed `"%s"` format, never as the format itself, so a `%` in a key
//! name or a Python error cannot make Redis read stray varargs; NUL bytes, which
//! would cut the C string, are replaced.

use redis_module::raw;
use std::ffi::CString;
use std::ptr;

/// Severity of a log line, with the names Redis understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `debug`
    Debug,
    /// `verbose`
    Verbose,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
}

impl Level {
    fn as_cstr(self) -> &'static std::ffi::CStr {
        match self {
            Level::Debug => c"debug",
            Level::Verbose => c"verbose",
            Level::Notice => c"notice",
            Level::Warning => c"warning",
        }
    }
}

/// Logs `message` under the module's name (`<rg> ...`).
///
/// Callable from any thread: Redis' logging does not need the Redis lock.
pub fn log(level: Level, message: &str) {
    // SAFETY: reading a function pointer that RedisModule_Init filled once at load.
    let log_fn = unsafe { raw::RedisModule_Log };
    let Some(log_fn) = log_fn else {
        return;
    };
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    let context = crate::MODULE_CTX.get().map_or(ptr::null_mut(), |c| c.0);
    // SAFETY: the level and format are static C strings, `text` outlives the call and
    // matches the single `%s` of the format; a null or module context are both valid.
    unsafe {
        log_fn(
            context,
            level.as_cstr().as_ptr(),
            c"%s".as_ptr(),
            text.as_ptr(),
        )
    };
}

/// Logs at `warning`.
pub fn warning(message: &str) {
    log(Level::Warning, message);
}

/// Logs at `notice`.
pub fn notice(message: &str) {
    log(Level::Notice, message);
}
