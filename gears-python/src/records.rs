//! Records and Python objects, both ways.
//!
//! Every Python plan starts with RedisGears' `RedisGearsPy_ToPyRecordMapper` step,
//! which turns native records into Python objects ([`record_to_py`]): strings become
//! `str` (a `bytearray` when not UTF-8), integers `int`, key records a dict
//! `{'event': ..., 'key': ..., 'type': ..., 'value': ...}` (only `event` and `key`
//! when values are not read). From there on records are Python objects wrapped in a
//! [`PyRecord`], which the engine sees as an opaque record. A key record is the
//! exception: it stays an [`EventRecord`], whose dict is made the first time a step
//! looks at it, and which `convertToStr` can keep unwritten while no step changed it.

use crate::to_str::{KeyRecordText, StrRecord};
use gears_executions::execution::DeferredReply;
use gears_executions::record::{KeyEntry, KeyType, KeyValue, OpaqueRecord, Record};
use gears_protocol::Reply;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// A Python object flowing through a plan.
pub struct PyRecord(pub Py<PyAny>);

impl fmt::Debug for PyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PyRecord")
    }
}

impl OpaqueRecord for PyRecord {
    fn to_reply(&self) -> Reply {
        Python::attach(|py| crate::convert::to_reply(self.0.bind(py)))
    }

    fn into_deferred(self: Box<Self>) -> Result<Box<dyn DeferredReply>, Box<dyn OpaqueRecord>> {
        Err(self)
    }

    fn into_list(self: Box<Self>) -> Result<Vec<Record>, Box<dyn OpaqueRecord>> {
        Python::attach(|py| {
            let object = self.0.bind(py);
            match object.cast::<PyList>() {
                Ok(list) => Ok(list
                    .iter()
                    .map(|item| Record::Opaque(Box::new(PyRecord(item.unbind()))))
                    .collect()),
                Err(_) => Err(self as Box<dyn OpaqueRecord>),
            }
        })
    }

    gears_executions::opaque_any!();
}

/// A KeysReader record: the entry, and the Python dict made of it the first time
/// a step looks at it.
///
/// A registration makes one record per event, and the dict costs as much as a
/// short callback: a step whose function never reads its record
/// ([`crate::record_use`]) does not make it. While the dict (and the dict of a hash
/// value) is unchanged, the entry says everything the dict does, so
/// `convertToStr` keeps the entry and writes the text only if someone asks for the
/// results. Dicts carry a version that CPython changes on every mutation (PEP 509),
/// which tells whether a step changed it.
pub struct EventRecord {
    entry: KeyEntry,
    made: std::cell::OnceCell<MadeDict>,
}

/// The dict of an [`EventRecord`] and its versions when it was made; `versions`
/// is `None` when a change could not be seen (a list value).
struct MadeDict {
    object: Py<PyAny>,
    versions: Option<Versions>,
}

/// The version of a record's dict, and of its hash value's dict.
struct Versions {
    record: u64,
    value: Option<(Py<PyAny>, u64)>,
}

impl fmt::Debug for EventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventRecord")
    }
}

/// The version of an exact dict (PEP 509's `ma_version_tag`).
fn dict_version(dict: &Bound<'_, PyDict>) -> u64 {
    // SAFETY: `dict` is a live exact dict (its layout is PyDictObject) and the GIL
    // is held (it is bound); the field is read, not written.
    #[allow(deprecated)]
    unsafe {
        (*dict.as_ptr().cast::<pyo3::ffi::PyDictObject>()).ma_version_tag
    }
}

impl EventRecord {
    /// The record of `entry`; its dict is made when a step asks for it.
    pub fn new(entry: KeyEntry) -> EventRecord {
        EventRecord {
            entry,
            made: std::cell::OnceCell::new(),
        }
    }

    fn make(&self, py: Python<'_>) -> PyResult<MadeDict> {
        let dict = key_entry_dict(py, &self.entry)?;
        let value_version = match &self.entry.value {
            Some((_, KeyValue::List(_))) => None,
            Some((_, KeyValue::Hash(_))) => {
                let value = dict.get_item(intern!(py, "value"))?;
                match value.as_ref().map(|v| v.cast::<PyDict>()) {
                    Some(Ok(inner)) => Some(Some((
                        inner.clone().into_any().unbind(),
                        dict_version(inner),
                    ))),
                    _ => None,
                }
            }
            _ => Some(None),
        };
        let versions = value_version.map(|value| Versions {
            record: dict_version(&dict),
            value,
        });
        Ok(MadeDict {
            object: dict.into_any().unbind(),
            versions,
        })
    }

    /// The Python dict (the same object every time).
    pub fn object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(made) = self.made.get() {
            return Ok(made.object.bind(py).clone());
        }
        let made = self.make(py)?;
        let object = made.object.bind(py).clone();
        // Nothing else can have filled it: the record is not shared between threads
        // and making the dict runs no code that could reach this record.
        let _ = self.made.set(made);
        Ok(object)
    }

    /// The entry, if no dict was made or the dict still says exactly what the entry
    /// says; else the record back.
    pub fn into_unchanged(self, py: Python<'_>) -> Result<KeyEntry, EventRecord> {
        let unchanged = match self.made.get() {
            None => true,
            Some(MadeDict { versions: None, .. }) => false,
            Some(MadeDict {
                object,
                versions: Some(versions),
            }) => {
                let outer = object.bind(py).cast::<PyDict>().ok();
                outer.is_some_and(|outer| dict_version(outer) == versions.record)
                    && versions.value.as_ref().is_none_or(|(inner, version)| {
                        inner
                            .bind(py)
                            .cast::<PyDict>()
                            .is_ok_and(|inner| dict_version(inner) == *version)
                    })
            }
        };
        if unchanged {
            Ok(self.entry)
        } else {
            Err(self)
        }
    }
}

impl OpaqueRecord for EventRecord {
    fn to_reply(&self) -> Reply {
        Python::attach(|py| match self.object(py) {
            Ok(object) => crate::convert::to_reply(&object),
            Err(_) => Reply::Nil,
        })
    }

    fn into_deferred(self: Box<Self>) -> Result<Box<dyn DeferredReply>, Box<dyn OpaqueRecord>> {
        Err(self)
    }

    fn into_list(self: Box<Self>) -> Result<Vec<Record>, Box<dyn OpaqueRecord>> {
        // A dict, never a list.
        Err(self)
    }

    gears_executions::opaque_any!();
}

/// The Python object of a Python record (a plain one, or a KeysReader record whose
/// dict is made now if it was not yet); `None` for other records, or when the dict
/// could not be made (out of memory).
pub fn python_object<'py>(py: Python<'py>, value: &dyn OpaqueRecord) -> Option<Bound<'py, PyAny>> {
    let any = value.as_any();
    if let Some(object) = any.downcast_ref::<PyRecord>() {
        return Some(object.0.bind(py).clone());
    }
    any.downcast_ref::<EventRecord>()
        .and_then(|record| record.object(py).ok())
}

/// Wraps a Python object as a record.
pub fn py_to_record(object: Bound<'_, PyAny>) -> Record {
    Record::Opaque(Box::new(PyRecord(object.unbind())))
}

/// Bytes as `str` when they are UTF-8, else as `bytearray` (RedisGears' rule).
pub fn bytes_to_py<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyAny> {
    match std::str::from_utf8(bytes) {
        Ok(text) => PyString::new(py, text).into_any(),
        Err(_) => PyByteArray::new(py, bytes).into_any(),
    }
}

/// The Python object of a hash or stream field name, a dict key: `str`, or `bytes`
/// when it is not UTF-8 (a `bytearray`, what values get, cannot be a dict key).
pub fn field_name_to_py<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyAny> {
    match std::str::from_utf8(bytes) {
        Ok(text) => PyString::new(py, text).into_any(),
        Err(_) => PyBytes::new(py, bytes).into_any(),
    }
}

/// The Python object of a runtime record: the object itself (a new reference), a
/// `str` for a [`StrRecord`], `None` for a record of another runtime.
pub fn opaque_to_py<'py>(py: Python<'py>, value: &dyn OpaqueRecord) -> Bound<'py, PyAny> {
    if let Some(object) = python_object(py, value) {
        return object;
    }
    let any = value.as_any();
    if let Some(text) = any.downcast_ref::<StrRecord>() {
        return PyString::new(py, &text.0).into_any();
    }
    if let Some(text) = any.downcast_ref::<KeyRecordText>() {
        return PyString::new(py, &text.text()).into_any();
    }
    py.None().into_bound(py)
}

/// A record as the Python object callbacks receive.
pub fn record_to_py<'py>(py: Python<'py>, record: Record) -> PyResult<Bound<'py, PyAny>> {
    Ok(match record {
        Record::Opaque(value) => opaque_to_py(py, value.as_ref()),
        Record::Nil => py.None().into_bound(py),
        Record::Text(bytes) => bytes_to_py(py, &bytes),
        Record::Long(value) => value.into_pyobject(py)?.into_any(),
        // RedisGears converts doubles with PyLong_FromDouble: they arrive as ints.
        Record::Double(value) => (value as i64).into_pyobject(py)?.into_any(),
        Record::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(record_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Record::Keyed { key, value } => {
            let dict = PyDict::new(py);
            dict.set_item("key", bytes_to_py(py, &key))?;
            dict.set_item("value", record_to_py(py, *value)?)?;
            dict.into_any()
        }
        Record::Key(entry) => key_entry_to_py(py, &entry)?,
    })
}

/// A record as the Python object callbacks receive, a KeysReader entry as an
/// [`EventRecord`] (its dict made when a step looks at it): what a plan's first
/// step makes.
pub fn record_to_py_record(py: Python<'_>, record: Record) -> PyResult<Record> {
    match record {
        Record::Key(entry) => Ok(Record::Opaque(Box::new(EventRecord::new(entry)))),
        other => record_to_py(py, other).map(py_to_record),
    }
}

/// A KeysReader record. RedisGears builds it as a hash-set record and converts it to
/// a dict in the iteration order of its hash table, which for these four names is
/// `event`, `key`, `type`, `value` (and `event`, `key` when values are not read).
pub fn key_entry_to_py<'py>(py: Python<'py>, entry: &KeyEntry) -> PyResult<Bound<'py, PyAny>> {
    key_entry_dict(py, entry).map(Bound::into_any)
}

fn key_entry_dict<'py>(py: Python<'py>, entry: &KeyEntry) -> PyResult<Bound<'py, PyDict>> {
    // The field names are interned: this runs once per key read.
    let dict = PyDict::new(py);
    match &entry.event {
        Some(event) => dict.set_item(intern!(py, "event"), event_name(py, event))?,
        None => dict.set_item(intern!(py, "event"), py.None())?,
    }
    dict.set_item(intern!(py, "key"), bytes_to_py(py, &entry.key))?;
    if let Some((kind, value)) = &entry.value {
        let value: Bound<'py, PyAny> = match value {
            KeyValue::String(bytes) => bytes_to_py(py, bytes),
            KeyValue::Hash(pairs) => hash_set_to_py(py, pairs)?.into_any(),
            KeyValue::List(items) => {
                let list = PyList::empty(py);
                for item in items {
                    list.append(bytes_to_py(py, item))?;
                }
                list.into_any()
            }
            KeyValue::None => py.None().into_bound(py),
        };
        dict.set_item(intern!(py, "type"), type_name(py, *kind))?;
        dict.set_item(intern!(py, "value"), value)?;
    }
    Ok(dict)
}

/// The `str` of an event name. Events are a small fixed set of names, so each
/// becomes a Python string once and is shared after that (a KeysReader
/// registration makes one record per event).
fn event_name<'py>(py: Python<'py>, event: &[u8]) -> Bound<'py, PyAny> {
    /// More names than Redis has events: a bound, not a limit anyone reaches.
    const MOST_NAMES: usize = 128;
    static NAMES: Mutex<Vec<(Vec<u8>, Py<PyAny>)>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, name)) = names.iter().find(|(known, _)| known.as_slice() == event) {
        return name.bind(py).clone();
    }
    let name = bytes_to_py(py, event);
    if names.len() < MOST_NAMES && name.is_instance_of::<PyString>() {
        names.push((event.to_vec(), name.clone().unbind()));
    }
    name
}

/// The interned name of a key type.
fn type_name(py: Python<'_>, kind: KeyType) -> &Bound<'_, PyString> {
    match kind {
        KeyType::String => intern!(py, "string"),
        KeyType::Hash => intern!(py, "hash"),
        KeyType::List => intern!(py, "list"),
        KeyType::Set => intern!(py, "set"),
        KeyType::ZSet => intern!(py, "zset"),
        KeyType::Stream => intern!(py, "unknown"),
        KeyType::Module => intern!(py, "module"),
        KeyType::Empty => intern!(py, "empty"),
    }
}

/// Field/value pairs as a dict in the order RedisGears' hash table lists them (see
/// [`crate::dict_order`]), which is the order `str()` of a record shows.
pub fn hash_set_to_py<'py>(
    py: Python<'py>,
    pairs: &[(Vec<u8>, Vec<u8>)],
) -> PyResult<Bound<'py, PyDict>> {
    let fields: Vec<&[u8]> = pairs.iter().map(|(field, _)| field.as_slice()).collect();
    let dict = PyDict::new(py);
    for index in crate::dict_order::iteration_order(&fields) {
        let (field, value) = &pairs[index];
        dict.set_item(field_name_to_py(py, field), bytes_to_py(py, value))?;
    }
    Ok(dict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;

    #[test]
    fn interned_type_names_are_the_record_names() {
        python();
        Python::attach(|py| {
            for kind in [
                KeyType::String,
                KeyType::Hash,
                KeyType::List,
                KeyType::Set,
                KeyType::ZSet,
                KeyType::Stream,
                KeyType::Module,
                KeyType::Empty,
            ] {
                assert_eq!(type_name(py, kind).to_string_lossy(), kind.record_name());
            }
        });
    }

    #[test]
    fn key_records_are_dicts_in_redisgears_order() {
        python();
        Python::attach(|py| {
            let entry = KeyEntry {
                key: b"k".to_vec(),
                event: None,
                value: Some((KeyType::String, KeyValue::String(b"\xff".to_vec()))),
            };
            let record = key_entry_to_py(py, &entry).expect("converts");
            assert_eq!(
                record.str().expect("str").to_string_lossy(),
                "{'event': None, 'key': 'k', 'type': 'string', 'value': bytearray(b'\\xff')}"
            );
        });
    }
}
