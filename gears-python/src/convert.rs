//! Python values to Redis replies (behaviour.md §6.7).
//!
//! The same rules serve execution results, `RG.TRIGGER` and `override_reply`. Checks
//! are made in RedisGears' order and accept subclasses, as the `Py*_Check` macros do:
//!
//! | value | reply |
//! |---|---|
//! | `list` | array, each element converted by these rules |
//! | `int`, `bool` | integer |
//! | `float` | bulk string formatted like C `"%lf"`: `49.5` → `"49.500000"` |
//! | `str` of length > 1 starting with `+` | status reply of the rest |
//! | `str` of length > 1 starting with `-` | error reply of the rest |
//! | any other `str` | bulk string (its UTF-8) |
//! | `bytes`, `bytearray` | bulk string |
//! | anything else (`dict`, `None`, `tuple`, `set`, …) | bulk string `"PY RECORD"` |
//!
//! Where RedisGears would misbehave, we pick something safe and say so:
//!
//! - An `int` outside the signed 64-bit range: RedisGears calls `PyLong_AsLongLong`,
//!   which fails, so it replies `-1` and leaves an `OverflowError` pending. We reply
//!   the decimal digits as a bulk string instead, which keeps the value. (An int too
//!   long for `int.__repr__`, over `sys.int_info.str_digits_check_threshold` digits,
//!   gives `"PY RECORD"`.)
//! - A `str` with lone surrogates: RedisGears' `PyUnicode_AsUTF8AndSize` fails on it;
//!   we encode lossily (each bad byte becomes U+FFFD).
//! - A list that contains itself, or lists nested deeper than [`MAX_NESTING`]:
//!   RedisGears recurses until the stack overflows. We reply the error
//!   [`NESTING_ERROR`] in place of the offending element.
//!
//! Status and error texts go through [`Reply::simple`] and [`Reply::error`], which
//! replace line breaks by spaces, as Redis does.

use gears_protocol::Reply;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyFloat, PyInt, PyList, PyString};

use crate::errors::lossy;

/// The bulk string that stands for any value without a reply rule.
pub const PY_RECORD: &str = "PY RECORD";

/// The deepest list nesting that is converted (the outermost list is depth 1).
pub const MAX_NESTING: usize = 1000;

/// The error reply given instead of a list that contains itself or is nested deeper
/// than [`MAX_NESTING`].
pub const NESTING_ERROR: &str = "PY RECORD list is recursive or nested too deep";

/// Converts a Python value to the reply RedisGears sends for it.
///
/// Runs no Python code of the user's (no `__str__`, `__iter__` or `__float__` is
/// called), so the conversion cannot raise and the value cannot change under it.
pub fn to_reply(value: &Bound<'_, PyAny>) -> Reply {
    convert(value, &mut Vec::new())
}

/// `lists` holds the addresses of the lists being converted, outermost first.
fn convert(value: &Bound<'_, PyAny>, lists: &mut Vec<usize>) -> Reply {
    if let Ok(list) = value.cast::<PyList>() {
        // The address identifies the object while we hold a reference to it.
        let address = list.as_ptr() as usize;
        if lists.len() >= MAX_NESTING || lists.contains(&address) {
            return Reply::error(NESTING_ERROR);
        }
        lists.push(address);
        // PyList iteration reads the items by index, like RedisGears' PyList_GetItem
        // loop; a list subclass' own __iter__ is not consulted.
        let items = list.iter().map(|item| convert(&item, lists)).collect();
        lists.pop();
        return Reply::Array(items);
    }
    if let Ok(int) = value.cast::<PyInt>() {
        return int_reply(int);
    }
    if let Ok(float) = value.cast::<PyFloat>() {
        return Reply::bulk(format_lf(float.value()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return str_reply(&lossy(text));
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Reply::bulk(bytes.as_bytes());
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        return Reply::bulk(bytes.to_vec());
    }
    Reply::bulk(PY_RECORD)
}

/// An int (or bool) as an integer reply; beyond 64 bits, its decimal digits.
fn int_reply(int: &Bound<'_, PyInt>) -> Reply {
    if let Ok(value) = int.extract::<i64>() {
        return Reply::Integer(value);
    }
    // `int.__repr__` rather than `str(value)`: a subclass' own __str__ is not run.
    let digits = int
        .py()
        .get_type::<PyInt>()
        .call_method1("__repr__", (int,))
        .and_then(|text| text.extract::<String>());
    match digits {
        Ok(digits) => Reply::bulk(digits),
        Err(_) => Reply::bulk(PY_RECORD),
    }
}

/// The `+status` / `-error` / bulk rule for a str.
pub(crate) fn str_reply(text: &str) -> Reply {
    status_or_error(text).unwrap_or_else(|| Reply::bulk(text.as_bytes()))
}

/// [`str_reply`] of an owned string: a bulk reply takes its bytes as they are.
pub(crate) fn into_str_reply(text: String) -> Reply {
    status_or_error(&text).unwrap_or_else(|| Reply::Bulk(text.into_bytes()))
}

/// The status or error reply a `+...` or `-...` str stands for.
fn status_or_error(text: &str) -> Option<Reply> {
    // `+` and `-` are one byte, so a byte length over 1 means at least one more
    // character.
    if text.len() <= 1 {
        return None;
    }
    if let Some(status) = text.strip_prefix('+') {
        return Some(Reply::simple(status));
    }
    text.strip_prefix('-').map(Reply::error)
}

/// The UTF-8 bytes of a `str`, borrowed from the object (CPython caches them in it);
/// `None`, with the Python error cleared, for a string with lone surrogates.
///
/// # Safety
/// `text` is a live `str` (exact or subclass) that outlives `'a`, and the caller
/// holds the GIL.
pub(crate) unsafe fn utf8_of<'a>(text: *mut pyo3::ffi::PyObject) -> Option<&'a [u8]> {
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: the caller's contract.
    let data = unsafe { pyo3::ffi::PyUnicode_AsUTF8AndSize(text, &mut size) };
    if data.is_null() {
        // SAFETY: the GIL is held (the caller's contract).
        unsafe { pyo3::ffi::PyErr_Clear() };
        return None;
    }
    let size = usize::try_from(size).unwrap_or(0);
    // SAFETY: CPython gives `size` readable bytes at `data`, which live as long as
    // the object.
    Some(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) })
}

/// Formats a double like C's `printf("%lf")`: fixed notation, six decimals, and
/// glibc's spellings of the special values (`inf`, `-inf`, `nan`, `-nan`).
pub fn format_lf(value: f64) -> String {
    if value.is_nan() {
        return if value.is_sign_negative() {
            "-nan"
        } else {
            "nan"
        }
        .to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Rust prints the exact decimal expansion and rounds ties to even, as glibc does.
    format!("{value:.6}")
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use rstest::rstest;

    use super::*;
    use crate::test_support::python;

    /// Names the test expressions may use: a list that contains itself, and subclasses
    /// of str, int and list whose Python-level methods must never be called.
    const HELPERS: &std::ffi::CStr = c"\
cyclic = [1]
cyclic.append(cyclic)
class S(str):
    def __str__(self):
        raise RuntimeError('never called')
class I(int):
    def __str__(self):
        raise RuntimeError('never called')
    __repr__ = __str__
class L(list):
    def __iter__(self):
        raise RuntimeError('never called')
";

    /// Evaluates `expression` with [`HELPERS`] defined, and converts the value.
    fn reply_of(expression: &str) -> Reply {
        python();
        Python::attach(|py| {
            let globals = pyo3::types::PyDict::new(py);
            py.run(HELPERS, Some(&globals), None).expect("helpers");
            let source = CString::new(expression).expect("no NUL");
            let value = py
                .eval(&source, Some(&globals), None)
                .expect("the expression evaluates");
            to_reply(&value)
        })
    }

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(text.as_bytes().to_vec())
    }

    #[rstest]
    // int and bool
    #[case("0", Reply::Integer(0))]
    #[case("42", Reply::Integer(42))]
    #[case("-7", Reply::Integer(-7))]
    #[case("2**63 - 1", Reply::Integer(i64::MAX))]
    #[case("-2**63", Reply::Integer(i64::MIN))]
    #[case("True", Reply::Integer(1))]
    #[case("False", Reply::Integer(0))]
    #[case("I(5)", Reply::Integer(5))]
    // ints beyond 64 bits keep their digits
    #[case("2**63", bulk("9223372036854775808"))]
    #[case("-2**64", bulk("-18446744073709551616"))]
    #[case("I(2**70)", bulk("1180591620717411303424"))]
    #[case("10**5000", bulk(PY_RECORD))]
    // float
    #[case("49.5", bulk("49.500000"))]
    #[case("0.0", bulk("0.000000"))]
    #[case("-0.0", bulk("-0.000000"))]
    #[case("1/3", bulk("0.333333"))]
    #[case("2.0**-7", bulk("0.007812"))]
    #[case("1e22", bulk("10000000000000000000000.000000"))]
    #[case("float('inf')", bulk("inf"))]
    #[case("float('-inf')", bulk("-inf"))]
    #[case("float('nan')", bulk("nan"))]
    // str
    #[case("'+OK'", Reply::Simple("OK".to_owned()))]
    #[case("'+'", bulk("+"))]
    #[case("'-ERR something'", Reply::Error("ERR something".to_owned()))]
    #[case("'-'", bulk("-"))]
    #[case("'+two\\nlines'", Reply::Simple("two lines".to_owned()))]
    #[case("'-bad\\r\\nthing'", Reply::Error("bad  thing".to_owned()))]
    #[case("'x+y'", bulk("x+y"))]
    #[case("''", bulk(""))]
    #[case("'héllo'", bulk("héllo"))]
    #[case("'a\\udcffb'", bulk("a\u{fffd}\u{fffd}\u{fffd}b"))]
    #[case("S('+sub')", Reply::Simple("sub".to_owned()))]
    // bytes and bytearray
    #[case("b'raw\\xff'", Reply::Bulk(b"raw\xff".to_vec()))]
    #[case("b'+not status'", bulk("+not status"))]
    #[case("bytearray(b'ba')", bulk("ba"))]
    // everything else
    #[case("None", bulk(PY_RECORD))]
    #[case("{'a': 1}", bulk(PY_RECORD))]
    #[case("(1, 2)", bulk(PY_RECORD))]
    #[case("{1, 2}", bulk(PY_RECORD))]
    #[case("object()", bulk(PY_RECORD))]
    #[case("1j", bulk(PY_RECORD))]
    // list, recursively
    #[case("[]", Reply::Array(vec![]))]
    #[case(
        "[1, 'a', [2.5, None, ['+OK']], b'b']",
        Reply::Array(vec![
            Reply::Integer(1),
            bulk("a"),
            Reply::Array(vec![
                bulk("2.500000"),
                bulk(PY_RECORD),
                Reply::Array(vec![Reply::Simple("OK".to_owned())]),
            ]),
            bulk("b"),
        ])
    )]
    #[case("L([1, 2])", Reply::Array(vec![Reply::Integer(1), Reply::Integer(2)]))]
    #[case("([1],)", bulk(PY_RECORD))]
    #[case(
        "cyclic",
        Reply::Array(vec![Reply::Integer(1), Reply::Error(NESTING_ERROR.to_owned())])
    )]
    fn converts_like_redisgears(#[case] expression: &str, #[case] expected: Reply) {
        assert_eq!(reply_of(expression), expected, "{expression}");
    }

    #[test]
    fn a_shared_list_that_is_not_a_cycle_is_converted_twice() {
        let expected = Reply::Array(vec![Reply::Integer(1)]);
        assert_eq!(
            reply_of("(lambda a: [a, a])([1])"),
            Reply::Array(vec![expected.clone(), expected])
        );
    }

    /// Lists nested `levels` deep around an int.
    fn nested_reply(levels: usize) -> Reply {
        python();
        Python::attach(|py| {
            let mut value = PyList::new(py, [7]).expect("list");
            for _ in 1..levels {
                value = PyList::new(py, [value]).expect("list");
            }
            to_reply(&value)
        })
    }

    fn depth(reply: &Reply) -> usize {
        match reply {
            Reply::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    #[test]
    fn nesting_up_to_the_limit_is_converted() {
        let reply = nested_reply(MAX_NESTING);
        assert_eq!(depth(&reply), MAX_NESTING);
        assert!(!format!("{reply:?}").contains(NESTING_ERROR));
    }

    #[test]
    fn nesting_beyond_the_limit_is_cut_with_an_error() {
        let reply = nested_reply(50_000);
        assert_eq!(depth(&reply), MAX_NESTING);
        assert!(format!("{reply:?}").contains(NESTING_ERROR));
    }

    /// `format_lf` agrees with the C library's `%lf` on a spread of values.
    #[rstest]
    #[case(49.5)]
    #[case(0.0)]
    #[case(-0.0)]
    #[case(0.1)]
    #[case(-2.675)]
    #[case(0.0078125)]
    #[case(0.0000005)]
    #[case(1.0000005)]
    #[case(123_456_789.123_456_79)]
    #[case(1e-7)]
    #[case(1e23)]
    #[case(f64::MAX)]
    #[case(f64::MIN_POSITIVE)]
    #[case(f64::INFINITY)]
    #[case(f64::NEG_INFINITY)]
    #[case(f64::NAN)]
    #[case(-f64::NAN)]
    fn format_lf_matches_printf(#[case] value: f64) {
        let mut buffer = vec![0u8; 512];
        // SAFETY: the buffer is writable for its whole length, the format is a valid C
        // string that consumes exactly one double, and snprintf never writes more than
        // the given size (NUL included).
        let written = unsafe {
            libc::snprintf(
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                c"%lf".as_ptr(),
                value,
            )
        };
        let written = usize::try_from(written).expect("snprintf succeeds");
        assert!(written < buffer.len());
        let expected = String::from_utf8_lossy(&buffer[..written]).into_owned();
        assert_eq!(format_lf(value), expected, "{value:e}");
    }
}
