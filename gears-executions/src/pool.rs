//! The execution threads: a fixed pool (`ExecutionThreads`) that runs jobs.
//!
//! A job that panics is contained on its thread (the thread keeps serving) and
//! reported to the pool's panic handler, which the module points at the Redis log.

use crossbeam_channel::{unbounded, Sender};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A unit of work for the pool.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Called with a message when a job panics.
pub type PanicHandler = Arc<dyn Fn(String) + Send + Sync>;

/// Wraps each pool thread's whole life: called once on the thread with the loop
/// that serves jobs (the module keeps a Python thread state for the thread's life,
/// so that an abort can reach a callback however it starts).
pub type ThreadScope = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

/// A fixed set of named threads running jobs in submission order.
pub struct WorkerPool {
    sender: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `threads` threads (at least one) named `<name>-<n>`.
    pub fn new(threads: usize, name: &str, on_panic: PanicHandler) -> std::io::Result<WorkerPool> {
        WorkerPool::with_thread_scope(threads, name, on_panic, None)
    }

    /// [`WorkerPool::new`], each thread serving inside `scope`.
    pub fn with_thread_scope(
        threads: usize,
        name: &str,
        on_panic: PanicHandler,
        scope: Option<ThreadScope>,
    ) -> std::io::Result<WorkerPool> {
        let (sender, receiver) = unbounded::<Job>();
        let mut handles = Vec::new();
        for number in 0..threads.max(1) {
            let receiver = receiver.clone();
            let on_panic = on_panic.clone();
            let scope = scope.clone();
            let handle = std::thread::Builder::new()
                .name(format!("{name}-{number}"))
                .spawn(move || {
                    let mut serve = || {
                        for job in receiver.iter() {
                            if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
                                on_panic(panic_message(payload.as_ref()));
                            }
                        }
                    };
                    match scope {
                        Some(scope) => scope(&mut serve),
                        None => serve(),
                    }
                })?;
            handles.push(handle);
        }
        Ok(WorkerPool {
            sender: Some(sender),
            threads: handles,
        })
    }

    /// Queues a job; false if the pool is shutting down.
    pub fn submit(&self, job: Job) -> bool {
        self.sender.as_ref().is_some_and(|s| s.send(job).is_ok())
    }

    /// How many threads it has.
    pub fn size(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        // Closing the channel ends each thread's loop once the queue is drained.
        self.sender.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    #[test]
    fn runs_every_job_and_survives_panics() {
        let panics = Arc::new(Mutex::new(Vec::new()));
        let recorded = panics.clone();
        let done = Arc::new(AtomicUsize::new(0));
        {
            let pool = WorkerPool::new(
                3,
                "test-pool",
                Arc::new(move |m| recorded.lock().expect("lock").push(m)),
            )
            .expect("threads");
            assert_eq!(pool.size(), 3);
            for n in 0..100 {
                let done = done.clone();
                assert!(pool.submit(Box::new(move || {
                    if n % 10 == 0 {
                        panic!("job {n} panics");
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                })));
            }
        }
        assert_eq!(done.load(Ordering::SeqCst), 90);
        assert_eq!(panics.lock().expect("lock").len(), 10);
    }
}
