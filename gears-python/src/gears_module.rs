//! The native `redisgears` Python module: RedisGears' exception classes and `flatError`.
//!
//! RedisGears scripts see these names (behaviour.md §4):
//!
//! | Python name | what it is |
//! |---|---|
//! | `redisgears.GearsError` | the class printed `<class 'gears.error'>`: raised by the runtime functions (e.g. an error reply to `execute`) |
//! | `redisgears.GearsFlatError` | the class printed `<class 'gears.flat_error'>`: its error text is only `str(value)` |
//! | `redisgears.GearsForceStopped` | the class printed `<class 'gears.forcestopped'>`: put into a thread to abort a running execution |
//! | `redisgears.flatError(msg)` | raises `GearsFlatError(msg)`; the prelude binds it as the global `flat_error` |
//!
//! The classes are created with the dotted names RedisGears gives them
//! (`PyErr_NewException("gears.error", ...)`), because those names appear verbatim in
//! error texts: `Error type: <class 'gears.error'>, Value: ...` and the last line of a
//! traceback, `gears.error: ...`. There is no importable `gears` module (RedisGears has
//! none either); the prelude gives the session globals a `gears` namespace whose
//! attributes `error`, `flat_error` and `forcestopped` are these classes.
//!
//! The module is registered in the interpreter's inittab before initialization (see
//! [`crate::interpreter`]), so `import redisgears` works like for any built-in module.
//! The runtime functions that need Redis (`executeCommand`, `atomicCtx`, `log`,
//! `config_get`, …) join this module later, through a host trait.

use pyo3::prelude::*;

/// The name scripts import.
pub const MODULE_NAME: &str = "redisgears";

/// The exception classes, with RedisGears' lowercase dotted names.
mod classes {
    #![allow(non_camel_case_types)]

    use pyo3::exceptions::PyException;

    pyo3::create_exception!(
        gears,
        error,
        PyException,
        "RedisGears' general error (`redisgears.GearsError`, printed `gears.error`)."
    );
    pyo3::create_exception!(
        gears,
        flat_error,
        PyException,
        "An error whose text is only its message (`redisgears.GearsFlatError`, printed `gears.flat_error`)."
    );
    pyo3::create_exception!(
        gears,
        forcestopped,
        PyException,
        "Raised inside a running execution to abort it (`redisgears.GearsForceStopped`, printed `gears.forcestopped`)."
    );
}

/// `redisgears.GearsError`, the Python class `gears.error`.
pub type GearsError = classes::error;
/// `redisgears.GearsFlatError`, the Python class `gears.flat_error`.
pub type GearsFlatError = classes::flat_error;
/// `redisgears.GearsForceStopped`, the Python class `gears.forcestopped`.
pub type GearsForceStopped = classes::forcestopped;

/// Puts an abort back into the calling thread when Python code that gears-rs runs
/// for itself (not the user's callback) caught it: `error` is what that code
/// raised. The next bytecode this thread runs, the callback's, raises it again.
pub(crate) fn redeliver_abort(py: Python<'_>, error: &PyErr) {
    if !error.is_instance_of::<GearsForceStopped>(py) {
        return;
    }
    let exception = py.get_type::<GearsForceStopped>();
    // SAFETY: the GIL is held; the id is the calling thread's own, which has a
    // thread state (it is running Python); the exception type is a live class.
    unsafe {
        let thread = pyo3::ffi::PyThread_get_thread_ident() as std::os::raw::c_long;
        pyo3::ffi::PyThreadState_SetAsyncExc(thread, exception.as_ptr());
    }
}

/// `redisgears.flatError(msg)`: raises `gears.flat_error` with `msg` as its only
/// argument, so that the execution error text is exactly `str(msg)`.
#[pyfunction]
#[pyo3(name = "flatError")]
fn flat_error(message: Bound<'_, PyAny>) -> PyResult<()> {
    let py = message.py();
    // Build the instance ourselves: handing `message` to `new_err` would spread a tuple
    // message into several arguments.
    let exception = py.get_type::<GearsFlatError>().call1((message,))?;
    Err(PyErr::from_value(exception))
}

/// The module initializer registered in the inittab.
#[pymodule]
pub(crate) fn redisgears(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("GearsError", py.get_type::<GearsError>())?;
    module.add("GearsFlatError", py.get_type::<GearsFlatError>())?;
    module.add("GearsForceStopped", py.get_type::<GearsForceStopped>())?;
    module.add_function(wrap_pyfunction!(flat_error, module)?)?;
    module.add_function(wrap_pyfunction!(crate::builder::gears_ctx, module)?)?;
    module.add_class::<crate::builder::PyFlatExecution>()?;
    module.add_class::<crate::builder::KeyNames>()?;
    module.add_function(wrap_pyfunction!(crate::builder::keys_only_reader, module)?)?;
    module.add(
        "executeCommand",
        crate::runtime_functions::execute_command_function(module)?,
    )?;
    module.add_class::<crate::runtime_functions::Atomic>()?;
    module.add_function(wrap_pyfunction!(crate::runtime_functions::log, module)?)?;
    module.add_function(wrap_pyfunction!(
        crate::runtime_functions::config_get,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        crate::runtime_functions::get_my_hash_tag,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        crate::runtime_functions::is_async_allow,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        crate::runtime_functions::call_next,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        crate::runtime_functions::get_command,
        module
    )?)?;
    module.add_function(wrap_pyfunction!(
        crate::runtime_functions::override_reply,
        module
    )?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use pyo3::types::PyDict;

    use super::*;
    use crate::test_support::python;

    fn eval_in_module<'py>(py: Python<'py>, expression: &std::ffi::CStr) -> Bound<'py, PyAny> {
        let globals = PyDict::new(py);
        globals
            .set_item(
                "redisgears",
                py.import(MODULE_NAME).expect("redisgears imports"),
            )
            .expect("set");
        py.eval(expression, Some(&globals), None)
            .expect("evaluates")
    }

    #[rstest::rstest]
    #[case(c"str(redisgears.GearsError)", "<class 'gears.error'>")]
    #[case(c"str(redisgears.GearsFlatError)", "<class 'gears.flat_error'>")]
    #[case(c"str(redisgears.GearsForceStopped)", "<class 'gears.forcestopped'>")]
    #[case(c"str(issubclass(redisgears.GearsError, Exception))", "True")]
    #[case(c"str(issubclass(redisgears.GearsFlatError, Exception))", "True")]
    #[case(c"str(issubclass(redisgears.GearsForceStopped, Exception))", "True")]
    #[case(c"redisgears.flatError.__name__", "flatError")]
    fn module_exports(#[case] expression: &std::ffi::CStr, #[case] expected: &str) {
        python();
        Python::attach(|py| {
            let value = eval_in_module(py, expression);
            assert_eq!(value.extract::<String>().expect("a str"), expected);
        });
    }

    #[test]
    fn flat_error_raises_the_flat_class_with_one_argument() {
        python();
        Python::attach(|py| {
            let globals = PyDict::new(py);
            let err = py
                .run(
                    c"import redisgears\nredisgears.flatError(('a', 'b'))",
                    Some(&globals),
                    None,
                )
                .expect_err("raises");
            assert!(err.is_instance_of::<GearsFlatError>(py));
            let args = err.value(py).getattr("args").expect("args");
            assert_eq!(args.len().expect("a tuple"), 1);
            assert_eq!(err.value(py).str().expect("str").to_string(), "('a', 'b')");
        });
    }

    #[test]
    fn gears_error_is_catchable_from_rust_and_python() {
        python();
        Python::attach(|py| {
            let globals = PyDict::new(py);
            py.run(
                c"import redisgears\ntry:\n    raise redisgears.GearsError('x')\nexcept redisgears.GearsError as e:\n    caught = str(e)",
                Some(&globals),
                None,
            )
            .expect("runs");
            let caught = globals.get_item("caught").expect("lookup").expect("set");
            assert_eq!(caught.extract::<String>().expect("str"), "x");
            assert!(GearsError::new_err("y").is_instance_of::<GearsError>(py));
        });
    }
}
