//! Serial queues: jobs that must run one after another (the executions of one
//! registration), on the shared execution threads.
//!
//! A queue takes a pool thread only while it has work: the first job submitted to
//! an idle queue schedules a drain on the pool, and the drain runs the queued jobs in
//! order until the queue is empty. A drain hands its thread back after a bounded
//! number of jobs (and reschedules itself), so one busy registration cannot hold a
//! pool thread while other work waits.
//!
//! A queue may have a [`DrainScope`]: a context its owner enters once for a batch of
//! jobs instead of once per job (the module takes the Redis lock and the GIL once
//! for many short executions). The scope says when batching is safe, and the batch
//! ends after [`BATCH_BUDGET`] or as soon as the scope says it is not.

use crate::pool::{panic_message, PanicHandler, WorkerPool};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A job of a serial queue.
pub type SerialJob = Box<dyn FnOnce() + Send + 'static>;

/// How many jobs a drain runs before it gives its thread back.
const JOBS_PER_DRAIN: usize = 256;

/// How many jobs a batch runs at most; its time budget usually ends it first. A
/// batch holds what its scope holds (the Redis lock), and giving that back and
/// taking it again for every few hundred short jobs cost more than the jobs.
const JOBS_PER_BATCH: usize = 8192;

/// How long one batch of a [`DrainScope`] may run before the drain leaves the scope
/// (whoever waits for what the scope holds waits at most about this long, plus one
/// job).
pub const BATCH_BUDGET: Duration = Duration::from_millis(2);

/// A context entered once for a batch of a queue's jobs.
pub trait DrainScope: Send + Sync {
    /// Whether the next jobs may run in a batch.
    fn batching(&self) -> bool;
    /// Runs `jobs` inside the scope.
    fn run(&self, jobs: &mut dyn FnMut());
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<SerialJob>,
    /// A drain is scheduled or running.
    draining: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    on_panic: PanicHandler,
    scope: Option<Arc<dyn DrainScope>>,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Jobs run in submission order, never two at once.
#[derive(Clone)]
pub struct SerialQueue {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SerialQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SerialQueue({} queued)", self.shared.queue().jobs.len())
    }
}

impl SerialQueue {
    /// An empty queue; a job that panics is reported to `on_panic` and the queue
    /// goes on with the next one.
    pub fn new(on_panic: PanicHandler) -> SerialQueue {
        SerialQueue::with_scope(on_panic, None)
    }

    /// An empty queue whose jobs run in batches inside `scope` when it allows.
    pub fn with_scope(on_panic: PanicHandler, scope: Option<Arc<dyn DrainScope>>) -> SerialQueue {
        SerialQueue {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                on_panic,
                scope,
            }),
        }
    }

    /// Queues `job` to run on `pool` after the jobs queued before it; false if the
    /// pool no longer takes work, and then the queued jobs, this one included, are
    /// dropped without running.
    pub fn submit(&self, pool: &'static WorkerPool, job: SerialJob) -> bool {
        let mut queue = self.shared.queue();
        queue.jobs.push_back(job);
        if queue.draining {
            return true;
        }
        queue.draining = true;
        drop(queue);
        schedule(self.shared.clone(), pool)
    }

    /// How many jobs wait (not counting one that runs).
    pub fn len(&self) -> usize {
        self.shared.queue().jobs.len()
    }

    /// Whether no job waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn schedule(shared: Arc<Shared>, pool: &'static WorkerPool) -> bool {
    let retry = shared.clone();
    let scheduled = pool.submit(Box::new(move || drain(shared, pool)));
    if !scheduled {
        // Nothing will run the queued jobs: they are dropped (outside the lock),
        // which lets each free what it holds and report that it did not run.
        let refused = {
            let mut queue = retry.queue();
            queue.draining = false;
            std::mem::take(&mut queue.jobs)
        };
        drop(refused);
    }
    scheduled
}

fn drain(shared: Arc<Shared>, pool: &'static WorkerPool) {
    let mut ran = 0;
    let mut emptied = false;
    match &shared.scope {
        Some(scope) if scope.batching() => {
            let started = Instant::now();
            scope.run(&mut || {
                // The first job always runs: the scope was entered for it.
                let more = || scope.batching() && started.elapsed() < BATCH_BUDGET;
                emptied = run_jobs(&shared, &mut ran, JOBS_PER_BATCH, &more);
            });
        }
        _ => emptied = run_jobs(&shared, &mut ran, JOBS_PER_DRAIN, &|| true),
    }
    if !emptied {
        // More may be queued: give the thread back and continue later.
        schedule(shared, pool);
    }
}

/// Runs queued jobs until the queue is empty (true), `limit` have run in this
/// drain, or `more` says stop.
fn run_jobs(shared: &Shared, ran: &mut usize, limit: usize, more: &dyn Fn() -> bool) -> bool {
    let mut first = true;
    while *ran < limit && (first || more()) {
        first = false;
        let job = {
            let mut queue = shared.queue();
            match queue.jobs.pop_front() {
                Some(job) => job,
                None => {
                    queue.draining = false;
                    return true;
                }
            }
        };
        *ran += 1;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
            (shared.on_panic)(panic_message(payload.as_ref()));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    fn pool() -> &'static WorkerPool {
        static POOL: OnceLock<WorkerPool> = OnceLock::new();
        POOL.get_or_init(|| WorkerPool::new(4, "serial-test", Arc::new(|_| {})).expect("pool"))
    }

    #[test]
    fn jobs_run_in_order_and_never_overlap() {
        let panics = Arc::new(AtomicUsize::new(0));
        let counted = panics.clone();
        let queue = SerialQueue::new(Arc::new(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(AtomicUsize::new(0));
        let overlaps = Arc::new(AtomicUsize::new(0));
        for n in 0..1000 {
            let (seen, running, overlaps) = (seen.clone(), running.clone(), overlaps.clone());
            assert!(queue.submit(
                pool(),
                Box::new(move || {
                    if running.fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    seen.lock().expect("lock").push(n);
                    running.fetch_sub(1, Ordering::SeqCst);
                    if n % 100 == 7 {
                        panic!("job {n}");
                    }
                })
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().expect("lock").len() < 1000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(overlaps.load(Ordering::SeqCst), 0);
        assert_eq!(panics.load(Ordering::SeqCst), 10);
        assert!(queue.is_empty());
    }
}
