//! The finished runs of one registration, kept compactly.
//!
//! A `sync` registration runs once per event, inline. An [`Execution`] per run
//! (a shared object with a lock, listed in the store's table, unlisted again when
//! the registration no longer keeps it) cost about as much as the rest of the run
//! around the user's function. A [`RunLog`] keeps each run as its id, results and
//! errors in a ring the size of `MaxExecutionsPerRegistration`; the store lists the
//! log's runs among the other executions ([`crate::store::ExecutionStore::add_log`])
//! and makes one into an [`Execution`] only when a command asks for it
//! (RG.DUMPEXECUTIONS, RG.GETRESULTS, RG.GETEXECUTION).

use crate::execution::{Execution, StoredResult};
use crate::plan::Plan;
use gears_protocol::GearsId;
use smallvec::SmallVec;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The results of one run: most runs of a registration have one (the event's
/// record), which is kept without a separate allocation.
pub type RunResults = SmallVec<[StoredResult; 1]>;

/// One finished run, as a log keeps it.
#[derive(Debug)]
pub struct LoggedRun {
    /// Its execution id.
    pub id: GearsId,
    /// Its results.
    pub results: RunResults,
    /// Its errors.
    pub errors: Vec<String>,
}

/// What the runs a log was given since it was last asked add to its
/// registration's stats (kept here, under the log's lock, so that a run takes no
/// other lock: see [`RunLog::take_stats`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunStats {
    /// Runs.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Milliseconds of all of them.
    pub total_ms: u64,
    /// Milliseconds of the last one.
    pub last_ms: u64,
    /// The first error of the last run (`None` when it succeeded).
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Runs {
    runs: VecDeque<LoggedRun>,
    stats: RunStats,
    /// Set when the registration went away: its log keeps nothing any more.
    closed: bool,
}

/// The finished runs of one registration, oldest first.
#[derive(Debug)]
pub struct RunLog {
    plan: Arc<Plan>,
    runs: Mutex<Runs>,
}

impl RunLog {
    /// An empty log of runs of `plan`.
    pub fn new(plan: Arc<Plan>) -> RunLog {
        RunLog {
            plan,
            runs: Mutex::new(Runs::default()),
        }
    }

    fn runs(&self) -> MutexGuard<'_, Runs> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `run`, which took `duration_ms`, dropping the oldest runs beyond `cap`
    /// (0 or less: no limit), and counts it in the stats. A closed log drops it.
    pub fn push(&self, run: LoggedRun, cap: i64, duration_ms: u64) {
        let mut runs = self.runs();
        if runs.closed {
            return;
        }
        let stats = &mut runs.stats;
        stats.runs += 1;
        stats.total_ms = stats.total_ms.saturating_add(duration_ms);
        stats.last_ms = duration_ms;
        stats.last_error = run.errors.first().cloned();
        if stats.last_error.is_some() {
            stats.failures += 1;
        }
        runs.runs.push_back(run);
        if let Ok(keep) = usize::try_from(cap) {
            if keep > 0 {
                while runs.runs.len() > keep {
                    runs.runs.pop_front();
                }
            }
        }
    }

    /// The stats of the runs it was given since the last call, which start again
    /// from zero. The caller adds them to the registration's own stats before it
    /// reads them or counts a run of its own there, so that what came last stays
    /// last (`lastRunDurationMS`, `lastError`).
    pub fn take_stats(&self) -> RunStats {
        std::mem::take(&mut self.runs().stats)
    }

    /// How many runs it keeps.
    pub fn len(&self) -> usize {
        self.runs().runs.len()
    }

    /// True when it keeps none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of its oldest run.
    pub(crate) fn oldest(&self) -> Option<GearsId> {
        self.runs().runs.front().map(|run| run.id)
    }

    /// Drops its oldest run.
    pub(crate) fn drop_oldest(&self) {
        self.runs().runs.pop_front();
    }

    /// The ids of its runs, oldest first.
    #[cfg(test)]
    pub(crate) fn ids(&self) -> Vec<GearsId> {
        self.runs().runs.iter().map(|run| run.id).collect()
    }

    fn to_execution(&self, run: &LoggedRun) -> Arc<Execution> {
        Arc::new(Execution::finished(
            run.id,
            self.plan.clone(),
            true,
            run.results.to_vec(),
            run.errors.clone(),
        ))
    }

    /// The run `id` as an execution.
    pub fn execution(&self, id: &GearsId) -> Option<Arc<Execution>> {
        let runs = self.runs();
        let run = runs.runs.iter().find(|run| run.id == *id)?;
        Some(self.to_execution(run))
    }

    /// Every run it keeps as an execution, oldest first.
    pub fn executions(&self) -> Vec<Arc<Execution>> {
        let runs = self.runs();
        runs.runs.iter().map(|run| self.to_execution(run)).collect()
    }

    /// Drops the run `id`; false if it keeps no such run.
    pub fn remove(&self, id: &GearsId) -> bool {
        let mut runs = self.runs();
        match runs.runs.iter().position(|run| run.id == *id) {
            Some(position) => runs.runs.remove(position).is_some(),
            None => false,
        }
    }

    /// Drops every run (loading starts from a clean state).
    pub(crate) fn clear(&self) {
        let dropped = std::mem::take(&mut self.runs().runs);
        drop(dropped);
    }

    /// Drops every run and keeps none from now on (the registration went away).
    pub fn close(&self) {
        // Freed after the lock is given back: whoever reads the log (the store,
        // holding its own lock) does not wait for the freeing.
        let dropped = {
            let mut runs = self.runs();
            runs.closed = true;
            std::mem::take(&mut runs.runs)
        };
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gears_protocol::{Reply, ShardId};

    fn plan() -> Arc<Plan> {
        Arc::new(Plan {
            reader: "KeysReader".into(),
            steps: Vec::new().into(),
            description: None,
        })
    }

    fn run(counter: u64) -> LoggedRun {
        LoggedRun {
            id: GearsId::new(ShardId::STANDALONE, counter),
            results: std::iter::once(StoredResult::Reply(Reply::Integer(counter as i64))).collect(),
            errors: Vec::new(),
        }
    }

    #[test]
    fn a_log_keeps_the_newest_runs_under_its_cap() {
        let log = RunLog::new(plan());
        for counter in 0..5 {
            log.push(run(counter), 3, 0);
        }
        let counters: Vec<u64> = log.ids().iter().map(|id| id.counter).collect();
        assert_eq!(counters, vec![2, 3, 4]);
        // 0 or less: no limit.
        log.push(run(5), 0, 0);
        log.push(run(6), -1, 0);
        assert_eq!(log.len(), 5);
    }

    #[test]
    fn a_kept_run_is_a_finished_registered_execution() {
        let log = RunLog::new(plan());
        log.push(run(7), 10, 0);
        let id = GearsId::new(ShardId::STANDALONE, 7);
        let execution = log.execution(&id).expect("kept");
        assert!(execution.is_registered());
        let outcome = execution.outcome().expect("finished");
        assert_eq!(outcome.results, vec![Reply::Integer(7)]);
        assert!(log.remove(&id));
        assert!(!log.remove(&id));
        assert!(log.execution(&id).is_none());
    }

    #[test]
    fn a_log_counts_its_runs_until_asked() {
        let log = RunLog::new(plan());
        let mut failed = run(2);
        failed.errors.push("boom".into());
        log.push(run(1), 10, 3);
        log.push(failed, 10, 4);
        assert_eq!(
            log.take_stats(),
            RunStats {
                runs: 2,
                failures: 1,
                total_ms: 7,
                last_ms: 4,
                last_error: Some("boom".into()),
            }
        );
        assert_eq!(log.take_stats(), RunStats::default());
        log.push(run(3), 10, 1);
        assert_eq!(log.take_stats().last_error, None);
    }

    #[test]
    fn a_closed_log_keeps_nothing() {
        let log = RunLog::new(plan());
        log.push(run(1), 10, 0);
        log.close();
        log.push(run(2), 10, 0);
        assert!(log.is_empty());
    }
}
