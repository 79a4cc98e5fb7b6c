//! The readers of Python runs: PythonReader and StreamReader (batch mode), and the
//! factory that turns a [`ReaderRequest`] into an engine [`Reader`].
//!
//! PythonReader calls the function once; a generator is then drained a batch at a
//! time with the GIL held, each item going through the steps before the next is
//! pulled (so a generator is never advanced past the first error), and any other
//! return value is the only record. StreamReader reads everything after `fromId`
//! with one `XREAD`; an XREAD error becomes the execution's error. KeysReader is the
//! engine's, over the host's keyspace.

use crate::builder::ReaderRequest;
use crate::callback::PyRuntime;
use crate::errors::{error_text, run_error_text};
use crate::host::host;
use crate::records::{bytes_to_py, hash_set_to_py, py_to_record};
use gears_executions::reader::{KeyNamesReader, KeySpace, KeysReader, Push, Reader};
use gears_executions::runner::Runtime;
use gears_protocol::Reply;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator};
use std::sync::Arc;

/// How many generator items one batch takes (one GIL acquisition).
const PYTHON_BATCH: usize = 1000;

/// Builds the engine reader for a run.
pub fn make_reader(request: ReaderRequest) -> Result<Box<dyn Reader>, String> {
    match request {
        ReaderRequest::Keys {
            pattern,
            no_scan,
            read_value,
        } => Ok(Box::new(KeysReader::new(
            host_keyspace()?,
            pattern,
            no_scan,
            read_value,
        ))),
        ReaderRequest::KeyNames {
            pattern,
            no_scan,
            count,
        } => Ok(Box::new(KeyNamesReader::new(
            host_keyspace()?,
            pattern,
            no_scan,
            count,
        ))),
        ReaderRequest::Stream { key, from_id } => Ok(Box::new(StreamReader {
            key,
            from_id,
            done: false,
        })),
        ReaderRequest::Python { function } => Ok(Box::new(PythonReader {
            function,
            iterator: None,
            done: false,
        })),
    }
}

/// The keyspace of the host the keys readers scan.
fn host_keyspace() -> Result<Arc<dyn KeySpace>, String> {
    let host = host().ok_or_else(|| "the Python runtime has no host".to_owned())?;
    Ok(host.keyspace())
}

/// The runtime a Python run uses.
pub fn runtime() -> PyRuntime {
    PyRuntime
}

/// PythonReader.
struct PythonReader {
    function: Py<PyAny>,
    iterator: Option<Py<PyIterator>>,
    done: bool,
}

impl Reader for PythonReader {
    fn read(&mut self, _runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        // The GIL is held for the whole batch: pulling from the generator and every
        // step the records go through.
        Python::attach(|py| {
            if self.iterator.is_none() {
                let value = self.function.bind(py).call0().map_err(|e| {
                    self.done = true;
                    run_error_text(py, &e)
                })?;
                // SAFETY: the GIL is held and value is a live object.
                let is_generator = unsafe { pyo3::ffi::PyGen_Check(value.as_ptr()) } != 0;
                if !is_generator {
                    // behaviour.md §3.4: a plain function's value is the only record.
                    self.done = true;
                    push(py_to_record(value));
                    return Ok(false);
                }
                let iterator = value.try_iter().map_err(|e| run_error_text(py, &e))?;
                self.iterator = Some(iterator.unbind());
            }
            let Some(iterator) = &self.iterator else {
                return Ok(false);
            };
            let mut iterator = iterator.bind(py).clone();
            for _ in 0..PYTHON_BATCH {
                match iterator.next() {
                    Some(Ok(item)) => {
                        if !push(py_to_record(item)) {
                            self.done = true;
                            return Ok(false);
                        }
                    }
                    Some(Err(error)) => {
                        self.done = true;
                        return Err(run_error_text(py, &error));
                    }
                    None => {
                        self.done = true;
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })
    }
}

/// StreamReader (batch mode).
struct StreamReader {
    key: Vec<u8>,
    from_id: String,
    done: bool,
}

impl Reader for StreamReader {
    fn read(&mut self, _runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        self.done = true;
        let host = host().ok_or_else(|| "the Python runtime has no host".to_owned())?;
        let reply = host.execute(&[b"XREAD", b"STREAMS", &self.key, self.from_id.as_bytes()]);
        let entries = match reply {
            Reply::Error(text) => return Err(text),
            Reply::Array(streams) => streams
                .into_iter()
                .filter_map(|stream| match stream {
                    Reply::Array(mut parts) if parts.len() == 2 => match parts.pop() {
                        Some(Reply::Array(entries)) => Some(entries),
                        _ => None,
                    },
                    _ => None,
                })
                .flatten()
                .collect::<Vec<Reply>>(),
            _ => Vec::new(),
        };
        Python::attach(|py| {
            for entry in entries {
                let Reply::Array(mut parts) = entry else {
                    continue;
                };
                let (Some(Reply::Array(fields)), Some(Reply::Bulk(id))) =
                    (parts.pop(), parts.pop())
                else {
                    continue;
                };
                let record = stream_record(py, &self.key, &id, &fields)
                    .map_err(|e| error_text(py, &e, false))?;
                if !push(py_to_record(record)) {
                    break;
                }
            }
            Ok(false)
        })
    }
}

/// `{'key': stream, 'id': id, 'value': {field: value, ...}}`.
fn stream_record<'py>(
    py: Python<'py>,
    key: &[u8],
    id: &[u8],
    fields: &[Reply],
) -> PyResult<Bound<'py, PyAny>> {
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = fields
        .chunks_exact(2)
        .filter_map(|pair| match (&pair[0], &pair[1]) {
            (Reply::Bulk(field), Reply::Bulk(content)) => Some((field.clone(), content.clone())),
            _ => None,
        })
        .collect();
    let value = hash_set_to_py(py, &pairs)?;
    let record = PyDict::new(py);
    record.set_item("key", bytes_to_py(py, key))?;
    record.set_item("id", bytes_to_py(py, id))?;
    record.set_item("value", value)?;
    Ok(record.into_any())
}
