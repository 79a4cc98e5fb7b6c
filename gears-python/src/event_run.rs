//! One KeysReader event through a plan that keeps its record, without a pipeline.
//!
//! Most registrations on keys are `GB().foreach(f).register(...)` or a few `filter`s
//! and `foreach`es: after RedisGears' `ToPyRecord` step, every step looks at the
//! record and passes it on unchanged, and `convertToStr` (when not turned off) ends
//! the plan. A `sync` registration runs its plan once per event, inline in the
//! command that fired it (benchmarks.md B1). Through the engine's
//! [`Pipeline`](gears_executions::pipeline::Pipeline), each step is a dynamic call
//! that enters the interpreter again, the record is boxed twice (as a Python record,
//! then as its text) and the results are gathered and converted at the end; together
//! that cost about a fifth as much as the user's function and its command.
//!
//! [`EventSteps`] is such a plan, recognized once when the registration is made,
//! and run here with the GIL taken once: the record stays on the stack, its dict is
//! made only for a function that reads it, and the result is what the pipeline
//! would give (the tests below run both on the same plans and compare).

use crate::callback::{step_error, PyCallback, ToPyRecord};
use crate::records::EventRecord;
use crate::to_str::{event_record_str, StrCallback};
use gears_executions::execution::StoredResult;
use gears_executions::plan::{Step, StepKind, StepResult};
use gears_executions::record::{KeyEntry, Record};
use gears_executions::runner::internal_error;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// A plan of `filter` and `foreach` steps over a KeysReader record.
#[derive(Debug)]
pub struct EventSteps {
    /// The plan's steps (shared with it), whose checks are `steps[1..checks_end]`.
    steps: Arc<[Step]>,
    checks_end: usize,
    /// Whether the plan ends with `convertToStr`.
    to_str: bool,
}

/// The Python function of a step, when it is one.
fn python_callback(step: &Step) -> Option<&PyCallback> {
    step.callback
        .as_deref()?
        .as_any()?
        .downcast_ref::<PyCallback>()
}

/// Whether the step's callback is of type `T`.
fn has_callback<T: 'static>(step: &Step) -> bool {
    step.callback
        .as_deref()
        .and_then(|callback| callback.as_any())
        .is_some_and(|any| any.is::<T>())
}

impl EventSteps {
    /// The plan as event steps, if it is one: `ToPyRecord`, then `filter` and
    /// `foreach` steps of Python functions, then `convertToStr` or nothing, then
    /// any number of `collect`s.
    pub fn for_plan(steps: &Arc<[Step]>) -> Option<EventSteps> {
        let first = steps.first()?;
        if first.kind != StepKind::Map || !has_callback::<ToPyRecord>(first) {
            return None;
        }
        // `register()` ends the plan with `collect`, which passes records on (it
        // moves them only between shards, and an event's run stays on its shard).
        let end = steps.len()
            - steps
                .iter()
                .rev()
                .take_while(|step| step.kind == StepKind::Collect)
                .count();
        let (to_str, checks_end) = match steps[..end].last() {
            Some(last)
                if end > 1 && last.kind == StepKind::Map && has_callback::<StrCallback>(last) =>
            {
                (true, end - 1)
            }
            _ => (false, end),
        };
        let checks_only = steps[1..checks_end].iter().all(|step| {
            matches!(step.kind, StepKind::Filter | StepKind::ForEach)
                && python_callback(step).is_some()
        });
        checks_only.then(|| EventSteps {
            steps: steps.clone(),
            checks_end,
            to_str,
        })
    }

    /// Runs the record of `entry` through the steps, on this thread, taking the GIL
    /// (lock order: a caller holding the Redis lock may call this). Gives what
    /// [`gears_executions::runner::run_record`] gives for the same plan and record:
    /// the results as an execution keeps them, and the errors. A panic is one error.
    pub fn run<C: FromIterator<StoredResult>>(&self, entry: KeyEntry) -> (C, Vec<String>) {
        Python::attach(|py| {
            catch_unwind(AssertUnwindSafe(|| self.run_attached(py, entry)))
                .unwrap_or_else(|payload| Err(internal_error(payload.as_ref())))
        })
        .map_or_else(
            |error| (C::from_iter([]), vec![error]),
            |result| (C::from_iter(result), Vec::new()),
        )
    }

    /// The run with the GIL held: `Ok(None)` when a filter dropped the record.
    fn run_attached(
        &self,
        py: Python<'_>,
        entry: KeyEntry,
    ) -> Result<Option<StoredResult>, String> {
        let record = EventRecord::new(entry);
        for step in &self.steps[1..self.checks_end] {
            let Some(callback) = python_callback(step) else {
                // for_plan saw a Python function here; the steps are shared and never
                // change, so this is not expected.
                return Err(format!(
                    "the {} step has no callback",
                    step.kind.type_name()
                ));
            };
            let verdict = callback
                .call_with_event(py, &record)
                .map_err(|error| error.message)?;
            if step.kind == StepKind::Filter
                && !verdict
                    .is_truthy()
                    .map_err(|error| step_error(py, &error).message)?
            {
                return Ok(None);
            }
        }
        let result: StepResult<Record> = if self.to_str {
            event_record_str(py, record)
        } else {
            Ok(Record::Opaque(Box::new(record)))
        };
        result
            .map(|record| Some(record.into_stored()))
            .map_err(|error| error.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;
    use gears_executions::record::{KeyType, KeyValue};
    use gears_executions::runner::run_record;
    use gears_protocol::Reply;
    use smallvec::SmallVec;

    type Results = SmallVec<[StoredResult; 1]>;

    /// A plan as register() makes it: ToPyRecord, the given steps (Python source of
    /// each function), convertToStr when `to_str`, and collect.
    fn plan(checks: &[(StepKind, &str)], to_str: bool) -> Arc<[Step]> {
        python();
        Python::attach(|py| {
            let function = |source: &str| {
                py.eval(&std::ffi::CString::new(source).expect("no NUL"), None, None)
                    .expect("evaluates")
            };
            let mut steps = vec![Step::with_callback(
                StepKind::Map,
                "RedisGearsPy_ToPyRecordMapper",
                Arc::new(ToPyRecord),
            )];
            for (kind, source) in checks {
                steps.push(Step::with_callback(
                    *kind,
                    "RedisGearsPy_PyCallback",
                    Arc::new(PyCallback::new(&function(source))),
                ));
            }
            if to_str {
                steps.push(Step::with_callback(
                    StepKind::Map,
                    "RedisGearsPy_PyCallbackMapper",
                    Arc::new(StrCallback::new(&function("lambda x: str(x)"))),
                ));
            }
            // As register() ends every plan.
            steps.push(Step::plain(StepKind::Collect, "collect"));
            steps.into()
        })
    }

    fn entry() -> KeyEntry {
        KeyEntry {
            key: b"user:1".to_vec(),
            event: Some(Arc::from(&b"hset"[..])),
            value: Some((
                KeyType::Hash,
                KeyValue::Hash(vec![(b"name".to_vec(), b"ann".to_vec())]),
            )),
        }
    }

    fn replies(results: Results) -> Vec<Reply> {
        results
            .into_iter()
            .map(|result| match result {
                StoredResult::Reply(reply) => reply,
                StoredResult::Deferred(value) => value.reply(),
            })
            .collect()
    }

    /// Runs the plan both ways and checks they agree; gives the direct run's outcome.
    fn both_ways(steps: &Arc<[Step]>) -> (Vec<Reply>, Vec<String>) {
        let direct = EventSteps::for_plan(steps).expect("an event plan");
        let (results, errors): (Results, _) = direct.run(entry());
        let direct = (replies(results), errors);
        let (results, errors): (Results, _) =
            Python::attach(|_| run_record(steps, Record::Key(entry())));
        assert_eq!(direct, (replies(results), errors));
        direct
    }

    #[test]
    fn a_foreach_that_does_not_read_the_record_keeps_its_text() {
        let (results, errors) = both_ways(&plan(&[(StepKind::ForEach, "lambda r: 1")], true));
        assert!(errors.is_empty());
        assert_eq!(
            results,
            vec![Reply::bulk(
                "{'event': 'hset', 'key': 'user:1', 'type': 'hash', 'value': {'name': 'ann'}}"
            )]
        );
    }

    #[test]
    fn a_step_that_changes_the_dict_shows_the_change() {
        let (results, _) = both_ways(&plan(
            &[(
                StepKind::ForEach,
                "lambda r: r['value'].update({'age': '3'})",
            )],
            true,
        ));
        assert_eq!(
            results,
            vec![Reply::bulk(
                "{'event': 'hset', 'key': 'user:1', 'type': 'hash', 'value': {'name': 'ann', 'age': '3'}}"
            )]
        );
    }

    #[test]
    fn filters_drop_records_and_errors_stop_them() {
        let (results, errors) = both_ways(&plan(
            &[
                (StepKind::Filter, "lambda r: r['key'].startswith('user:')"),
                (StepKind::Filter, "lambda r: r['value']['name'] == 'bob'"),
            ],
            true,
        ));
        assert!(results.is_empty() && errors.is_empty());
        let (results, errors) = both_ways(&plan(
            &[
                (StepKind::ForEach, "lambda r: r['nothing']"),
                (StepKind::ForEach, "lambda r: 1"),
            ],
            true,
        ));
        assert!(results.is_empty());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("KeyError"), "{errors:?}");
    }

    #[test]
    fn without_convert_to_str_the_result_is_the_dict() {
        let (results, errors) = both_ways(&plan(&[(StepKind::Filter, "lambda r: True")], false));
        assert!(errors.is_empty());
        // A dict's reply (behaviour.md §6.7).
        assert_eq!(results, vec![Reply::bulk(crate::convert::PY_RECORD)]);
    }

    #[test]
    fn only_plans_that_keep_the_record_are_event_plans() {
        assert!(EventSteps::for_plan(&plan(&[], true)).is_some());
        assert!(EventSteps::for_plan(&plan(&[], false)).is_some());
        assert!(EventSteps::for_plan(&plan(&[(StepKind::Map, "lambda r: 1")], true)).is_none());
        let steps = plan(&[(StepKind::ForEach, "lambda r: 1")], true);
        let without_to_py: Arc<[Step]> = steps[1..].to_vec().into();
        assert!(EventSteps::for_plan(&without_to_py).is_none());
    }
}
