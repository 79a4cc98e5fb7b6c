//! One execution: a plan running (or run) with its status, results and errors.
//!
//! An [`Execution`] is shared (`Arc`) between the store, the thread that runs it and
//! whoever waits for it. Waiters registered with [`Execution::on_done`] are called
//! once, outside the execution's lock, when it finishes (or at once if it already
//! has). Aborting sets a flag the runner checks between records and calls the
//! runtime's interrupter, which stops a callback that never returns.

use crate::plan::Plan;
use crate::runner::Interrupter;
use gears_protocol::replies::{self, ExecutionPlanView, ExecutionSummary, StepView};
use gears_protocol::{GearsId, Reply, ShardId};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The statuses of behaviour.md §5.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Initiator waiting for the shards' acks.
    PendingReceive,
    /// Shard waiting for the go.
    PendingRun,
    /// Initiator waiting for the shards to finish.
    PendingCluster,
    /// Shard waiting for the initiator.
    PendingTermination,
    /// Finished.
    Done,
    /// Aborted before it finished.
    Aborted,
}

impl Status {
    /// The name replies show.
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::PendingReceive => "pending_receive",
            Status::PendingRun => "pending_run",
            Status::PendingCluster => "pending_cluster",
            Status::PendingTermination => "pending_termination",
            Status::Done => "done",
            Status::Aborted => "aborted",
        }
    }

    /// Done or aborted: nothing will change any more.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Done | Status::Aborted)
    }
}

/// What a finished execution produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Done or aborted.
    pub status: Status,
    /// The results, as replies.
    pub results: Vec<Reply>,
    /// The error texts.
    pub errors: Vec<String>,
}

impl Outcome {
    /// `[[results], [errors]]`.
    pub fn reply(&self) -> Reply {
        replies::results_and_errors(self.results.clone(), &self.errors)
    }
}

/// A result whose reply is made only when someone asks for it: an immutable
/// snapshot that is costly to show (a KeysReader record's `str()`), kept by an
/// execution that is usually dropped unread (a registration's, one per event).
pub trait DeferredReply: Send + Sync + std::fmt::Debug {
    /// The reply that shows it.
    fn reply(&self) -> Reply;
    /// A copy (an outcome copied for a reader). Kept in a box, not shared: the
    /// record it came from is a box already, and moves into the execution as is.
    fn clone_box(&self) -> Box<dyn DeferredReply>;
}

impl Clone for Box<dyn DeferredReply> {
    fn clone(&self) -> Box<dyn DeferredReply> {
        self.clone_box()
    }
}

/// A result as an execution keeps it.
#[derive(Clone, Debug)]
pub enum StoredResult {
    /// Its reply.
    Reply(Reply),
    /// A value that makes its reply when asked.
    Deferred(Box<dyn DeferredReply>),
}

impl StoredResult {
    fn reply(self) -> Reply {
        match self {
            StoredResult::Reply(reply) => reply,
            StoredResult::Deferred(value) => value.reply(),
        }
    }
}

impl From<Reply> for StoredResult {
    fn from(reply: Reply) -> StoredResult {
        StoredResult::Reply(reply)
    }
}

type Waiter = Box<dyn FnOnce(&Outcome) + Send>;

struct State {
    status: Status,
    results: Vec<StoredResult>,
    errors: Vec<String>,
    step_durations: Vec<Duration>,
    read_duration: Duration,
    total_duration: Duration,
    waiters: Vec<Waiter>,
    interrupter: Option<Arc<dyn Interrupter>>,
}

/// An outcome copied out of the lock, its deferred results not made yet: making
/// them may take the GIL, which must never be waited for under the execution's lock
/// (a thread holding the GIL may be waiting for that lock to finish an execution).
struct Unresolved {
    status: Status,
    results: Vec<StoredResult>,
    errors: Vec<String>,
}

impl Unresolved {
    fn resolve(self) -> Outcome {
        Outcome {
            status: self.status,
            results: self.results.into_iter().map(StoredResult::reply).collect(),
            errors: self.errors,
        }
    }
}

impl State {
    /// The outcome as it stands (a copy: waiters and callers outlive the lock).
    fn outcome(&self) -> Unresolved {
        Unresolved {
            status: self.status,
            results: self.results.clone(),
            errors: self.errors.clone(),
        }
    }
}

/// One execution.
pub struct Execution {
    id: GearsId,
    plan: Arc<Plan>,
    registered: bool,
    abort_requested: AtomicBool,
    state: Mutex<State>,
    finished: Condvar,
    /// Threads blocked in [`Execution::wait`]: waking a condition variable is a
    /// system call, paid only when someone sleeps on it.
    sleepers: AtomicUsize,
}

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Execution({}, {})", self.id, self.status().name())
    }
}

impl Execution {
    /// A new execution of `plan`, not started.
    pub fn new(id: GearsId, plan: Arc<Plan>, registered: bool) -> Execution {
        Execution {
            id,
            plan,
            registered,
            abort_requested: AtomicBool::new(false),
            state: Mutex::new(State {
                status: Status::Created,
                results: Vec::new(),
                errors: Vec::new(),
                // Empty until profiled: a missing duration reads as zero.
                step_durations: Vec::new(),
                read_duration: Duration::ZERO,
                total_duration: Duration::ZERO,
                waiters: Vec::new(),
                interrupter: None,
            }),
            finished: Condvar::new(),
            sleepers: AtomicUsize::new(0),
        }
    }

    /// An execution that ran elsewhere and is done: a registration's run kept in
    /// a [`crate::run_log::RunLog`], made into an execution when someone asks for it.
    pub fn finished(
        id: GearsId,
        plan: Arc<Plan>,
        registered: bool,
        results: Vec<StoredResult>,
        errors: Vec<String>,
    ) -> Execution {
        let execution = Execution::new(id, plan, registered);
        {
            let mut state = execution.state();
            state.status = Status::Done;
            state.results = results;
            state.errors = errors;
        }
        execution
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The execution id.
    pub fn id(&self) -> GearsId {
        self.id
    }

    /// The plan it runs.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Whether a registration created it.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.state().status
    }

    /// True once RG.ABORTEXECUTION asked it to stop.
    pub fn abort_requested(&self) -> bool {
        self.abort_requested.load(Ordering::Acquire)
    }

    /// Marks it running; `interrupter` stops the callback running on its thread.
    /// Returns false (and leaves it alone) if it was aborted before it started.
    pub fn start(&self, interrupter: Option<Arc<dyn Interrupter>>) -> bool {
        let mut state = self.state();
        if state.status != Status::Created {
            return false;
        }
        state.status = Status::Running;
        state.interrupter = interrupter;
        true
    }

    /// Stores the outcome, wakes the waiters. Only the first call counts.
    pub fn finish(
        &self,
        status: Status,
        results: Vec<StoredResult>,
        errors: Vec<String>,
        step_durations: Vec<Duration>,
        read_duration: Duration,
        total_duration: Duration,
    ) {
        let mut state = self.state();
        if state.status.is_finished() {
            return;
        }
        state.status = status;
        state.results = results;
        state.errors = errors;
        state.step_durations = step_durations;
        state.read_duration = read_duration;
        state.total_duration = total_duration;
        state.interrupter = None;
        let waiters = std::mem::take(&mut state.waiters);
        // Copying the results is for the waiters only; most executions have none.
        let outcome = (!waiters.is_empty()).then(|| state.outcome());
        // Read under the lock: a sleeper registers itself under it before sleeping.
        let wake = self.sleepers.load(Ordering::Acquire) > 0;
        drop(state);
        if wake {
            self.finished.notify_all();
        }
        if let Some(outcome) = outcome.map(Unresolved::resolve) {
            for waiter in waiters {
                waiter(&outcome);
            }
        }
    }

    /// RG.ABORTEXECUTION: a created execution is aborted at once; a running one is
    /// asked to stop (flag and interrupter); a finished one is left alone.
    pub fn abort(&self) {
        self.abort_requested.store(true, Ordering::Release);
        let state = self.state();
        match state.status {
            Status::Created => {
                drop(state);
                self.finish(
                    Status::Aborted,
                    Vec::new(),
                    Vec::new(),
                    Vec::new(),
                    Duration::ZERO,
                    Duration::ZERO,
                );
            }
            status if status.is_finished() => {}
            _ => {
                let interrupter = state.interrupter.clone();
                drop(state);
                if let Some(interrupter) = interrupter {
                    interrupter.interrupt();
                }
            }
        }
    }

    /// Calls `waiter` with the outcome when the execution finishes (at once if it has).
    pub fn on_done(&self, waiter: impl FnOnce(&Outcome) + Send + 'static) {
        let mut state = self.state();
        if state.status.is_finished() {
            let outcome = state.outcome();
            drop(state);
            waiter(&outcome.resolve());
        } else {
            state.waiters.push(Box::new(waiter));
        }
    }

    /// How it ended, if finished: the status and the first error, without copying
    /// the results.
    pub fn ending(&self) -> Option<(Status, Option<String>)> {
        let state = self.state();
        state
            .status
            .is_finished()
            .then(|| (state.status, state.errors.first().cloned()))
    }

    /// The outcome if finished.
    pub fn outcome(&self) -> Option<Outcome> {
        let state = self.state();
        let outcome = state.status.is_finished().then(|| state.outcome());
        drop(state);
        outcome.map(Unresolved::resolve)
    }

    /// Blocks the calling thread until finished or `timeout`; for tests and tools.
    pub fn wait(&self, timeout: Duration) -> Option<Outcome> {
        let state = self.state();
        self.sleepers.fetch_add(1, Ordering::AcqRel);
        let (state, _) = self
            .finished
            .wait_timeout_while(state, timeout, |s| !s.status.is_finished())
            .unwrap_or_else(PoisonError::into_inner);
        self.sleepers.fetch_sub(1, Ordering::AcqRel);
        drop(state);
        self.outcome()
    }

    /// Its line of RG.DUMPEXECUTIONS.
    pub fn summary(&self) -> ExecutionSummary {
        ExecutionSummary {
            id: self.id.to_string(),
            status: self.status().name(),
            registered: self.registered,
        }
    }

    /// This shard's view for RG.GETEXECUTION (durations are 0 unless profiled).
    pub fn plan_view(&self, shard: ShardId) -> ExecutionPlanView {
        let state = self.state();
        let done = state.status.is_finished();
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        ExecutionPlanView {
            shard_id: shard.to_string(),
            status: state.status.name(),
            shards_received: 0,
            shards_completed: 0,
            results: done.then(|| i64::try_from(state.results.len()).unwrap_or(i64::MAX)),
            errors: if done {
                state.errors.clone()
            } else {
                Vec::new()
            },
            total_duration_ms: millis(state.total_duration),
            read_duration_ms: millis(state.read_duration),
            steps: self
                .plan
                .steps
                .iter()
                .enumerate()
                .map(|(index, step)| StepView {
                    kind: step.kind.type_name(),
                    duration_ms: millis(
                        state.step_durations.get(index).copied().unwrap_or_default(),
                    ),
                    name: step.name.clone(),
                    arg: step.arg(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A new execution of an empty plan.
    pub(crate) fn execution() -> Execution {
        let plan = Arc::new(Plan {
            reader: "PythonReader".into(),
            steps: Vec::new().into(),
            description: None,
        });
        Execution::new(GearsId::new(ShardId::STANDALONE, 0), plan, false)
    }

    #[test]
    fn waiters_run_once_when_done_or_at_once_after() {
        let execution = execution();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        execution.on_done(move |outcome| {
            assert_eq!(outcome.results, vec![Reply::bulk("1")]);
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert!(execution.start(None));
        execution.finish(
            Status::Done,
            vec![Reply::bulk("1").into()],
            vec![],
            vec![],
            Duration::ZERO,
            Duration::ZERO,
        );
        execution.finish(
            Status::Done,
            vec![],
            vec![],
            vec![],
            Duration::ZERO,
            Duration::ZERO,
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let counter = calls.clone();
        execution.on_done(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(execution.status(), Status::Done);
    }

    #[test]
    fn abort_before_start_aborts_and_after_finish_is_a_no_op() {
        let created = execution();
        created.abort();
        assert_eq!(created.status(), Status::Aborted);
        assert!(!created.start(None));

        let done = execution();
        done.start(None);
        done.finish(
            Status::Done,
            vec![],
            vec![],
            vec![],
            Duration::ZERO,
            Duration::ZERO,
        );
        done.abort();
        assert_eq!(done.status(), Status::Done);
    }

    #[test]
    fn abort_while_running_calls_the_interrupter() {
        struct Flag(AtomicBool);
        impl Interrupter for Flag {
            fn interrupt(&self) {
                self.0.store(true, Ordering::SeqCst);
            }
            fn disarm(&self) {}
        }
        let running = execution();
        let interrupted = Arc::new(Flag(AtomicBool::new(false)));
        running.start(Some(interrupted.clone()));
        running.abort();
        assert!(running.abort_requested());
        assert!(interrupted.0.load(Ordering::SeqCst));
        assert_eq!(running.status(), Status::Running);
    }

    #[test]
    fn plan_view_hides_results_until_done() {
        let execution = execution();
        assert_eq!(execution.plan_view(ShardId::STANDALONE).results, None);
        execution.start(None);
        execution.finish(
            Status::Done,
            vec![Reply::Nil.into(), Reply::Nil.into(), Reply::Nil.into()],
            vec!["e".into()],
            vec![],
            Duration::ZERO,
            Duration::ZERO,
        );
        let view = execution.plan_view(ShardId::STANDALONE);
        assert_eq!(
            (view.results, view.errors.len(), view.status),
            (Some(3), 1, "done")
        );
    }
}
