//! The text of a Python exception, exactly as RedisGears writes it (`getPyError`).
//!
//! Clients and tests match these texts, so the three forms are reproduced literally:
//!
//! - an instance of `gears.flat_error` (raised by `flat_error(msg)`) gives `str(value)`
//!   and nothing else;
//! - otherwise, when `PythonAttemptTraceback` is on and the exception has a traceback,
//!   `str(traceback.format_exception(type, value, tb))`: the *repr of the Python list*
//!   of lines, e.g.
//!   `['Traceback (most recent call last):\n', '  File "<string>", line 1, in <module>\n', "NameError: name 'x' is not defined\n"]`;
//! - otherwise `Error type: <str(type)>, Value: <str(value)>`, e.g.
//!   `Error type: <class 'NameError'>, Value: name 'x' is not defined`. Errors raised
//!   before any Python frame runs (a script's syntax error) have no traceback, so they
//!   always take this form, as in RedisGears.
//!
//! Formatting runs Python code (`format_exception`, the exception's `__str__`), which
//! can itself raise; such secondary errors are swallowed and the next form is used,
//! so a text is always produced.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::gears_module::GearsFlatError;

/// What is written when `str()` of the exception type or value itself raises.
const UNPRINTABLE: &str = "<unprintable object>";

/// The text RedisGears gives the exception `err`.
///
/// `attempt_traceback` is the `PythonAttemptTraceback` configuration. Strings with lone
/// surrogates are encoded lossily (U+FFFD), never panicking.
pub fn error_text(py: Python<'_>, err: &PyErr, attempt_traceback: bool) -> String {
    gears_protocol::errors::limited_error_text(full_error_text(py, err, attempt_traceback))
}

/// [`error_text`] without the length limit.
fn full_error_text(py: Python<'_>, err: &PyErr, attempt_traceback: bool) -> String {
    let value = err.value(py);
    if err.is_instance_of::<GearsFlatError>(py) {
        if let Ok(text) = value.str() {
            return lossy(&text).into_owned();
        }
    }
    if attempt_traceback {
        if let Some(traceback) = err.traceback(py) {
            let formatted = py
                .import("traceback")
                .and_then(|module| {
                    module.call_method1("format_exception", (err.get_type(py), value, traceback))
                })
                .and_then(|lines| lines.str());
            if let Ok(text) = formatted {
                return lossy(&text).into_owned();
            }
        }
    }
    format!(
        "Error type: {}, Value: {}",
        str_or_unprintable(err.get_type(py).as_any()),
        str_or_unprintable(value.as_any())
    )
}

/// [`error_text`] under the host's `PythonAttemptTraceback` (on when there is no host):
/// the text of an error raised while a run is executing.
pub(crate) fn run_error_text(py: Python<'_>, err: &PyErr) -> String {
    let attempt_traceback = crate::host::host().is_none_or(|host| host.attempt_traceback());
    error_text(py, err, attempt_traceback)
}

/// `str(object)`, or a placeholder when that raises.
fn str_or_unprintable(object: &Bound<'_, PyAny>) -> String {
    match object.str() {
        Ok(text) => lossy(&text).into_owned(),
        Err(_) => UNPRINTABLE.to_owned(),
    }
}

/// The UTF-8 of a Python string; lone surrogates become U+FFFD.
pub(crate) fn lossy<'a>(text: &'a Bound<'_, PyString>) -> Cow<'a, str> {
    text.to_string_lossy()
}

#[cfg(test)]
mod tests {
    use pyo3::types::PyDict;

    use super::*;
    use crate::test_support::python;

    /// Runs `source` in a fresh namespace that has `flat_error`, and returns the error.
    fn raised(py: Python<'_>, source: &std::ffi::CStr) -> PyErr {
        let globals = PyDict::new(py);
        let module = py.import("redisgears").expect("redisgears imports");
        globals
            .set_item(
                "flat_error",
                module.getattr("flatError").expect("flatError"),
            )
            .expect("set flat_error");
        py.run(source, Some(&globals), None)
            .expect_err("the source raises")
    }

    #[test]
    fn a_huge_error_text_is_cut_with_a_note() {
        python();
        Python::attach(|py| {
            let err = raised(py, c"raise Exception('\\u00e9' * 100000)");
            let text = error_text(py, &err, false);
            assert!(text.len() <= gears_protocol::errors::ERROR_TEXT_LIMIT);
            assert!(text.starts_with("Error type: <class 'Exception'>, Value: \u{e9}\u{e9}"));
            assert!(text.ends_with("... (error text truncated at 65536 bytes)"));
        });
    }

    #[test]
    fn traceback_form_is_the_repr_of_the_formatted_lines() {
        python();
        Python::attach(|py| {
            let err = raised(py, c"x");
            assert_eq!(
                error_text(py, &err, true),
                r#"['Traceback (most recent call last):\n', '  File "<string>", line 1, in <module>\n', "NameError: name 'x' is not defined\n"]"#
            );
        });
    }

    #[test]
    fn traceback_form_shows_every_frame() {
        python();
        Python::attach(|py| {
            let err = raised(py, c"f = lambda: x\nf()");
            let text = error_text(py, &err, true);
            assert!(
                text.starts_with("['Traceback (most recent call last):\\n', "),
                "{text}"
            );
            assert!(
                text.contains(r#"'  File "<string>", line 1, in <lambda>\n'"#),
                "{text}"
            );
            assert!(
                text.ends_with(r#""NameError: name 'x' is not defined\n"]"#),
                "{text}"
            );
        });
    }

    #[test]
    fn without_traceback_the_type_and_value_are_given() {
        python();
        Python::attach(|py| {
            let err = raised(py, c"x");
            assert_eq!(
                error_text(py, &err, false),
                "Error type: <class 'NameError'>, Value: name 'x' is not defined"
            );
        });
    }

    #[test]
    fn an_exception_without_traceback_uses_the_type_and_value_form() {
        python();
        Python::attach(|py| {
            let err = pyo3::exceptions::PyValueError::new_err("bad value");
            assert_eq!(
                error_text(py, &err, true),
                "Error type: <class 'ValueError'>, Value: bad value"
            );
        });
    }

    #[rstest::rstest]
    #[case(true)]
    #[case(false)]
    fn flat_error_gives_only_the_message(#[case] attempt_traceback: bool) {
        python();
        Python::attach(|py| {
            let err = raised(py, c"flat_error('just this')");
            assert_eq!(error_text(py, &err, attempt_traceback), "just this");
        });
    }

    #[test]
    fn flat_error_of_a_non_string_is_its_str() {
        python();
        Python::attach(|py| {
            let err = raised(py, c"flat_error([1, 'a'])");
            assert_eq!(error_text(py, &err, true), "[1, 'a']");
        });
    }

    #[test]
    fn gears_error_classes_print_as_in_redisgears() {
        python();
        Python::attach(|py| {
            let err = raised(
                py,
                c"import redisgears\nraise redisgears.GearsError('boom')",
            );
            assert_eq!(
                error_text(py, &err, false),
                "Error type: <class 'gears.error'>, Value: boom"
            );
            assert!(error_text(py, &err, true).ends_with(r#"'gears.error: boom\n']"#));
        });
    }

    #[test]
    fn a_failing_str_does_not_prevent_a_text() {
        python();
        Python::attach(|py| {
            let err = raised(
                py,
                c"class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise E()",
            );
            assert_eq!(
                error_text(py, &err, false),
                "Error type: <class 'E'>, Value: <unprintable object>"
            );
            // format_exception copes with the failing __str__ itself.
            assert!(error_text(py, &err, true).starts_with("['Traceback"));
        });
    }

    #[test]
    fn surrogates_are_replaced() {
        python();
        Python::attach(|py| {
            let err = raised(py, c"raise ValueError('a\\udcffb')");
            assert_eq!(
                error_text(py, &err, false),
                "Error type: <class 'ValueError'>, Value: a\u{fffd}\u{fffd}\u{fffd}b"
            );
        });
    }
}
