//! Running the executions of a busy `async`/`async_local` KeysReader registration
//! in batches under one Redis lock (benchmarks.md B1a).
//!
//! An execution of a KeysReader registration typically runs a few microseconds of
//! Python and one `execute()`. Taking the Redis lock for that `execute()` costs a
//! hand-over with the main thread, which under load re-takes the lock at once: the
//! execution threads starve and the backlog grows for as long as the load lasts.
//! So the registration's serial queue takes the Redis lock and the GIL once and
//! runs its queued executions back to back, for at most
//! [`gears_executions::serial::BATCH_BUDGET`] (the time a client may wait for the
//! main thread).
//!
//! Holding the Redis lock while Python runs stalls the server for as long as the
//! Python code takes, so batching is earned: only after [`FAST_STREAK`] executions
//! in a row that each did at most [`FAST_EXECUTION`] of their own work (the time
//! spent waiting for the Redis lock does not count), and it stops at the first
//! execution that takes longer. A registration whose callbacks sleep, do I/O or
//! compute for long never batches.

use gears_executions::serial::DrainScope;
use gears_python::pyo3::Python;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Executions in a row that must have been short before batching starts.
pub const FAST_STREAK: u32 = 16;

/// The most work (wall time minus waiting for the Redis lock) a short execution does.
pub const FAST_EXECUTION: Duration = Duration::from_millis(1);

/// The batching state of one registration.
#[derive(Debug, Default)]
pub struct LockBatching {
    /// Short executions in a row (saturating).
    fast_streak: AtomicU32,
}

impl LockBatching {
    /// Books one finished execution that did `own_work`.
    pub fn record(&self, own_work: Duration) {
        if own_work <= FAST_EXECUTION {
            let streak = self.fast_streak.load(Ordering::Relaxed);
            if streak < FAST_STREAK {
                self.fast_streak.store(streak + 1, Ordering::Relaxed);
            }
        } else {
            self.fast_streak.store(0, Ordering::Relaxed);
        }
    }
}

impl DrainScope for LockBatching {
    fn batching(&self) -> bool {
        self.fast_streak.load(Ordering::Relaxed) >= FAST_STREAK
    }

    fn run(&self, jobs: &mut dyn FnMut()) {
        // Lock order: the Redis lock, then the GIL. Executions in the batch find both
        // held: `execute()` calls Redis directly, with no hand-over.
        let taken = crate::redis_access::acquire();
        Python::attach(|_| jobs());
        crate::redis_access::release(taken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batching_is_earned_by_a_streak_and_lost_at_the_first_slow_execution() {
        let batching = LockBatching::default();
        for _ in 1..FAST_STREAK {
            batching.record(Duration::from_micros(10));
        }
        assert!(!batching.batching());
        batching.record(FAST_EXECUTION);
        assert!(batching.batching());
        batching.record(Duration::from_millis(5));
        assert!(!batching.batching());
    }
}
