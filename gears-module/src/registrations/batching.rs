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
//! Python code takes, so batching is earned and easily lost:
//!
//! - It starts only after [`FAST_STREAK`] executions in a row that each did at most
//!   [`FAST_EXECUTION`] of their own work (the time spent waiting for the Redis lock
//!   does not count). A registration whose callbacks sleep, do I/O or compute for
//!   long never batches.
//! - Inside a batch, an execution that took longer than [`CHECK_AFTER`] is checked
//!   for having blocked (the thread gave up the CPU on its own: a sleep, I/O, a lock).
//!   One that did ends batching for good for that registration, so a callback that
//!   is usually short and sometimes waits on something holds the server once, for
//!   that one execution, and never again.
//! - Any execution longer than [`FAST_EXECUTION`] ends the batch and the streak.

use gears_executions::serial::DrainScope;
use gears_python::pyo3::Python;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Executions in a row that must have been short before batching starts.
pub const FAST_STREAK: u32 = 16;

/// The most work (wall time minus waiting for the Redis lock) a short execution does.
pub const FAST_EXECUTION: Duration = Duration::from_millis(1);

/// Executions in a batch that take longer than this are checked for having blocked.
pub const CHECK_AFTER: Duration = Duration::from_micros(50);

thread_local! {
    /// Inside a batch on this thread: the thread's voluntary context switches when
    /// the batch had taken the Redis lock and the GIL.
    static BATCH_SWITCHES: Cell<Option<i64>> = const { Cell::new(None) };
}

/// The calling thread's voluntary context switches so far (it gave up the CPU to
/// wait for something), or `None` if they can not be read.
fn voluntary_switches() -> Option<i64> {
    // SAFETY: an all-zero rusage is a valid value for getrusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage of the calling thread into `usage`.
    let status = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    (status == 0).then_some(usage.ru_nvcsw)
}

/// The batching state of one registration.
#[derive(Debug, Default)]
pub struct LockBatching {
    /// Short executions in a row (saturating).
    fast_streak: AtomicU32,
    /// An execution blocked inside a batch: no more batches.
    disabled: AtomicBool,
}

impl LockBatching {
    /// Books one finished execution that did `own_work`.
    pub fn record(&self, own_work: Duration) {
        if own_work > CHECK_AFTER && self.blocked_in_batch() {
            self.disabled.store(true, Ordering::Relaxed);
            crate::log::notice(
                "a registration's execution waited while holding the Redis lock in a batch; \
                 its executions no longer run in batches",
            );
        }
        if own_work <= FAST_EXECUTION {
            let streak = self.fast_streak.load(Ordering::Relaxed);
            if streak < FAST_STREAK {
                self.fast_streak.store(streak + 1, Ordering::Relaxed);
            }
        } else {
            self.fast_streak.store(0, Ordering::Relaxed);
        }
    }

    /// Whether this thread runs a batch in which it has given up the CPU on its own.
    fn blocked_in_batch(&self) -> bool {
        let Some(at_start) = BATCH_SWITCHES.with(Cell::get) else {
            return false;
        };
        // Unreadable counters count as blocked: batching is an optimisation.
        voluntary_switches().is_none_or(|now| now > at_start)
    }
}

impl DrainScope for LockBatching {
    fn batching(&self) -> bool {
        !self.disabled.load(Ordering::Relaxed)
            && self.fast_streak.load(Ordering::Relaxed) >= FAST_STREAK
    }

    fn run(&self, jobs: &mut dyn FnMut()) {
        // Lock order: the Redis lock, then the GIL. Executions in the batch find both
        // held: `execute()` calls Redis directly, with no hand-over.
        let taken = crate::redis_access::acquire();
        Python::attach(|_| {
            // Counted once both are held: waiting for them is not the executions'.
            BATCH_SWITCHES.with(|switches| switches.set(voluntary_switches()));
            super::unlisting_after(jobs);
            BATCH_SWITCHES.with(|switches| switches.set(None));
        });
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

    #[test]
    fn an_execution_that_blocks_inside_a_batch_ends_batching_for_good() {
        let batching = LockBatching::default();
        for _ in 0..FAST_STREAK {
            batching.record(Duration::from_micros(10));
        }
        assert!(batching.batching());
        BATCH_SWITCHES.with(|switches| switches.set(voluntary_switches()));
        // A sleep gives up the CPU: a voluntary context switch.
        std::thread::sleep(Duration::from_millis(2));
        batching.record(Duration::from_micros(100));
        BATCH_SWITCHES.with(|switches| switches.set(None));
        assert!(!batching.batching());
        for _ in 0..FAST_STREAK {
            batching.record(Duration::from_micros(10));
        }
        assert!(!batching.batching());
    }
}
