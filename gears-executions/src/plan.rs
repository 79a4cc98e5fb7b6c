//! Plans: a reader and the ordered steps its records go through.
//!
//! The step kinds are RedisGears' core steps; a language runtime builds its
//! operations out of them (Python's `flatmap` is a `map` and a `flatmap`, `groupby`
//! is `extractkey`, `repartition`, `accumulatebykey` and a `map`, and so on). Each
//! step with a callback holds it as an opaque [`Callback`] supplied by the runtime.

use crate::record::Record;
use std::fmt;
use std::sync::Arc;

/// Why a callback failed: the text becomes one error of the execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepError {
    /// The error text, as the execution's errors list shows it.
    pub message: String,
}

impl StepError {
    /// An error with this text.
    pub fn new(message: impl Into<String>) -> StepError {
        StepError {
            message: message.into(),
        }
    }
}

/// What a callback gives back.
pub type StepResult<T> = Result<T, StepError>;

/// A runtime function called by steps. A step only ever calls the method of its
/// kind; a callback made for some kinds only keeps the default of the others, which
/// fails the record with a clear error.
pub trait Callback: Send + Sync + fmt::Debug {
    /// `map`: the new record.
    fn map(&self, record: Record) -> StepResult<Record> {
        let _ = record;
        Err(self.unsupported("map"))
    }
    /// `filter`: whether to keep the record.
    fn filter(&self, record: &Record) -> StepResult<bool> {
        let _ = record;
        Err(self.unsupported("filter"))
    }
    /// `foreach`: called for its effect; the record passes on unchanged.
    fn foreach(&self, record: &Record) -> StepResult<()> {
        let _ = record;
        Err(self.unsupported("foreach"))
    }
    /// `accumulate`: the new accumulator from the old one (`None` at first).
    fn accumulate(&self, accumulator: Option<Record>, record: Record) -> StepResult<Record> {
        let _ = (accumulator, record);
        Err(self.unsupported("accumulate"))
    }
    /// `extractkey`: the key of a record (a string as is, anything else its repr).
    fn extract_key(&self, record: &Record) -> StepResult<Vec<u8>> {
        let _ = record;
        Err(self.unsupported("extractkey"))
    }
    /// `accumulatebykey`: the new accumulator of `key`.
    fn accumulate_by_key(
        &self,
        key: &[u8],
        accumulator: Option<Record>,
        record: Record,
    ) -> StepResult<Record> {
        let _ = (key, accumulator, record);
        Err(self.unsupported("accumulatebykey"))
    }
    /// `reduce`: one record from all the records of `key`.
    fn reduce(&self, key: &[u8], records: Vec<Record>) -> StepResult<Record> {
        let _ = (key, records);
        Err(self.unsupported("reduce"))
    }
    /// How RG.GETEXECUTION shows the callback (`arg`): the repr of a Python function.
    fn describe(&self) -> String;

    /// The concrete callback, for a runtime that runs its own callbacks without a
    /// pipeline where it can (a `sync` registration's event); `None` by default.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// The error of a step kind this callback was not made for.
    fn unsupported(&self, kind: &str) -> StepError {
        StepError::new(format!(
            "{} can not be used as a {kind} callback",
            self.describe()
        ))
    }
}

/// The core step kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// One record in, one out.
    Map,
    /// A list record becomes its elements, **last first** (RedisGears pops them).
    FlatMap,
    /// Keep a record or drop it.
    Filter,
    /// Call for the effect; the record passes unchanged.
    ForEach,
    /// Fold every record into one accumulator, emitted at the end (nothing when
    /// there was no input).
    Accumulate,
    /// Attach a key to the record.
    ExtractKey,
    /// One accumulator per key, emitted at the end as keyed records.
    AccumulateByKey,
    /// Gather the records of each key into a list, emitted at the end.
    Group,
    /// Turn each key's list into one record.
    Reduce,
    /// Pass the records whose index is in `[offset, offset + len)`.
    Limit {
        /// Records skipped first.
        offset: u64,
        /// Records passed after that.
        len: u64,
    },
    /// Move every record to the initiating shard (nothing to move standalone).
    Collect,
    /// Move each record to the shard that owns its key: the key of a keyed record,
    /// or what the step's own extractor gives (nothing moves standalone).
    Repartition,
}

impl StepKind {
    /// The type name RG.GETEXECUTION shows.
    pub fn type_name(self) -> &'static str {
        match self {
            StepKind::Map => "map",
            StepKind::FlatMap => "flatmap",
            StepKind::Filter => "filter",
            StepKind::ForEach => "foreach",
            StepKind::Accumulate => "accumulate",
            StepKind::ExtractKey => "extractkey",
            StepKind::AccumulateByKey => "accumulatebykey",
            StepKind::Group => "group",
            StepKind::Reduce => "reduce",
            StepKind::Limit { .. } => "limit",
            StepKind::Collect => "collect",
            StepKind::Repartition => "repartition",
        }
    }

    /// Whether the step needs a callback.
    pub fn needs_callback(self) -> bool {
        !matches!(
            self,
            StepKind::FlatMap
                | StepKind::Group
                | StepKind::Limit { .. }
                | StepKind::Collect
                | StepKind::Repartition
        )
    }
}

/// One step of a plan.
#[derive(Clone, Debug)]
pub struct Step {
    /// What it does.
    pub kind: StepKind,
    /// Its callback, for the kinds that call one.
    pub callback: Option<Arc<dyn Callback>>,
    /// The callback's name as RG.GETEXECUTION shows it (`RedisGearsPy_PyCallbackMapper`).
    pub name: String,
}

impl Step {
    /// A step that calls `callback`.
    pub fn with_callback(
        kind: StepKind,
        name: impl Into<String>,
        callback: Arc<dyn Callback>,
    ) -> Step {
        Step {
            kind,
            callback: Some(callback),
            name: name.into(),
        }
    }

    /// A step without a callback (`flatmap`, `group`, `limit`, `collect`, `repartition`).
    pub fn plain(kind: StepKind, name: impl Into<String>) -> Step {
        Step {
            kind,
            callback: None,
            name: name.into(),
        }
    }

    /// The `arg` RG.GETEXECUTION shows: the callback's description, or "".
    pub fn arg(&self) -> String {
        self.callback
            .as_ref()
            .map(|c| c.describe())
            .unwrap_or_default()
    }
}

/// A plan: a reader name and the steps after it.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The reader's name (`KeysReader`, `PythonReader`, ...).
    pub reader: String,
    /// The steps, first to last (shared: every execution of a registration runs
    /// them without copying them).
    pub steps: Arc<[Step]>,
    /// The description given to the builder.
    pub description: Option<String>,
}
