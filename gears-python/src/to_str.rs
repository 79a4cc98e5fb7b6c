//! The `convertToStr` step that `run()` and `register()` append: `str()` of every
//! record, computed natively for the values records are usually made of.
//!
//! RedisGears appends `map(lambda x: str(x))`. For a KeysReader record that is
//! `repr()` of a small dict of strings, which CPython builds through its generic
//! object protocol: about a quarter of the whole cost of a `sync` registration's
//! run (benchmarks.md B1). [`python_repr`] writes the same text directly for exact
//! `str`, `int`, `bool`, `None`, `dict` and `list` values whose strings are
//! printable ASCII; anything else (floats, tuples, subclasses, non-ASCII or
//! escaped text, deep nesting) goes to Python's own `str()`, so the text is always
//! what CPython would print.
//!
//! The result is a [`StrRecord`]: a Rust string whose reply follows the same `str`
//! rules as a Python string's (`+`/`-` prefixes), and which becomes a Python `str`
//! again if a later step receives it. A KeysReader record that no step changed
//! becomes a [`KeyRecordText`] instead: its entry, written out (the same text) only
//! when someone reads the execution's results, which for a registration's
//! executions is rarely.

use crate::callback::{function_description, step_error};
use crate::convert::{into_str_reply, str_reply};
use crate::records::{key_entry_to_py, record_to_py, EventRecord, PyRecord};
use gears_executions::execution::DeferredReply;
use gears_executions::plan::{Callback, StepResult};
use gears_executions::record::{KeyEntry, KeyValue, OpaqueRecord, Record};
use gears_protocol::Reply;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::fmt::Write;

/// How deep [`python_repr`] follows nested dicts and lists before leaving the
/// value to Python (which also detects self-references).
const MAX_DEPTH: usize = 8;

/// A record that is the `str()` of a Python value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrRecord(pub String);

impl OpaqueRecord for StrRecord {
    fn to_reply(&self) -> Reply {
        str_reply(&self.0)
    }

    fn into_reply(self: Box<Self>) -> Reply {
        into_str_reply(self.0)
    }

    fn into_deferred(self: Box<Self>) -> Result<Box<dyn DeferredReply>, Box<dyn OpaqueRecord>> {
        Err(self)
    }

    fn into_list(self: Box<Self>) -> Result<Vec<Record>, Box<dyn OpaqueRecord>> {
        Err(self)
    }

    gears_executions::opaque_any!();
}

/// `str()` of a KeysReader record that no step changed: the entry it was made
/// from, written out only when someone reads it (RG.GETRESULTS, a waiting client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecordText(pub KeyEntry);

impl KeyRecordText {
    /// The text CPython's `str()` gives the record's dict.
    pub fn text(&self) -> String {
        key_entry_repr(&self.0).unwrap_or_else(|| {
            Python::attach(|py| {
                key_entry_to_py(py, &self.0)
                    .and_then(|dict| dict.str())
                    .map(|text| text.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
        })
    }
}

impl DeferredReply for KeyRecordText {
    fn reply(&self) -> Reply {
        into_str_reply(self.text())
    }

    fn clone_box(&self) -> Box<dyn DeferredReply> {
        Box::new(self.clone())
    }
}

impl OpaqueRecord for KeyRecordText {
    fn to_reply(&self) -> Reply {
        DeferredReply::reply(self)
    }

    fn into_deferred(self: Box<Self>) -> Result<Box<dyn DeferredReply>, Box<dyn OpaqueRecord>> {
        Ok(self)
    }

    fn into_list(self: Box<Self>) -> Result<Vec<Record>, Box<dyn OpaqueRecord>> {
        Err(self)
    }

    gears_executions::opaque_any!();
}

/// `repr()` of the dict [`key_entry_to_py`] makes of `entry`, written from the
/// entry when every string in it is printable ASCII; `None` when Python must write
/// it (escapes, non-UTF-8 bytes, which become a `bytearray`).
fn key_entry_repr(entry: &KeyEntry) -> Option<String> {
    let mut out = String::with_capacity(64 + entry.key.len());
    out.push_str("{'event': ");
    match &entry.event {
        Some(event) => str_repr(event, &mut out).then_some(())?,
        None => out.push_str("None"),
    }
    out.push_str(", 'key': ");
    str_repr(&entry.key, &mut out).then_some(())?;
    if let Some((kind, value)) = &entry.value {
        out.push_str(", 'type': '");
        out.push_str(kind.record_name());
        out.push_str("', 'value': ");
        match value {
            KeyValue::String(bytes) => str_repr(bytes, &mut out).then_some(())?,
            KeyValue::Hash(pairs) => {
                let fields: Vec<&[u8]> = pairs.iter().map(|(field, _)| field.as_slice()).collect();
                out.push('{');
                for (position, index) in crate::dict_order::iteration_order(&fields)
                    .into_iter()
                    .enumerate()
                {
                    if position > 0 {
                        out.push_str(", ");
                    }
                    let (field, value) = pairs.get(index)?;
                    str_repr(field, &mut out).then_some(())?;
                    out.push_str(": ");
                    str_repr(value, &mut out).then_some(())?;
                }
                out.push('}');
            }
            KeyValue::List(items) => {
                out.push('[');
                for (position, item) in items.iter().enumerate() {
                    if position > 0 {
                        out.push_str(", ");
                    }
                    str_repr(item, &mut out).then_some(())?;
                }
                out.push(']');
            }
            KeyValue::None => out.push_str("None"),
        }
    }
    out.push('}');
    Some(out)
}

/// The step callback of `convertToStr`. It keeps the description of the Python
/// function the builder was given, which is what RG.GETEXECUTION shows.
#[derive(Debug)]
pub struct StrCallback {
    description: String,
}

impl StrCallback {
    /// The step for `function` (the builder's `lambda x: str(x)`).
    pub fn new(function: &Bound<'_, PyAny>) -> StrCallback {
        StrCallback {
            description: function_description(function),
        }
    }
}

impl Callback for StrCallback {
    fn map(&self, record: Record) -> StepResult<Record> {
        // `str()` of a str is the str itself.
        if matches!(&record, Record::Opaque(value) if value.as_any().is::<StrRecord>()) {
            return Ok(record);
        }
        Python::attach(|py| {
            // A KeysReader record no step changed keeps its entry; its text is
            // written when someone asks for it.
            let event = match record {
                Record::Opaque(value) if value.as_any().is::<EventRecord>() => {
                    value.into_any().downcast::<EventRecord>().ok()
                }
                other => {
                    let object = record_to_py(py, other).map_err(|e| step_error(py, &e))?;
                    return to_str_record(&object).map_err(|e| step_error(py, &e));
                }
            };
            match event {
                Some(event) => event_record_str(py, *event),
                None => Ok(Record::Nil),
            }
        })
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// `str()` of a KeysReader record: its entry, written out when asked, while no step
/// changed its dict; else the text of the dict as it is now.
pub(crate) fn event_record_str(py: Python<'_>, record: EventRecord) -> StepResult<Record> {
    match record.into_unchanged(py) {
        Ok(entry) => Ok(Record::Opaque(Box::new(KeyRecordText(entry)))),
        Err(changed) => {
            // (A dict that can not be made, out of memory, reads as None, as any
            // record the step can not see.)
            let object = changed
                .object(py)
                .unwrap_or_else(|_| py.None().into_bound(py));
            to_str_record(&object).map_err(|e| step_error(py, &e))
        }
    }
}

/// `str(object)` as a record.
pub fn to_str_record(object: &Bound<'_, PyAny>) -> PyResult<Record> {
    if let Ok(text) = object.cast_exact::<PyString>() {
        return Ok(str_record(text));
    }
    let mut text = String::new();
    if python_repr(object, 0, &mut text) {
        return Ok(Record::Opaque(Box::new(StrRecord(text))));
    }
    Ok(str_record(&object.str()?))
}

/// A Python str as a record: its text, or (lone surrogates, which have no UTF-8)
/// the Python string itself.
fn str_record(text: &Bound<'_, PyString>) -> Record {
    match text.to_str() {
        Ok(text) => Record::Opaque(Box::new(StrRecord(text.to_owned()))),
        Err(_) => Record::Opaque(Box::new(PyRecord(text.clone().into_any().unbind()))),
    }
}

/// Appends `repr(object)` to `out` when it can be written natively; false (with
/// `out` in an unspecified state) when Python must do it.
pub fn python_repr(object: &Bound<'_, PyAny>, depth: usize, out: &mut String) -> bool {
    out.reserve(96);
    // SAFETY: `object` is a live object and the GIL is held (it is bound); the walk
    // below only reads exact builtin containers and runs no Python code, so nothing
    // can change or free them under it.
    unsafe { raw_repr(object.as_ptr(), depth, out) }
}

/// [`python_repr`] over borrowed pointers: this runs once per record of every
/// registration, and owned references (an increment and a decrement per item)
/// cost more than the text itself.
///
/// # Safety
/// `object` is a live object and the caller holds the GIL.
unsafe fn raw_repr(object: *mut ffi::PyObject, depth: usize, out: &mut String) -> bool {
    // SAFETY: the caller's contract; every pointer read below is a borrowed
    // reference owned by `object`, which outlives this call.
    unsafe {
        if object == ffi::Py_None() {
            out.push_str("None");
            return true;
        }
        let kind = ffi::Py_TYPE(object);
        if kind == &raw mut ffi::PyUnicode_Type {
            return match crate::convert::utf8_of(object) {
                Some(bytes) => str_repr(bytes, out),
                None => false,
            };
        }
        if kind == &raw mut ffi::PyBool_Type {
            out.push_str(if object == ffi::Py_True() {
                "True"
            } else {
                "False"
            });
            return true;
        }
        if kind == &raw mut ffi::PyLong_Type {
            let mut overflow = 0;
            let value = ffi::PyLong_AsLongLongAndOverflow(object, &mut overflow);
            if overflow != 0 || (value == -1 && !ffi::PyErr_Occurred().is_null()) {
                ffi::PyErr_Clear();
                return false;
            }
            return write!(out, "{value}").is_ok();
        }
        if depth >= MAX_DEPTH {
            return false;
        }
        if kind == &raw mut ffi::PyDict_Type {
            out.push('{');
            let mut position: ffi::Py_ssize_t = 0;
            let mut key = std::ptr::null_mut();
            let mut value = std::ptr::null_mut();
            let mut first = true;
            while ffi::PyDict_Next(object, &mut position, &mut key, &mut value) != 0 {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                if !raw_repr(key, depth + 1, out) {
                    return false;
                }
                out.push_str(": ");
                if !raw_repr(value, depth + 1, out) {
                    return false;
                }
            }
            out.push('}');
            return true;
        }
        if kind == &raw mut ffi::PyList_Type {
            out.push('[');
            for index in 0..ffi::PyList_GET_SIZE(object) {
                if index > 0 {
                    out.push_str(", ");
                }
                if !raw_repr(ffi::PyList_GET_ITEM(object, index), depth + 1, out) {
                    return false;
                }
            }
            out.push(']');
            return true;
        }
        false
    }
}

/// `repr()` of a string of printable ASCII without backslashes: quoted as CPython
/// quotes it (single quotes, double quotes when it holds a single quote and no
/// double quote). Anything that CPython would escape is left to it.
fn str_repr(text: &[u8], out: &mut String) -> bool {
    // One pass over the bytes: this runs for every string of every record.
    let (mut single, mut double) = (false, false);
    for &byte in text {
        match byte {
            b'\'' => single = true,
            b'"' => double = true,
            b'\\' => return false,
            0x20..=0x7e => {}
            _ => return false,
        }
    }
    // SAFETY: every byte was checked to be printable ASCII, which is UTF-8.
    let text = unsafe { std::str::from_utf8_unchecked(text) };
    let quote = match (single, double) {
        (false, _) => '\'',
        (true, false) => '"',
        (true, true) => return false,
    };
    out.push(quote);
    out.push_str(text);
    out.push(quote);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;

    /// Checks the native text against CPython's `str()` of the same value.
    fn same_as_python(source: &str) -> bool {
        python();
        Python::attach(|py| {
            let value = py
                .eval(&std::ffi::CString::new(source).expect("no NUL"), None, None)
                .expect("evaluates");
            let expected = value.str().expect("str").to_string_lossy().into_owned();
            let record = to_str_record(&value).expect("converts");
            let Record::Opaque(record) = record else {
                panic!("not an opaque record");
            };
            let text = record
                .as_any()
                .downcast_ref::<StrRecord>()
                .map(|s| s.0.clone());
            assert_eq!(text.as_deref(), Some(expected.as_str()), "{source}");
            let mut native = String::new();
            python_repr(&value, 0, &mut native)
        })
    }

    #[test]
    fn key_records_are_written_natively_as_python_writes_them() {
        assert!(same_as_python(
            "{'event': 'set', 'key': 'key:1', 'type': 'string', 'value': 'v'}"
        ));
        assert!(same_as_python(
            "{'event': None, 'key': 'h', 'type': 'hash', 'value': {'f': '1', 'g': '2'}}"
        ));
        assert!(same_as_python(
            "['hello', 'world', 1, -7, True, False, None, [], {}]"
        ));
        assert!(same_as_python("\"it's\""));
        assert!(same_as_python("[\"it's\", 'say \"hi\"']"));
    }

    #[test]
    fn anything_unusual_is_left_to_python() {
        for source in [
            "['both \\' and \"']",
            "['back\\\\slash']",
            "['tab\\there']",
            "['caf\\u00e9']",
            "[1.5]",
            "[(1, 2)]",
            "[2**70]",
            "[[[[[[[[[[1]]]]]]]]]]",
            "[b'x']",
            "{1: 'a', (2,): 'b'}",
        ] {
            assert!(!same_as_python(source), "{source}");
        }
    }

    #[test]
    fn an_unread_key_record_is_written_as_python_writes_its_dict() {
        use gears_executions::record::KeyType;
        let string = |bytes: &[u8]| Some((KeyType::String, KeyValue::String(bytes.to_vec())));
        let hash = Some((
            KeyType::Hash,
            KeyValue::Hash(vec![
                (b"f".to_vec(), b"1".to_vec()),
                (b"g".to_vec(), b"it's".to_vec()),
                (b"name".to_vec(), b"x".to_vec()),
            ]),
        ));
        let list = Some((
            KeyType::List,
            KeyValue::List(vec![b"a".to_vec(), b"b".to_vec()]),
        ));
        let entries = [
            (Some(&b"set"[..]), &b"key:1"[..], string(b"v"), true),
            (Some(&b"set"[..]), &b"k"[..], string(b"say \"hi\""), true),
            (Some(&b"hset"[..]), &b"h"[..], hash, true),
            (Some(&b"rpush"[..]), &b"l"[..], list, true),
            (
                Some(&b"del"[..]),
                &b"gone"[..],
                Some((KeyType::Empty, KeyValue::None)),
                true,
            ),
            (None, &b"batch"[..], None, true),
            // Escapes and non-UTF-8 bytes are Python's to write.
            (Some(&b"set"[..]), &b"k"[..], string(b"tab\tx"), false),
            (Some(&b"set"[..]), &b"k"[..], string(b"\xff"), false),
            (Some(&b"set"[..]), &b"caf\xc3\xa9"[..], string(b"v"), false),
        ];
        python();
        for (event, key, value, native) in entries {
            let entry = KeyEntry {
                key: key.to_vec(),
                event: event.map(Into::into),
                value,
            };
            let expected = Python::attach(|py| {
                let dict = key_entry_to_py(py, &entry).expect("converts");
                dict.str().expect("str").to_string_lossy().into_owned()
            });
            assert_eq!(key_entry_repr(&entry).is_some(), native, "{expected}");
            let text = KeyRecordText(entry);
            assert_eq!(text.text(), expected);
            assert_eq!(DeferredReply::reply(&text), Reply::bulk(expected));
        }
    }

    /// `convertToStr` of a key record after `change` ran on its dict: the text, and
    /// whether it was deferred.
    fn str_after(change: &str) -> (String, bool) {
        use gears_executions::record::KeyType;
        python();
        let entry = KeyEntry {
            key: b"h".to_vec(),
            event: Some(b"hset".as_slice().into()),
            value: Some((
                KeyType::Hash,
                KeyValue::Hash(vec![(b"f".to_vec(), b"1".to_vec())]),
            )),
        };
        let record = Python::attach(|py| {
            let record = EventRecord::new(entry);
            let locals = pyo3::types::PyDict::new(py);
            locals
                .set_item("r", record.object(py).expect("converts"))
                .expect("set");
            py.run(
                &std::ffi::CString::new(change).expect("no NUL"),
                None,
                Some(&locals),
            )
            .expect("runs");
            Record::Opaque(Box::new(record))
        });
        let callback = Python::attach(|py| {
            let function = py.eval(c"lambda x: str(x)", None, None).expect("lambda");
            StrCallback::new(&function)
        });
        let Ok(Record::Opaque(text)) = callback.map(record) else {
            panic!("not a runtime record");
        };
        let deferred = text.as_any().is::<KeyRecordText>();
        let Reply::Bulk(bytes) = text.to_reply() else {
            panic!("not a bulk reply");
        };
        (String::from_utf8(bytes).expect("UTF-8"), deferred)
    }

    #[test]
    fn a_key_record_a_step_changed_shows_the_change() {
        let unchanged = "{'event': 'hset', 'key': 'h', 'type': 'hash', 'value': {'f': '1'}}";
        assert_eq!(
            str_after("x = r['value']['f']"),
            (unchanged.to_owned(), true)
        );
        assert_eq!(
            str_after("r['seen'] = 1"),
            (
                unchanged.replace('}', "").to_owned() + "}, 'seen': 1}",
                false
            )
        );
        assert_eq!(
            str_after("r['value']['f'] = '2'"),
            (unchanged.replace("'1'", "'2'"), false)
        );
        assert_eq!(
            str_after("del r['type']"),
            (
                "{'event': 'hset', 'key': 'h', 'value': {'f': '1'}}".to_owned(),
                false
            )
        );
    }

    #[test]
    fn a_str_is_itself_and_keeps_its_reply_rule() {
        same_as_python("'+OK'");
        python();
        Python::attach(|py| {
            let value = PyString::new(py, "+OK").into_any();
            let Record::Opaque(record) = to_str_record(&value).expect("converts") else {
                panic!("not an opaque record");
            };
            assert_eq!(record.to_reply(), Reply::simple("OK"));
        });
    }
}
