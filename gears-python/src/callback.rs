//! Python functions as the engine's step callbacks, and the runtime that runs them.
//!
//! A [`PyCallback`] calls its function with the GIL held (cheaply: the runner holds
//! the GIL for a whole batch through [`PyRuntime::batch_scope`]). A raised
//! exception becomes the step error, with RedisGears' error text. The first step of
//! every Python plan is [`ToPyRecord`], RedisGears' `RedisGearsPy_ToPyRecordMapper`.

use crate::errors::run_error_text;
use crate::gears_module::GearsForceStopped;
use crate::records::{
    bytes_to_py, key_entry_to_py, py_to_record, record_to_py, record_to_py_record, EventRecord,
};
use crate::runtime_functions::closing_atomic;
use gears_executions::plan::{Callback, StepError, StepResult};
use gears_executions::record::Record;
use gears_executions::runner::{Interrupter, Runtime};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The step error of a Python exception raised during a run.
pub(crate) fn step_error(py: Python<'_>, error: &PyErr) -> StepError {
    StepError::new(run_error_text(py, error))
}

/// The key bytes of a Python key: a `str` is the key itself; anything else is keyed
/// by its `repr()` (RedisGears' groupby/countby keys).
pub(crate) fn key_bytes(py: Python<'_>, key: &Bound<'_, PyAny>) -> StepResult<Vec<u8>> {
    let text = match key.cast::<PyString>() {
        Ok(text) => text.clone(),
        Err(_) => key.repr().map_err(|e| step_error(py, &e))?,
    };
    Ok(text.to_string_lossy().into_owned().into_bytes())
}

/// A Python function called by a step.
pub struct PyCallback {
    function: Py<PyAny>,
    description: String,
    /// Whether the function may look at the record of a one-record step (map,
    /// filter, foreach, extractkey); when it cannot, it gets `None` and the record
    /// is not converted for it ([`crate::record_use`]). Read off the bytecode on
    /// the first such call.
    /// (A GIL-aware once-cell: the analysis runs Python, which may release the GIL
    /// to another thread calling the same step.)
    reads_record: PyOnceLock<bool>,
}

/// The repr of a step's function: the `arg` RG.GETEXECUTION shows for the step.
pub(crate) fn function_description(function: &Bound<'_, PyAny>) -> String {
    function
        .repr()
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl std::fmt::Debug for PyCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

impl PyCallback {
    /// Wraps `function`; its repr is what RG.GETEXECUTION shows.
    pub fn new(function: &Bound<'_, PyAny>) -> PyCallback {
        PyCallback {
            function: function.clone().unbind(),
            description: function_description(function),
            reads_record: PyOnceLock::new(),
        }
    }

    /// Calls the function with the GIL held; a raised exception is the step error.
    pub(crate) fn call_bound<'py, A: pyo3::call::PyCallArgs<'py>>(
        &self,
        py: Python<'py>,
        args: A,
    ) -> StepResult<Bound<'py, PyAny>> {
        self.call(py, args)
    }

    /// The one place steps call user functions, whichever reader feeds them: an
    /// atomic() block the function leaves open is closed here.
    fn call<'py, A: pyo3::call::PyCallArgs<'py>>(
        &self,
        py: Python<'py>,
        args: A,
    ) -> StepResult<Bound<'py, PyAny>> {
        closing_atomic(|| self.function.bind(py).call1(args)).map_err(|e| step_error(py, &e))
    }
}

fn to_py<'py>(py: Python<'py>, record: Record) -> StepResult<Bound<'py, PyAny>> {
    record_to_py(py, record).map_err(|e| step_error(py, &e))
}

fn optional<'py>(py: Python<'py>, record: Option<Record>) -> StepResult<Bound<'py, PyAny>> {
    match record {
        Some(record) => to_py(py, record),
        None => Ok(py.None().into_bound(py)),
    }
}

impl PyCallback {
    /// Whether the function may look at the record of a one-record step.
    fn reads_record(&self, py: Python<'_>) -> bool {
        *self.reads_record.get_or_init(py, || {
            crate::record_use::reads_first_argument(self.function.bind(py))
        })
    }

    /// The argument of a one-record step: the record's Python object, or `None`
    /// for a function that never looks at it.
    fn record_argument<'py>(
        &self,
        py: Python<'py>,
        record: &Record,
    ) -> StepResult<Bound<'py, PyAny>> {
        if self.reads_record(py) {
            borrowed_to_py(py, record)
        } else {
            Ok(py.None().into_bound(py))
        }
    }
}

impl Callback for PyCallback {
    fn map(&self, record: Record) -> StepResult<Record> {
        Python::attach(|py| {
            let argument = if self.reads_record(py) {
                to_py(py, record)?
            } else {
                py.None().into_bound(py)
            };
            self.call(py, (argument,)).map(py_to_record)
        })
    }

    fn filter(&self, record: &Record) -> StepResult<bool> {
        Python::attach(|py| {
            let argument = self.record_argument(py, record)?;
            let verdict = self.call(py, (argument,))?;
            verdict.is_truthy().map_err(|e| step_error(py, &e))
        })
    }

    fn foreach(&self, record: &Record) -> StepResult<()> {
        Python::attach(|py| {
            let argument = self.record_argument(py, record)?;
            self.call(py, (argument,)).map(|_| ())
        })
    }

    fn accumulate(&self, accumulator: Option<Record>, record: Record) -> StepResult<Record> {
        Python::attach(|py| {
            let accumulator = optional(py, accumulator)?;
            let record = to_py(py, record)?;
            self.call(py, (accumulator, record)).map(py_to_record)
        })
    }

    fn extract_key(&self, record: &Record) -> StepResult<Vec<u8>> {
        Python::attach(|py| {
            let argument = self.record_argument(py, record)?;
            let key = self.call(py, (argument,))?;
            key_bytes(py, &key)
        })
    }

    fn accumulate_by_key(
        &self,
        key: &[u8],
        accumulator: Option<Record>,
        record: Record,
    ) -> StepResult<Record> {
        Python::attach(|py| {
            let accumulator = optional(py, accumulator)?;
            let record = to_py(py, record)?;
            self.call(py, (bytes_to_py(py, key), accumulator, record))
                .map(py_to_record)
        })
    }

    fn reduce(&self, key: &[u8], records: Vec<Record>) -> StepResult<Record> {
        Python::attach(|py| {
            let list = PyList::empty(py);
            for record in records {
                list.append(to_py(py, record)?)
                    .map_err(|e| step_error(py, &e))?;
            }
            self.call(py, (bytes_to_py(py, key), list))
                .map(py_to_record)
        })
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl PyCallback {
    /// Calls the function with a KeysReader event's record (its dict, made now if
    /// the function may read it; `None` otherwise, as [`Callback::foreach`] gives it).
    pub(crate) fn call_with_event<'py>(
        &self,
        py: Python<'py>,
        record: &EventRecord,
    ) -> StepResult<Bound<'py, PyAny>> {
        let argument = if self.reads_record(py) {
            // A dict that can not be made (out of memory) reads as None, as it does
            // through the pipeline.
            record
                .object(py)
                .unwrap_or_else(|_| py.None().into_bound(py))
        } else {
            py.None().into_bound(py)
        };
        self.call(py, (argument,))
    }
}

/// The Python object of a record the step only looks at. Python records are shared
/// (a new reference); native records are converted.
fn borrowed_to_py<'py>(py: Python<'py>, record: &Record) -> StepResult<Bound<'py, PyAny>> {
    match record {
        Record::Opaque(value) => Ok(crate::records::opaque_to_py(py, value.as_ref())),
        Record::Nil => Ok(py.None().into_bound(py)),
        Record::Text(bytes) => Ok(bytes_to_py(py, bytes)),
        Record::Long(value) => to_py(py, Record::Long(*value)),
        Record::Double(value) => to_py(py, Record::Double(*value)),
        Record::Key(entry) => key_entry_to_py(py, entry).map_err(|e| step_error(py, &e)),
        Record::List(_) | Record::Keyed { .. } => Err(StepError::new(
            "a Python step received a native list record; convert it with a map first",
        )),
    }
}

/// `RedisGearsPy_ToPyRecordMapper`: native records in, Python objects out (a key
/// record as an [`crate::records::EventRecord`], its dict made when first read).
#[derive(Debug, Default)]
pub struct ToPyRecord;

impl Callback for ToPyRecord {
    fn map(&self, record: Record) -> StepResult<Record> {
        Python::attach(|py| record_to_py_record(py, record).map_err(|e| step_error(py, &e)))
    }
    fn describe(&self) -> String {
        String::new()
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The Python runtime of the engine.
#[derive(Debug, Default)]
pub struct PyRuntime;

impl Runtime for PyRuntime {
    fn batch_scope(&self, work: &mut dyn FnMut()) {
        Python::attach(|_| work());
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupter>> {
        // SAFETY: PyThread_get_thread_ident only reads the calling thread's id.
        let thread = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
        // PyThreadState_SetAsyncExc takes the same id as a C long.
        let thread = thread as std::os::raw::c_long;
        Some(Arc::new(PyInterrupter {
            thread,
            armed: AtomicBool::new(true),
            delivered: AtomicBool::new(false),
        }))
    }
}

/// The Python runtime of executions that run inline, inside the event or command that
/// triggered them (`mode='sync'`): nothing can abort them while the server waits on
/// them, and they must leave alone the interrupter of an execution they run nested
/// in (a write of an async execution can fire a sync registration on its thread).
#[derive(Debug, Default)]
pub struct PyInlineRuntime;

impl Runtime for PyInlineRuntime {
    fn batch_scope(&self, work: &mut dyn FnMut()) {
        Python::attach(|_| work());
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupter>> {
        None
    }
}

/// Serves `body` with a Python thread state kept for the calling thread until it
/// returns (for an execution thread: its whole life), without holding the GIL.
///
/// Without it the thread has a thread state only while it holds the GIL: each
/// hand-over creates and deletes one, and an abort that arrives between two (after
/// the execution started, before its callback took the GIL) finds no thread to
/// raise `gears.forcestopped` in and is lost, leaving an endless callback running.
pub fn keep_thread_state(body: &mut dyn FnMut()) {
    // SAFETY: Python is initialized before the execution threads start. Ensure
    // gives this thread a thread state and the GIL; SaveThread releases the GIL and
    // keeps the state, which the GIL hand-overs inside `body` then reuse;
    // RestoreThread and Release undo both, in order, on the same thread.
    unsafe {
        let gil = pyo3::ffi::PyGILState_Ensure();
        let state = pyo3::ffi::PyEval_SaveThread();
        body();
        pyo3::ffi::PyEval_RestoreThread(state);
        pyo3::ffi::PyGILState_Release(gil);
    }
}

/// Raises `gears.forcestopped` in the thread running an execution.
struct PyInterrupter {
    thread: std::os::raw::c_long,
    armed: AtomicBool,
    /// An interrupt set the exception (disarming clears it only then: clearing
    /// walks every Python thread under the interpreter's lock).
    delivered: AtomicBool,
}

impl Interrupter for PyInterrupter {
    fn interrupt(&self) {
        Python::attach(|py| {
            // Checked with the GIL held: disarm() also takes the GIL, so the
            // exception is never set for a thread that has moved on.
            if !self.armed.load(Ordering::SeqCst) {
                return;
            }
            let exception = py.get_type::<GearsForceStopped>();
            // SAFETY: the GIL is held; the thread id came from PyThread_get_thread_ident
            // on the thread that runs the execution; the exception type is a live class.
            let set =
                unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(self.thread, exception.as_ptr()) };
            // 0: the thread has no Python thread state to set it in. The execution
            // threads keep theirs for life ([`keep_thread_state`]), so this is not
            // expected; the runner still sees the abort between records.
            if set > 0 {
                self.delivered.store(true, Ordering::SeqCst);
            }
        });
    }

    fn disarm(&self) {
        Python::attach(|_| {
            if self.armed.swap(false, Ordering::SeqCst) && self.delivered.load(Ordering::SeqCst) {
                // SAFETY: the GIL is held; a NULL exception clears one that an interrupt
                // set but no bytecode has delivered yet.
                unsafe {
                    pyo3::ffi::PyThreadState_SetAsyncExc(self.thread, std::ptr::null_mut());
                }
            }
        });
    }
}
