//! The execution store: the two id counters and the list of executions.
//!
//! Executions and plans/registrations have independent counters, both starting at 0
//! (behaviour.md §5.1); an id received from elsewhere (RDB, another shard) pushes its
//! counter past it. The list keeps executions in creation order and holds at most
//! `MaxExecutions` of them: adding one beyond that removes the oldest (a running one
//! keeps running and is freed when it finishes).
//!
//! Besides the executions it holds, the store lists the runs that `sync`
//! registrations keep in their [`RunLog`]s, in the same order and under the same
//! limit. A run is added to its log without the store (one per event, on the
//! event's thread); the store applies `MaxExecutions` to them when it is next
//! used, before anything is looked up, listed, counted or removed, which leaves
//! the same executions listed as removing the oldest on every add would.

use crate::execution::Execution;
use crate::run_log::RunLog;
use gears_protocol::{GearsId, ShardId};
use rustc_hash::FxHashMap;
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The listed executions. Ids are made here (or by other shards of this cluster),
/// never by clients, so the map uses a fast hash rather than a DoS-resistant one:
/// registrations add and remove an execution per event.
#[derive(Default)]
struct Listed {
    order: VecDeque<GearsId>,
    by_id: FxHashMap<GearsId, Arc<Execution>>,
    /// The logs of the registrations that keep their runs themselves.
    logs: Vec<Arc<RunLog>>,
}

/// A shard generation no store has had: a thread's copy of a shard id is never
/// taken for another store's, even one made at the same address.
fn next_shard_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Listed {
    /// Unlists `id`. Its place in `order` goes at once when it is the oldest:
    /// executions are mostly unlisted oldest first (a registration keeps its newest
    /// ones), which keeps `order` short for the cost of one comparison. Other
    /// places stay until there are many: removing an id from the middle at once
    /// would cost a scan per removal.
    fn remove(&mut self, id: &GearsId) -> Option<Arc<Execution>> {
        let removed = self.by_id.remove(id)?;
        if self.order.front() == Some(id) {
            self.order.pop_front();
        }
        Some(removed)
    }

    /// Drops the ids of unlisted executions from `order` once there are many.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.by_id.len() + 64 {
            let Listed { order, by_id, .. } = self;
            order.retain(|listed_id| by_id.contains_key(listed_id));
        }
    }

    /// How many are listed: executions and logged runs.
    fn total(&self) -> usize {
        self.by_id.len() + self.logs.iter().map(|log| log.len()).sum::<usize>()
    }

    /// Unlists the oldest execution or logged run; false when none is listed.
    fn remove_oldest(&mut self) -> bool {
        while let Some(front) = self.order.front() {
            if self.by_id.contains_key(front) {
                break;
            }
            self.order.pop_front();
        }
        let oldest_log = self
            .logs
            .iter()
            .filter_map(|log| log.oldest().map(|id| (id.counter, log)))
            .min_by_key(|(counter, _)| *counter);
        match (self.order.front().map(|id| id.counter), oldest_log) {
            (Some(execution), Some((run, log))) if run < execution => log.drop_oldest(),
            (None, Some((_, log))) => log.drop_oldest(),
            (Some(_), _) => {
                if let Some(oldest) = self.order.pop_front() {
                    self.by_id.remove(&oldest);
                }
            }
            (None, None) => return false,
        }
        true
    }

    /// Unlists the oldest until at most `keep` are listed.
    fn keep_at_most(&mut self, keep: usize) {
        while self.total() > keep && self.remove_oldest() {}
    }

    /// A listed execution or logged run.
    fn get(&self, id: &GearsId) -> Option<Arc<Execution>> {
        if let Some(execution) = self.by_id.get(id) {
            return Some(execution.clone());
        }
        self.logs.iter().find_map(|log| log.execution(id))
    }

    /// Unlists an execution or a logged run; true if one was listed.
    fn unlist(&mut self, id: &GearsId) -> bool {
        self.remove(id).is_some() || self.logs.iter().any(|log| log.remove(id))
    }
}

/// Ids and executions of one shard.
pub struct ExecutionStore {
    shard: Mutex<ShardId>,
    /// Bumped when the shard id changes: threads keep a copy of the id (every
    /// execution id needs it, once per event for registrations) and refresh it
    /// when this moves, instead of taking the lock each time.
    shard_generation: AtomicU64,
    next_execution: AtomicU64,
    next_plan: AtomicU64,
    /// `MaxExecutions` (0 or less: no limit).
    max_executions: AtomicI64,
    listed: Mutex<Listed>,
}

impl Default for ExecutionStore {
    fn default() -> ExecutionStore {
        ExecutionStore::new(ShardId::STANDALONE)
    }
}

impl ExecutionStore {
    /// An empty store for `shard`.
    pub fn new(shard: ShardId) -> ExecutionStore {
        ExecutionStore {
            shard: Mutex::new(shard),
            shard_generation: AtomicU64::new(next_shard_generation()),
            next_execution: AtomicU64::new(0),
            next_plan: AtomicU64::new(0),
            max_executions: AtomicI64::new(1000),
            listed: Mutex::new(Listed::default()),
        }
    }

    /// `MaxExecutions` as a count, `None` for no limit.
    fn max_executions(&self) -> Option<usize> {
        usize::try_from(self.max_executions.load(Ordering::Relaxed))
            .ok()
            .filter(|max| *max > 0)
    }

    /// The listing, with `MaxExecutions` applied to the runs logged since it was
    /// last used.
    fn listed(&self) -> MutexGuard<'_, Listed> {
        let mut listed = self.listed.lock().unwrap_or_else(PoisonError::into_inner);
        if let (false, Some(max)) = (listed.logs.is_empty(), self.max_executions()) {
            listed.keep_at_most(max);
        }
        listed
    }

    /// Sets `MaxExecutions` (0 or less: no limit); it applies from the next use.
    pub fn set_max_executions(&self, max_executions: i64) {
        self.max_executions.store(max_executions, Ordering::Relaxed);
    }

    /// Lists the runs `log` keeps, beside the executions, until [`Self::remove_log`].
    pub fn add_log(&self, log: Arc<RunLog>) {
        self.listed().logs.push(log);
    }

    /// Stops listing the runs of `log` and closes it: it keeps none from now on.
    pub fn remove_log(&self, log: &Arc<RunLog>) {
        self.listed()
            .logs
            .retain(|listed| !Arc::ptr_eq(listed, log));
        log.close();
    }

    /// This shard's id.
    pub fn shard(&self) -> ShardId {
        thread_local! {
            /// The generation and the id this thread read last (generations are
            /// unique across stores, so the generation says which store too).
            static SEEN: Cell<Option<(u64, ShardId)>> = const { Cell::new(None) };
        }
        let generation = self.shard_generation.load(Ordering::Acquire);
        if let Some((seen_generation, shard)) = SEEN.get() {
            if seen_generation == generation {
                return shard;
            }
        }
        let shard = *self.shard.lock().unwrap_or_else(PoisonError::into_inner);
        SEEN.set(Some((generation, shard)));
        shard
    }

    /// Changes the shard id (when a cluster topology arrives).
    pub fn set_shard(&self, shard: ShardId) {
        *self.shard.lock().unwrap_or_else(PoisonError::into_inner) = shard;
        self.shard_generation
            .store(next_shard_generation(), Ordering::Release);
    }

    /// Takes the next execution id.
    pub fn next_execution_id(&self) -> GearsId {
        GearsId::new(
            self.shard(),
            self.next_execution.fetch_add(1, Ordering::SeqCst),
        )
    }

    /// The counter the next execution id will have (nothing is taken).
    pub fn next_execution_counter(&self) -> u64 {
        self.next_execution.load(Ordering::SeqCst)
    }

    /// Takes the next plan/registration id (every builder and every internal plan
    /// takes one).
    pub fn next_plan_id(&self) -> GearsId {
        GearsId::new(self.shard(), self.next_plan.fetch_add(1, Ordering::SeqCst))
    }

    /// An execution id seen elsewhere: later ids are past it.
    pub fn observe_execution_id(&self, id: GearsId) {
        self.next_execution
            .fetch_max(id.counter.saturating_add(1), Ordering::SeqCst);
    }

    /// A plan or registration id seen elsewhere: later ids are past it.
    pub fn observe_plan_id(&self, id: GearsId) {
        self.next_plan
            .fetch_max(id.counter.saturating_add(1), Ordering::SeqCst);
    }

    /// Lists `execution`, first removing the oldest ones while `MaxExecutions`
    /// (when positive) are listed.
    pub fn add(&self, execution: Arc<Execution>) {
        let mut listed = self.listed();
        if let Some(max) = self.max_executions() {
            listed.keep_at_most(max - 1);
        }
        listed.order.push_back(execution.id());
        listed.by_id.insert(execution.id(), execution);
    }

    /// A listed execution (a logged run is made into one).
    pub fn get(&self, id: &GearsId) -> Option<Arc<Execution>> {
        self.listed().get(id)
    }

    /// Unlists an execution or a logged run (RG.DROPEXECUTION, or a blocking run
    /// that replied); true if one was listed.
    pub fn remove(&self, id: &GearsId) -> bool {
        let mut listed = self.listed();
        let removed = listed.unlist(id);
        listed.compact();
        removed
    }

    /// Unlists several executions under one lock.
    pub fn remove_all(&self, ids: &[GearsId]) {
        let mut listed = self.listed();
        for id in ids {
            listed.unlist(id);
        }
        listed.compact();
    }

    /// The listed executions, oldest first (logged runs made into executions).
    pub fn list(&self) -> Vec<Arc<Execution>> {
        let listed = self.listed();
        let held = listed
            .order
            .iter()
            .filter_map(|id| listed.by_id.get(id).cloned());
        if listed.logs.is_empty() {
            return held.collect();
        }
        let mut all: Vec<Arc<Execution>> = held.collect();
        for log in &listed.logs {
            all.extend(log.executions());
        }
        // Stable: executions held stay in the order they were added.
        all.sort_by_key(|execution| execution.id().counter);
        all
    }

    /// How many are listed (INFO `rg_nexecutions`).
    pub fn len(&self) -> usize {
        self.listed().total()
    }

    /// True when none is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Unlists everything (loading an RDB starts from a clean state); the logs
    /// stay, emptied.
    pub fn clear(&self) {
        let mut listed = self.listed();
        listed.order.clear();
        listed.by_id.clear();
        for log in &listed.logs {
            log.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;

    fn new_execution(store: &ExecutionStore) -> Arc<Execution> {
        let plan = Arc::new(Plan {
            reader: "PythonReader".into(),
            steps: Vec::new().into(),
            description: None,
        });
        Arc::new(Execution::new(store.next_execution_id(), plan, false))
    }

    #[test]
    fn the_two_counters_are_independent_and_start_at_zero() {
        let store = ExecutionStore::default();
        assert_eq!(store.next_plan_id().counter, 0);
        assert_eq!(store.next_plan_id().counter, 1);
        assert_eq!(
            store.next_execution_id().to_string(),
            format!("{}-0", "0".repeat(40))
        );
        store.observe_execution_id(GearsId::new(ShardId::STANDALONE, 41));
        assert_eq!(store.next_execution_id().counter, 42);
        store.observe_execution_id(GearsId::new(ShardId::STANDALONE, 3));
        assert_eq!(store.next_execution_id().counter, 43);
        store.observe_plan_id(GearsId::new(ShardId::STANDALONE, 9));
        assert_eq!(store.next_plan_id().counter, 10);
    }

    #[test]
    fn a_new_shard_id_shows_at_once_on_a_thread_that_read_the_old_one() {
        let store = ExecutionStore::default();
        assert_eq!(store.next_execution_id().shard, ShardId::STANDALONE);
        let shard = ShardId::padded(b"abc").expect("a shard id");
        store.set_shard(shard);
        assert_eq!(store.next_execution_id().shard, shard);
        // Another store on the same thread has its own id.
        assert_eq!(ExecutionStore::default().shard(), ShardId::STANDALONE);
    }

    #[test]
    fn max_executions_trims_the_oldest() {
        let store = ExecutionStore::default();
        let executions: Vec<_> = (0..5).map(|_| new_execution(&store)).collect();
        store.set_max_executions(3);
        for execution in &executions {
            store.add(execution.clone());
        }
        let listed: Vec<u64> = store.list().iter().map(|e| e.id().counter).collect();
        assert_eq!(listed, vec![2, 3, 4]);
        assert!(store.get(&executions[0].id()).is_none());
        // A trimmed execution still exists for whoever holds it.
        assert_eq!(executions[0].id().counter, 0);
    }

    #[rstest::rstest]
    #[case(0)]
    #[case(-1)]
    fn zero_or_less_means_no_limit(#[case] max: i64) {
        let store = ExecutionStore::default();
        store.set_max_executions(max);
        for _ in 0..50 {
            store.add(new_execution(&store));
        }
        assert_eq!(store.len(), 50);
    }

    #[test]
    fn remove_and_clear() {
        let store = ExecutionStore::default();
        let first = new_execution(&store);
        store.add(first.clone());
        store.add(new_execution(&store));
        assert!(store.remove(&first.id()));
        assert!(!store.remove(&first.id()));
        assert_eq!(store.len(), 1);
        store.clear();
        assert!(store.is_empty());
    }

    #[test]
    fn executions_unlisted_oldest_first_leave_no_ids_behind() {
        let store = ExecutionStore::default();
        store.set_max_executions(0);
        let mut kept = std::collections::VecDeque::new();
        for _ in 0..1000 {
            let execution = new_execution(&store);
            kept.push_back(execution.id());
            store.add(execution);
            if kept.len() > 3 {
                let oldest = kept.pop_front().expect("kept");
                assert!(store.remove(&oldest));
            }
            assert!(store.listed().order.len() <= 4);
        }
        // Removed from the middle: listed in order without the removed one.
        let middle = kept[1];
        assert!(store.remove(&middle));
        let listed: Vec<GearsId> = store.list().iter().map(|e| e.id()).collect();
        assert_eq!(listed, vec![kept[0], kept[2]]);
    }

    fn logged(store: &ExecutionStore, log: &RunLog) -> GearsId {
        let id = store.next_execution_id();
        log.push(
            crate::run_log::LoggedRun {
                id,
                results: Default::default(),
                errors: Vec::new(),
            },
            100,
            0,
        );
        id
    }

    #[test]
    fn logged_runs_are_listed_among_the_executions_in_creation_order() {
        let store = ExecutionStore::default();
        let log = Arc::new(RunLog::new(new_execution(&store).plan().clone()));
        store.add_log(log.clone());
        let first = new_execution(&store);
        store.add(first.clone());
        let run = logged(&store, &log);
        let last = new_execution(&store);
        store.add(last.clone());
        let listed: Vec<GearsId> = store.list().iter().map(|e| e.id()).collect();
        assert_eq!(listed, vec![first.id(), run, last.id()]);
        assert_eq!(store.len(), 3);
        let found = store.get(&run).expect("a logged run is found by its id");
        assert!(found.is_registered() && found.status().is_finished());
        assert!(store.remove(&run));
        assert!(store.get(&run).is_none());
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn max_executions_counts_logged_runs_and_removes_the_oldest_of_all() {
        let store = ExecutionStore::default();
        let log = Arc::new(RunLog::new(new_execution(&store).plan().clone()));
        store.add_log(log.clone());
        store.set_max_executions(3);
        let old = new_execution(&store);
        store.add(old.clone());
        let runs: Vec<GearsId> = (0..3).map(|_| logged(&store, &log)).collect();
        // Four listed for a limit of three: the oldest, an execution, goes.
        let listed: Vec<GearsId> = store.list().iter().map(|e| e.id()).collect();
        assert_eq!(listed, runs);
        // Adding one removes the oldest logged run.
        let new = new_execution(&store);
        store.add(new.clone());
        let listed: Vec<GearsId> = store.list().iter().map(|e| e.id()).collect();
        assert_eq!(listed, vec![runs[1], runs[2], new.id()]);
        // Removing one does not bring back what the limit removed.
        assert!(store.remove(&new.id()));
        assert_eq!(store.len(), 2);
        assert!(store.get(&runs[0]).is_none());
        // A removed log lists nothing and keeps nothing.
        store.remove_log(&log);
        assert_eq!(store.len(), 0);
        logged(&store, &log);
        assert!(log.is_empty());
    }
}
