//! Registrations in the running server: the registry, the sessions that made them,
//! and what the module keeps beside each (behaviour.md §2.4, §3, §5.3); how a
//! triggered registration runs is in `runs`.
//!
//! The registry ([`gears_registrations::registry::Registry`]) lives behind one lock,
//! held only to look things up or change them, never while Python runs: a callback
//! may write a key, which fires an event, which looks the registry up again.
//!
//! A triggered execution is listed like any other (`registered 1` in
//! RG.DUMPEXECUTIONS) and counted in its registration's stats. `sync` ones run
//! inline, on the thread that fired the event (under the Redis lock it already
//! holds); the others go to the registration's serial queue on the execution
//! threads, so one registration's executions never overlap (module `runs`). A
//! `sync` KeysReader registration keeps its runs in a
//! [`gears_executions::run_log::RunLog`] rather than as executions: the store
//! lists them the same way and makes one into an execution when a command asks.
//!
//! A registration never fires on the writes of its own executions (nor on the key
//! reads they make, which can raise `keymiss`): a thread records which registrations
//! run on it, and their events on that thread are skipped. Without it a `'*'`
//! registration that writes a key would fire itself forever.

pub mod batching;
pub mod hooks;
pub mod keys;
pub mod persist;
mod runs;
pub mod sessions;
pub mod streams;

use crate::log;
use crate::state;
use gears_executions::execution::Execution;
use gears_executions::plan::Plan;
use gears_executions::run_log::RunLog;
use gears_executions::serial::SerialQueue;
use gears_protocol::GearsId;
use gears_python::event_run::EventSteps;
use gears_python::pyo3::{Py, PyAny, Python};
use gears_registrations::persist::SavedEntry;
use gears_registrations::registration::{RecentExecutions, Registration};
use gears_registrations::registry::{Entry, Registry};
pub(crate) use runs::unlisting_after;
pub use runs::{run_for_client, run_inline, run_logged, trigger, OnDone};
use sessions::SessionRecord;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// What the module keeps beside each registration.
#[derive(Debug)]
pub struct Registered {
    /// The plan its executions run.
    pub plan: Arc<Plan>,
    /// The session that made it.
    pub session: Arc<SessionRecord>,
    /// `onRegistered`, called when it is applied (and after a load).
    pub on_registered: Option<Py<PyAny>>,
    /// Its serial worker.
    pub queue: SerialQueue,
    /// Whether its queued executions run in batches under one Redis lock
    /// (`async`/`async_local` KeysReader registrations only).
    pub batching: Option<Arc<batching::LockBatching>>,
    /// Finished executions still listed (`MaxExecutionsPerRegistration`).
    pub recent: Mutex<RecentExecutions>,
    /// Where a `sync` KeysReader registration keeps the runs of its events
    /// (listed by the store beside the executions; see [`RunLog`]).
    pub runs: Option<Arc<RunLog>>,
    /// Its plan as event steps, when it has a log and its steps keep the event's
    /// record (filters and foreaches): its events run without a pipeline.
    pub event_steps: Option<EventSteps>,
    /// Queued executions whose id counter is below this are aborted when their
    /// turn comes (RG.UNREGISTER ... ABORTPENDING). A queue of pending executions
    /// is not kept: the event's thread would add to it and the worker remove from
    /// it once per event, and that shared table cost more than the rest of the
    /// bookkeeping together.
    pub aborted_below: AtomicU64,
    /// Set when it is unregistered: its executions that finish afterwards are
    /// unlisted at once.
    pub unregistered: AtomicBool,
    /// The execution running on the registration's worker, if one is.
    pub running: Mutex<Option<Arc<Execution>>>,
    /// The StreamReader state, for a StreamReader registration.
    pub stream: Option<streams::StreamRegistration>,
    /// What the RDB and replicas get of it.
    pub saved: SavedEntry,
    /// Where the keys are in the commands it hooks (from `COMMAND INFO`, read when
    /// the registration is activated).
    pub key_specs: OnceLock<HashMap<String, hooks::KeySpec>>,
}

/// A registration in the registry.
pub type RegistrationEntry = Entry<Registered>;

static REGISTRY: OnceLock<Mutex<Registry<Registered>>> = OnceLock::new();

/// The registration of `entry`, locked, with every run counted in its stats: the
/// triggered executions ([`Entry::counted`]) and the runs its log counted
/// ([`RunLog::take_stats`]). Read and change the stats through this, so that the
/// runs counted elsewhere come before what is done with them.
pub fn stats_of(entry: &RegistrationEntry) -> MutexGuard<'_, Registration> {
    let mut registration = entry.counted();
    if let Some(log) = &entry.payload().runs {
        let logged = log.take_stats();
        if logged.runs > 0 {
            let stats = &mut registration.stats;
            stats.triggered = stats.triggered.saturating_add(logged.runs);
            stats.success = stats.success.saturating_add(logged.runs - logged.failures);
            stats.failures = stats.failures.saturating_add(logged.failures);
            stats.total_run_ms = stats.total_run_ms.saturating_add(logged.total_ms);
            stats.last_run_ms = logged.last_ms;
            stats.last_error = logged.last_error;
        }
    }
    registration
}

/// The registry, locked. Never hold it while Python runs.
pub fn registry() -> MutexGuard<'static, Registry<Registered>> {
    REGISTRY
        .get_or_init(|| Mutex::new(Registry::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// The registrations whose executions run on this thread right now.
    static RUNNING_HERE: RefCell<Vec<GearsId>> = const { RefCell::new(Vec::new()) };
}

/// Whether an execution of `id` runs on this thread (its events are skipped).
pub fn running_here(id: GearsId) -> bool {
    RUNNING_HERE.with(|running| running.borrow().contains(&id))
}

/// Runs `body` with `id` recorded as running on this thread.
pub fn as_running<R>(id: GearsId, body: impl FnOnce() -> R) -> R {
    with_pushed(&RUNNING_HERE, id, body)
}

/// Runs `body` with `value` pushed on this thread's `stack`, popped afterwards even
/// if `body` panics.
pub(crate) fn with_pushed<T: 'static, R>(
    stack: &'static std::thread::LocalKey<RefCell<Vec<T>>>,
    value: T,
    body: impl FnOnce() -> R,
) -> R {
    struct Pop<T: 'static>(&'static std::thread::LocalKey<RefCell<Vec<T>>>);
    impl<T> Drop for Pop<T> {
        fn drop(&mut self) {
            self.0.with(|stack| {
                stack.borrow_mut().pop();
            });
        }
    }
    stack.with(|stack| stack.borrow_mut().push(value));
    let _pop = Pop(stack);
    body()
}

/// Keeps the keyspace subscription and the command filter in step with the registry.
fn registrations_changed() {
    keys::registrations_changed();
    hooks::registrations_changed();
}

/// Adds a registration made by a script: the registry indexes it and its keyspace
/// events are subscribed. `onRegistered` is the caller's to call.
pub fn add(registration: Registration, registered: Registered) -> Arc<RegistrationEntry> {
    let entry = registry().insert(registration, registered);
    if let (Some(log), Some(engine)) = (&entry.payload().runs, state::engine()) {
        engine.store.add_log(log.clone());
    }
    registrations_changed();
    entry
}

/// Stops listing the runs a registration kept in its log.
fn close_run_log(entry: &RegistrationEntry) {
    if let (Some(log), Some(engine)) = (&entry.payload().runs, state::engine()) {
        engine.store.remove_log(log);
    }
}

/// Removes a registration; with `abort_pending` its executions that have not
/// finished are aborted. False if there is no such registration.
pub fn remove(id: &GearsId, abort_pending: bool) -> bool {
    let Some(entry) = registry().remove(id) else {
        return false;
    };
    registrations_changed();
    close_run_log(&entry);
    let payload = entry.payload();
    sessions::forget(&payload.session, id);
    // Its finished executions are no longer listed (RedisGears drops them with the
    // registration); the ones still running or queued are unlisted as they finish.
    let finished = {
        let mut recent = lock(&payload.recent);
        payload.unregistered.store(true, Ordering::Release);
        recent.take()
    };
    if let Some(engine) = state::engine() {
        engine.store.remove_all(&finished);
    }
    if abort_pending {
        abort_pending_executions(&entry);
    }
    true
}

/// Calls a registration's `onRegistered`, if it has one; a failure is logged.
pub fn call_on_registered(entry: &RegistrationEntry) {
    let Some(function) = &entry.payload().on_registered else {
        return;
    };
    let attempt_traceback = state::config().python_attempt_traceback();
    Python::attach(|py| {
        if let Err(error) = gears_python::runtime_functions::closing_atomic(|| function.call0(py)) {
            let text = gears_python::error_text(py, &error, attempt_traceback);
            log::warning(&format!(
                "onRegistered of registration {} failed: {text}",
                entry.id()
            ));
        }
    });
}

/// Removes every registration, aborting what they have pending (loading starts
/// from nothing).
pub fn clear() {
    let entries = registry().clear();
    registrations_changed();
    for entry in entries {
        close_run_log(&entry);
        abort_pending_executions(&entry);
    }
}

/// Aborts a registration's executions that have not finished: the running one,
/// the queued ones that are listed (their status shows `aborted` at once), and the
/// queued ones that no longer are, which abort when their turn comes.
fn abort_pending_executions(entry: &RegistrationEntry) {
    let payload = entry.payload();
    let Some(engine) = state::engine() else {
        return;
    };
    payload
        .aborted_below
        .store(engine.store.next_execution_counter(), Ordering::Release);
    // Taken out of the lock first: an abort may finish the execution.
    let running = lock(&payload.running).clone();
    let listed = engine.store.list().into_iter().filter(|execution| {
        Arc::ptr_eq(execution.plan(), &payload.plan) && !execution.status().is_finished()
    });
    for execution in running.into_iter().chain(listed) {
        execution.abort();
    }
}

/// How many registrations there are (INFO `rg_nregistrations`).
pub fn count() -> usize {
    registry().len()
}
