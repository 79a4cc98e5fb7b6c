//! Running one execution on the current thread, start to finish.
//!
//! The reader is asked for batches; it pushes each record of a batch through the
//! pipeline inside the runtime's batch scope (the Python runtime holds the GIL for
//! it, so a batch of 1000 records costs one GIL acquisition, not 1000). Reading
//! stops at the first error or when an abort is requested; then the accumulating
//! steps are flushed and the results converted to what the execution keeps (replies,
//! or snapshots whose reply is made when asked), still in the runtime's scope
//! because they may be runtime values.

use crate::execution::{Execution, Status, StoredResult};
use crate::pipeline::Pipeline;
use crate::plan::Step;
use crate::pool::panic_message;
use crate::reader::Reader;
use crate::record::Record;
use gears_protocol::errors;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the engine needs from a language runtime besides its callbacks.
pub trait Runtime: Send + Sync {
    /// Runs `work` for one batch of records in the runtime's context (e.g. holding
    /// the Python GIL for the whole batch).
    fn batch_scope(&self, work: &mut dyn FnMut());

    /// Something that interrupts the callback running on the *current* thread from
    /// another thread (RG.ABORTEXECUTION), if the runtime can do that. The runner
    /// disarms it when the execution's last callback has returned.
    fn interrupter(&self) -> Option<Arc<dyn Interrupter>>;
}

/// Stops a callback that runs on a given thread.
pub trait Interrupter: Send + Sync {
    /// Interrupts the callback now running on the armed thread, if any.
    fn interrupt(&self);
    /// From now on, [`Interrupter::interrupt`] does nothing (and nothing it did
    /// before may reach a later execution on the same thread).
    fn disarm(&self);
}

/// A runtime with nothing to enter and nothing to interrupt (native steps only).
#[derive(Debug, Default)]
pub struct NativeRuntime;

impl Runtime for NativeRuntime {
    fn batch_scope(&self, work: &mut dyn FnMut()) {
        work();
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupter>> {
        None
    }
}

/// Runs `execution` with `reader` until it is done.
///
/// A panic in the reader or the steps (a bug, never the user's code, whose errors
/// are results) ends the execution `done` with one error naming it: whoever waits
/// for it (a blocked client, a registration's stats) is answered instead of left
/// waiting, and the thread goes on serving.
pub fn run(execution: &Execution, reader: &mut dyn Reader, runtime: &dyn Runtime, profile: bool) {
    let interrupter = runtime.interrupter();
    if !execution.start(interrupter.clone()) {
        // Aborted before it started: nothing to do.
        return;
    }
    let ran = catch_unwind(AssertUnwindSafe(|| {
        run_started(execution, reader, runtime, profile, interrupter.as_ref());
    }));
    if let Err(payload) = ran {
        runtime.batch_scope(&mut || {
            if let Some(interrupter) = &interrupter {
                interrupter.disarm();
            }
        });
        execution.finish(
            Status::Done,
            Vec::new(),
            vec![internal_error(payload.as_ref())],
            Vec::new(),
            Duration::ZERO,
            Duration::ZERO,
        );
    }
}

/// The one error of a run that panicked.
pub fn internal_error(payload: &(dyn std::any::Any + Send)) -> String {
    errors::execution_internal_error(&panic_message(payload))
}

/// Runs one record through `steps` on this thread, in whatever runtime scope the
/// caller holds, without an [`Execution`]: the results as an execution keeps them,
/// and the errors. A `sync` registration's event runs this way. A panic in the steps
/// is one error, as in [`run`].
pub fn run_record<C: FromIterator<StoredResult>>(
    steps: &[Step],
    record: Record,
) -> (C, Vec<String>) {
    catch_unwind(AssertUnwindSafe(|| {
        let mut pipeline = Pipeline::new(steps, false);
        pipeline.push(record);
        let (results, errors, _) = pipeline.into_stored();
        (results, errors)
    }))
    .unwrap_or_else(|payload| (C::from_iter([]), vec![internal_error(payload.as_ref())]))
}

fn run_started(
    execution: &Execution,
    reader: &mut dyn Reader,
    runtime: &dyn Runtime,
    profile: bool,
    interrupter: Option<&Arc<dyn Interrupter>>,
) {
    // Clocks are read only when profiling: a sync registration runs once per event,
    // and two clock reads per batch are a measurable share of that.
    let started = profile.then(Instant::now);
    let mut read_duration = Duration::ZERO;
    let mut pipeline = Pipeline::new(&execution.plan().steps, profile);
    let mut stepping = Duration::ZERO;
    loop {
        if execution.abort_requested() || pipeline.has_errors() {
            break;
        }
        let reading = profile.then(Instant::now);
        // Timing every record costs two clock reads, so only when profiling.
        let mut push = |record| {
            if profile {
                let step_start = Instant::now();
                pipeline.push(record);
                stepping += step_start.elapsed();
            } else {
                pipeline.push(record);
            }
            !(pipeline.has_errors() || execution.abort_requested())
        };
        let more = reader.read(runtime, &mut push);
        if let Some(reading) = reading {
            read_duration += reading.elapsed();
        }
        match more {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                pipeline.add_error(error);
                break;
            }
        }
    }
    // Reading time is the time in the reader minus the time its records spent in
    // the steps; like the other durations it is measured only when profiling.
    let read_duration = if profile {
        read_duration.saturating_sub(stepping)
    } else {
        Duration::ZERO
    };
    let mut pipeline = Some(pipeline);
    let mut outcome: Option<(Vec<StoredResult>, Vec<String>, Vec<Duration>)> = None;
    runtime.batch_scope(&mut || {
        if let Some(pipeline) = pipeline.take() {
            // Converting (and dropping) runtime values happens inside the scope.
            outcome = Some(pipeline.into_stored());
        }
        // Inside the scope: disarming needs what the scope holds (the GIL).
        if let Some(interrupter) = interrupter {
            interrupter.disarm();
        }
    });
    let (results, errors, durations) = outcome.unwrap_or_default();
    let total_duration = started.map_or(Duration::ZERO, |started| started.elapsed());
    execution.finish(
        Status::Done,
        results,
        errors,
        durations,
        read_duration,
        total_duration,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::tests::execution;
    use crate::execution::Status;
    use crate::reader::{Push, VecReader};

    struct PanickingReader;

    impl Reader for PanickingReader {
        fn read(&mut self, _: &dyn Runtime, _: Push<'_>) -> Result<bool, String> {
            panic!("a reader bug");
        }
    }

    #[test]
    fn records_pass_through_an_empty_plan() {
        let execution = execution();
        let mut reader = VecReader::new(vec![Record::Long(1), Record::Long(2)]);
        run(&execution, &mut reader, &NativeRuntime, false);
        assert_eq!(execution.status(), Status::Done);
        let outcome = execution.outcome().expect("finished");
        assert_eq!(outcome.results.len(), 2);
        assert!(outcome.errors.is_empty());
    }

    #[test]
    fn a_panic_while_running_ends_the_execution_with_an_error() {
        let execution = execution();
        run(&execution, &mut PanickingReader, &NativeRuntime, false);
        assert_eq!(execution.status(), Status::Done);
        let outcome = execution.outcome().expect("finished, not left running");
        assert!(outcome.results.is_empty());
        assert_eq!(
            outcome.errors,
            vec!["internal error while running the execution: a reader bug".to_owned()]
        );
    }
}
