//! The native side of `GearsBuilder`: `redisgears.gearsCtx(reader, desc)` returns a
//! [`PyFlatExecution`] whose operations append core steps, with RedisGears'
//! argument checks and error texts (behaviour.md §2.2, §2.3).
//!
//! `run()` does not start anything itself: it records a [`PendingRun`] in the
//! script context of the thread ([`ScriptContext`]), and the module starts it after
//! the script returns (one run per script). The Python sugar (aggregate, count,
//! sort, ...) is in the prelude, on top of these primitives.

use crate::aggregates::{AggregateWith, CountRecords, RecordAsKey, SumCounts};
use crate::callback::{PyCallback, ToPyRecord};
use crate::gears_module::GearsError;
use crate::register::{register_args, RegisterArgs};
use gears_executions::plan::{Plan, Step, StepKind};
use gears_registrations::registry::Candidate;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFunction, PyInt, PyString, PyTuple};
use std::cell::RefCell;
use std::sync::Arc;

/// Where the records of a run come from.
#[derive(Debug)]
pub enum ReaderRequest {
    /// KeysReader: a glob (or one key with `no_scan`).
    Keys {
        /// The glob or the key.
        pattern: Vec<u8>,
        /// Read exactly one key.
        no_scan: bool,
        /// Read values too.
        read_value: bool,
    },
    /// StreamReader: the entries of one stream after `from_id`.
    Stream {
        /// The stream's key.
        key: Vec<u8>,
        /// Read entries after this id.
        from_id: String,
    },
    /// KeysOnlyReader: key names by SCAN (`count` per step), or the one key named.
    KeyNames {
        /// The glob or the key.
        pattern: Vec<u8>,
        /// Yield the pattern itself if that key exists.
        no_scan: bool,
        /// SCAN COUNT.
        count: usize,
    },
    /// PythonReader: a function (or generator function) called on the shard.
    Python {
        /// The function.
        function: Py<PyAny>,
    },
}

/// How far a run reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Every shard (the default).
    Async,
    /// This shard only.
    AsyncLocal,
}

/// A run a script asked for.
#[derive(Debug)]
pub struct PendingRun {
    /// Reader and steps.
    pub plan: Plan,
    /// The reader's arguments.
    pub reader: ReaderRequest,
    /// Its mode.
    pub mode: RunMode,
}

/// A registration a script made, not yet applied.
#[derive(Debug)]
pub struct PendingRegistration {
    /// Its id (the plan id of the copy made at register time).
    pub id: String,
    /// Reader and steps.
    pub plan: Plan,
    /// Mode, reader arguments and `onRegistered`.
    pub args: RegisterArgs,
    /// The plan and `onRegistered`, pickled (see [`crate::pickling`]).
    pub pickled: Vec<u8>,
}

/// What one RG.PYEXECUTE script did.
#[derive(Debug, Default)]
pub struct ScriptContext {
    /// The run it asked for, if any.
    pub run: Option<PendingRun>,
    /// The registrations it made, in order.
    pub registrations: Vec<PendingRegistration>,
}

thread_local! {
    static SCRIPT: RefCell<Option<ScriptContext>> = const { RefCell::new(None) };
}

/// Runs `body` (which runs a script) with a fresh script context on this thread, and
/// returns what the script asked for.
pub fn with_script_context<R>(body: impl FnOnce() -> R) -> (R, ScriptContext) {
    let previous = SCRIPT.with(|slot| slot.replace(Some(ScriptContext::default())));
    let result = body();
    let context = SCRIPT
        .with(|slot| slot.replace(previous))
        .unwrap_or_default();
    (result, context)
}

fn gears_error(message: &str) -> PyErr {
    GearsError::new_err(message.to_owned())
}

const READERS: &[&str] = &[
    "KeysReader",
    "StreamReader",
    "PythonReader",
    "CommandReader",
];

/// `redisgears.gearsCtx(reader, desc=None)`: a new plan for `reader`.
#[pyfunction]
#[pyo3(name = "gearsCtx", signature = (*args))]
pub fn gears_ctx(args: &Bound<'_, PyTuple>) -> PyResult<PyFlatExecution> {
    let reader = args
        .get_item(0)
        .map_err(|_| gears_error("reader argument must be a string"))?;
    let reader: String = reader
        .cast::<PyString>()
        .map_err(|_| gears_error("reader argument must be a string"))?
        .to_string_lossy()
        .into_owned();
    let description = match args.get_item(1) {
        Ok(desc) if !desc.is_none() => Some(
            desc.cast::<PyString>()
                .map_err(|_| gears_error("desc argument must be a string"))?
                .to_string_lossy()
                .into_owned(),
        ),
        _ => None,
    };
    // Every builder takes a plan id, even one for a reader that does not exist.
    let plan_id = crate::host::host().map(|host| host.next_plan_id());
    if !READERS.contains(&reader.as_str()) {
        return Err(gears_error("The given reader does not exists"));
    }
    Ok(PyFlatExecution {
        plan_id,
        ..PyFlatExecution::without_id(reader, description)
    })
}

/// The `mode` keyword of `run()`.
fn mode_of(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<RunMode> {
    let mode = match kwargs {
        Some(kwargs) => kwargs.get_item("mode")?,
        None => None,
    };
    let Some(mode) = mode else {
        return Ok(RunMode::Async);
    };
    let mode = mode
        .cast::<PyString>()
        .map_err(|_| gears_error("execution mode must be a string"))?
        .to_string_lossy()
        .into_owned();
    match mode.as_str() {
        "async" => Ok(RunMode::Async),
        "async_local" => Ok(RunMode::AsyncLocal),
        _ => Err(gears_error("unknown execution mode")),
    }
}

/// The reader KeysOnlyReader uses when it can read natively:
/// `redisgears.keysOnlyReader(pattern, count, noScan)` (see the prelude).
#[pyclass(module = "redisgears", name = "KeyNames", frozen)]
pub struct KeyNames {
    pattern: Vec<u8>,
    count: usize,
    no_scan: bool,
}

/// `redisgears.keysOnlyReader(pattern, count, noScan)`: KeysOnlyReader's records
/// (key names by SCAN), read natively instead of by a Python generator.
#[pyfunction]
#[pyo3(name = "keysOnlyReader")]
pub fn keys_only_reader(pattern: &str, count: usize, no_scan: bool) -> KeyNames {
    KeyNames {
        pattern: pattern.as_bytes().to_vec(),
        count,
        no_scan,
    }
}

/// A plan under construction (`GearsBuilder.gearsCtx`).
#[pyclass(module = "redisgears", name = "PyFlatExecution")]
pub struct PyFlatExecution {
    /// The plan id this builder took (registrations build on it).
    #[pyo3(get, name = "planId")]
    plan_id: Option<String>,
    reader: String,
    description: Option<String>,
    steps: Vec<Step>,
    /// The operations called on it, with their arguments: replaying them on a new
    /// builder rebuilds the plan, which is how a registration is pickled.
    ops: Vec<(&'static str, Py<PyTuple>)>,
}

/// The single function argument of `op`, with RedisGears' two error texts.
fn one_function<'py>(args: &Bound<'py, PyTuple>, op: &str) -> PyResult<Bound<'py, PyAny>> {
    if args.len() != 1 {
        return Err(gears_error(&format!(
            "wrong number of args to {op} function"
        )));
    }
    let function = args.get_item(0)?;
    if function.cast::<PyFunction>().is_err() {
        return Err(gears_error(&format!("{op} argument must be a function")));
    }
    Ok(function)
}

/// The extractor and reducer of a grouping operation. `label` names it in the
/// texts: RedisGears says `groupby` for localgroupby and groupby alike.
fn two_functions<'py>(
    args: &Bound<'py, PyTuple>,
    label: &str,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if args.len() != 2 {
        return Err(gears_error(&format!(
            "wrong number of args to {label} function"
        )));
    }
    let extractor = args.get_item(0)?;
    if extractor.cast::<PyFunction>().is_err() {
        return Err(gears_error(&format!(
            "{label} extractor argument must be a function"
        )));
    }
    let reducer = args.get_item(1)?;
    if reducer.cast::<PyFunction>().is_err() {
        return Err(gears_error(&format!(
            "{label} reducer argument must be a function"
        )));
    }
    Ok((extractor, reducer))
}

fn callback(function: &Bound<'_, PyAny>) -> Arc<PyCallback> {
    Arc::new(PyCallback::new(function))
}

#[pymethods]
impl PyFlatExecution {
    #[pyo3(signature = (*args))]
    fn map(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.push_one(args, "map", StepKind::Map, "RedisGearsPy_PyCallbackMapper")?;
        Ok(())
    }

    /// The `convertToStr` map of `run()` and `register()`: `function` is the
    /// `lambda x: str(x)` RedisGears appends (its repr is the step's argument), and
    /// the step computes `str()` natively where it can ([`crate::to_str`]).
    #[pyo3(signature = (*args))]
    fn tostr(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let f = one_function(args, "map")?;
        self.steps.push(Step::with_callback(
            StepKind::Map,
            "RedisGearsPy_PyCallbackMapper",
            Arc::new(crate::to_str::StrCallback::new(&f)),
        ));
        self.record("tostr", args);
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn flatmap(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let f = one_function(args, "flatmap")?;
        self.steps.push(Step::with_callback(
            StepKind::Map,
            "RedisGearsPy_PyCallbackFlatMapper",
            callback(&f),
        ));
        self.steps
            .push(Step::plain(StepKind::FlatMap, "FlatMapper"));
        self.record("flatmap", args);
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn filter(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.push_one(
            args,
            "filter",
            StepKind::Filter,
            "RedisGearsPy_PyCallbackFilter",
        )?;
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn foreach(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.push_one(
            args,
            "foreach",
            StepKind::ForEach,
            "RedisGearsPy_PyCallbackForEach",
        )?;
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn accumulate(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.push_one(
            args,
            "accumulate",
            StepKind::Accumulate,
            "RedisGearsPy_PyCallbackAccumulate",
        )?;
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn repartition(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.push_one(
            args,
            "repartition",
            StepKind::Repartition,
            "RedisGearsPy_PyCallbackExtractor",
        )?;
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn localgroupby(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let (extractor, reducer) = two_functions(args, "groupby")?;
        self.push_by_key(&extractor, &reducer, false);
        self.record("localgroupby", args);
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn groupby(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        let (extractor, reducer) = two_functions(args, "groupby")?;
        self.push_by_key(&extractor, &reducer, true);
        self.record("groupby", args);
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn batchgroupby(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        // RedisGears checks batchgroupby's extractor twice and its reducer never: a
        // reducer that is not a function fails when it is called, at run time.
        if args.len() != 2 {
            return Err(gears_error("wrong number of args to batchgroupby function"));
        }
        let extractor = args.get_item(0)?;
        if extractor.cast::<PyFunction>().is_err() {
            return Err(gears_error(
                "batchgroupby extractor argument must be a function",
            ));
        }
        let reducer = args.get_item(1)?;
        self.steps.push(Step::with_callback(
            StepKind::ExtractKey,
            "RedisGearsPy_PyCallbackExtractor",
            callback(&extractor),
        ));
        self.steps
            .push(Step::plain(StepKind::Repartition, "repartition"));
        self.steps.push(Step::plain(StepKind::Group, "group"));
        self.steps.push(Step::with_callback(
            StepKind::Reduce,
            "RedisGearsPy_PyCallbackReducer",
            callback(&reducer),
        ));
        self.steps.push(Step::with_callback(
            StepKind::Map,
            "RedisGearsPy_ToPyRecordMapper",
            Arc::new(ToPyRecord),
        ));
        self.record("batchgroupby", args);
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn limit(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        if args.is_empty() || args.len() > 2 {
            return Err(gears_error("wrong number of args to limit function"));
        }
        let number = |index: usize| -> PyResult<u64> {
            let value = args.get_item(index)?;
            // Any int, bool included (RedisGears checks PyLong_Check).
            if value.cast::<PyInt>().is_err() {
                return Err(gears_error("limit argument must be a number"));
            }
            // RedisGears casts the C long to size_t: a negative number is a huge
            // one (len -1 passes everything, offset -1 skips everything).
            Ok(value.extract::<i64>().map(|n| n as u64).unwrap_or(u64::MAX))
        };
        let len = number(0)?;
        let offset = if args.len() == 2 { number(1)? } else { 0 };
        self.steps
            .push(Step::plain(StepKind::Limit { offset, len }, "limit"));
        self.record("limit", args);
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn collect(&mut self, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        if !args.is_empty() {
            return Err(gears_error("wrong number of args to collect function"));
        }
        self.steps.push(Step::plain(StepKind::Collect, "collect"));
        self.record("collect", args);
        Ok(())
    }

    /// `run(arg=None, **kwargs)`: asks the module to run the plan after the script.
    #[pyo3(signature = (arg = None, **kwargs))]
    fn run(
        &mut self,
        arg: Option<Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let option = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
            match kwargs {
                Some(kwargs) => kwargs.get_item(name),
                None => Ok(None),
            }
        };
        // A bad keyword of the reader (noScan, readValue, fromId) does not stop the
        // checks: RedisGears then looks at the mode, whose error wins; with a good
        // mode the keyword's error stands.
        let mut keyword_error: Option<PyErr> = None;
        let mut boolean = |name: &str, default: bool, error: &str| -> PyResult<bool> {
            match option(name)? {
                None => Ok(default),
                Some(value) => {
                    Ok(value
                        .cast::<PyBool>()
                        .map(|b| b.is_true())
                        .unwrap_or_else(|_| {
                            keyword_error.get_or_insert_with(|| gears_error(error));
                            default
                        }))
                }
            }
        };
        let reader = match self.reader.as_str() {
            "KeysReader" => {
                let pattern = match &arg {
                    None => b"*".to_vec(),
                    Some(pattern) => pattern
                        .cast::<PyString>()
                        .map_err(|_| gears_error("regex argument must be a string"))?
                        .to_string_lossy()
                        .into_owned()
                        .into_bytes(),
                };
                ReaderRequest::Keys {
                    pattern,
                    no_scan: boolean("noScan", false, "exactMatch value is not boolean")?,
                    read_value: boolean("readValue", true, "readValue value is not boolean")?,
                }
            }
            "StreamReader" => {
                let key = match &arg {
                    None => b"*".to_vec(),
                    Some(key) => key
                        .cast::<PyString>()
                        .map_err(|_| gears_error("regex argument must be a string"))?
                        .to_string_lossy()
                        .into_owned()
                        .into_bytes(),
                };
                let from_id = match option("fromId")? {
                    None => "0-0".to_owned(),
                    Some(id) => match id.cast::<PyString>() {
                        Ok(id) => id.to_string_lossy().into_owned(),
                        Err(_) => {
                            keyword_error.get_or_insert_with(|| {
                                gears_error("fromId argument must be a string")
                            });
                            "0-0".to_owned()
                        }
                    },
                };
                ReaderRequest::Stream { key, from_id }
            }
            "PythonReader" => {
                let Some(function) = arg else {
                    return Err(gears_error("python reader function is not given"));
                };
                if let Ok(names) = function.cast::<KeyNames>() {
                    let names = names.borrow();
                    let request = ReaderRequest::KeyNames {
                        pattern: names.pattern.clone(),
                        no_scan: names.no_scan,
                        count: names.count,
                    };
                    return self.pending(request, mode_of(kwargs)?);
                }
                if function.cast::<PyFunction>().is_err() {
                    return Err(gears_error("pyreader argument must be a function"));
                }
                ReaderRequest::Python {
                    function: function.unbind(),
                }
            }
            _ => return Err(gears_error("Given reader do not support run or not exists")),
        };
        // RedisGears looks at the mode after the reader's arguments.
        let mode = mode_of(kwargs)?;
        if let Some(error) = keyword_error {
            return Err(error);
        }
        self.pending(reader, mode)
    }

    /// `register(**kwargs)`: checks the keywords and the registration against the
    /// live ones, and records it for the module to apply after the script. Returns
    /// the registration id.
    #[pyo3(signature = (**kwargs))]
    fn register(&mut self, py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<String> {
        let args = register_args(&self.reader, kwargs)?;
        let host = crate::host::host();
        SCRIPT.with(|slot| {
            let slot = slot.borrow();
            let Some(context) = slot.as_ref() else {
                return Err(gears_error(
                    "register() outside RG.PYEXECUTE is not supported",
                ));
            };
            let earlier: Vec<Candidate<'_>> = context
                .registrations
                .iter()
                .map(|r| Candidate {
                    reader: &r.args.reader,
                    mode: r.args.mode,
                })
                .collect();
            let candidate = Candidate {
                reader: &args.reader,
                mode: args.mode,
            };
            match host {
                Some(host) => host.verify_registration(candidate, &earlier),
                None => Ok(()),
            }
            .map_err(|message| gears_error(&message))
        })?;
        // What cannot be pickled cannot be saved or replicated: refused here.
        let pickled = crate::pickling::pickle_plan(
            py,
            &self.reader,
            self.description.as_deref(),
            &self.ops,
            args.on_registered.as_ref(),
        )?;
        // The registration is a copy of the builder's plan, with its own plan id.
        let id = host.map(|host| host.next_plan_id()).unwrap_or_default();
        let registration = PendingRegistration {
            id: id.clone(),
            plan: self.plan(),
            args,
            pickled,
        };
        SCRIPT.with(|slot| {
            if let Some(context) = slot.borrow_mut().as_mut() {
                context.registrations.push(registration);
            }
        });
        Ok(id)
    }

    /// `aggregate(zero, seqOp, combOp)`: local accumulate, collect, global accumulate,
    /// each replacing a falsy accumulator by a deep copy of `zero`.
    fn aggregate(
        &mut self,
        zero: &Bound<'_, PyAny>,
        seq_op: &Bound<'_, PyAny>,
        comb_op: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.steps.push(Step::with_callback(
            StepKind::Accumulate,
            "RedisGearsPy_PyCallbackAccumulate",
            Arc::new(AggregateWith::new(zero, seq_op)?),
        ));
        self.steps.push(Step::plain(StepKind::Collect, "collect"));
        self.steps.push(Step::with_callback(
            StepKind::Accumulate,
            "RedisGearsPy_PyCallbackAccumulate",
            Arc::new(AggregateWith::new(zero, comb_op)?),
        ));
        let args = PyTuple::new(zero.py(), [zero, seq_op, comb_op])?;
        self.record("aggregate", &args);
        Ok(())
    }

    /// `count()`: local count, collect, sum.
    fn count(&mut self, py: Python<'_>) {
        self.record("count", &PyTuple::empty(py));
        self.steps.push(Step::with_callback(
            StepKind::Accumulate,
            "CountAccumulator",
            Arc::new(CountRecords),
        ));
        self.steps.push(Step::plain(StepKind::Collect, "collect"));
        self.steps.push(Step::with_callback(
            StepKind::Accumulate,
            "SumAccumulator",
            Arc::new(SumCounts),
        ));
    }

    /// `countby(extractor=lambda x: x)`: `{'key': k, 'value': n}` per key.
    #[pyo3(signature = (extractor = None))]
    fn countby(&mut self, py: Python<'_>, extractor: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let args = match extractor {
            Some(extractor) => PyTuple::new(py, [extractor.clone()])?,
            None => PyTuple::new(py, [py.None().into_bound(py)])?,
        };
        let key: Arc<dyn gears_executions::plan::Callback> = match extractor {
            None => Arc::new(RecordAsKey),
            Some(extractor) if extractor.cast::<PyFunction>().is_ok() => callback(extractor),
            Some(_) => return Err(gears_error("groupby extractor argument must be a function")),
        };
        self.steps.push(Step::with_callback(
            StepKind::ExtractKey,
            "RedisGearsPy_PyCallbackExtractor",
            key,
        ));
        self.steps.push(Step::with_callback(
            StepKind::AccumulateByKey,
            "CountByKey",
            Arc::new(CountRecords),
        ));
        self.steps
            .push(Step::plain(StepKind::Repartition, "repartition"));
        self.steps.push(Step::with_callback(
            StepKind::AccumulateByKey,
            "SumByKey",
            Arc::new(SumCounts),
        ));
        self.steps.push(Step::with_callback(
            StepKind::Map,
            "RedisGearsPy_ToPyRecordMapper",
            Arc::new(ToPyRecord),
        ));
        self.record("countby", &args);
        Ok(())
    }
}

impl PyFlatExecution {
    /// A builder for `reader` that takes no plan id (a registration being unpickled).
    pub(crate) fn without_id(reader: String, description: Option<String>) -> PyFlatExecution {
        PyFlatExecution {
            plan_id: None,
            reader,
            description,
            steps: vec![Step::with_callback(
                StepKind::Map,
                "RedisGearsPy_ToPyRecordMapper",
                Arc::new(ToPyRecord),
            )],
            ops: Vec::new(),
        }
    }

    /// The plan built so far.
    pub(crate) fn plan(&self) -> Plan {
        Plan {
            reader: self.reader.clone(),
            steps: self.steps.clone().into(),
            description: self.description.clone(),
        }
    }

    /// Remembers an operation for pickling.
    fn record(&mut self, op: &'static str, args: &Bound<'_, PyTuple>) {
        self.ops.push((op, args.clone().unbind()));
    }

    /// Records the run this script asks for (one per script).
    fn pending(&self, reader: ReaderRequest, mode: RunMode) -> PyResult<()> {
        let run = PendingRun {
            plan: self.plan(),
            reader,
            mode,
        };
        SCRIPT.with(|slot| match slot.borrow_mut().as_mut() {
            Some(context) if context.run.is_some() => Err(gears_error(
                "Can not run more then 1 executions in a single script",
            )),
            Some(context) => {
                context.run = Some(run);
                Ok(())
            }
            None => Err(gears_error(
                "run() outside RG.PYEXECUTE is not supported yet (it comes with async steps)",
            )),
        })
    }

    /// Appends a step of `kind` calling the single function argument of `op`.
    fn push_one(
        &mut self,
        args: &Bound<'_, PyTuple>,
        op: &'static str,
        kind: StepKind,
        name: &str,
    ) -> PyResult<()> {
        let f = one_function(args, op)?;
        self.steps
            .push(Step::with_callback(kind, name, callback(&f)));
        self.record(op, args);
        Ok(())
    }

    fn push_by_key(
        &mut self,
        extractor: &Bound<'_, PyAny>,
        reducer: &Bound<'_, PyAny>,
        repartition: bool,
    ) {
        self.steps.push(Step::with_callback(
            StepKind::ExtractKey,
            "RedisGearsPy_PyCallbackExtractor",
            callback(extractor),
        ));
        if repartition {
            self.steps
                .push(Step::plain(StepKind::Repartition, "repartition"));
        }
        self.steps.push(Step::with_callback(
            StepKind::AccumulateByKey,
            "RedisGearsPy_PyCallbackAccumulateByKey",
            callback(reducer),
        ));
        self.steps.push(Step::with_callback(
            StepKind::Map,
            "RedisGearsPy_ToPyRecordMapper",
            Arc::new(ToPyRecord),
        ));
    }
}
