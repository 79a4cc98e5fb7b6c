//! The runtime functions scripts call (behaviour.md §4), native side:
//! `executeCommand`, `atomicCtx`, `log`, `config_get`, `getMyHashTag` and
//! `isAsyncAllow` of the `redisgears` module. The prelude gives them their script
//! names (`execute`, `atomic`, `log`, `configGet`, `hashtag`, ...).
//!
//! Every call into the host releases the GIL first: the host may take the Redis
//! lock, and the lock order is the Redis lock, then the GIL.

use crate::gears_module::GearsError;
use crate::host::{host, Host, LogLevel};
use crate::records::bytes_to_py;
use gears_protocol::Reply;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyInt, PyList, PyString, PyTuple};
use smallvec::SmallVec;
use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn gears_error(message: impl Into<String>) -> PyErr {
    GearsError::new_err(message.into())
}

fn the_host() -> PyResult<&'static Arc<dyn Host>> {
    host().ok_or_else(|| gears_error("the Python runtime has no host"))
}

/// An argument as bytes: bytes and bytearray raw, anything else `str(arg)`. A `str`
/// or `bytes` argument is borrowed from the object (the arguments tuple keeps it
/// alive for the call), so the common call copies nothing.
fn argument_bytes<'a>(value: Borrowed<'a, '_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    let object = value.as_ptr();
    if value.is_exact_instance_of::<PyString>() {
        // SAFETY: `object` is a str, alive for 'a (the arguments tuple holds it),
        // and the GIL is held.
        if let Some(bytes) = unsafe { crate::convert::utf8_of(object) } {
            return Ok(Cow::Borrowed(bytes));
        }
        // Lone surrogates: no UTF-8 form; the lossy text below.
    }
    if value.is_exact_instance_of::<PyInt>() {
        // `execute('HINCRBY', key, field, 1)`: the digits, without a Python str.
        if let Ok(number) = value.extract::<i64>() {
            return Ok(Cow::Owned(number.to_string().into_bytes()));
        }
    }
    if value.is_instance_of::<PyBytes>() {
        // SAFETY: `object` is a bytes object alive for 'a and the GIL is held; the
        // buffer of an immutable bytes object lives as long as the object.
        let bytes = unsafe {
            let data = pyo3::ffi::PyBytes_AsString(object);
            let size = usize::try_from(pyo3::ffi::PyBytes_Size(object)).unwrap_or(0);
            std::slice::from_raw_parts(data.cast::<u8>(), size)
        };
        return Ok(Cow::Borrowed(bytes));
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        return Ok(Cow::Owned(bytes.to_vec()));
    }
    Ok(Cow::Owned(
        value.str()?.to_string_lossy().into_owned().into_bytes(),
    ))
}

/// A Redis reply as Python values: strings as `str` (or `bytearray`), integers as
/// `int`, arrays as lists, nil as `None`; an error reply raises `gears.error`.
fn reply_to_py<'py>(py: Python<'py>, reply: Reply) -> PyResult<Bound<'py, PyAny>> {
    Ok(match reply {
        Reply::Bulk(bytes) => bytes_to_py(py, &bytes),
        Reply::Simple(text) => PyString::new(py, &text).into_any(),
        Reply::Integer(value) => value.into_pyobject(py)?.into_any(),
        Reply::Double(value) => value.into_pyobject(py)?.into_any(),
        Reply::Nil => py.None().into_bound(py),
        Reply::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(reply_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Reply::Error(text) => return Err(gears_error(text)),
    })
}

/// `execute(command, *args)`: runs a Redis command and returns its reply.
///
/// Written against CPython's vectorcall convention (`METH_FASTCALL`) instead of as
/// a `#[pyfunction]` with `*args`: that would build a tuple of the arguments and
/// parse it on every call, about 0.4k instructions of a registration's event
/// (benchmarks.md B1); here the arguments are read where the caller left them.
///
/// # Safety
/// Called by CPython only, with the GIL held and `nargs` live objects at `args`.
unsafe extern "C" fn execute_command_fastcall(
    _module: *mut pyo3::ffi::PyObject,
    args: *mut *mut pyo3::ffi::PyObject,
    nargs: pyo3::ffi::Py_ssize_t,
) -> *mut pyo3::ffi::PyObject {
    // SAFETY: CPython calls this with the GIL held.
    let py = unsafe { Python::assume_attached() };
    let count = usize::try_from(nargs).unwrap_or(0);
    let args: &[*mut pyo3::ffi::PyObject] = if count == 0 || args.is_null() {
        &[]
    } else {
        // SAFETY: CPython passes `nargs` argument pointers at `args`, alive for
        // the call.
        unsafe { std::slice::from_raw_parts(args, count) }
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: each pointer is a live object the caller holds for the call.
        if let Some(reply) = unsafe { execute_str_command(args) } {
            return reply_to_py(py, reply);
        }
        // SAFETY: each pointer is a live object the caller holds for the call.
        let args = args
            .iter()
            .map(|&arg| unsafe { Borrowed::from_ptr(py, arg) });
        execute_command(py, args)
    }));
    let result = outcome.unwrap_or_else(|panic| {
        Err(gears_error(format!(
            "internal error in execute: {}",
            gears_executions::pool::panic_message(panic.as_ref())
        )))
    });
    match result {
        Ok(value) => value.into_ptr(),
        Err(error) => {
            error.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// How many arguments [`execute_str_command`] takes.
const STR_COMMAND_ARGS: usize = 8;

/// The common call, made without the general path's conversions: a command of at
/// most [`STR_COMMAND_ARGS`] `str` arguments (`execute('INCR', 'counter')`), run
/// by a thread that holds the Redis lock (a `sync` registration's event, an
/// `atomic()` block), so the GIL is kept. `None` when the call is not of that kind:
/// the general path takes it.
///
/// # Safety
/// The GIL is held, and every pointer in `args` is a live object for the call.
unsafe fn execute_str_command(args: &[*mut pyo3::ffi::PyObject]) -> Option<Reply> {
    if args.is_empty() || args.len() > STR_COMMAND_ARGS {
        return None;
    }
    let host = host()?;
    if !host.holds_redis_lock() {
        return None;
    }
    let mut argv: [&[u8]; STR_COMMAND_ARGS] = [&[]; STR_COMMAND_ARGS];
    for (slot, &arg) in argv.iter_mut().zip(args) {
        // SAFETY: `arg` is live (the caller's contract); the exact type is read
        // from the object only.
        if unsafe { pyo3::ffi::PyUnicode_CheckExact(arg) } == 0 {
            return None;
        }
        // SAFETY: `arg` is a live str and the GIL is held; its UTF-8 form lives as
        // long as the object, which the caller holds for the call.
        *slot = unsafe { crate::convert::utf8_of(arg) }?;
    }
    Some(host.execute(&argv[..args.len()]))
}

/// The definition CPython keeps a pointer to for as long as `executeCommand`
/// lives: a static, so it lives for the process.
struct MethodDefinition(pyo3::ffi::PyMethodDef);

// SAFETY: the definition is never written after it is made (CPython only reads
// it), so threads may share it.
unsafe impl Sync for MethodDefinition {}

static EXECUTE_COMMAND: MethodDefinition = MethodDefinition(pyo3::ffi::PyMethodDef {
    ml_name: c"executeCommand".as_ptr(),
    ml_meth: pyo3::ffi::PyMethodDefPointer {
        PyCFunctionFast: execute_command_fastcall,
    },
    ml_flags: pyo3::ffi::METH_FASTCALL,
    ml_doc: std::ptr::null(),
});

/// The `executeCommand` function of the `redisgears` module.
pub(crate) fn execute_command_function<'py>(
    module: &Bound<'py, PyModule>,
) -> PyResult<Bound<'py, PyAny>> {
    let name = module.name()?;
    // SAFETY: the definition is a static that CPython only reads; the GIL is held;
    // the new reference is owned by the Bound.
    unsafe {
        let function = pyo3::ffi::PyCMethod_New(
            std::ptr::from_ref(&EXECUTE_COMMAND.0).cast_mut(),
            std::ptr::null_mut(),
            name.as_ptr(),
            std::ptr::null_mut(),
        );
        Bound::from_owned_ptr_or_err(module.py(), function)
    }
}

/// `execute(*args)` over the arguments as CPython passed them: no arguments give
/// an empty list; the command name must be a `str`.
fn execute_command<'a, 'py: 'a>(
    py: Python<'py>,
    mut args: impl ExactSizeIterator<Item = Borrowed<'a, 'py, PyAny>> + Clone,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(command) = args.clone().next() else {
        return Ok(PyList::empty(py).into_any());
    };
    if command.cast::<PyString>().is_err() {
        return Err(gears_error("the given command must be a string"));
    }
    let reply = with_host(py, &mut args, |host, argv| host.execute(argv))?;
    reply_to_py(py, reply)
}

/// Calls the host with `args` as bytes. The GIL is given up so that taking the
/// Redis lock cannot deadlock with a thread that holds that lock and waits for the
/// GIL; a thread that already holds the Redis lock (a sync registration, a script)
/// takes nothing, so it keeps the GIL and saves a hand-over per call.
fn with_host<'a, 'py: 'a, T: Send>(
    py: Python<'py>,
    args: &mut impl ExactSizeIterator<Item = Borrowed<'a, 'py, PyAny>>,
    body: impl FnOnce(&dyn Host, &[&[u8]]) -> T + Send,
) -> PyResult<T> {
    let mut owned: SmallVec<[Cow<'a, [u8]>; 8]> = SmallVec::with_capacity(args.len());
    for arg in args {
        owned.push(argument_bytes(arg)?);
    }
    let host = the_host()?;
    let argv: SmallVec<[&[u8]; 8]> = owned.iter().map(|arg| arg.as_ref()).collect();
    if host.holds_redis_lock() {
        return Ok(body(host.as_ref(), &argv));
    }
    let started = MEASURING.with(Cell::get).then(Instant::now);
    let result = py.detach(|| body(host.as_ref(), &argv));
    if let Some(started) = started {
        HOST_CALLS_TIME.with(|total| total.set(total.get() + started.elapsed()));
    }
    Ok(result)
}

thread_local! {
    /// Time this thread spent in host calls that had to take the Redis lock (waiting
    /// for it, mostly): see [`host_calls_time`].
    static HOST_CALLS_TIME: Cell<Duration> = const { Cell::new(Duration::ZERO) };
    /// Whether host calls on this thread are timed (see [`measuring_host_calls`]).
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `body` with this thread's host calls timed into [`host_calls_time`]
/// (two clock reads per call, paid only by those who read the time).
pub fn measuring_host_calls<R>(body: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            MEASURING.with(|measuring| measuring.set(self.0));
        }
    }
    let _restore = Restore(MEASURING.with(|measuring| measuring.replace(true)));
    body()
}

/// The time this thread has spent so far in host calls that took the Redis lock
/// themselves, while [`measuring_host_calls`]. The difference over an execution is the part of its duration that
/// was not its own work (the module uses it to tell short executions from slow
/// ones while the server is busy).
pub fn host_calls_time() -> Duration {
    HOST_CALLS_TIME.with(Cell::get)
}

/// `call_next(*args)`: inside a CommandReader hook, runs the next hook (or the
/// hooked command) with `args` and returns its reply; its error is raised.
#[pyfunction]
#[pyo3(name = "callNext", signature = (*args))]
pub fn call_next<'py>(py: Python<'py>, args: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    let reply = with_host(py, &mut args.iter_borrowed(), |host, argv| {
        host.call_next(argv)
    })?;
    reply_to_py(py, reply.map_err(gears_error)?)
}

/// `get_command()`: the argv of the command a KeysReader `commands=` registration
/// is linked to.
#[pyfunction]
#[pyo3(name = "getCommand")]
pub fn get_command(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let argv = the_host()?.get_command().map_err(gears_error)?;
    let list = PyList::empty(py);
    for arg in argv {
        list.append(bytes_to_py(py, &arg))?;
    }
    Ok(list.into_any())
}

/// `override_reply(value)`: replaces the reply of that command (once), with the
/// conversion of behaviour.md §6.7.
#[pyfunction]
#[pyo3(name = "overrideReply", signature = (*args))]
pub fn override_reply(args: &Bound<'_, PyTuple>) -> PyResult<()> {
    if args.len() != 1 {
        return Err(gears_error("Override reply must get a single argument"));
    }
    let reply = crate::convert::to_reply(&args.get_item(0)?);
    the_host()?.override_reply(reply).map_err(gears_error)
}

thread_local! {
    /// Whether this thread is inside an `atomic()` block, and whether the block took
    /// the Redis lock (it does not when the thread already held it).
    static ATOMIC: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Runs `body`, user Python code (a script, a step's function, a PythonReader's
/// function or generator, `onRegistered`), and closes an `atomic()` block it opened
/// and left open (`atomic().__enter__()` without `__exit__`). Left open, the block
/// would keep the Redis lock after the code returned, and every client would wait
/// forever; on the main thread it would refuse every later `atomic()`. A block the
/// caller already had open is the caller's and stays open.
pub fn closing_atomic<R>(body: impl FnOnce() -> R) -> R {
    let outer = ATOMIC.with(Cell::get).is_some();
    let result = body();
    if !outer {
        if let Some(taken) = ATOMIC.with(Cell::take) {
            if let Ok(host) = the_host() {
                host.atomic_end(taken);
                host.log(
                    LogLevel::Warning,
                    "an atomic() block was left open when the Python code that opened it \
                     returned; it was closed",
                );
            }
        }
    }
    result
}

/// `atomic()`: a context manager that holds the Redis lock for its whole block.
#[pyclass(module = "redisgears", name = "atomicCtx")]
pub struct Atomic;

#[pymethods]
impl Atomic {
    #[new]
    fn new() -> Atomic {
        Atomic
    }

    fn __enter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        if ATOMIC.with(Cell::get).is_some() {
            return Err(gears_error("Already inside an atomic block"));
        }
        let host = the_host()?;
        let taken = slf.py().detach(|| host.atomic_begin());
        ATOMIC.with(|state| state.set(Some(taken)));
        Ok(slf)
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        let Some(taken) = ATOMIC.with(Cell::take) else {
            return Err(gears_error("Not inside an atomic block"));
        };
        the_host()?.atomic_end(taken);
        Ok(false)
    }
}

const LEVELS: &[(&str, LogLevel)] = &[
    ("debug", LogLevel::Debug),
    ("verbose", LogLevel::Verbose),
    ("notice", LogLevel::Notice),
    ("warning", LogLevel::Warning),
];

/// `log(message, level='notice')`: writes `GEARS: <message>` to the Redis log.
#[pyfunction]
#[pyo3(signature = (message, level = None))]
pub fn log(
    py: Python<'_>,
    message: &Bound<'_, PyAny>,
    level: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let message = message
        .cast::<PyString>()
        .map_err(|_| gears_error("Log message must be a string"))?
        .to_string_lossy()
        .into_owned();
    let level = match level {
        None => LogLevel::Notice,
        Some(level) => {
            let level = level
                .cast::<PyString>()
                .map_err(|_| {
                    gears_error("Log level must be a sting (debug/verbose/notice/warning)")
                })?
                .to_string_lossy()
                .into_owned();
            LEVELS
                .iter()
                .find(|(name, _)| *name == level)
                .map(|(_, level)| *level)
                .ok_or_else(|| {
                    gears_error(
                        "Log level should be one of the following : debug,verbose,notice,warning",
                    )
                })?
        }
    };
    let host = the_host()?;
    py.detach(|| host.log(level, &format!("GEARS: {message}")));
    Ok(())
}

/// `configGet(key)`: a value of the extra configuration dictionary, or `None`.
#[pyfunction]
#[pyo3(name = "config_get", signature = (*args))]
pub fn config_get<'py>(py: Python<'py>, args: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
    if args.len() != 1 {
        return Err(gears_error(
            "get_config function must get a single key input",
        ));
    }
    let key = args
        .get_item(0)?
        .cast::<PyString>()
        .map_err(|_| gears_error("get_config key must be a string"))?
        .to_string_lossy()
        .into_owned();
    let host = the_host()?;
    match py.detach(|| host.config_get(key.as_bytes())) {
        Some(value) => Ok(bytes_to_py(py, &value)),
        None => Ok(py.None().into_bound(py)),
    }
}

/// `hashtag()`: a string that hashes to a slot of this shard.
#[pyfunction]
#[pyo3(name = "getMyHashTag")]
pub fn get_my_hash_tag() -> PyResult<String> {
    Ok(the_host()?.hashtag())
}

/// `isAsyncAllow()`: false inside MULTI, Lua, or where the client cannot block.
#[pyfunction]
#[pyo3(name = "isAsyncAllow")]
pub fn is_async_allow() -> PyResult<bool> {
    Ok(the_host()?.is_async_allowed())
}
