//! Pushing records through the steps of a plan on one shard.
//!
//! A [`Pipeline`] takes records one at a time ([`Pipeline::push`]) and carries each
//! as far as it goes: to the results, into an accumulator, or into the errors when a
//! callback fails (an error record skips every later step). [`Pipeline::finish`]
//! then flushes the accumulating steps in order, so a flushed accumulator still goes
//! through the steps after its own (`aggregate` is accumulate, collect, accumulate).
//! Keys of `accumulatebykey` and `group` come out in the order they first appeared.

use crate::execution::StoredResult;
use crate::plan::{Callback, Step, StepError, StepKind};
use crate::record::Record;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A map that remembers the order keys were first inserted.
#[derive(Debug, Default)]
struct OrderedMap<T> {
    entries: Vec<(Vec<u8>, T)>,
    index: HashMap<Vec<u8>, usize>,
}

impl<T> OrderedMap<T> {
    fn slot(&mut self, key: &[u8], make: impl FnOnce() -> T) -> &mut T {
        let position = match self.index.get(key) {
            Some(&position) => position,
            None => {
                self.entries.push((key.to_vec(), make()));
                self.index.insert(key.to_vec(), self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        &mut self.entries[position].1
    }

    fn drain(&mut self) -> Vec<(Vec<u8>, T)> {
        self.index.clear();
        std::mem::take(&mut self.entries)
    }
}

/// What each step keeps between records.
#[derive(Debug)]
enum StepState {
    Stateless,
    Accumulate(Option<Record>),
    ByKey(OrderedMap<Option<Record>>),
    Group(OrderedMap<Vec<Record>>),
    Limit { seen: u64 },
}

/// The records a pipeline gives out. A registration's run gives out one record
/// (its event's), kept without an allocation of its own.
pub type PipelineResults = SmallVec<[Record; 1]>;

/// The local part of one execution: steps, their state, results and errors. It
/// borrows the plan's steps: a registration runs one per event, and sharing them
/// by reference count would cost two atomic operations each time.
#[derive(Debug)]
pub struct Pipeline<'plan> {
    steps: &'plan [Step],
    states: Vec<StepState>,
    durations: Option<Vec<Duration>>,
    results: PipelineResults,
    errors: Vec<String>,
}

impl<'plan> Pipeline<'plan> {
    /// A pipeline over `steps`; with `profile`, time spent in each step's callback is
    /// measured (ProfileExecutions).
    pub fn new(steps: &'plan [Step], profile: bool) -> Pipeline<'plan> {
        let state_of = |step: &Step| match step.kind {
            StepKind::Accumulate => StepState::Accumulate(None),
            StepKind::AccumulateByKey => StepState::ByKey(OrderedMap::default()),
            StepKind::Group => StepState::Group(OrderedMap::default()),
            StepKind::Limit { .. } => StepState::Limit { seen: 0 },
            _ => StepState::Stateless,
        };
        // A plan of stateless steps (what most registrations run, once per event)
        // keeps no states at all: only stateful steps ever look theirs up.
        let states = if steps
            .iter()
            .any(|step| !matches!(state_of(step), StepState::Stateless))
        {
            steps.iter().map(state_of).collect()
        } else {
            Vec::new()
        };
        let durations = profile.then(|| vec![Duration::ZERO; steps.len()]);
        Pipeline {
            steps,
            states,
            durations,
            results: PipelineResults::new(),
            errors: Vec::new(),
        }
    }

    /// True once any record failed.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Records an error that did not come from a step (a reader error, an abort).
    pub fn add_error(&mut self, message: String) {
        self.errors.push(message);
    }

    /// Pushes one record from the reader through the steps.
    pub fn push(&mut self, record: Record) {
        self.push_from(record, 0);
    }

    /// Flushes the accumulating steps, first to last.
    pub fn finish(&mut self) {
        for index in 0..self.states.len() {
            let flushed: Vec<Record> = match &mut self.states[index] {
                StepState::Accumulate(accumulator) => accumulator.take().into_iter().collect(),
                StepState::ByKey(map) => map
                    .drain()
                    .into_iter()
                    .filter_map(|(key, value)| {
                        value.map(|value| Record::Keyed {
                            key,
                            value: Box::new(value),
                        })
                    })
                    .collect(),
                StepState::Group(map) => map
                    .drain()
                    .into_iter()
                    .map(|(key, records)| Record::Keyed {
                        key,
                        value: Box::new(Record::List(records)),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for record in flushed {
                self.push_from(record, index + 1);
            }
        }
    }

    /// The results and errors; the pipeline is spent.
    pub fn into_outcome(self) -> (PipelineResults, Vec<String>, Vec<Duration>) {
        // Without profiling there are no durations (they read as zero).
        (
            self.results,
            self.errors,
            self.durations.unwrap_or_default(),
        )
    }

    /// Flushes the accumulating steps and gives the results as an execution keeps
    /// them (replies, or snapshots shown when asked), the errors and the step
    /// durations; the pipeline is spent. Runtime values are converted (and
    /// dropped) here, so the caller holds the runtime's scope.
    pub fn into_stored<C: FromIterator<StoredResult>>(mut self) -> (C, Vec<String>, Vec<Duration>) {
        self.finish();
        let (results, errors, durations) = self.into_outcome();
        (
            results.into_iter().map(Record::into_stored).collect(),
            errors,
            durations,
        )
    }

    fn timed<T>(&mut self, index: usize, call: impl FnOnce(&dyn Callback) -> T) -> Option<T> {
        // Borrowed, not cloned: an atomic increment and decrement per step and
        // record otherwise.
        let callback = self.steps[index].callback.as_deref()?;
        match &mut self.durations {
            Some(durations) => {
                let start = Instant::now();
                let value = call(callback);
                durations[index] += start.elapsed();
                Some(value)
            }
            None => Some(call(callback)),
        }
    }

    fn fail(&mut self, error: StepError) {
        self.errors.push(error.message);
    }

    fn missing_callback(&mut self, index: usize) {
        let kind = self.steps[index].kind.type_name();
        self.errors.push(format!("the {kind} step has no callback"));
    }

    fn push_from(&mut self, mut record: Record, start: usize) {
        let mut index = start;
        while index < self.steps.len() {
            let kind = self.steps[index].kind;
            match kind {
                StepKind::Map => match self.timed(index, |c| c.map(record)) {
                    Some(Ok(next)) => record = next,
                    Some(Err(error)) => return self.fail(error),
                    None => return self.missing_callback(index),
                },
                StepKind::FlatMap => {
                    let items = match record {
                        Record::List(items) => items,
                        Record::Opaque(value) => match value.into_list() {
                            Ok(items) => items,
                            Err(value) => {
                                record = Record::Opaque(value);
                                index += 1;
                                continue;
                            }
                        },
                        other => {
                            record = other;
                            index += 1;
                            continue;
                        }
                    };
                    // RedisGears pops the elements off the end of the list.
                    for item in items.into_iter().rev() {
                        self.push_from(item, index + 1);
                    }
                    return;
                }
                StepKind::Filter => match self.timed(index, |c| c.filter(&record)) {
                    Some(Ok(true)) => {}
                    Some(Ok(false)) => return,
                    Some(Err(error)) => return self.fail(error),
                    None => return self.missing_callback(index),
                },
                StepKind::ForEach => match self.timed(index, |c| c.foreach(&record)) {
                    Some(Ok(())) => {}
                    Some(Err(error)) => return self.fail(error),
                    None => return self.missing_callback(index),
                },
                StepKind::Accumulate => {
                    let accumulator = match &mut self.states[index] {
                        StepState::Accumulate(accumulator) => accumulator.take(),
                        _ => None,
                    };
                    match self.timed(index, |c| c.accumulate(accumulator, record)) {
                        Some(Ok(next)) => {
                            if let StepState::Accumulate(slot) = &mut self.states[index] {
                                *slot = Some(next);
                            }
                        }
                        // The accumulator was taken: a failure resets it.
                        Some(Err(error)) => self.fail(error),
                        None => self.missing_callback(index),
                    }
                    return;
                }
                StepKind::ExtractKey => match self.timed(index, |c| c.extract_key(&record)) {
                    Some(Ok(key)) => {
                        record = Record::Keyed {
                            key,
                            value: Box::new(record),
                        }
                    }
                    Some(Err(error)) => return self.fail(error),
                    None => return self.missing_callback(index),
                },
                StepKind::AccumulateByKey => {
                    let Record::Keyed { key, value } = record else {
                        return self
                            .fail(StepError::new("accumulatebykey got a record without a key"));
                    };
                    let accumulator = match &mut self.states[index] {
                        StepState::ByKey(map) => map.slot(&key, || None).take(),
                        _ => None,
                    };
                    match self.timed(index, |c| c.accumulate_by_key(&key, accumulator, *value)) {
                        Some(Ok(next)) => {
                            if let StepState::ByKey(map) = &mut self.states[index] {
                                *map.slot(&key, || None) = Some(next);
                            }
                        }
                        Some(Err(error)) => self.fail(error),
                        None => self.missing_callback(index),
                    }
                    return;
                }
                StepKind::Group => {
                    let Record::Keyed { key, value } = record else {
                        return self.fail(StepError::new("group got a record without a key"));
                    };
                    if let StepState::Group(map) = &mut self.states[index] {
                        map.slot(&key, Vec::new).push(*value);
                    }
                    return;
                }
                StepKind::Reduce => {
                    let Record::Keyed { key, value } = record else {
                        return self.fail(StepError::new("reduce got a record without a key"));
                    };
                    let records = match *value {
                        Record::List(records) => records,
                        other => vec![other],
                    };
                    match self.timed(index, |c| c.reduce(&key, records)) {
                        Some(Ok(reduced)) => {
                            record = Record::Keyed {
                                key,
                                value: Box::new(reduced),
                            }
                        }
                        Some(Err(error)) => return self.fail(error),
                        None => return self.missing_callback(index),
                    }
                }
                StepKind::Limit { offset, len } => {
                    let position = match &mut self.states[index] {
                        StepState::Limit { seen } => {
                            *seen += 1;
                            *seen - 1
                        }
                        _ => 0,
                    };
                    if position < offset || position - offset >= len {
                        return;
                    }
                }
                // A repartition with its own extractor still calls it (its errors
                // count); standalone, nothing moves between shards.
                StepKind::Repartition if self.steps[index].callback.is_some() => {
                    if let Some(Err(error)) = self.timed(index, |c| c.extract_key(&record)) {
                        return self.fail(error);
                    }
                }
                StepKind::Collect | StepKind::Repartition => {}
            }
            index += 1;
        }
        self.results.push(record);
    }
}
