//! Scripts run in sessions: isolation, error texts, and the exceptions that must not
//! take the process down.

use gears_python::pyo3::prelude::*;
use gears_python::{start, ScriptError, Session, StartOptions};
use rstest::rstest;

/// Runs `source` in a fresh session.
fn run(source: &[u8], attempt_traceback: bool) -> Result<(), ScriptError> {
    start(&StartOptions::default()).expect("the interpreter starts");
    Python::attach(|py| {
        Session::new(py)
            .expect("session")
            .run_script(py, source, attempt_traceback)
    })
}

fn error_of(source: &[u8], attempt_traceback: bool) -> String {
    run(source, attempt_traceback)
        .expect_err("the script raises")
        .text
}

#[test]
fn a_good_script_runs() {
    run(
        b"x = [i * i for i in range(10)]\nassert sum(x) == 285",
        true,
    )
    .expect("runs");
}

#[test]
fn a_name_error_gives_the_traceback_list() {
    assert_eq!(
        error_of(b"x", true),
        r#"['Traceback (most recent call last):\n', '  File "<string>", line 1, in <module>\n', "NameError: name 'x' is not defined\n"]"#
    );
}

#[test]
fn a_name_error_in_a_lambda_names_the_lambda() {
    let text = error_of(b"f = lambda: x\nf()", true);
    assert!(
        text.contains(r#"'  File "<string>", line 1, in <lambda>\n'"#),
        "{text}"
    );
    assert!(
        text.contains(r#""NameError: name 'x' is not defined\n""#),
        "{text}"
    );
}

#[test]
fn without_traceback_the_type_and_value_form_is_used() {
    assert_eq!(
        error_of(b"x", false),
        "Error type: <class 'NameError'>, Value: name 'x' is not defined"
    );
}

#[rstest]
#[case(true)]
#[case(false)]
fn flat_error_gives_the_message_only(#[case] attempt_traceback: bool) {
    assert_eq!(
        error_of(
            b"def f():\n    flat_error('plain text')\nf()",
            attempt_traceback
        ),
        "plain text"
    );
}

#[rstest]
#[case(true)]
#[case(false)]
fn a_syntax_error_has_no_traceback(#[case] attempt_traceback: bool) {
    assert_eq!(
        error_of(b"GB(.run()", attempt_traceback),
        "Error type: <class 'SyntaxError'>, Value: invalid syntax (<string>, line 1)"
    );
}

#[test]
fn an_unclosed_bracket_is_a_syntax_error() {
    let text = error_of(b"x = (", true);
    assert!(
        text.starts_with("Error type: <class 'SyntaxError'>, Value: '(' was never closed"),
        "{text}"
    );
}

#[test]
fn invalid_utf8_is_an_error_that_says_so() {
    let text = error_of(b"x = '\xff'", true);
    assert!(text.contains("SyntaxError"), "{text}");
    assert!(
        text.contains("'utf-8' codec can't decode byte 0xff"),
        "{text}"
    );
}

#[test]
fn a_nul_byte_is_an_error() {
    let text = error_of(b"x = 1\0\ny = 2", true);
    assert!(
        text.contains("source code string cannot contain null bytes"),
        "{text}"
    );
}

#[test]
fn utf8_source_is_decoded() {
    run("s = 'héllo ✓'\nassert len(s) == 7, len(s)".as_bytes(), true).expect("runs");
}

#[rstest]
#[case::sys_exit(b"import sys\nsys.exit(3)".as_slice(), "SystemExit: 3")]
#[case::sys_exit_no_code(b"import sys\nsys.exit()".as_slice(), "SystemExit")]
#[case::site_exit(b"exit('bye')".as_slice(), "SystemExit: bye")]
#[case::raise_system_exit(b"raise SystemExit(0)".as_slice(), "SystemExit: 0")]
#[case::keyboard_interrupt(b"raise KeyboardInterrupt()".as_slice(), "KeyboardInterrupt")]
#[case::generator_exit(b"raise GeneratorExit()".as_slice(), "GeneratorExit")]
fn process_ending_exceptions_are_plain_errors(#[case] source: &[u8], #[case] expected: &str) {
    let text = error_of(source, true);
    assert!(text.contains(expected), "{text}");
    // Still alive, and Python still works.
    run(b"assert 1 + 1 == 2", true).expect("the interpreter still runs scripts");
}

#[test]
fn system_exit_without_traceback() {
    assert_eq!(
        error_of(b"import sys\nsys.exit(3)", false),
        "Error type: <class 'SystemExit'>, Value: 3"
    );
}

#[test]
fn a_recursion_bomb_gives_a_recursion_error() {
    let text = error_of(b"def f():\n    return f()\nf()", true);
    assert!(
        text.contains("RecursionError: maximum recursion depth exceeded"),
        "{text}"
    );
    assert!(text.contains("more times]"), "{text}");
}

#[test]
fn a_recursion_bomb_through_c_code_fits_a_small_thread_stack() {
    // repr() recursion goes through the C stack at every level; 2 MiB (the default of
    // Rust threads) must hold Python's recursion limit.
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            error_of(
                b"class A:\n    def __repr__(self):\n        return repr(self)\nrepr(A())",
                false,
            )
        })
        .expect("spawn");
    let text = handle.join().expect("no crash");
    assert!(
        text.starts_with(
            "Error type: <class 'RecursionError'>, Value: maximum recursion depth exceeded"
        ),
        "{text}"
    );
}

#[test]
fn sessions_do_not_see_each_others_names() {
    start(&StartOptions::default()).expect("the interpreter starts");
    Python::attach(|py| {
        let first = Session::new(py).expect("session");
        let second = Session::new(py).expect("session");
        first
            .run_script(py, b"only_here = 1\nflat_error = None", true)
            .expect("runs");
        let text = second
            .run_script(py, b"only_here", false)
            .expect_err("not visible")
            .text;
        assert_eq!(
            text,
            "Error type: <class 'NameError'>, Value: name 'only_here' is not defined"
        );
        // Rebinding a base name in one session leaves the others (and new ones) alone.
        second
            .run_script(py, b"assert flat_error is redisgears.flatError", true)
            .expect("second keeps flat_error");
        Session::new(py)
            .expect("session")
            .run_script(py, b"assert flat_error is redisgears.flatError", true)
            .expect("a new session keeps flat_error");
        // The first session keeps its own names across scripts.
        first
            .run_script(py, b"assert only_here == 1 and flat_error is None", true)
            .expect("first keeps its names");
    });
}

#[test]
fn imported_modules_are_shared() {
    start(&StartOptions::default()).expect("the interpreter starts");
    Python::attach(|py| {
        Session::new(py)
            .expect("session")
            .run_script(py, b"import sys\nsys.gears_rs_marker = 42", true)
            .expect("runs");
        Session::new(py)
            .expect("session")
            .run_script(py, b"import sys\nassert sys.gears_rs_marker == 42", true)
            .expect("the module object is the same");
    });
}

#[test]
fn gears_errors_can_be_caught_in_scripts() {
    run(
        b"try:\n    raise gears.error('x')\nexcept redisgears.GearsError as e:\n    assert str(e) == 'x'\n\
          try:\n    flat_error('y')\nexcept gears.flat_error as e:\n    assert str(e) == 'y'\n",
        true,
    )
    .expect("runs");
}
