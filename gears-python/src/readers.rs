//! The readers of Python runs: PythonReader and StreamReader (batch mode), and the
//! factory that turns a [`ReaderRequest`] into an engine [`Reader`].
//!
//! PythonReader calls the function once; a generator is then drained a batch at a
//! time with the GIL held, each item going through the steps before the next is
//! pulled (so a generator is never advanced past the first error), and any other
//! return value is the only record. StreamReader reads everything after `fromId`
//! with one `XREAD`; an XREAD error becomes the execution's error. A StreamReader
//! registration reads through its consumer group instead ([`StreamGroupReader`]),
//! taking the XREADGROUP reply as RESP2 text and decoding it straight into records:
//! a batch is a thousand entries, and going through an owned reply tree first cost
//! more than the read itself.
//! KeysReader is the engine's, over the host's keyspace.

use crate::builder::ReaderRequest;
use crate::callback::PyRuntime;
use crate::errors::{error_text, run_error_text};
use crate::host::host;
use crate::records::{bytes_to_py, field_name_to_py, py_to_record};
use gears_executions::reader::{KeyNamesReader, KeySpace, KeysReader, Push, Reader};
use gears_executions::runner::Runtime;
use gears_protocol::Reply;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyString};
use std::ops::Range;
use std::sync::{Arc, PoisonError};

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
        // step the records go through. The function and the generator are user
        // code, so an atomic() block they leave open is closed.
        Python::attach(|py| crate::runtime_functions::closing_atomic(|| self.read_batch(py, push)))
    }
}

impl PythonReader {
    /// One batch: the function's value, or up to [`PYTHON_BATCH`] items of its
    /// generator.
    fn read_batch(&mut self, py: Python<'_>, push: Push<'_>) -> Result<bool, String> {
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
        push_entries(&self.key, &stream_entries(&reply)?, push)
    }
}

/// The consumer group StreamReader registrations read through.
pub const CONSUMER_GROUP: &str = "__gears_consumer_group__";
/// The consumer StreamReader registrations read as.
pub const CONSUMER: &str = "__gears_client__";

/// Runs a command under the Redis lock (taken if this thread does not hold it) and
/// hands back its reply as RESP2 bytes; `Err` is the text of a refusal before the
/// command ran. The module provides it: decoding the protocol text here, straight
/// into Python records, skips building and copying a reply tree per batch.
pub type RespCall = Arc<dyn Fn(&[&[u8]]) -> Result<Vec<u8>, String> + Send + Sync>;

/// The ids a run read, in order, kept in one buffer (a batch reads a thousand; one
/// allocation each would cost more than keeping them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamIds {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl StreamIds {
    /// Adds `id` after the others.
    pub fn push(&mut self, id: &[u8]) {
        self.bytes.extend_from_slice(id);
        self.ends.push(self.bytes.len());
    }

    /// How many ids there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The ids, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| self.bytes.get(start..end).unwrap_or_default())
    }
}

/// StreamReader of a registration: one `XREADGROUP` of the registration's consumer
/// (behaviour.md §3.3), creating the group on first use. The ids it read are handed
/// back through `read_ids`, for the module to acknowledge them when the run is over.
pub struct StreamGroupReader {
    key: Vec<u8>,
    start_id: &'static str,
    count: Option<usize>,
    read_ids: Arc<std::sync::Mutex<StreamIds>>,
    call: RespCall,
    done: bool,
}

impl StreamGroupReader {
    /// Reads `key` from `start_id` (`0`: this consumer's pending entries, `>`: new
    /// ones), at most `count` entries, through `call`.
    pub fn new(
        key: Vec<u8>,
        start_id: &'static str,
        count: Option<usize>,
        read_ids: Arc<std::sync::Mutex<StreamIds>>,
        call: RespCall,
    ) -> StreamGroupReader {
        StreamGroupReader {
            key,
            start_id,
            count,
            read_ids,
            call,
            done: false,
        }
    }

    fn xreadgroup(&self) -> Result<Vec<u8>, String> {
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
        (self.call)(&args)
    }
}

impl Reader for StreamGroupReader {
    fn read(&mut self, _runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(false);
        }
        let mut reply = self.xreadgroup()?;
        if reply.starts_with(b"-NOGROUP") {
            // The group reads the stream from its start: entries added before the
            // registration are processed too. (If creating it fails, the read again
            // says why.)
            let _ = (self.call)(&[
                b"XGROUP",
                b"CREATE",
                &self.key,
                CONSUMER_GROUP.as_bytes(),
                b"0",
            ]);
            reply = self.xreadgroup()?;
        }
        let entries = resp_entries(&reply)?;
        // The whole read is the run's, even the entries after a failing one (the
        // failure policy decides whether they are acknowledged). The lock is not
        // held while the records run through the steps.
        {
            let mut ids = self.read_ids.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, _) in &entries.entries {
                ids.push(id);
            }
        }
        push_entries(&self.key, &entries, push)
    }
}

/// The entries of one read, borrowed from the reply: each entry's id and the range
/// of its field/value pairs in `pairs`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Entries<'a> {
    entries: Vec<(&'a [u8], Range<usize>)>,
    pairs: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> Entries<'a> {
    /// Adds an entry; `fields` alternate field and value (an odd last one is
    /// dropped), `None` for anything but a string (the pair is left out).
    fn push(&mut self, id: &'a [u8], fields: impl Iterator<Item = Option<&'a [u8]>>) {
        let start = self.pairs.len();
        let mut fields = fields.fuse();
        while let (Some(field), Some(value)) = (fields.next(), fields.next()) {
            if let (Some(field), Some(value)) = (field, value) {
                self.pairs.push((field, value));
            }
        }
        self.entries.push((id, start..self.pairs.len()));
    }
}

/// The entries of an XREAD reply (nil: none).
fn stream_entries(reply: &Reply) -> Result<Entries<'_>, String> {
    let streams = match reply {
        Reply::Error(text) => return Err(text.clone()),
        Reply::Array(streams) => streams,
        _ => return Ok(Entries::default()),
    };
    let mut entries = Entries::default();
    let stream_entries = streams.iter().filter_map(|stream| match stream {
        Reply::Array(parts) if parts.len() == 2 => match parts.last() {
            Some(Reply::Array(entries)) => Some(entries),
            _ => None,
        },
        _ => None,
    });
    for entry in stream_entries.flatten() {
        let Reply::Array(parts) = entry else {
            continue;
        };
        let fields = match parts.last() {
            Some(Reply::Array(fields)) => fields.as_slice(),
            // A pending entry that was deleted meanwhile has nil fields.
            Some(Reply::Nil) => &[],
            _ => continue,
        };
        let Some(Reply::Bulk(id)) = parts.len().checked_sub(2).and_then(|at| parts.get(at)) else {
            continue;
        };
        entries.push(
            id,
            fields.iter().map(|field| match field {
                Reply::Bulk(bytes) => Some(bytes.as_slice()),
                _ => None,
            }),
        );
    }
    Ok(entries)
}

/// What a RESP2 element starts with.
#[derive(Debug, PartialEq, Eq)]
enum Head<'a> {
    /// `*n` (`*-1`, nil: a negative count).
    Array(i64),
    /// `$n` and its bytes (`$-1`, nil: `None`).
    Bulk(Option<&'a [u8]>),
    /// `-text`.
    Error(&'a [u8]),
    /// `+text` or `:n`.
    Line,
}

/// A cursor over the RESP2 text of a reply. `None` from any method: the text is cut
/// short or is not RESP2 (which Redis does not produce).
struct Resp<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Resp<'a> {
    fn new(bytes: &'a [u8]) -> Resp<'a> {
        Resp { bytes, at: 0 }
    }

    /// The rest of the current line, without its CRLF.
    fn line(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.at..)?;
        let end = rest.windows(2).position(|pair| pair == b"\r\n")?;
        self.at += end + 2;
        rest.get(..end)
    }

    fn number(line: &[u8]) -> Option<i64> {
        std::str::from_utf8(line).ok()?.parse().ok()
    }

    /// The head of the next element (an array's items follow it).
    fn head(&mut self) -> Option<Head<'a>> {
        let tag = *self.bytes.get(self.at)?;
        self.at += 1;
        let line = self.line()?;
        match tag {
            b'*' => Some(Head::Array(Self::number(line)?)),
            b'$' => {
                let Ok(len) = usize::try_from(Self::number(line)?) else {
                    return Some(Head::Bulk(None));
                };
                let end = self.at.checked_add(len)?;
                let body = self.bytes.get(self.at..end)?;
                if self.bytes.get(end..end.checked_add(2)?)? != b"\r\n" {
                    return None;
                }
                self.at = end + 2;
                Some(Head::Bulk(Some(body)))
            }
            b'-' => Some(Head::Error(line)),
            b'+' | b':' => Some(Head::Line),
            _ => None,
        }
    }

    /// Skips `count` whole elements.
    fn skip(&mut self, count: i64) -> Option<()> {
        let mut left = count.max(0);
        while left > 0 {
            left -= 1;
            if let Head::Array(items) = self.head()? {
                left = left.checked_add(items.max(0))?;
            }
        }
        Some(())
    }

    /// The next whole element if it is a string (`Some(None)` if it is anything else).
    fn bulk(&mut self) -> Option<Option<&'a [u8]>> {
        match self.head()? {
            Head::Bulk(bytes) => Some(bytes),
            Head::Array(items) => self.skip(items).map(|()| None),
            Head::Error(_) | Head::Line => Some(None),
        }
    }
}

/// The entries of the RESP2 text of an XREADGROUP reply (nil: none), in the shape
/// [`stream_entries`] gives.
fn resp_entries(bytes: &[u8]) -> Result<Entries<'_>, String> {
    let mut resp = Resp::new(bytes);
    let mut entries = Entries::default();
    let malformed = || "unexpected reply to XREADGROUP".to_owned();
    let streams = match resp.head().ok_or_else(malformed)? {
        Head::Error(text) => return Err(String::from_utf8_lossy(text).into_owned()),
        Head::Array(streams) => streams,
        _ => return Ok(entries),
    };
    for _ in 0..streams.max(0) {
        let parts = match resp.head().ok_or_else(malformed)? {
            Head::Array(parts) => parts,
            _ => continue,
        };
        if parts != 2 {
            resp.skip(parts).ok_or_else(malformed)?;
            continue;
        }
        // The stream's name, then its entries.
        resp.skip(1).ok_or_else(malformed)?;
        let count = match resp.head().ok_or_else(malformed)? {
            Head::Array(count) => count,
            _ => continue,
        };
        // Most entries have a field or more: one allocation each for the batch.
        let expected = usize::try_from(count).unwrap_or(0).min(bytes.len());
        entries.entries.reserve(expected);
        entries.pairs.reserve(expected);
        for _ in 0..count.max(0) {
            read_entry(&mut resp, &mut entries).ok_or_else(malformed)?;
        }
    }
    Ok(entries)
}

/// Reads one entry of a stream (`[id, [field, value, ...]]`) into `entries`.
fn read_entry<'a>(resp: &mut Resp<'a>, entries: &mut Entries<'a>) -> Option<()> {
    let parts = match resp.head()? {
        Head::Array(parts) => parts,
        _ => return Some(()),
    };
    if parts != 2 {
        return resp.skip(parts);
    }
    let id = resp.bulk()?;
    let fields = match resp.head()? {
        Head::Array(fields) => fields,
        // Not an array: the entry is left out, as a nil id would be.
        _ => return Some(()),
    };
    let Some(id) = id else {
        return resp.skip(fields);
    };
    // A pending entry that was deleted meanwhile has nil fields (`*-1`).
    let fields = usize::try_from(fields).unwrap_or(0);
    // Decoded as they are added (no list per entry); a cut-short text stops
    // them, and fails the whole read.
    let mut failed = false;
    entries.push(
        id,
        (0..fields).map_while(|_| {
            let value = resp.bulk();
            failed |= value.is_none();
            value
        }),
    );
    (!failed).then_some(())
}

/// Pushes stream entries as records, until `push` wants no more.
fn push_entries(key: &[u8], entries: &Entries<'_>, push: Push<'_>) -> Result<bool, String> {
    if entries.entries.is_empty() {
        return Ok(false);
    }
    Python::attach(|py| {
        let mut records = RecordMaker::new(py, key);
        for (id, pairs) in &entries.entries {
            let pairs = entries.pairs.get(pairs.clone()).unwrap_or_default();
            let record = records
                .record(id, pairs)
                .map_err(|e| error_text(py, &e, false))?;
            if !push(py_to_record(record)) {
                break;
            }
        }
        Ok(false)
    })
}

/// How many distinct field names one read keeps as shared `str` objects.
const FIELD_NAMES: usize = 32;

/// Makes the records of one read: `{'key': stream, 'id': id, 'value': {field:
/// value, ...}}`, the value's fields in the order of RedisGears' dict (as
/// [`crate::records::hash_set_to_py`] lists them).
///
/// Entries of a stream mostly repeat the same fields, so one read shares what does
/// not change between records: the stream name and the field names (as `str`,
/// immutable; a `bytearray` is made afresh each time, as before) and the dict
/// order of the last list of field names.
struct RecordMaker<'py, 'a> {
    py: Python<'py>,
    key: &'a [u8],
    /// The stream name, when it is a `str`.
    key_str: Option<Bound<'py, PyAny>>,
    names: Vec<(&'a [u8], Bound<'py, PyAny>)>,
    last_fields: Vec<&'a [u8]>,
    last_order: Vec<usize>,
}

impl<'py, 'a> RecordMaker<'py, 'a> {
    fn new(py: Python<'py>, key: &'a [u8]) -> RecordMaker<'py, 'a> {
        let key_str = std::str::from_utf8(key)
            .ok()
            .map(|text| PyString::new(py, text).into_any());
        RecordMaker {
            py,
            key,
            key_str,
            names: Vec::new(),
            last_fields: Vec::new(),
            last_order: Vec::new(),
        }
    }

    /// The Python object of a field name.
    fn name(&mut self, field: &'a [u8]) -> Bound<'py, PyAny> {
        if let Some((_, name)) = self.names.iter().find(|(bytes, _)| *bytes == field) {
            return name.clone();
        }
        let name = field_name_to_py(self.py, field);
        if self.names.len() < FIELD_NAMES && name.is_instance_of::<PyString>() {
            self.names.push((field, name.clone()));
        }
        name
    }

    fn record(&mut self, id: &[u8], pairs: &[(&'a [u8], &'a [u8])]) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let value = PyDict::new(py);
        if let [(field, content)] = pairs {
            // One field is its own order.
            value.set_item(self.name(field), bytes_to_py(py, content))?;
        } else if !pairs.is_empty() {
            let same = self.last_fields.len() == pairs.len()
                && self.last_fields.iter().zip(pairs).all(|(a, (b, _))| a == b);
            if !same {
                self.last_fields.clear();
                self.last_fields
                    .extend(pairs.iter().map(|(field, _)| *field));
                self.last_order = crate::dict_order::iteration_order(&self.last_fields);
            }
            // The order is taken out while the names are looked up (which borrows
            // self), and put back for the next entry.
            let order = std::mem::take(&mut self.last_order);
            let filled = order.iter().try_for_each(|&index| match pairs.get(index) {
                Some((field, content)) => {
                    value.set_item(self.name(field), bytes_to_py(py, content))
                }
                None => Ok(()),
            });
            self.last_order = order;
            filled?;
        }
        let record = PyDict::new(py);
        let key = match &self.key_str {
            Some(key) => key.clone(),
            None => bytes_to_py(py, self.key),
        };
        record.set_item(intern!(py, "key"), key)?;
        record.set_item(intern!(py, "id"), bytes_to_py(py, id))?;
        record.set_item(intern!(py, "value"), value)?;
        Ok(record.into_any())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{hash_set_to_py, record_to_py};
    use crate::test_support::python;
    use gears_protocol::RespVersion;

    fn entry(id: &str, fields: &[&str]) -> Reply {
        Reply::array([
            Reply::bulk(id),
            Reply::array(fields.iter().map(|field| Reply::bulk(*field))),
        ])
    }

    fn streams(entries: Vec<Reply>) -> Reply {
        Reply::array([Reply::array([Reply::bulk("s"), Reply::array(entries)])])
    }

    /// The RESP text decodes to what the reply tree gives.
    fn same_entries(reply: &Reply) {
        let text = reply.to_resp(RespVersion::Resp2);
        assert_eq!(resp_entries(&text), stream_entries(reply), "{reply}");
    }

    #[test]
    fn resp_text_decodes_like_the_reply_tree() {
        same_entries(&streams(vec![]));
        same_entries(&streams(vec![
            entry("1-1", &["f", "v"]),
            entry("1-2", &["a", "1", "b", "2", "c", "3"]),
            // An odd last field is dropped.
            entry("1-3", &["a", "1", "b"]),
            entry("1-4", &[]),
        ]));
        // Non-string fields are left out with their pair; odd shapes are skipped.
        same_entries(&streams(vec![
            Reply::array([
                Reply::bulk("2-1"),
                Reply::array([
                    Reply::Integer(1),
                    Reply::bulk("x"),
                    Reply::bulk("f"),
                    Reply::bulk("v"),
                ]),
            ]),
            Reply::array([Reply::bulk("2-2"), Reply::bulk("not fields")]),
            Reply::array([Reply::bulk("2-3")]),
            Reply::bulk("not an entry"),
            Reply::array([
                Reply::bulk("2-4"),
                Reply::array([Reply::array([Reply::bulk("nested")]), Reply::bulk("v")]),
            ]),
            entry("2-5", &["f", "v"]),
        ]));
        same_entries(&Reply::array([
            Reply::bulk("not a stream"),
            Reply::array([Reply::bulk("s")]),
            streams(vec![entry("3-1", &["f", "v"])]).clone(),
        ]));
        same_entries(&Reply::Integer(3));
    }

    #[test]
    fn nil_replies_and_errors() {
        // No new entries: a nil array.
        assert_eq!(resp_entries(b"*-1\r\n"), Ok(Entries::default()));
        assert_eq!(resp_entries(b"$-1\r\n"), Ok(Entries::default()));
        // A pending entry deleted meanwhile: nil fields, an empty value.
        let entries = resp_entries(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*-1\r\n")
            .expect("decodes");
        assert_eq!(entries.entries, vec![(b"1-1".as_slice(), 0..0)]);
        assert_eq!(
            resp_entries(b"-NOGROUP No such key\r\n"),
            Err("NOGROUP No such key".to_owned())
        );
        // Cut short.
        assert!(resp_entries(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-").is_err());
        assert!(resp_entries(b"").is_err());
    }

    #[test]
    fn stream_ids_keep_their_order() {
        let mut ids = StreamIds::default();
        assert!(ids.is_empty());
        for id in ["1-0", "", "123456789-42"] {
            ids.push(id.as_bytes());
        }
        assert_eq!(ids.len(), 3);
        let listed: Vec<&[u8]> = ids.iter().collect();
        assert_eq!(listed, [b"1-0".as_slice(), b"", b"123456789-42"]);
    }

    /// `repr()` of the records `entries` become.
    fn records(key: &[u8], entries: &Entries<'_>) -> Vec<String> {
        let mut pushed = Vec::new();
        let mut push = |record| {
            pushed.push(record);
            true
        };
        push_entries(key, entries, &mut push).expect("the records are made");
        Python::attach(|py| {
            pushed
                .into_iter()
                .map(|record| {
                    let object = record_to_py(py, record).expect("a Python record");
                    object.repr().expect("repr").to_string()
                })
                .collect()
        })
    }

    #[test]
    fn records_have_the_record_shape_and_the_dict_order() {
        python();
        let fields: [&[&str]; 5] = [
            &["f", "v"],
            &["name", "n", "age", "3", "city", "c", "zip", "z", "x", "1"],
            &[
                "name", "n2", "age", "4", "city", "c2", "zip", "z2", "x", "2",
            ],
            &["b", "1", "a", "2", "b", "3"],
            &[],
        ];
        let reply = streams(
            fields
                .iter()
                .enumerate()
                .map(|(at, fields)| entry(&format!("1-{at}"), fields))
                .collect(),
        );
        let text = reply.to_resp(RespVersion::Resp2);
        let entries = resp_entries(&text).expect("decodes");
        let made = records(b"s", &entries);
        // The value dicts list their fields as hash_set_to_py does.
        let expected: Vec<String> = Python::attach(|py| {
            fields
                .iter()
                .enumerate()
                .map(|(at, fields)| {
                    let pairs: Vec<(Vec<u8>, Vec<u8>)> = fields
                        .chunks_exact(2)
                        .map(|pair| (pair[0].as_bytes().to_vec(), pair[1].as_bytes().to_vec()))
                        .collect();
                    let value = hash_set_to_py(py, &pairs).expect("a dict");
                    format!(
                        "{{'key': 's', 'id': '1-{at}', 'value': {}}}",
                        value.repr().expect("repr")
                    )
                })
                .collect()
        });
        assert_eq!(made, expected);
    }

    #[test]
    fn binary_names_and_values_are_bytearrays() {
        python();
        let reply = streams(vec![Reply::array([
            Reply::bulk("1-1"),
            Reply::array([Reply::bulk("f"), Reply::bulk(vec![0xff, 0x00])]),
        ])]);
        let text = reply.to_resp(RespVersion::Resp2);
        let entries = resp_entries(&text).expect("decodes");
        assert_eq!(
            records(&[0xfe], &entries),
            ["{'key': bytearray(b'\\xfe'), 'id': '1-1', 'value': {'f': bytearray(b'\\xff\\x00')}}"]
        );
    }
}
