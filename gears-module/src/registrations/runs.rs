//! How a triggered registration runs (behaviour.md §5.3): `sync` executions inline
//! on the thread that fired them (a KeysReader event's without an execution object,
//! kept in the registration's run log: [`run_logged`]), the others queued on the
//! registration's worker;
//! how a finished one is booked (stats, the executions its registration keeps
//! listed); and the runs clients wait for (RG.TRIGGER, hooked commands).

use super::{as_running, hooks, lock, RegistrationEntry};
use crate::blocked::BlockedClient;
use crate::state;
use gears_executions::execution::{Execution, Outcome, Status};
use gears_executions::reader::{Reader, VecReader};
use gears_executions::record::{KeyEntry, Record};
use gears_executions::run_log::{LoggedRun, RunLog, RunResults};
use gears_executions::runner::{run, run_record, Runtime};
use gears_protocol::{errors, GearsId, Reply};
use gears_python::callback::{PyInlineRuntime, PyRuntime};
use gears_python::pyo3::Python;
use gears_python::runtime_functions::{host_calls_time, measuring_host_calls};
use gears_registrations::registration::{Mode, RunOutcome};
use redis_module::Context;
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Called with a triggered execution once it has finished; it takes what it needs
/// (the whole outcome is a copy of the results, which a StreamReader run of a
/// thousand records does not need).
pub type OnDone = Box<dyn FnOnce(&Execution) + Send>;

/// Starts an execution of `entry` over `reader`. A `sync` one runs to the end
/// before this returns (on this thread, which must hold the Redis lock); the others
/// are queued on the registration's worker. `on_done` gets the finished execution
/// either way (also an aborted one), after the registration's stats count it.
pub fn trigger<R: Reader + 'static>(
    entry: &Arc<RegistrationEntry>,
    reader: R,
    sync: bool,
    on_done: Option<OnDone>,
    context: Option<hooks::CommandContext>,
) -> Option<Arc<Execution>> {
    let engine = state::engine()?;
    let profile = state::hot().profile_executions;
    let execution = Arc::new(Execution::new(
        engine.store.next_execution_id(),
        entry.payload().plan.clone(),
        true,
    ));
    entry.count_triggered();
    engine.store.add(execution.clone());
    if sync {
        // The thread holds the Redis lock, so it may hold the GIL for the whole run
        // (lock order: Redis, then Python): one hand-over instead of one per batch.
        Python::attach(|_| {
            hooks::with_context(context, || {
                run_registered(
                    entry,
                    &execution,
                    reader,
                    &PyInlineRuntime,
                    profile,
                    on_done,
                    false,
                )
            })
        });
        return Some(execution);
    }
    let job = QueuedRun {
        entry: entry.clone(),
        execution: execution.clone(),
        work: Some((reader, on_done)),
        context,
        profile,
    };
    // A refused job is dropped, and reports its execution aborted.
    entry
        .payload()
        .queue
        .submit(&engine.pool, Box::new(move || job.run()));
    Some(execution)
}

/// Runs a `sync` registration over the record of one event, on this thread (which
/// holds the Redis lock), and keeps the run in `log` (behaviour.md §5.3, §5.4).
///
/// This is [`trigger`] without an [`Execution`]: the record goes straight through
/// the plan's steps, and the run is kept as its id, results and errors, made into
/// an execution only when a command asks for it. Nothing can wait for it or abort
/// it (it ends before the event's command does), so it needs neither. Per event
/// that saves about as much as the rest of the run around the user's function
/// costs (benchmarks.md B1). The caller marks the registration running on this
/// thread ([`super::as_running`]) for the run.
pub fn run_logged(entry: &RegistrationEntry, log: &RunLog, key: KeyEntry) {
    let Some(engine) = state::engine() else {
        return;
    };
    let id = engine.store.next_execution_id();
    let started = coarse_now_ms();
    let payload = entry.payload();
    // Lock order: Redis (held), then Python, for the whole run; results are made
    // (and the records dropped) with the GIL held. On the main thread the GIL is
    // kept for the next runs until Redis is about to sleep (see gil_parking).
    gears_python::parked_gil::park();
    let (results, errors): (RunResults, _) = match &payload.event_steps {
        Some(steps) => steps.run(key),
        None => Python::attach(|_| run_record(&payload.plan.steps, Record::Key(key))),
    };
    let duration = coarse_now_ms().saturating_sub(started);
    // Counted in the log (triggered and finished at once), under the lock the run
    // is kept under: the registration's stats take it when read (stats_of).
    log.push(
        LoggedRun {
            id,
            results,
            errors,
        },
        kept_per_registration(),
        duration,
    );
}

/// Runs a CommandReader registration for a client (RG.TRIGGER, a hooked command)
/// over one record, the list of `args`: inline when it is `sync`, else with the
/// client blocked until its execution ends. `reply` makes the client's reply of
/// the outcome. `None` when the client was blocked (it gets its reply later, or
/// from the blocked-client guard if the execution could not start).
pub fn run_for_client(
    ctx: &Context,
    entry: &Arc<RegistrationEntry>,
    args: Vec<Vec<u8>>,
    context: Option<hooks::CommandContext>,
    reply: fn(Outcome) -> Reply,
) -> Option<Reply> {
    if entry.registration().mode == Mode::Sync {
        return Some(run_inline(entry, args, context, reply));
    }
    if !BlockedClient::allowed(ctx) {
        return Some(errors::non_sync_not_allowed_here());
    }
    let Some(blocked) = BlockedClient::block(ctx) else {
        return Some(errors::non_sync_not_allowed_here());
    };
    let on_done = Box::new(move |execution: &Execution| {
        if let Some(outcome) = execution.outcome() {
            blocked.reply(&reply(outcome));
        }
    });
    let _ = trigger(entry, args_reader(args), false, Some(on_done), context);
    None
}

/// Runs a CommandReader registration over the list of `args` on this thread, which
/// holds the Redis lock, and gives `reply` of its outcome.
pub fn run_inline(
    entry: &Arc<RegistrationEntry>,
    args: Vec<Vec<u8>>,
    context: Option<hooks::CommandContext>,
    reply: fn(Outcome) -> Reply,
) -> Reply {
    match trigger(entry, args_reader(args), true, None, context).and_then(|e| e.outcome()) {
        Some(outcome) => reply(outcome),
        None => errors::could_not_trigger("the execution engine is not started"),
    }
}

/// The reader of a CommandReader execution: one record, the list of the arguments.
fn args_reader(args: Vec<Vec<u8>>) -> VecReader {
    VecReader::new(vec![Record::List(
        args.into_iter().map(Record::Text).collect(),
    )])
}

/// A queued execution, as its job holds it: one allocation with the reader in it.
/// Dropped without running (the pool refused the job, or the queue went away), it
/// aborts its execution and reports it, so whoever waits for it is not left waiting.
struct QueuedRun<R: Reader> {
    entry: Arc<RegistrationEntry>,
    execution: Arc<Execution>,
    work: Option<(R, Option<OnDone>)>,
    context: Option<hooks::CommandContext>,
    profile: bool,
}

impl<R: Reader> QueuedRun<R> {
    fn run(mut self) {
        let Some((reader, on_done)) = self.work.take() else {
            return;
        };
        let payload = self.entry.payload();
        if self.execution.id().counter < payload.aborted_below.load(Ordering::Acquire) {
            self.execution.abort();
        }
        *lock(&payload.running) = Some(self.execution.clone());
        hooks::with_context(self.context.take(), || {
            run_registered(
                &self.entry,
                &self.execution,
                reader,
                &PyRuntime,
                self.profile,
                on_done,
                true,
            )
        });
        *lock(&payload.running) = None;
    }
}

impl<R: Reader> Drop for QueuedRun<R> {
    fn drop(&mut self) {
        if let Some((reader, on_done)) = self.work.take() {
            drop(reader);
            self.execution.abort();
            finished(&self.entry, &self.execution, 0);
            report(&self.execution, on_done);
        }
    }
}

fn run_registered<R: Reader>(
    entry: &RegistrationEntry,
    execution: &Execution,
    mut reader: R,
    runtime: &dyn Runtime,
    profile: bool,
    on_done: Option<OnDone>,
    queued: bool,
) {
    let started = coarse_now_ms();
    // Queued executions of a batching registration measure their own work (their
    // duration minus the time spent waiting for the Redis lock).
    let measure = queued
        .then_some(entry.payload().batching.as_ref())
        .flatten()
        .map(|batching| (batching, Instant::now(), host_calls_time()));
    let mut run_it = || as_running(entry.id(), || run(execution, &mut reader, runtime, profile));
    if measure.is_some() {
        measuring_host_calls(run_it);
    } else {
        run_it();
    }
    if let Some((batching, began, waited_before)) = measure {
        let waited = host_calls_time().saturating_sub(waited_before);
        batching.record(began.elapsed().saturating_sub(waited));
    }
    // Dropping the reader may drop Python objects: done before the stats say done.
    drop(reader);
    finished(entry, execution, coarse_now_ms().saturating_sub(started));
    report(execution, on_done);
}

/// Hands the outcome to whoever waits for it, once the stats are booked: a client
/// that gets its reply and asks for the stats sees this execution counted.
fn report(execution: &Execution, on_done: Option<OnDone>) {
    if let Some(on_done) = on_done {
        if execution.status().is_finished() {
            on_done(execution);
        }
    }
}

/// Milliseconds of a monotonic clock that is cheap to read (the coarse clock, read
/// without a system call, is exact enough for stats kept in milliseconds).
fn coarse_now_ms() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `now`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
}

/// Books a finished execution: stats and the listed executions
/// of the registration (the oldest beyond `MaxExecutionsPerRegistration` are
/// dropped).
fn finished(entry: &RegistrationEntry, execution: &Execution, duration_ms: u64) {
    let outcome = match execution.ending() {
        Some((Status::Aborted, _)) | None => RunOutcome::Aborted,
        Some((_, Some(error))) => RunOutcome::Failure(error),
        Some((_, None)) => RunOutcome::Success,
    };
    super::stats_of(entry).stats.finished(outcome, duration_ms);
    let id = execution.id();
    let cap = kept_per_registration();
    let mut recent = lock(&entry.payload().recent);
    // Read under the lock `remove` sets it under: no execution is kept after the
    // registration's list was emptied.
    if entry.payload().unregistered.load(Ordering::Acquire) {
        drop(recent);
        unlist(id);
        return;
    }
    recent.push(id, cap, unlist);
}

/// How many finished executions a registration keeps listed. 0 or less
/// `MaxExecutionsPerRegistration` means no limit per registration (as in
/// RedisGears); the list of executions then still holds at most MaxExecutions, so
/// a registration's executions beyond that many are no longer listed anyway and
/// need not be kept.
fn kept_per_registration() -> i64 {
    let hot = state::hot();
    if hot.max_executions_per_registration > 0 {
        hot.max_executions_per_registration
    } else {
        hot.max_executions
    }
}

thread_local! {
    /// Executions to unlist once the batch running on this thread ends (`None`
    /// outside batches).
    static UNLISTING: RefCell<Option<Vec<GearsId>>> = const { RefCell::new(None) };
}

/// Unlists an execution a registration no longer keeps: at once, or at the end
/// of the batch running on this thread. The event's thread lists executions and
/// the worker unlists them; taking the store's lock once per batch instead of
/// once per execution keeps the two threads off each other's memory. Nothing can
/// look at the list during a batch, which holds the Redis lock.
fn unlist(id: GearsId) {
    let deferred = UNLISTING.with(|unlisting| match unlisting.borrow_mut().as_mut() {
        Some(ids) => {
            ids.push(id);
            true
        }
        None => false,
    });
    if !deferred {
        if let Some(engine) = state::engine() {
            engine.store.remove(&id);
        }
    }
}

/// Runs `batch` with the executions it unlists unlisted together at its end.
pub(crate) fn unlisting_after<R>(batch: impl FnOnce() -> R) -> R {
    struct Flush;
    impl Drop for Flush {
        fn drop(&mut self) {
            let ids = UNLISTING.with(|unlisting| unlisting.borrow_mut().take());
            if let (Some(ids), Some(engine)) = (ids, state::engine()) {
                engine.store.remove_all(&ids);
            }
        }
    }
    UNLISTING.with(|unlisting| *unlisting.borrow_mut() = Some(Vec::new()));
    let _flush = Flush;
    batch()
}
