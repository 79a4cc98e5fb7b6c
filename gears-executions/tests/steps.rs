//! The core steps' semantics, with native callbacks: what RedisGears programs rely on
//! (flatmap's reverse order, accumulate with no input, the reader stopping at the
//! first error, limit's offset, keys in first-seen order, errors skipping later
//! steps), run end to end through the runner.

use gears_executions::execution::{Execution, Status};
use gears_executions::plan::{Callback, Plan, Step, StepError, StepKind, StepResult};
use gears_executions::reader::{Push, Reader, VecReader};
use gears_executions::record::Record;
use gears_executions::runner::{run, NativeRuntime, Runtime};
use gears_executions::store::ExecutionStore;
use gears_protocol::Reply;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

type MapFn = dyn Fn(Record) -> StepResult<Record> + Send + Sync;
type FilterFn = dyn Fn(&Record) -> StepResult<bool> + Send + Sync;
type AccumulateFn = dyn Fn(Option<Record>, Record) -> StepResult<Record> + Send + Sync;
type KeyFn = dyn Fn(&Record) -> StepResult<Vec<u8>> + Send + Sync;
type ByKeyFn = dyn Fn(&[u8], Option<Record>, Record) -> StepResult<Record> + Send + Sync;
type ReduceFn = dyn Fn(&[u8], Vec<Record>) -> StepResult<Record> + Send + Sync;

/// A native callback made of one closure per kind it serves.
#[derive(Default)]
struct Native {
    map: Option<Box<MapFn>>,
    filter: Option<Box<FilterFn>>,
    accumulate: Option<Box<AccumulateFn>>,
    key: Option<Box<KeyFn>>,
    by_key: Option<Box<ByKeyFn>>,
    reduce: Option<Box<ReduceFn>>,
    calls: AtomicUsize,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Native")
    }
}

fn unused<T>() -> StepResult<T> {
    Err(StepError::new("not this kind"))
}

impl Callback for Native {
    fn map(&self, record: Record) -> StepResult<Record> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.map.as_ref().map_or_else(unused, |f| f(record))
    }
    fn filter(&self, record: &Record) -> StepResult<bool> {
        self.filter.as_ref().map_or_else(unused, |f| f(record))
    }
    fn foreach(&self, _record: &Record) -> StepResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn accumulate(&self, accumulator: Option<Record>, record: Record) -> StepResult<Record> {
        self.accumulate
            .as_ref()
            .map_or_else(unused, |f| f(accumulator, record))
    }
    fn extract_key(&self, record: &Record) -> StepResult<Vec<u8>> {
        self.key.as_ref().map_or_else(unused, |f| f(record))
    }
    fn accumulate_by_key(
        &self,
        key: &[u8],
        accumulator: Option<Record>,
        record: Record,
    ) -> StepResult<Record> {
        self.by_key
            .as_ref()
            .map_or_else(unused, |f| f(key, accumulator, record))
    }
    fn reduce(&self, key: &[u8], records: Vec<Record>) -> StepResult<Record> {
        self.reduce
            .as_ref()
            .map_or_else(unused, |f| f(key, records))
    }
    fn describe(&self) -> String {
        "<native>".to_owned()
    }
}

fn long(record: &Record) -> i64 {
    match record {
        Record::Long(value) => *value,
        _ => 0,
    }
}

fn step(kind: StepKind, callback: Native) -> Step {
    Step::with_callback(kind, "native", Arc::new(callback))
}

fn execute(steps: Vec<Step>, reader: &mut dyn Reader) -> (Vec<Reply>, Vec<String>) {
    let store = ExecutionStore::default();
    let plan = Arc::new(Plan {
        reader: "PythonReader".into(),
        steps: steps.into(),
        description: None,
    });
    let execution = Execution::new(store.next_execution_id(), plan, false);
    run(&execution, reader, &NativeRuntime, true);
    let outcome = execution.wait(Duration::from_secs(1)).expect("finished");
    assert_eq!(outcome.status, Status::Done);
    (outcome.results, outcome.errors)
}

fn longs(values: &[i64]) -> VecReader {
    VecReader::new(values.iter().copied().map(Record::Long).collect())
}

fn ints(values: &[i64]) -> Vec<Reply> {
    values.iter().copied().map(Reply::Integer).collect()
}

#[test]
fn flatmap_emits_list_elements_last_first_and_other_records_whole() {
    let to_list = Native {
        map: Some(Box::new(|r| {
            let n = long(&r);
            Ok(if n == 0 {
                Record::Long(-1)
            } else {
                Record::List((1..=n).map(Record::Long).collect())
            })
        })),
        ..Native::default()
    };
    let steps = vec![
        step(StepKind::Map, to_list),
        Step::plain(StepKind::FlatMap, "flatmap"),
    ];
    let (results, errors) = execute(steps, &mut longs(&[3, 0, 2]));
    assert_eq!(results, ints(&[3, 2, 1, -1, 2, 1]));
    assert!(errors.is_empty());
}

#[test]
fn the_reader_stops_at_the_first_error() {
    let divide = Native {
        map: Some(Box::new(|r| match long(&r) {
            0 => Err(StepError::new("ZeroDivisionError")),
            n => Ok(Record::Long(10 / n)),
        })),
        ..Native::default()
    };
    let (results, errors) = execute(vec![step(StepKind::Map, divide)], &mut longs(&[1, 0, 2]));
    assert_eq!(results, ints(&[10]));
    assert_eq!(errors, vec!["ZeroDivisionError".to_owned()]);
}

#[test]
fn accumulate_emits_nothing_without_input_and_resets_on_error() {
    let sum = || Native {
        accumulate: Some(Box::new(|acc, r| match long(&r) {
            13 => Err(StepError::new("unlucky")),
            n => Ok(Record::Long(acc.as_ref().map_or(0, long) + n)),
        })),
        ..Native::default()
    };
    let (results, errors) = execute(vec![step(StepKind::Accumulate, sum())], &mut longs(&[]));
    assert!(results.is_empty() && errors.is_empty());
    let (results, errors) = execute(
        vec![step(StepKind::Accumulate, sum())],
        &mut longs(&[1, 2, 3]),
    );
    assert_eq!((results, errors.len()), (ints(&[6]), 0));
    // The error resets the accumulator (and stops the reader).
    let (results, errors) = execute(
        vec![step(StepKind::Accumulate, sum())],
        &mut longs(&[5, 13, 7]),
    );
    assert_eq!((results, errors), (vec![], vec!["unlucky".to_owned()]));
}

#[test]
fn aggregate_is_accumulate_collect_accumulate() {
    let add = || Native {
        accumulate: Some(Box::new(|acc, r| {
            Ok(Record::Long(acc.as_ref().map_or(0, long) + long(&r)))
        })),
        ..Native::default()
    };
    let steps = vec![
        step(StepKind::Accumulate, add()),
        Step::plain(StepKind::Collect, "collect"),
        step(StepKind::Accumulate, add()),
    ];
    let (results, _) = execute(steps, &mut longs(&[1, 2, 3, 4]));
    assert_eq!(results, ints(&[10]));
}

#[rstest::rstest]
#[case(0, 2, &[1, 2])]
#[case(2, 2, &[3, 4])]
#[case(4, 10, &[5])]
#[case(9, 1, &[])]
fn limit_passes_len_records_after_offset(
    #[case] offset: u64,
    #[case] len: u64,
    #[case] expected: &[i64],
) {
    let steps = vec![Step::plain(StepKind::Limit { offset, len }, "limit")];
    let (results, _) = execute(steps, &mut longs(&[1, 2, 3, 4, 5]));
    assert_eq!(results, ints(expected));
}

#[test]
fn countby_keeps_keys_in_first_seen_order() {
    let parity = Native {
        key: Some(Box::new(|r| {
            Ok(if long(r) % 2 == 0 {
                b"even".to_vec()
            } else {
                b"odd".to_vec()
            })
        })),
        ..Native::default()
    };
    let count = Native {
        by_key: Some(Box::new(|_, acc, _| {
            Ok(Record::Long(acc.as_ref().map_or(0, long) + 1))
        })),
        ..Native::default()
    };
    let steps = vec![
        step(StepKind::ExtractKey, parity),
        Step::plain(StepKind::Repartition, "repartition"),
        step(StepKind::AccumulateByKey, count),
    ];
    let (results, _) = execute(steps, &mut longs(&[1, 2, 3, 5, 4]));
    assert_eq!(
        results,
        vec![
            Reply::array([Reply::bulk("odd"), Reply::Integer(3)]),
            Reply::array([Reply::bulk("even"), Reply::Integer(2)]),
        ]
    );
}

#[test]
fn batchgroupby_groups_then_reduces() {
    let modulo = Native {
        key: Some(Box::new(|r| Ok((long(r) % 3).to_string().into_bytes()))),
        ..Native::default()
    };
    let total = Native {
        reduce: Some(Box::new(|_, records| {
            Ok(Record::Long(records.iter().map(long).sum()))
        })),
        ..Native::default()
    };
    let steps = vec![
        step(StepKind::ExtractKey, modulo),
        Step::plain(StepKind::Group, "group"),
        step(StepKind::Reduce, total),
    ];
    let (results, _) = execute(steps, &mut longs(&[1, 2, 3, 4, 5, 6]));
    assert_eq!(
        results,
        vec![
            Reply::array([Reply::bulk("1"), Reply::Integer(5)]),
            Reply::array([Reply::bulk("2"), Reply::Integer(7)]),
            Reply::array([Reply::bulk("0"), Reply::Integer(9)]),
        ]
    );
}

#[test]
fn errors_skip_later_steps_and_filters_drop_records() {
    let later = Arc::new(Native::default());
    let odd_only = Native {
        filter: Some(Box::new(|r| match long(r) {
            4 => Err(StepError::new("filter failed")),
            n => Ok(n % 2 == 1),
        })),
        ..Native::default()
    };
    let steps = vec![
        step(StepKind::Filter, odd_only),
        Step::with_callback(StepKind::ForEach, "foreach", later.clone()),
    ];
    let (results, errors) = execute(steps, &mut longs(&[1, 2, 3, 4, 5]));
    assert_eq!(results, ints(&[1, 3]));
    assert_eq!(errors, vec!["filter failed".to_owned()]);
    // foreach saw the two odd records only: not 2 (filtered), not 4 (failed), not 5
    // (never read: the reader stopped at the error).
    assert_eq!(later.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_reader_error_is_an_execution_error() {
    struct Failing;
    impl Reader for Failing {
        fn read(&mut self, _runtime: &dyn Runtime, _push: Push<'_>) -> Result<bool, String> {
            Err("ERR Invalid stream ID specified as stream command argument".to_owned())
        }
    }
    let (results, errors) = execute(vec![], &mut Failing);
    assert!(results.is_empty());
    assert_eq!(
        errors,
        vec!["ERR Invalid stream ID specified as stream command argument".to_owned()]
    );
}

#[test]
fn a_huge_input_goes_through() {
    let double = Native {
        map: Some(Box::new(|r| Ok(Record::Long(long(&r) * 2)))),
        ..Native::default()
    };
    let input: Vec<i64> = (0..200_000).collect();
    let (results, errors) = execute(vec![step(StepKind::Map, double)], &mut longs(&input));
    assert_eq!(results.len(), 200_000);
    assert_eq!(results[199_999], Reply::Integer(399_998));
    assert!(errors.is_empty());
}

#[test]
fn an_aborted_execution_stops_reading() {
    struct Endless {
        execution: Arc<Execution>,
        batches: usize,
    }
    impl Reader for Endless {
        fn read(&mut self, _runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
            self.batches += 1;
            if self.batches == 3 {
                self.execution.abort();
            }
            Ok(push(Record::Long(1)))
        }
    }
    let store = ExecutionStore::default();
    let plan = Arc::new(Plan {
        reader: "PythonReader".into(),
        steps: Vec::new().into(),
        description: None,
    });
    let execution = Arc::new(Execution::new(store.next_execution_id(), plan, false));
    let mut reader = Endless {
        execution: execution.clone(),
        batches: 0,
    };
    run(&execution, &mut reader, &NativeRuntime, false);
    assert_eq!(execution.status(), Status::Done);
    assert_eq!(reader.batches, 3);
}

#[test]
fn a_reader_is_not_asked_for_records_after_the_first_error() {
    /// Counts how many records it was asked for.
    struct Counting {
        handed: usize,
    }
    impl Reader for Counting {
        fn read(&mut self, _runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
            for n in 0..1000 {
                self.handed += 1;
                if !push(Record::Long(n)) {
                    return Ok(false);
                }
            }
            Ok(false)
        }
    }
    let fails_on_three = Native {
        map: Some(Box::new(|r| match long(&r) {
            3 => Err(StepError::new("three")),
            n => Ok(Record::Long(n)),
        })),
        ..Native::default()
    };
    let mut reader = Counting { handed: 0 };
    let (results, errors) = execute(vec![step(StepKind::Map, fails_on_three)], &mut reader);
    assert_eq!(results, ints(&[0, 1, 2]));
    assert_eq!(errors, vec!["three".to_owned()]);
    assert_eq!(reader.handed, 4);
}
