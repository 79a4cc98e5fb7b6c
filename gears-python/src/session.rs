//! Sessions: the globals dict each `RG.PYEXECUTE` script runs in.
//!
//! RedisGears isolates scripts without sub-interpreters: there is one set of *base
//! globals*, the namespace left by running the prelude (`GearsBuilder.py` upstream,
//! [`PRELUDE`] here) with `__name__ == 'not_main'`, and every session gets its own
//! shallow copy of it (`dict.copy()`). So a name one script defines is not seen by the
//! next, while imported modules (`sys.modules`) are shared by everyone.
//!
//! A script is compiled from its bytes with the file name `"<string>"` in `exec` mode,
//! then executed in the session's globals. Compiling from bytes lets CPython decode
//! the source the way `PyRun_String` did for RedisGears: UTF-8 (or a PEP 263 coding
//! cookie), with an invalid byte sequence reported as a `SyntaxError` whose text says
//! `'utf-8' codec can't decode byte ...`, and a NUL byte as `source code string cannot
//! contain null bytes`.
//!
//! Any exception the script raises, `SystemExit` (from `sys.exit()` or `exit()`) and
//! `KeyboardInterrupt` included, comes back as a [`ScriptError`] whose text is made by
//! [`error_text`]; nothing here ever prints an exception (CPython's `PyErr_Print`
//! would exit the process on `SystemExit`).

use std::fmt;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyCode, PyCodeMethods, PyDict};

use crate::errors::error_text;

/// The source run into the base globals.
pub const PRELUDE: &str = include_str!("prelude.py");

/// The file name scripts (and the prelude) are compiled with, as in RedisGears'
/// `PyRun_String`; it is what tracebacks show (`File "<string>", line 1`).
pub const SCRIPT_FILENAME: &str = "<string>";

/// The `__name__` of the base globals, hence of every session.
pub const GLOBALS_NAME: &str = "not_main";

/// The base globals, built once per process.
static BASE_GLOBALS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// A Python error raised by a script (or by the prelude), as its error text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    /// The text RedisGears gives the exception (see [`error_text`]).
    pub text: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for ScriptError {}

impl ScriptError {
    fn from_py(py: Python<'_>, error: &PyErr, attempt_traceback: bool) -> ScriptError {
        ScriptError {
            text: error_text(py, error, attempt_traceback),
        }
    }
}

/// Builds the base globals if they are not built yet.
///
/// [`crate::start`] calls this, so that a broken prelude fails the start (and the
/// module load) rather than the first script.
pub fn init_base_globals(py: Python<'_>) -> Result<(), ScriptError> {
    base_globals(py).map(|_| ())
}

/// The base globals, built from the prelude on first use.
fn base_globals(py: Python<'_>) -> Result<&Bound<'_, PyDict>, ScriptError> {
    BASE_GLOBALS
        .get_or_try_init(py, || {
            build_base_globals(py).map_err(|error| ScriptError::from_py(py, &error, true))
        })
        .map(|globals| globals.bind(py))
}

fn build_base_globals(py: Python<'_>) -> PyResult<Py<PyDict>> {
    let globals = PyDict::new(py);
    // Set before the prelude runs, so that what it defines belongs to 'not_main'.
    globals.set_item("__name__", GLOBALS_NAME)?;
    globals.set_item("__builtins__", py.import("builtins")?)?;
    compile(py, PRELUDE.as_bytes())?.run(Some(&globals), None)?;
    Ok(globals.unbind())
}

/// Compiles `source` as a module body named [`SCRIPT_FILENAME`].
fn compile<'py>(py: Python<'py>, source: &[u8]) -> PyResult<Bound<'py, PyCode>> {
    // The `compile` builtin rather than Py_CompileString: it takes the bytes as they
    // are (no C string, so a NUL byte is reported rather than truncating the script).
    let code = py.import("builtins")?.getattr("compile")?.call1((
        PyBytes::new(py, source),
        SCRIPT_FILENAME,
        "exec",
    ))?;
    Ok(code.cast_into::<PyCode>()?)
}

/// One `RG.PYEXECUTE` namespace: a private copy of the base globals.
///
/// Dropping a session without the GIL is fine: pyo3 defers the reference count
/// decrement until some thread attaches.
#[derive(Debug)]
pub struct Session {
    globals: Py<PyDict>,
}

impl Session {
    /// A new session whose globals are a copy of the base globals.
    ///
    /// Fails only if the prelude fails (or memory runs out).
    pub fn new(py: Python<'_>) -> Result<Session, ScriptError> {
        let globals = base_globals(py)?
            .copy()
            .map_err(|error| ScriptError::from_py(py, &error, true))?;
        Ok(Session {
            globals: globals.unbind(),
        })
    }

    /// The session's globals dict.
    pub fn globals<'py>(&self, py: Python<'py>) -> &Bound<'py, PyDict> {
        self.globals.bind(py)
    }

    /// Compiles and runs a script in this session's globals.
    ///
    /// `attempt_traceback` is the `PythonAttemptTraceback` configuration, used to
    /// format the error if the script raises. A syntax error has no traceback, so its
    /// text is always `Error type: <class 'SyntaxError'>, Value: ...`.
    pub fn run_script(
        &self,
        py: Python<'_>,
        source: &[u8],
        attempt_traceback: bool,
    ) -> Result<(), ScriptError> {
        crate::runtime_functions::closing_atomic(|| {
            compile(py, source).and_then(|code| code.run(Some(self.globals(py)), None))
        })
        .map(|_| ())
        .map_err(|error| ScriptError::from_py(py, &error, attempt_traceback))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;

    #[test]
    fn base_globals_are_named_not_main_and_hold_the_gears_names() {
        python();
        Python::attach(|py| {
            let session = Session::new(py).expect("session");
            session
                .run_script(
                    py,
                    b"assert __name__ == 'not_main', __name__\n\
                      assert gears.error is redisgears.GearsError\n\
                      assert gears.flat_error is redisgears.GearsFlatError\n\
                      assert gears.forcestopped is redisgears.GearsForceStopped\n\
                      assert flat_error is redisgears.flatError\n\
                      assert rg is redisgears\n\
                      def f(): pass\n\
                      assert f.__module__ == 'not_main'\n",
                    true,
                )
                .expect("the prelude names are there");
        });
    }

    #[test]
    fn the_prelude_defines_exactly_the_runtime_names() {
        python();
        Python::attach(|py| {
            let session = Session::new(py).expect("session");
            let mut names: Vec<String> = session
                .globals(py)
                .keys()
                .iter()
                .map(|key| key.extract::<String>().expect("str keys"))
                .filter(|name| name.starts_with("__") || !name.starts_with('_'))
                .collect();
            names.sort();
            assert_eq!(
                names,
                [
                    "ConfigGet",
                    "GB",
                    "GearsBuilder",
                    "GearsConfigGet",
                    "Log",
                    "__builtins__",
                    "__name__",
                    "atomic",
                    "call_next",
                    "configGet",
                    "execute",
                    "flat_error",
                    "gears",
                    "gearsConfigGet",
                    "get_command",
                    "hashtag",
                    "isAsyncAllow",
                    "log",
                    "override_reply",
                    "redisgears",
                    "rg",
                    "shardReaderCallback",
                ]
            );
        });
    }
}
