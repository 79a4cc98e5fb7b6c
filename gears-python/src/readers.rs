//! The readers of Python runs: PythonReader and StreamReader (batch mode), and the
//! factory that turns a [`ReaderRequest`] into an engine [`Reader`].
//!
//! PythonReader calls the function once; a generator is then drained a batch at a
//! time with the GIL held, each item going through the steps before the next is
//! pulled (so a generator is never advanced past the first error), and any other
//! return value is the only record. StreamReader reads everything after `fromId`
//! with one `XREAD`; an XREAD error becomes the execution's error. A StreamReader
//! registration reads through its consumer group instead ([`StreamGroupReader`]).
//! KeysReader is the engine's, over the host's keyspace.

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
        push_stream_entries(&self.key, stream_entries(reply)?, push, |_| {})
    }
}

/// The consumer group StreamReader registrations read through.
pub const CONSUMER_GROUP: &str = "__gears_consumer_group__";
/// The consumer StreamReader registrations read as.
pub const CONSUMER: &str = "__gears_client__";

/// StreamReader of a registration: one `XREADGROUP` of the registration's consumer
/// (behaviour.md §3.3), creating the group on first use. The ids it read are handed
/// back through `read_ids`, for the module to acknowledge them when the run is over.
pub struct StreamGroupReader {
    key: Vec<u8>,
    start_id: &'static str,
    count: Option<usize>,
    read_ids: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    done: bool,
}

impl StreamGroupReader {
    /// Reads `key` from `start_id` (`0`: this consumer's pending entries, `>`: new
    /// ones), at most `count` entries.
    pub fn new(
        key: Vec<u8>,
        start_id: &'static str,
        count: Option<usize>,
        read_ids: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    ) -> StreamGroupReader {
        StreamGroupReader {
            key,
            start_id,
            count,
            read_ids,
            done: false,
        }
    }

    fn xreadgroup(&self, host: &dyn crate::host::Host) -> Reply {
        let count = self.count.map(|n| n.to_string());
        let mut args: Vec<&[u8]> = vec![
            b"XREADGROUP",
            b"GROUP",
            CONSUMER_GROUP.as_bytes(),
            CONSUMER.as_bytes(),
        ];
        if let Some(count) = &count {
            args.push(b"COUNT");
            args.push(count.as_bytes());
        }
        args.extend([b"STREAMS".as_slice(), &self.key, self.start_id.as_bytes()]);
        host.execute(&args)
    }
}

impl Reader for StreamGroupReader {
    fn read(&mut self, _runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(false);
        }
        let host = host().ok_or_else(|| "the Python runtime has no host".to_owned())?;
        let mut reply = self.xreadgroup(host.as_ref());
        if matches!(&reply, Reply::Error(text) if text.starts_with("NOGROUP")) {
            // The group reads the stream from its start: entries added before the
            // registration are processed too.
            host.execute(&[
                b"XGROUP",
                b"CREATE",
                &self.key,
                CONSUMER_GROUP.as_bytes(),
                b"0",
            ]);
            reply = self.xreadgroup(host.as_ref());
        }
        let entries = stream_entries(reply)?;
        let read_ids = self.read_ids.clone();
        push_stream_entries(&self.key, entries, push, |id| {
            if let Ok(mut ids) = read_ids.lock() {
                ids.push(id.to_vec());
            }
        })
    }
}

/// One stream entry: its id and its field/value replies.
type StreamEntry = (Vec<u8>, Vec<Reply>);

/// The entries of an XREAD/XREADGROUP reply (nil: none).
fn stream_entries(reply: Reply) -> Result<Vec<StreamEntry>, String> {
    let streams = match reply {
        Reply::Error(text) => return Err(text),
        Reply::Array(streams) => streams,
        _ => return Ok(Vec::new()),
    };
    Ok(streams
        .into_iter()
        .filter_map(|stream| match stream {
            Reply::Array(mut parts) if parts.len() == 2 => match parts.pop() {
                Some(Reply::Array(entries)) => Some(entries),
                _ => None,
            },
            _ => None,
        })
        .flatten()
        .filter_map(|entry| {
            let Reply::Array(mut parts) = entry else {
                return None;
            };
            match (parts.pop(), parts.pop()) {
                (Some(Reply::Array(fields)), Some(Reply::Bulk(id))) => Some((id, fields)),
                // A pending entry that was deleted meanwhile has nil fields.
                (Some(Reply::Nil), Some(Reply::Bulk(id))) => Some((id, Vec::new())),
                _ => None,
            }
        })
        .collect())
}

/// Pushes stream entries as records, telling `seen` every id that was read first:
/// the whole read is the run's, even the entries after a failing one (the failure
/// policy decides whether they are acknowledged).
fn push_stream_entries(
    key: &[u8],
    entries: Vec<StreamEntry>,
    push: Push<'_>,
    mut seen: impl FnMut(&[u8]),
) -> Result<bool, String> {
    for (id, _) in &entries {
        seen(id);
    }
    Python::attach(|py| {
        for (id, fields) in entries {
            let record =
                stream_record(py, key, &id, &fields).map_err(|e| error_text(py, &e, false))?;
            if !push(py_to_record(record)) {
                break;
            }
        }
        Ok(false)
    })
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
