//! Native forms of RedisGears' Python sugar on the hot path: `count`, `countby` and
//! the accumulator of `aggregate`.
//!
//! RedisGears writes them in Python (`countby` is `aggregateby(extractor, 0, +1, +)`,
//! `aggregate` wraps its functions in a lambda that replaces a falsy accumulator by a
//! deep copy of the zero). The results are the same here, but a record costs fewer
//! Python calls: none at all for `countby()` with its default extractor, which is
//! what makes word counts and prefix counts fast.

use crate::callback::{key_bytes, step_error, PyCallback};
use crate::records::{py_to_record, python_object, record_to_py};
use crate::to_str::StrRecord;
use gears_executions::plan::{Callback, StepError, StepResult};
use gears_executions::record::Record;
use pyo3::prelude::*;

fn long(record: &Record) -> i64 {
    match record {
        Record::Long(value) => *value,
        _ => 0,
    }
}

/// Counts the records of each key (`countby`'s local step and `count`'s).
#[derive(Debug, Default)]
pub struct CountRecords;

impl Callback for CountRecords {
    fn accumulate(&self, accumulator: Option<Record>, _record: Record) -> StepResult<Record> {
        Ok(Record::Long(accumulator.as_ref().map_or(0, long) + 1))
    }
    fn accumulate_by_key(
        &self,
        _key: &[u8],
        accumulator: Option<Record>,
        _record: Record,
    ) -> StepResult<Record> {
        Ok(Record::Long(accumulator.as_ref().map_or(0, long) + 1))
    }
    fn describe(&self) -> String {
        "<count>".to_owned()
    }
}

/// Adds up the partial counts (`countby`'s global step and `count`'s).
#[derive(Debug, Default)]
pub struct SumCounts;

impl Callback for SumCounts {
    fn accumulate(&self, accumulator: Option<Record>, record: Record) -> StepResult<Record> {
        Ok(Record::Long(
            accumulator.as_ref().map_or(0, long) + long(&record),
        ))
    }
    fn accumulate_by_key(
        &self,
        _key: &[u8],
        accumulator: Option<Record>,
        record: Record,
    ) -> StepResult<Record> {
        Ok(Record::Long(
            accumulator.as_ref().map_or(0, long) + long(&record),
        ))
    }
    fn describe(&self) -> String {
        "<sum>".to_owned()
    }
}

/// The key of a record that is its own key (`countby()`'s default extractor
/// `lambda x: x`): a `str` as is, anything else its `repr()`.
#[derive(Debug, Default)]
pub struct RecordAsKey;

impl Callback for RecordAsKey {
    fn extract_key(&self, record: &Record) -> StepResult<Vec<u8>> {
        match record {
            Record::Text(bytes) => Ok(bytes.clone()),
            Record::Opaque(value) => {
                if let Some(text) = value.as_any().downcast_ref::<StrRecord>() {
                    return Ok(text.0.clone().into_bytes());
                }
                Python::attach(|py| match python_object(py, value.as_ref()) {
                    Some(object) => key_bytes(py, &object),
                    None => Err(StepError::new("a record of another runtime")),
                })
            }
            Record::Long(value) => Ok(value.to_string().into_bytes()),
            _ => Err(StepError::new(
                "countby got a record that is not a Python value",
            )),
        }
    }
    fn describe(&self) -> String {
        "<lambda x: x>".to_owned()
    }
}

/// `aggregate`'s accumulator: a falsy accumulator becomes a deep copy of `zero`,
/// then `function(accumulator, record)`.
pub struct AggregateWith {
    zero: Py<PyAny>,
    function: PyCallback,
    deepcopy: Py<PyAny>,
}

impl std::fmt::Debug for AggregateWith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AggregateWith({})", self.function.describe())
    }
}

impl AggregateWith {
    /// An accumulator starting from copies of `zero` and folding with `function`.
    pub fn new(zero: &Bound<'_, PyAny>, function: &Bound<'_, PyAny>) -> PyResult<AggregateWith> {
        let deepcopy = zero.py().import("copy")?.getattr("deepcopy")?;
        Ok(AggregateWith {
            zero: zero.clone().unbind(),
            function: PyCallback::new(function),
            deepcopy: deepcopy.unbind(),
        })
    }
}

impl Callback for AggregateWith {
    fn accumulate(&self, accumulator: Option<Record>, record: Record) -> StepResult<Record> {
        Python::attach(|py| {
            let accumulator = match accumulator {
                Some(record) => record_to_py(py, record).map_err(|e| step_error(py, &e))?,
                None => py.None().into_bound(py),
            };
            let truthy = accumulator.is_truthy().map_err(|e| step_error(py, &e))?;
            let accumulator = if truthy {
                accumulator
            } else {
                self.deepcopy
                    .bind(py)
                    .call1((self.zero.bind(py),))
                    .map_err(|e| step_error(py, &e))?
            };
            let record = record_to_py(py, record).map_err(|e| step_error(py, &e))?;
            self.function
                .call_bound(py, (accumulator, record))
                .map(py_to_record)
        })
    }
    fn describe(&self) -> String {
        self.function.describe()
    }
}
