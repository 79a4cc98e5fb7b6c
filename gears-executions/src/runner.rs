//! Running one execution on the current thread, start to finish.
//!
//! The reader is asked for batches; each batch goes through the pipeline inside the
//! runtime's batch scope (the Python runtime holds the GIL for it, so a batch of
//! 1000 records costs one GIL acquisition, not 1000). Reading stops at the first
//! error (records already read still finish their steps) or when an abort is
//! requested; then the accumulating steps are flushed and the results converted to
//! replies, still in the runtime's scope because they may be runtime values.

use crate::execution::{Execution, Status};
use crate::pipeline::Pipeline;
use crate::reader::Reader;
use crate::record::Record;
use gears_protocol::Reply;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the engine needs from a language runtime besides its callbacks.
pub trait Runtime: Send + Sync {
    /// Runs `work` for one batch of records in the runtime's context (e.g. holding
    /// the Python GIL for the whole batch).
    fn batch_scope(&self, work: &mut dyn FnMut());

    /// A function that interrupts the callback running on the *current* thread
    /// from another thread (RG.ABORTEXECUTION), if the runtime can do that.
    fn interrupter(&self) -> Option<Arc<dyn Fn() + Send + Sync>>;
}

/// A runtime with nothing to enter and nothing to interrupt (native steps only).
#[derive(Debug, Default)]
pub struct NativeRuntime;

impl Runtime for NativeRuntime {
    fn batch_scope(&self, work: &mut dyn FnMut()) {
        work();
    }

    fn interrupter(&self) -> Option<Arc<dyn Fn() + Send + Sync>> {
        None
    }
}

/// Runs `execution` with `reader` until it is done.
pub fn run(execution: &Execution, reader: &mut dyn Reader, runtime: &dyn Runtime, profile: bool) {
    if !execution.start(runtime.interrupter()) {
        // Aborted before it started: nothing to do.
        return;
    }
    let started = Instant::now();
    let mut read_duration = Duration::ZERO;
    let mut pipeline = Pipeline::new(execution.plan().steps.clone().into(), profile);
    loop {
        if execution.abort_requested() || pipeline.has_errors() {
            break;
        }
        let reading = Instant::now();
        let batch = reader.next_batch();
        read_duration += reading.elapsed();
        match batch {
            Ok(Some(records)) => {
                let mut records = records.into_iter();
                runtime.batch_scope(&mut || {
                    for record in records.by_ref() {
                        pipeline.push(record);
                        if pipeline.has_errors() || execution.abort_requested() {
                            break;
                        }
                    }
                });
            }
            Ok(None) => break,
            Err(error) => {
                pipeline.add_error(error);
                break;
            }
        }
    }
    let mut pipeline = Some(pipeline);
    let mut outcome: Option<(Vec<Reply>, Vec<String>, Vec<Duration>)> = None;
    runtime.batch_scope(&mut || {
        if let Some(mut pipeline) = pipeline.take() {
            pipeline.finish();
            let (results, errors, durations) = pipeline.into_outcome();
            // Converting (and dropping) runtime values happens inside the scope.
            outcome = Some((
                results.iter().map(Record::to_reply).collect(),
                errors,
                durations,
            ));
        }
    });
    let (results, errors, durations) = outcome.unwrap_or_default();
    execution.finish(
        Status::Done,
        results,
        errors,
        durations,
        read_duration,
        started.elapsed(),
    );
}
