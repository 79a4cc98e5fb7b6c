//! The StreamReader state machine (behaviour.md §3.3): pending counts, batch and
//! duration decisions, the continue/abort/retry failure policies, pause/unpause, trim
//! decisions and the lag statistics of RG.DUMPREGISTRATIONS (§8).
//!
//! It is pure and deterministic: no Redis, no Python, no threads, no clock. The module
//! owns one [`StreamStateMachine`] per StreamReader registration, feeds it events with
//! the current time in milliseconds (`now_ms`, any monotonic or wall clock, as long as
//! it is the same clock for every call), and carries out the [`StreamAction`]s that come
//! back, **in the order given** (an [`StreamAction::Ack`] always precedes the
//! [`StreamAction::Run`] that follows it).
//!
//! # The protocol, from the module's side
//!
//! | when | call | typical actions |
//! |---|---|---|
//! | the registration is applied (master) | [`StreamStateMachine::start`] | `Rescan` |
//! | `xadd` keyspace event on a matching key (master, not loading) | [`StreamStateMachine::on_xadd`] | `Run`, `ArmTimer`, `CancelTimer` |
//! | a `Rescan` pass finds a stream key (glob match) | [`StreamStateMachine::on_stream_found`] | `Run { read: Pending }` |
//! | a timer armed by `ArmTimer` fires | [`StreamStateMachine::on_timer`] | `Run` |
//! | an execution started by `Run` finishes (or could not start) | [`StreamStateMachine::on_run_done`] | `Ack`, `Run`, `ArmTimer`, `ScheduleRetry`, `CancelTimer` |
//! | the timer armed by `ScheduleRetry` fires | [`StreamStateMachine::on_retry_timer`] | `Rescan` |
//! | RG.PAUSEREGISTRATIONS / RG.UNPAUSEREGISTRATIONS | [`StreamStateMachine::pause`] / [`StreamStateMachine::unpause`] | `CancelTimer` / `Rescan` |
//! | the node became master / replica | [`StreamStateMachine::on_became_master`] / [`StreamStateMachine::on_became_replica`] | `Rescan` / `CancelTimer` |
//! | RG.CLEARREGISTRATIONSSTATS | [`StreamStateMachine::clear_stats`] | none |
//!
//! Carrying out the actions:
//!
//! * [`StreamAction::Run`]: start one execution of the registration's plan over
//!   `XREADGROUP GROUP __gears_consumer_group__ __gears_client__ [COUNT n] STREAMS key <id>`
//!   ([`ReadKind::start_id`], [`ReadKind::count`]), remember the ids it read, and call
//!   `on_run_done` with how many ids it read when it finishes. If the execution could not
//!   be started at all, report [`RunOutcome::Aborted`] right away.
//! * [`StreamAction::Ack`]: `XACK key group <the ids of the run that just finished>`, then,
//!   if `trim_to` is `Some(_)`, trim what the run read (the module trims by id,
//!   `XTRIM key MINID`; `n` is the count of entries still pending, which a length
//!   trim would use).
//! * [`StreamAction::ArmTimer`] / [`StreamAction::CancelTimer`]: a Redis timer that calls
//!   `on_timer(key, token, now)`. Cancelling is only an optimisation: a fired timer whose
//!   token is stale is ignored.
//! * [`StreamAction::ScheduleRetry`]: a Redis timer that calls `on_retry_timer(token, now)`.
//! * [`StreamAction::Rescan`]: scan the keyspace for stream keys matching the
//!   registration's pattern (a glob, §2.4) and call `on_stream_found(key, XLEN key)` for
//!   each.
//!
//! # Decisions worth knowing (differences from or precisions of upstream)
//!
//! * While the status is not [`RegistrationStatus::Ok`] (paused, aborted or waiting for a
//!   retry), `xadd` events, timers and scan results are **ignored and not counted**: the
//!   per-stream data is dropped when the status leaves `Ok` (as upstream does), and the
//!   rescan that restarts the registration measures each stream again with `XLEN`.
//! * A run that is in flight when the per-stream data is dropped is kept "detached": when
//!   it finishes successfully its entries are still acked, but it triggers nothing, and
//!   the stream is **not trimmed** (`trim_to: None`), because entries added after the drop
//!   were not counted (upstream trims with the stale count, which can delete unprocessed
//!   entries). If the stream is tracked again before the run
//!   finishes, the new tracking waits for it (so there is still at most one execution per
//!   stream), and the trim uses the new tracking's count.
//! * The pending count never goes below the real number of unprocessed entries: every
//!   `xadd` is counted, and `XLEN` counts every entry; it may be above it (entries that
//!   were processed but not trimmed), which only keeps a few entries longer.
//! * A failed run changes the status only while the status is `Ok`; a detached run that
//!   fails after a pause does not turn the registration into `ABORTED` or
//!   `WAITING_FOR_RETRY_ON_FAILURE`.
//! * An aborted execution ([`RunOutcome::Aborted`], e.g. RG.ABORTEXECUTION) acks nothing
//!   and forgets the stream, so the next `xadd` (or rescan) re-reads its pending entries
//!   first. (Upstream leaves the stream marked as running forever.)
//! * A run over new entries that read nothing means the pending count was overstated
//!   (e.g. `trimStream=False` and a rescan counted old entries with `XLEN`): the pending
//!   count is reset to 0 instead of triggering empty runs forever.
//! * The lag is measured inside the machine, like upstream: the `now_ms` of the `xadd`
//!   that opened a batch, up to the `now_ms` at which that batch's run finished. Entries
//!   found by a scan have no known arrival time, give no lag sample and are run at once.
//!   The average is the total lag over every finished run (success, failure and
//!   aborted), as upstream divides by `numSuccess + numFailures + numAborted`.
//! * A `batch` of 0 behaves as 1.
//! * The module must not feed events while it is a replica; actions produced while it
//!   is a replica (acks of runs that were in flight) may be dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt;

/// An error whose text starts with this pauses the registration, whatever the policy.
pub const PAUSE_ERROR_PREFIX: &str = "PAUSE";

/// True when a run's first error pauses the registration (it starts with `PAUSE`,
/// case-sensitive, as upstream's `strncmp`).
pub fn is_pause_error(first_error: &str) -> bool {
    first_error.starts_with(PAUSE_ERROR_PREFIX)
}

/// What to do when a run fails (`onFailedPolicy`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum OnFailedPolicy {
    /// Ack and trim anyway, keep going (the default).
    #[default]
    Continue,
    /// Stop the registration: status `ABORTED`.
    Abort,
    /// Wait `onFailedRetryInterval` seconds, then rescan and re-read the pending entries.
    Retry,
}

impl OnFailedPolicy {
    /// Parses `continue`, `abort` or `retry`, case-insensitively.
    pub fn parse(text: &str) -> Result<OnFailedPolicy, StreamConfigError> {
        if text.eq_ignore_ascii_case("continue") {
            Ok(OnFailedPolicy::Continue)
        } else if text.eq_ignore_ascii_case("abort") {
            Ok(OnFailedPolicy::Abort)
        } else if text.eq_ignore_ascii_case("retry") {
            Ok(OnFailedPolicy::Retry)
        } else {
            Err(StreamConfigError::UnknownPolicy)
        }
    }

    /// The name RG.DUMPREGISTRATIONS shows: `continue`, `abort` or `retry`.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailedPolicy::Continue => "continue",
            OnFailedPolicy::Abort => "abort",
            OnFailedPolicy::Retry => "retry",
        }
    }
}

impl fmt::Display for OnFailedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bad StreamReader failure-policy argument; [`StreamConfigError::message`] is the
/// exact upstream text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamConfigError {
    /// `onFailedPolicy` was not a string.
    PolicyNotString,
    /// `onFailedPolicy` was a string other than continue/abort/retry.
    UnknownPolicy,
    /// `mode='sync'` with a policy other than continue.
    SyncRequiresContinue,
}

impl StreamConfigError {
    /// The error text, as behaviour.md §2.4 gives it.
    pub fn message(self) -> &'static str {
        match self {
            StreamConfigError::PolicyNotString => {
                "onFailedPolicy must be a string (Continue/Abort/Retry)"
            }
            StreamConfigError::UnknownPolicy => "onFailedPolicy must be Continue/Abort/Retry",
            StreamConfigError::SyncRequiresContinue => {
                "ExecutionMode sync can only be combined with OnFailedPolicy Continue"
            }
        }
    }
}

impl fmt::Display for StreamConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for StreamConfigError {}

/// Checks the execution mode (`'async'`, `'async_local'`, `'sync'`, already validated
/// elsewhere) against the policy: `sync` only goes with `continue`.
pub fn check_mode_policy(mode: &str, policy: OnFailedPolicy) -> Result<(), StreamConfigError> {
    if mode == "sync" && policy != OnFailedPolicy::Continue {
        Err(StreamConfigError::SyncRequiresContinue)
    } else {
        Ok(())
    }
}

/// A StreamReader registration's triggering arguments (§2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// `batch`: how many new entries trigger a run (default 1; 0 behaves as 1).
    pub batch: usize,
    /// `duration` in milliseconds: run the pending entries anyway this long after the
    /// first one of the batch arrived. 0 means never (default).
    pub duration_ms: u64,
    /// `onFailedPolicy` (default continue).
    pub on_failed: OnFailedPolicy,
    /// `onFailedRetryInterval` in seconds (default 1).
    pub retry_interval_secs: u64,
    /// `trimStream` (default true): trim what each run read, after its ack.
    pub trim: bool,
}

impl Default for StreamConfig {
    fn default() -> StreamConfig {
        StreamConfig {
            batch: 1,
            duration_ms: 0,
            on_failed: OnFailedPolicy::Continue,
            retry_interval_secs: 1,
            trim: true,
        }
    }
}

impl StreamConfig {
    /// The batch size the machine uses: `batch`, at least 1.
    pub fn effective_batch(&self) -> usize {
        self.batch.max(1)
    }

    /// The retry interval in milliseconds.
    pub fn retry_interval_ms(&self) -> u64 {
        self.retry_interval_secs.saturating_mul(1000)
    }
}

/// A StreamReader registration's status, as RG.DUMPREGISTRATIONS shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RegistrationStatus {
    /// Running normally (`OK`).
    #[default]
    Ok,
    /// A run failed under the retry policy; a retry is scheduled
    /// (`WAITING_FOR_RETRY_ON_FAILURE`).
    WaitingForRetryOnFailure,
    /// A run failed under the abort policy (`ABORTED`).
    Aborted,
    /// Paused by RG.PAUSEREGISTRATIONS or by a `PAUSE...` error (`PAUSED`).
    Paused,
}

impl RegistrationStatus {
    /// The exact dump name: `OK`, `WAITING_FOR_RETRY_ON_FAILURE`, `ABORTED`, `PAUSED`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::Ok => "OK",
            RegistrationStatus::WaitingForRetryOnFailure => "WAITING_FOR_RETRY_ON_FAILURE",
            RegistrationStatus::Aborted => "ABORTED",
            RegistrationStatus::Paused => "PAUSED",
        }
    }
}

impl fmt::Display for RegistrationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which entries a run reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadKind {
    /// The already-delivered, un-acked entries: id `0`, no COUNT. Always the first run on
    /// a newly tracked stream, so that entries of a failed or interrupted run come first.
    Pending,
    /// New entries: id `>`, `COUNT count` (the batch size).
    New {
        /// The COUNT argument.
        count: usize,
    },
}

impl ReadKind {
    /// The XREADGROUP id: `0` for pending entries, `>` for new ones.
    pub fn start_id(self) -> &'static str {
        match self {
            ReadKind::Pending => "0",
            ReadKind::New { .. } => ">",
        }
    }

    /// The XREADGROUP COUNT, if any.
    pub fn count(self) -> Option<usize> {
        match self {
            ReadKind::Pending => None,
            ReadKind::New { count } => Some(count),
        }
    }
}

/// Something the module must do, in the order returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamAction {
    /// Start one execution reading `key` (see [`ReadKind`]); report its end with
    /// [`StreamStateMachine::on_run_done`].
    Run {
        /// The stream key.
        key: Vec<u8>,
        /// What to read.
        read: ReadKind,
    },
    /// XACK the ids the finished run read, then, when `trim_to` is `Some(n)` (`n` =
    /// the entries still pending when the run ended), trim the stream of what the
    /// run read. The module trims by id (`XTRIM key MINID`), not to `n` entries:
    /// entries added after the run ended would make a length trim cut unread ones.
    Ack {
        /// The stream key.
        key: Vec<u8>,
        /// The entries still pending (whether to trim at all: `None` when
        /// `trimStream` is off or the run was detached).
        trim_to: Option<u64>,
    },
    /// Arm a timer that calls [`StreamStateMachine::on_timer`] with `key` and `token`
    /// after `delay_ms`.
    ArmTimer {
        /// The stream key.
        key: Vec<u8>,
        /// The delay in milliseconds.
        delay_ms: u64,
        /// Pass it back to `on_timer`.
        token: u64,
    },
    /// The timer armed with `token` is no longer needed (optional: a stale timer that
    /// fires anyway is ignored).
    CancelTimer {
        /// The stream key.
        key: Vec<u8>,
        /// The token of the timer.
        token: u64,
    },
    /// Arm a timer that calls [`StreamStateMachine::on_retry_timer`] with `token` after
    /// `delay_ms` (`onFailedRetryInterval`).
    ScheduleRetry {
        /// The delay in milliseconds.
        delay_ms: u64,
        /// Pass it back to `on_retry_timer`.
        token: u64,
    },
    /// Scan the keyspace for streams matching the registration's pattern (glob) and call
    /// [`StreamStateMachine::on_stream_found`] for each.
    Rescan,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// No errors.
    Success,
    /// The execution had errors; this is the first one.
    Failed(String),
    /// The execution was aborted (or could not be started).
    Aborted,
}

/// The lag statistics of a StreamReader registration (`lastEstimatedLagMS`,
/// `avgEstimatedLagMS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LagStats {
    last_ms: u64,
    total_ms: u64,
    runs: u64,
}

impl LagStats {
    /// Records one finished run and, when known, the lag of its batch. A run without a
    /// sample still counts in the average's divisor and keeps the last lag.
    pub fn record_run(&mut self, lag_ms: Option<u64>) {
        self.runs = self.runs.saturating_add(1);
        if let Some(lag) = lag_ms {
            self.last_ms = lag;
            self.total_ms = self.total_ms.saturating_add(lag);
        }
    }

    /// `lastEstimatedLagMS`.
    pub fn last_estimated_lag_ms(&self) -> i64 {
        i64::try_from(self.last_ms).unwrap_or(i64::MAX)
    }

    /// `avgEstimatedLagMS`: the total lag over the finished runs, 0 when none.
    pub fn avg_estimated_lag_ms(&self) -> f64 {
        self.avg_over(self.runs)
    }

    /// The total lag over `finished_runs` (e.g. the registration's
    /// `numSuccess + numFailures + numAborted`), 0 when that is 0.
    pub fn avg_over(&self, finished_runs: u64) -> f64 {
        if finished_runs == 0 {
            0.0
        } else {
            self.total_ms as f64 / finished_runs as f64
        }
    }

    /// The total lag in milliseconds.
    pub fn total_ms(&self) -> u64 {
        self.total_ms
    }

    /// The number of finished runs recorded.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Back to zero (RG.CLEARREGISTRATIONSSTATS).
    pub fn reset(&mut self) {
        *self = LagStats::default();
    }
}

/// What the machine knows about one stream key.
#[derive(Clone, Debug, Default)]
struct StreamState {
    /// Entries not yet processed (XLEN when tracking started, +1 per xadd, minus acked).
    pending: u64,
    /// How many entries the current, incomplete batch has.
    next_batch: usize,
    /// When each outstanding batch started (`None`: unknown, found by a scan).
    batch_starts: VecDeque<Option<u64>>,
    /// The run in flight, if any.
    in_flight: Option<ReadKind>,
    /// The token of the armed duration timer, if any.
    timer: Option<u64>,
    /// Tracking started while a detached run on the same key was still in flight: the
    /// initial pending read waits for it.
    awaiting_detached: bool,
}

impl StreamState {
    fn new(len: u64, batch: usize, start: Option<u64>) -> StreamState {
        let batches = len.div_ceil(batch as u64);
        StreamState {
            pending: len,
            batch_starts: (0..batches).map(|_| start).collect(),
            ..StreamState::default()
        }
    }

    fn busy(&self) -> bool {
        self.in_flight.is_some() || self.awaiting_detached
    }
}

/// Starts a run on `state`: cancels its timer, marks it in flight, emits `Run`.
fn start_run(key: &[u8], state: &mut StreamState, read: ReadKind, actions: &mut Vec<StreamAction>) {
    if let Some(token) = state.timer.take() {
        actions.push(StreamAction::CancelTimer {
            key: key.to_vec(),
            token,
        });
    }
    state.in_flight = Some(read);
    actions.push(StreamAction::Run {
        key: key.to_vec(),
        read,
    });
}

/// The StreamReader triggering logic of one registration (see the module docs).
#[derive(Clone, Debug)]
pub struct StreamStateMachine {
    config: StreamConfig,
    status: RegistrationStatus,
    streams: HashMap<Vec<u8>, StreamState>,
    detached: HashMap<Vec<u8>, StreamState>,
    lag: LagStats,
    next_token: u64,
    retry_token: Option<u64>,
}

impl StreamStateMachine {
    /// A machine with status `OK` and no tracked stream. Call [`StreamStateMachine::start`]
    /// to get the initial scan.
    pub fn new(config: StreamConfig) -> StreamStateMachine {
        StreamStateMachine {
            config,
            status: RegistrationStatus::Ok,
            streams: HashMap::new(),
            detached: HashMap::new(),
            lag: LagStats::default(),
            next_token: 0,
            retry_token: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// The current status.
    pub fn status(&self) -> RegistrationStatus {
        self.status
    }

    /// The lag statistics.
    pub fn lag_stats(&self) -> &LagStats {
        &self.lag
    }

    /// The StreamReader part of the dump: `(lastEstimatedLagMS, avgEstimatedLagMS,
    /// status)`, the tuple `Registration::view` takes.
    pub fn dump_fields(&self) -> (i64, f64, &'static str) {
        (
            self.lag.last_estimated_lag_ms(),
            self.lag.avg_estimated_lag_ms(),
            self.status.as_str(),
        )
    }

    /// RG.CLEARREGISTRATIONSSTATS: resets the lag statistics.
    pub fn clear_stats(&mut self) {
        self.lag.reset();
    }

    /// The pending (not yet processed) entry count of a tracked stream.
    pub fn pending(&self, key: &[u8]) -> Option<u64> {
        self.streams.get(key).map(|s| s.pending)
    }

    /// True when a run on `key` is in flight (tracked or detached).
    pub fn is_running(&self, key: &[u8]) -> bool {
        self.detached.contains_key(key)
            || self.streams.get(key).is_some_and(|s| s.in_flight.is_some())
    }

    /// True when a duration timer is armed for `key`.
    pub fn timer_armed(&self, key: &[u8]) -> bool {
        self.streams.get(key).is_some_and(|s| s.timer.is_some())
    }

    /// How many streams are tracked.
    pub fn tracked_streams(&self) -> usize {
        self.streams.len()
    }

    fn token(&mut self) -> u64 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }

    /// The registration was applied (or loaded): status `OK` and an initial scan.
    pub fn start(&mut self) -> Vec<StreamAction> {
        self.status = RegistrationStatus::Ok;
        self.retry_token = None;
        vec![StreamAction::Rescan]
    }

    /// An `xadd` on `key`, which matches the registration's prefix. `stream_len` gives
    /// `XLEN key` (including the new entry); it is called only when the stream is not
    /// tracked yet, which starts with a run over its pending entries.
    pub fn on_xadd(
        &mut self,
        key: &[u8],
        now_ms: u64,
        stream_len: impl FnOnce() -> u64,
    ) -> Vec<StreamAction> {
        let mut actions = Vec::new();
        if self.status != RegistrationStatus::Ok {
            return actions;
        }
        let batch = self.config.effective_batch();
        if !self.streams.contains_key(key) {
            self.track(key, stream_len(), Some(now_ms), &mut actions);
            return actions;
        }
        let duration = self.config.duration_ms;
        let token = self.next_token.wrapping_add(1);
        let mut armed = false;
        if let Some(state) = self.streams.get_mut(key) {
            state.pending = state.pending.saturating_add(1);
            state.next_batch += 1;
            if state.next_batch == 1 {
                state.batch_starts.push_back(Some(now_ms));
            }
            if state.next_batch >= batch {
                state.next_batch = 0;
            }
            if state.busy() {
                return actions;
            }
            if state.pending >= batch as u64 {
                start_run(key, state, ReadKind::New { count: batch }, &mut actions);
            } else if state.timer.is_none() && duration > 0 {
                state.timer = Some(token);
                armed = true;
                actions.push(StreamAction::ArmTimer {
                    key: key.to_vec(),
                    delay_ms: duration,
                    token,
                });
            }
        }
        if armed {
            self.next_token = token;
        }
        actions
    }

    /// A `Rescan` found the stream `key` with `stream_len` entries (`XLEN`). An untracked
    /// stream starts being tracked with a run over its pending entries; a tracked one is
    /// left alone.
    pub fn on_stream_found(&mut self, key: &[u8], stream_len: u64) -> Vec<StreamAction> {
        let mut actions = Vec::new();
        if self.status == RegistrationStatus::Ok && !self.streams.contains_key(key) {
            self.track(key, stream_len, None, &mut actions);
        }
        actions
    }

    /// Starts tracking `key`, then reads its pending entries (or waits for a detached
    /// run on it).
    fn track(&mut self, key: &[u8], len: u64, start: Option<u64>, actions: &mut Vec<StreamAction>) {
        let mut state = StreamState::new(len, self.config.effective_batch(), start);
        if self.detached.contains_key(key) {
            state.awaiting_detached = true;
        } else {
            start_run(key, &mut state, ReadKind::Pending, actions);
        }
        self.streams.insert(key.to_vec(), state);
    }

    /// The duration timer armed for `key` with `token` fired: runs the pending entries if
    /// there are any and nothing is in flight. Stale tokens are ignored.
    pub fn on_timer(&mut self, key: &[u8], token: u64, _now_ms: u64) -> Vec<StreamAction> {
        let mut actions = Vec::new();
        if self.status != RegistrationStatus::Ok {
            return actions;
        }
        let batch = self.config.effective_batch();
        if let Some(state) = self.streams.get_mut(key) {
            if state.timer != Some(token) {
                return actions;
            }
            state.timer = None;
            // A run in the middle of a batch restarts the batch count.
            state.next_batch = 0;
            if state.pending > 0 && !state.busy() {
                start_run(key, state, ReadKind::New { count: batch }, &mut actions);
            }
        }
        actions
    }

    /// The run on `key` finished after reading `entries_read` ids, with `outcome`.
    /// Returns the ack/trim, the status change's follow-ups and the next run or timer.
    /// A call for a key with no run in flight is ignored.
    pub fn on_run_done(
        &mut self,
        key: &[u8],
        entries_read: usize,
        outcome: &RunOutcome,
        now_ms: u64,
    ) -> Vec<StreamAction> {
        let mut actions = Vec::new();
        let (mut state, detached) = if let Some(state) = self.detached.remove(key) {
            (state, true)
        } else if self.streams.get(key).is_some_and(|s| s.in_flight.is_some()) {
            match self.streams.remove(key) {
                Some(state) => (state, false),
                None => return actions,
            }
        } else {
            return actions;
        };
        let Some(read) = state.in_flight.take() else {
            return actions;
        };

        let ack = match outcome {
            RunOutcome::Success => true,
            RunOutcome::Aborted => false,
            RunOutcome::Failed(error) => {
                let pause = is_pause_error(error);
                if self.status != RegistrationStatus::Ok {
                    !pause && self.config.on_failed == OnFailedPolicy::Continue
                } else if pause {
                    self.status = RegistrationStatus::Paused;
                    self.drop_streams(&mut actions);
                    false
                } else {
                    match self.config.on_failed {
                        OnFailedPolicy::Continue => true,
                        OnFailedPolicy::Abort => {
                            self.status = RegistrationStatus::Aborted;
                            self.drop_streams(&mut actions);
                            false
                        }
                        OnFailedPolicy::Retry => {
                            self.status = RegistrationStatus::WaitingForRetryOnFailure;
                            self.drop_streams(&mut actions);
                            let token = self.token();
                            self.retry_token = Some(token);
                            actions.push(StreamAction::ScheduleRetry {
                                delay_ms: self.config.retry_interval_ms(),
                                token,
                            });
                            false
                        }
                    }
                }
            }
        };

        let mut lag = None;
        if ack {
            if let ReadKind::New { .. } = read {
                if let Some(Some(start)) = state.batch_starts.pop_front() {
                    lag = Some(now_ms.saturating_sub(start));
                }
                if entries_read == 0 {
                    // Nothing new was there: the pending count was overstated.
                    state.pending = 0;
                    state.next_batch = 0;
                    state.batch_starts.clear();
                }
            }
            if entries_read > 0 {
                let read = entries_read as u64;
                state.pending = state.pending.saturating_sub(read);
                let left = if !detached {
                    Some(state.pending)
                } else if let Some(live) = self.streams.get_mut(key) {
                    // Tracked again meanwhile: the new count includes what this run read.
                    live.pending = live.pending.saturating_sub(read);
                    Some(live.pending)
                } else {
                    // Entries added since the stream was dropped were not counted: trimming
                    // to the old count could delete unprocessed entries.
                    None
                };
                actions.push(StreamAction::Ack {
                    key: key.to_vec(),
                    trim_to: left.filter(|_| self.config.trim),
                });
            }
        }
        self.lag.record_run(lag);

        if detached {
            // Tracking restarted while this run was in flight: read its pending entries now.
            if let Some(live) = self.streams.get_mut(key) {
                if live.awaiting_detached {
                    live.awaiting_detached = false;
                    start_run(key, live, ReadKind::Pending, &mut actions);
                }
            }
        } else if matches!(outcome, RunOutcome::Aborted) || self.status != RegistrationStatus::Ok {
            // Forgotten: the next xadd or rescan tracks it again and re-reads its pending
            // entries first.
        } else {
            self.streams.insert(key.to_vec(), state);
            self.trigger_next(key, now_ms, &mut actions);
        }
        actions
    }

    /// After a run on `key`: another run if data is left (a full batch, a batch of
    /// unknown age, or one older than `duration`), else a timer for the rest of the
    /// duration.
    fn trigger_next(&mut self, key: &[u8], now_ms: u64, actions: &mut Vec<StreamAction>) {
        let batch = self.config.effective_batch();
        let duration = self.config.duration_ms;
        let token = self.next_token.wrapping_add(1);
        let mut armed = false;
        let Some(state) = self.streams.get_mut(key) else {
            return;
        };
        if state.busy() || state.pending == 0 {
            return;
        }
        let read = ReadKind::New { count: batch };
        if state.pending >= batch as u64 {
            start_run(key, state, read, actions);
            return;
        }
        match state.batch_starts.front().copied().flatten() {
            None => {
                // The data was already in the stream: run it now.
                start_run(key, state, read, actions);
                state.next_batch = 0;
            }
            Some(start) if duration > 0 => {
                let elapsed = now_ms.saturating_sub(start);
                if elapsed >= duration {
                    start_run(key, state, read, actions);
                    state.next_batch = 0;
                } else if state.timer.is_none() {
                    state.timer = Some(token);
                    armed = true;
                    actions.push(StreamAction::ArmTimer {
                        key: key.to_vec(),
                        delay_ms: duration - elapsed,
                        token,
                    });
                }
            }
            Some(_) => {}
        }
        if armed {
            self.next_token = token;
        }
    }

    /// Drops every tracked stream: timers are cancelled, runs in flight become detached.
    fn drop_streams(&mut self, actions: &mut Vec<StreamAction>) {
        let keys: Vec<Vec<u8>> = self.streams.keys().cloned().collect();
        for key in keys {
            self.forget(&key, actions);
        }
    }

    fn forget(&mut self, key: &[u8], actions: &mut Vec<StreamAction>) {
        let Some(mut state) = self.streams.remove(key) else {
            return;
        };
        if let Some(token) = state.timer.take() {
            actions.push(StreamAction::CancelTimer {
                key: key.to_vec(),
                token,
            });
        }
        if state.in_flight.is_some() {
            self.detached.insert(key.to_vec(), state);
        }
    }

    /// Stops tracking `key` (e.g. the key was deleted); a run in flight on it becomes
    /// detached. The next `xadd` or rescan tracks it again.
    pub fn forget_stream(&mut self, key: &[u8]) -> Vec<StreamAction> {
        let mut actions = Vec::new();
        self.forget(key, &mut actions);
        actions
    }

    /// The retry timer with `token` fired: if still waiting for it, status `OK` and a
    /// rescan that re-reads the pending entries. Stale tokens are ignored.
    pub fn on_retry_timer(&mut self, token: u64, _now_ms: u64) -> Vec<StreamAction> {
        if self.status == RegistrationStatus::WaitingForRetryOnFailure
            && self.retry_token == Some(token)
        {
            self.status = RegistrationStatus::Ok;
            self.retry_token = None;
            vec![StreamAction::Rescan]
        } else {
            Vec::new()
        }
    }

    /// RG.PAUSEREGISTRATIONS: from `OK` only (like upstream), status `PAUSED` and all
    /// streams dropped. Anything else (already paused, aborted, waiting) is a no-op.
    pub fn pause(&mut self) -> Vec<StreamAction> {
        let mut actions = Vec::new();
        if self.status == RegistrationStatus::Ok {
            self.status = RegistrationStatus::Paused;
            self.drop_streams(&mut actions);
        }
        actions
    }

    /// RG.UNPAUSEREGISTRATIONS: a no-op when `OK`; otherwise (paused, aborted or waiting
    /// for a retry) status `OK` and a rescan, and a pending retry is cancelled.
    pub fn unpause(&mut self) -> Vec<StreamAction> {
        if self.status == RegistrationStatus::Ok {
            return Vec::new();
        }
        self.status = RegistrationStatus::Ok;
        self.retry_token = None;
        vec![StreamAction::Rescan]
    }

    /// The node became master: a rescan, when the status is `OK`.
    pub fn on_became_master(&mut self) -> Vec<StreamAction> {
        if self.status == RegistrationStatus::Ok {
            vec![StreamAction::Rescan]
        } else {
            Vec::new()
        }
    }

    /// The node became a replica: every stream is dropped (the status is kept). Call
    /// [`StreamStateMachine::on_became_master`] when it is master again.
    pub fn on_became_replica(&mut self) -> Vec<StreamAction> {
        let mut actions = Vec::new();
        self.drop_streams(&mut actions);
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const S: &[u8] = b"s";

    fn config(batch: usize, duration_ms: u64, on_failed: OnFailedPolicy) -> StreamConfig {
        StreamConfig {
            batch,
            duration_ms,
            on_failed,
            ..StreamConfig::default()
        }
    }

    fn run(key: &[u8], count: usize) -> StreamAction {
        StreamAction::Run {
            key: key.to_vec(),
            read: ReadKind::New { count },
        }
    }

    fn run_pending(key: &[u8]) -> StreamAction {
        StreamAction::Run {
            key: key.to_vec(),
            read: ReadKind::Pending,
        }
    }

    fn ack(key: &[u8], trim_to: u64) -> StreamAction {
        StreamAction::Ack {
            key: key.to_vec(),
            trim_to: Some(trim_to),
        }
    }

    fn failed(text: &str) -> RunOutcome {
        RunOutcome::Failed(text.to_string())
    }

    /// A machine tracking `keys`, each empty, its initial pending read done.
    fn primed(cfg: StreamConfig, keys: &[&[u8]]) -> StreamStateMachine {
        let mut m = StreamStateMachine::new(cfg);
        assert_eq!(m.start(), vec![StreamAction::Rescan]);
        for key in keys {
            assert_eq!(m.on_stream_found(key, 0), vec![run_pending(key)]);
            assert_eq!(m.on_run_done(key, 0, &RunOutcome::Success, 0), vec![]);
        }
        m.clear_stats();
        m
    }

    fn xadd(m: &mut StreamStateMachine, key: &[u8], now: u64) -> Vec<StreamAction> {
        m.on_xadd(key, now, || {
            panic!("XLEN must not be needed for a tracked stream")
        })
    }

    fn timer_token(actions: &[StreamAction]) -> u64 {
        actions
            .iter()
            .find_map(|a| match a {
                StreamAction::ArmTimer { token, .. } => Some(*token),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no timer in {actions:?}"))
    }

    fn retry_token(actions: &[StreamAction]) -> u64 {
        actions
            .iter()
            .find_map(|a| match a {
                StreamAction::ScheduleRetry { token, .. } => Some(*token),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no retry in {actions:?}"))
    }

    #[rstest]
    #[case("continue", OnFailedPolicy::Continue)]
    #[case("Continue", OnFailedPolicy::Continue)]
    #[case("CONTINUE", OnFailedPolicy::Continue)]
    #[case("abort", OnFailedPolicy::Abort)]
    #[case("Abort", OnFailedPolicy::Abort)]
    #[case("retry", OnFailedPolicy::Retry)]
    #[case("rEtRy", OnFailedPolicy::Retry)]
    fn policy_parses_case_insensitively(#[case] text: &str, #[case] expected: OnFailedPolicy) {
        assert_eq!(OnFailedPolicy::parse(text), Ok(expected));
    }

    #[rstest]
    #[case("")]
    #[case("stop")]
    #[case("continues")]
    #[case(" retry")]
    fn bad_policy_has_the_upstream_text(#[case] text: &str) {
        let err = OnFailedPolicy::parse(text).err();
        assert_eq!(err, Some(StreamConfigError::UnknownPolicy));
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("onFailedPolicy must be Continue/Abort/Retry")
        );
    }

    #[test]
    fn policy_not_string_text() {
        assert_eq!(
            StreamConfigError::PolicyNotString.message(),
            "onFailedPolicy must be a string (Continue/Abort/Retry)"
        );
    }

    #[rstest]
    #[case(OnFailedPolicy::Continue, "continue")]
    #[case(OnFailedPolicy::Abort, "abort")]
    #[case(OnFailedPolicy::Retry, "retry")]
    fn policy_dump_names(#[case] policy: OnFailedPolicy, #[case] name: &str) {
        assert_eq!(policy.as_str(), name);
        assert_eq!(policy.to_string(), name);
        assert_eq!(OnFailedPolicy::parse(name), Ok(policy));
    }

    #[rstest]
    #[case("sync", OnFailedPolicy::Continue, true)]
    #[case("sync", OnFailedPolicy::Abort, false)]
    #[case("sync", OnFailedPolicy::Retry, false)]
    #[case("async", OnFailedPolicy::Abort, true)]
    #[case("async", OnFailedPolicy::Retry, true)]
    #[case("async_local", OnFailedPolicy::Retry, true)]
    #[case("async_local", OnFailedPolicy::Continue, true)]
    fn sync_only_with_continue(
        #[case] mode: &str,
        #[case] policy: OnFailedPolicy,
        #[case] ok: bool,
    ) {
        let result = check_mode_policy(mode, policy);
        assert_eq!(result.is_ok(), ok);
        if let Err(e) = result {
            assert_eq!(
                e.to_string(),
                "ExecutionMode sync can only be combined with OnFailedPolicy Continue"
            );
        }
    }

    #[rstest]
    #[case(RegistrationStatus::Ok, "OK")]
    #[case(
        RegistrationStatus::WaitingForRetryOnFailure,
        "WAITING_FOR_RETRY_ON_FAILURE"
    )]
    #[case(RegistrationStatus::Aborted, "ABORTED")]
    #[case(RegistrationStatus::Paused, "PAUSED")]
    fn status_dump_names(#[case] status: RegistrationStatus, #[case] name: &str) {
        assert_eq!(status.as_str(), name);
        assert_eq!(status.to_string(), name);
    }

    #[test]
    fn config_defaults() {
        let c = StreamConfig::default();
        assert_eq!(c.batch, 1);
        assert_eq!(c.duration_ms, 0);
        assert_eq!(c.on_failed, OnFailedPolicy::Continue);
        assert_eq!(c.retry_interval_secs, 1);
        assert_eq!(c.retry_interval_ms(), 1000);
        assert!(c.trim);
        assert_eq!(RegistrationStatus::default(), RegistrationStatus::Ok);
    }

    #[test]
    fn read_kind_arguments() {
        assert_eq!(ReadKind::Pending.start_id(), "0");
        assert_eq!(ReadKind::Pending.count(), None);
        assert_eq!(ReadKind::New { count: 3 }.start_id(), ">");
        assert_eq!(ReadKind::New { count: 3 }.count(), Some(3));
    }

    #[rstest]
    #[case("PAUSE", true)]
    #[case("PAUSE now", true)]
    #[case("PAUSED by user", true)]
    #[case("pause", false)]
    #[case(" PAUSE", false)]
    #[case("Traceback ... PAUSE", false)]
    fn pause_prefix(#[case] error: &str, #[case] pauses: bool) {
        assert_eq!(is_pause_error(error), pauses);
    }

    #[test]
    fn start_asks_for_a_scan() {
        let mut m = StreamStateMachine::new(StreamConfig::default());
        assert_eq!(m.status(), RegistrationStatus::Ok);
        assert_eq!(m.start(), vec![StreamAction::Rescan]);
        assert_eq!(m.tracked_streams(), 0);
    }

    #[test]
    fn first_xadd_on_an_untracked_stream_reads_pending_first() {
        let mut m = StreamStateMachine::new(config(1, 0, OnFailedPolicy::Continue));
        let mut asked = 0;
        let actions = m.on_xadd(S, 10, || {
            asked += 1;
            3
        });
        assert_eq!(asked, 1);
        assert_eq!(actions, vec![run_pending(S)]);
        assert_eq!(m.pending(S), Some(3));
        assert!(m.is_running(S));
        // Nothing was pending in the group; the 3 entries are then run one by one.
        assert_eq!(
            m.on_run_done(S, 0, &RunOutcome::Success, 20),
            vec![run(S, 1)]
        );
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 30),
            vec![ack(S, 2), run(S, 1)]
        );
        // The lag is measured from the xadd that made the stream known.
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 20);
    }

    #[rstest]
    #[case(1)]
    #[case(2)]
    #[case(3)]
    #[case(5)]
    fn runs_when_the_batch_is_full(#[case] batch: usize) {
        let mut m = primed(config(batch, 0, OnFailedPolicy::Continue), &[S]);
        for i in 1..batch {
            assert_eq!(xadd(&mut m, S, i as u64), vec![], "entry {i}");
            assert_eq!(m.pending(S), Some(i as u64));
        }
        assert_eq!(xadd(&mut m, S, 100), vec![run(S, batch)]);
        assert!(m.is_running(S));
        assert_eq!(
            m.on_run_done(S, batch, &RunOutcome::Success, 150),
            vec![ack(S, 0)]
        );
        assert!(!m.is_running(S));
        assert_eq!(m.pending(S), Some(0));
    }

    #[test]
    fn batch_zero_behaves_as_one() {
        let mut m = primed(config(0, 0, OnFailedPolicy::Continue), &[S]);
        assert_eq!(xadd(&mut m, S, 1), vec![run(S, 1)]);
    }

    #[test]
    fn duration_timer_runs_a_partial_batch() {
        let mut m = primed(config(10, 100, OnFailedPolicy::Continue), &[S]);
        let actions = xadd(&mut m, S, 1000);
        let token = timer_token(&actions);
        assert_eq!(
            actions,
            vec![StreamAction::ArmTimer {
                key: S.to_vec(),
                delay_ms: 100,
                token
            }]
        );
        assert!(m.timer_armed(S));
        // Already armed: not armed again.
        assert_eq!(xadd(&mut m, S, 1040), vec![]);
        assert_eq!(m.on_timer(S, token, 1100), vec![run(S, 10)]);
        assert!(!m.timer_armed(S));
        assert_eq!(
            m.on_run_done(S, 2, &RunOutcome::Success, 1130),
            vec![ack(S, 0)]
        );
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 130);
    }

    #[test]
    fn no_duration_no_timer() {
        let mut m = primed(config(3, 0, OnFailedPolicy::Continue), &[S]);
        assert_eq!(xadd(&mut m, S, 1), vec![]);
        assert!(!m.timer_armed(S));
    }

    #[test]
    fn a_full_batch_cancels_the_timer_and_stale_timers_are_ignored() {
        let mut m = primed(config(2, 100, OnFailedPolicy::Continue), &[S]);
        let token = timer_token(&xadd(&mut m, S, 0));
        assert_eq!(
            xadd(&mut m, S, 10),
            vec![
                StreamAction::CancelTimer {
                    key: S.to_vec(),
                    token
                },
                run(S, 2)
            ]
        );
        // The cancelled timer fires anyway: ignored.
        assert_eq!(m.on_timer(S, token, 100), vec![]);
        assert_eq!(m.on_timer(b"other", token, 100), vec![]);
        assert_eq!(
            m.on_run_done(S, 2, &RunOutcome::Success, 120),
            vec![ack(S, 0)]
        );
    }

    #[test]
    fn timer_of_a_forgotten_stream_is_ignored() {
        let mut m = primed(config(5, 50, OnFailedPolicy::Continue), &[S]);
        let token = timer_token(&xadd(&mut m, S, 0));
        assert_eq!(
            m.forget_stream(S),
            vec![StreamAction::CancelTimer {
                key: S.to_vec(),
                token
            }]
        );
        assert_eq!(m.on_timer(S, token, 50), vec![]);
    }

    #[test]
    fn one_run_in_flight_per_stream_and_retrigger_after_done() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        assert_eq!(xadd(&mut m, S, 0), vec![run(S, 1)]);
        assert_eq!(xadd(&mut m, S, 1), vec![]);
        assert_eq!(xadd(&mut m, S, 2), vec![]);
        assert_eq!(m.pending(S), Some(3));
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 10),
            vec![ack(S, 2), run(S, 1)]
        );
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 20),
            vec![ack(S, 1), run(S, 1)]
        );
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 30),
            vec![ack(S, 0)]
        );
        assert!(!m.is_running(S));
        // A done without a run in flight is ignored.
        assert_eq!(m.on_run_done(S, 1, &RunOutcome::Success, 40), vec![]);
        assert_eq!(m.lag_stats().runs(), 3);
    }

    #[test]
    fn leftover_partial_batch_after_a_run_waits_for_the_rest_of_the_duration() {
        let mut m = primed(config(2, 100, OnFailedPolicy::Continue), &[S]);
        let t = timer_token(&xadd(&mut m, S, 0));
        let _ = xadd(&mut m, S, 10); // full: run, timer cancelled
        assert!(!m.timer_armed(S));
        assert_eq!(m.on_timer(S, t, 100), vec![]);
        // Third entry opens a new batch at 30 while the run is in flight.
        assert_eq!(xadd(&mut m, S, 30), vec![]);
        let actions = m.on_run_done(S, 2, &RunOutcome::Success, 50);
        let token = timer_token(&actions);
        assert_eq!(
            actions,
            vec![
                ack(S, 1),
                StreamAction::ArmTimer {
                    key: S.to_vec(),
                    delay_ms: 80,
                    token
                }
            ]
        );
        assert_eq!(m.on_timer(S, token, 130), vec![run(S, 2)]);
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 140),
            vec![ack(S, 0)]
        );
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 110);
    }

    #[test]
    fn leftover_partial_batch_older_than_duration_runs_at_once() {
        let mut m = primed(config(2, 100, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 0);
        let _ = xadd(&mut m, S, 10); // run
        assert_eq!(xadd(&mut m, S, 20), vec![]);
        assert_eq!(
            m.on_run_done(S, 2, &RunOutcome::Success, 500),
            vec![ack(S, 1), run(S, 2)]
        );
    }

    #[test]
    fn leftover_partial_batch_without_duration_waits_for_more_entries() {
        let mut m = primed(config(2, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 0);
        let _ = xadd(&mut m, S, 1); // run
        assert_eq!(xadd(&mut m, S, 2), vec![]);
        assert_eq!(
            m.on_run_done(S, 2, &RunOutcome::Success, 3),
            vec![ack(S, 1)]
        );
        assert_eq!(xadd(&mut m, S, 4), vec![run(S, 2)]);
    }

    #[test]
    fn scanned_stream_runs_existing_data_without_waiting_and_without_lag() {
        let mut m = StreamStateMachine::new(config(10, 0, OnFailedPolicy::Continue));
        let _ = m.start();
        assert_eq!(m.on_stream_found(S, 5), vec![run_pending(S)]);
        // Found again by another scan: already tracked.
        assert_eq!(m.on_stream_found(S, 5), vec![]);
        // 2 entries were pending in the group (delivered, never acked).
        assert_eq!(
            m.on_run_done(S, 2, &RunOutcome::Success, 10),
            vec![ack(S, 3), run(S, 10)]
        );
        assert_eq!(
            m.on_run_done(S, 3, &RunOutcome::Success, 20),
            vec![ack(S, 0)]
        );
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 0);
        assert_eq!(m.lag_stats().total_ms(), 0);
        assert_eq!(m.lag_stats().runs(), 2);
    }

    #[rstest]
    // (batch, entries added, entries read by the run, expected MAXLEN)
    #[case(1, 1, 1, 0)]
    #[case(1, 4, 1, 3)]
    #[case(3, 3, 3, 0)]
    #[case(3, 5, 3, 2)]
    #[case(2, 7, 2, 5)]
    fn trim_keeps_the_pending_entries(
        #[case] batch: usize,
        #[case] added: u64,
        #[case] read: usize,
        #[case] maxlen: u64,
    ) {
        let mut m = primed(config(batch, 0, OnFailedPolicy::Continue), &[S]);
        for i in 0..added {
            let _ = xadd(&mut m, S, i);
        }
        let actions = m.on_run_done(S, read, &RunOutcome::Success, 100);
        assert_eq!(actions.first(), Some(&ack(S, maxlen)));
        assert_eq!(m.pending(S), Some(maxlen));
    }

    #[test]
    fn trim_off_acks_without_trimming() {
        let cfg = StreamConfig {
            trim: false,
            ..StreamConfig::default()
        };
        let mut m = primed(cfg, &[S]);
        let _ = xadd(&mut m, S, 0);
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 1),
            vec![StreamAction::Ack {
                key: S.to_vec(),
                trim_to: None
            }]
        );
    }

    #[test]
    fn a_new_read_that_finds_nothing_resets_an_overstated_pending_count() {
        let cfg = StreamConfig {
            trim: false,
            ..StreamConfig::default()
        };
        let mut m = StreamStateMachine::new(cfg);
        let _ = m.start();
        // XLEN counts 4 old, already processed entries.
        let _ = m.on_stream_found(S, 4);
        assert_eq!(
            m.on_run_done(S, 0, &RunOutcome::Success, 0),
            vec![run(S, 1)]
        );
        assert_eq!(m.on_run_done(S, 0, &RunOutcome::Success, 1), vec![]);
        assert_eq!(m.pending(S), Some(0));
        assert_eq!(xadd(&mut m, S, 2), vec![run(S, 1)]);
    }

    #[test]
    fn continue_policy_acks_and_keeps_going_on_failure() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 0);
        let _ = xadd(&mut m, S, 1);
        assert_eq!(
            m.on_run_done(S, 1, &failed("boom"), 5),
            vec![ack(S, 1), run(S, 1)]
        );
        assert_eq!(m.status(), RegistrationStatus::Ok);
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 5);
    }

    #[test]
    fn abort_policy_stops_the_registration() {
        let other: &[u8] = b"other";
        let mut m = primed(config(1, 0, OnFailedPolicy::Abort), &[S]);
        let _ = xadd(&mut m, S, 0);
        assert_eq!(m.on_run_done(S, 1, &failed("boom"), 5), vec![]);
        assert_eq!(m.status(), RegistrationStatus::Aborted);
        assert_eq!(m.tracked_streams(), 0);
        assert_eq!(m.on_xadd(S, 6, || 1), vec![]);
        assert_eq!(m.on_xadd(other, 6, || 1), vec![]);
        assert_eq!(m.on_stream_found(S, 1), vec![]);
        assert_eq!(m.on_became_master(), vec![]);
        // Unpausing restarts an aborted registration.
        assert_eq!(m.unpause(), vec![StreamAction::Rescan]);
        assert_eq!(m.status(), RegistrationStatus::Ok);
        assert_eq!(m.on_stream_found(S, 1), vec![run_pending(S)]);
    }

    #[test]
    fn abort_cancels_timers_of_other_streams() {
        let other: &[u8] = b"other";
        let mut m = primed(config(2, 100, OnFailedPolicy::Abort), &[S, other]);
        let token = timer_token(&xadd(&mut m, other, 0));
        let _ = xadd(&mut m, S, 0);
        let _ = xadd(&mut m, S, 1); // run on S (its timer cancelled)
        assert_eq!(
            m.on_run_done(S, 2, &failed("boom"), 5),
            vec![StreamAction::CancelTimer {
                key: other.to_vec(),
                token
            }]
        );
        assert_eq!(m.on_timer(other, token, 100), vec![]);
    }

    #[test]
    fn retry_policy_waits_then_rescans() {
        let cfg = StreamConfig {
            on_failed: OnFailedPolicy::Retry,
            retry_interval_secs: 3,
            ..StreamConfig::default()
        };
        let mut m = primed(cfg, &[S]);
        let _ = xadd(&mut m, S, 0);
        let actions = m.on_run_done(S, 1, &failed("boom"), 5);
        let token = retry_token(&actions);
        assert_eq!(
            actions,
            vec![StreamAction::ScheduleRetry {
                delay_ms: 3000,
                token
            }]
        );
        assert_eq!(m.status(), RegistrationStatus::WaitingForRetryOnFailure);
        assert_eq!(m.tracked_streams(), 0);
        // While waiting, events are ignored and not counted.
        assert_eq!(m.on_xadd(S, 6, || 2), vec![]);
        assert_eq!(m.on_retry_timer(token.wrapping_add(99), 3005), vec![]);
        assert_eq!(m.on_retry_timer(token, 3005), vec![StreamAction::Rescan]);
        assert_eq!(m.status(), RegistrationStatus::Ok);
        // Fired twice: ignored.
        assert_eq!(m.on_retry_timer(token, 3006), vec![]);
        // The rescan re-reads the entry of the failed run (pending in the group).
        assert_eq!(m.on_stream_found(S, 2), vec![run_pending(S)]);
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 3010),
            vec![ack(S, 1), run(S, 1)]
        );
    }

    #[test]
    fn unpause_cancels_a_scheduled_retry() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Retry), &[S]);
        let _ = xadd(&mut m, S, 0);
        let token = retry_token(&m.on_run_done(S, 1, &failed("boom"), 5));
        assert_eq!(m.unpause(), vec![StreamAction::Rescan]);
        assert_eq!(m.on_retry_timer(token, 1005), vec![]);
        assert_eq!(m.status(), RegistrationStatus::Ok);
    }

    #[rstest]
    #[case(OnFailedPolicy::Continue)]
    #[case(OnFailedPolicy::Abort)]
    #[case(OnFailedPolicy::Retry)]
    fn pause_error_pauses_whatever_the_policy(#[case] policy: OnFailedPolicy) {
        let mut m = primed(config(1, 0, policy), &[S]);
        let _ = xadd(&mut m, S, 0);
        assert_eq!(m.on_run_done(S, 1, &failed("PAUSE please"), 5), vec![]);
        assert_eq!(m.status(), RegistrationStatus::Paused);
        assert_eq!(m.tracked_streams(), 0);
        assert_eq!(m.on_xadd(S, 6, || 1), vec![]);
        assert_eq!(m.pause(), vec![]);
        assert_eq!(m.unpause(), vec![StreamAction::Rescan]);
        assert_eq!(m.status(), RegistrationStatus::Ok);
    }

    #[test]
    fn pause_and_unpause_are_idempotent() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        assert_eq!(m.unpause(), vec![], "unpausing a running registration");
        assert_eq!(m.status(), RegistrationStatus::Ok);
        assert_eq!(m.pause(), vec![]);
        assert_eq!(m.status(), RegistrationStatus::Paused);
        assert_eq!(m.tracked_streams(), 0);
        assert_eq!(m.pause(), vec![], "pausing a paused registration");
        assert_eq!(m.status(), RegistrationStatus::Paused);
        assert_eq!(m.unpause(), vec![StreamAction::Rescan]);
        assert_eq!(m.unpause(), vec![]);
        assert_eq!(m.status(), RegistrationStatus::Ok);
    }

    #[test]
    fn pause_cancels_timers_and_ignores_events() {
        let mut m = primed(config(5, 100, OnFailedPolicy::Continue), &[S]);
        let token = timer_token(&xadd(&mut m, S, 0));
        assert_eq!(
            m.pause(),
            vec![StreamAction::CancelTimer {
                key: S.to_vec(),
                token
            }]
        );
        assert_eq!(m.on_timer(S, token, 100), vec![]);
        assert_eq!(m.on_xadd(S, 1, || 2), vec![]);
        assert_eq!(m.on_stream_found(S, 2), vec![]);
    }

    #[test]
    fn pause_does_not_interrupt_waiting_for_retry() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Retry), &[S]);
        let _ = xadd(&mut m, S, 0);
        let token = retry_token(&m.on_run_done(S, 1, &failed("boom"), 5));
        assert_eq!(m.pause(), vec![]);
        assert_eq!(m.status(), RegistrationStatus::WaitingForRetryOnFailure);
        assert_eq!(m.on_retry_timer(token, 1005), vec![StreamAction::Rescan]);
    }

    #[test]
    fn a_run_in_flight_when_paused_still_acks_but_triggers_nothing() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 0);
        let _ = xadd(&mut m, S, 1);
        assert_eq!(m.pause(), vec![]);
        assert!(m.is_running(S));
        // Acked, not trimmed: entries added while paused were not counted.
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 10),
            vec![StreamAction::Ack {
                key: S.to_vec(),
                trim_to: None
            }]
        );
        assert!(!m.is_running(S));
        assert_eq!(m.status(), RegistrationStatus::Paused);
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 10);
    }

    #[test]
    fn a_detached_run_failing_after_pause_keeps_the_pause() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Abort), &[S]);
        let _ = xadd(&mut m, S, 0);
        let _ = m.pause();
        assert_eq!(m.on_run_done(S, 1, &failed("boom"), 10), vec![]);
        assert_eq!(m.status(), RegistrationStatus::Paused);
    }

    #[test]
    fn tracking_again_waits_for_a_detached_run() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 0);
        let _ = m.pause();
        assert_eq!(m.unpause(), vec![StreamAction::Rescan]);
        // The scan (or an xadd) finds the stream while the old run is still in flight.
        assert_eq!(m.on_stream_found(S, 2), vec![]);
        assert_eq!(xadd(&mut m, S, 5), vec![]);
        assert_eq!(m.pending(S), Some(3));
        // The old run ends: its entry is acked (trimmed with the new count, which
        // included it), then the pending read starts.
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 10),
            vec![ack(S, 2), run_pending(S)]
        );
        assert_eq!(m.pending(S), Some(2));
        assert_eq!(
            m.on_run_done(S, 0, &RunOutcome::Success, 11),
            vec![run(S, 1)]
        );
    }

    #[test]
    fn an_aborted_execution_forgets_the_stream() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 0);
        let _ = xadd(&mut m, S, 1);
        assert_eq!(m.on_run_done(S, 1, &RunOutcome::Aborted, 10), vec![]);
        assert_eq!(m.status(), RegistrationStatus::Ok);
        assert_eq!(m.tracked_streams(), 0);
        // The next xadd tracks it again, re-reading the un-acked entry first.
        assert_eq!(m.on_xadd(S, 20, || 3), vec![run_pending(S)]);
        assert_eq!(m.lag_stats().runs(), 1);
    }

    #[test]
    fn forget_stream_detaches_a_running_stream() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 0);
        assert_eq!(m.forget_stream(S), vec![]);
        assert_eq!(m.tracked_streams(), 0);
        assert!(m.is_running(S));
        assert_eq!(
            m.on_run_done(S, 1, &RunOutcome::Success, 1),
            vec![StreamAction::Ack {
                key: S.to_vec(),
                trim_to: None
            }]
        );
        assert_eq!(m.on_xadd(S, 2, || 1), vec![run_pending(S)]);
    }

    #[test]
    fn lag_last_and_average() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 1000);
        let _ = m.on_run_done(S, 1, &RunOutcome::Success, 1100);
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 100);
        let _ = xadd(&mut m, S, 2000);
        let _ = m.on_run_done(S, 1, &RunOutcome::Success, 2300);
        assert_eq!(m.dump_fields(), (300, 200.0, "OK"));
        // An aborted run counts in the divisor and keeps the last lag.
        let _ = xadd(&mut m, S, 3000);
        let _ = m.on_run_done(S, 1, &RunOutcome::Aborted, 3900);
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 300);
        assert!((m.lag_stats().avg_estimated_lag_ms() - 400.0 / 3.0).abs() < 1e-9);
        assert!((m.lag_stats().avg_over(4) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn lag_of_a_batch_counts_from_its_first_entry() {
        let mut m = primed(config(3, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 100);
        let _ = xadd(&mut m, S, 150);
        let _ = xadd(&mut m, S, 180); // run
        let _ = m.on_run_done(S, 3, &RunOutcome::Success, 200);
        assert_eq!(m.lag_stats().last_estimated_lag_ms(), 100);
    }

    #[test]
    fn lag_stats_helper() {
        let mut lag = LagStats::default();
        assert_eq!(lag.avg_estimated_lag_ms(), 0.0);
        assert_eq!(lag.avg_over(0), 0.0);
        lag.record_run(Some(10));
        lag.record_run(None);
        lag.record_run(Some(20));
        assert_eq!(lag.last_estimated_lag_ms(), 20);
        assert_eq!(lag.total_ms(), 30);
        assert_eq!(lag.runs(), 3);
        assert!((lag.avg_estimated_lag_ms() - 10.0).abs() < 1e-9);
        lag.reset();
        assert_eq!(lag, LagStats::default());
    }

    #[test]
    fn clear_stats_resets_the_lag_only() {
        let mut m = primed(config(1, 0, OnFailedPolicy::Continue), &[S]);
        let _ = xadd(&mut m, S, 0);
        let _ = xadd(&mut m, S, 0);
        let _ = m.on_run_done(S, 1, &RunOutcome::Success, 50);
        assert_eq!(m.dump_fields(), (50, 50.0, "OK"));
        m.clear_stats();
        assert_eq!(m.dump_fields(), (0, 0.0, "OK"));
        // The run in flight and the pending count are untouched.
        assert!(m.is_running(S));
        assert_eq!(m.pending(S), Some(1));
        let _ = m.on_run_done(S, 1, &RunOutcome::Success, 70);
        assert_eq!(m.dump_fields(), (70, 70.0, "OK"));
    }

    #[test]
    fn streams_are_independent() {
        let (a, b): (&[u8], &[u8]) = (b"a", b"b");
        let mut m = primed(config(2, 100, OnFailedPolicy::Continue), &[a, b]);
        let ta = timer_token(&xadd(&mut m, a, 0));
        let tb = timer_token(&xadd(&mut m, b, 10));
        assert_ne!(ta, tb);
        assert_eq!(
            xadd(&mut m, a, 20),
            vec![
                StreamAction::CancelTimer {
                    key: a.to_vec(),
                    token: ta
                },
                run(a, 2)
            ]
        );
        // b is not affected by a's run.
        assert!(m.timer_armed(b));
        assert!(!m.is_running(b));
        assert_eq!(m.pending(b), Some(1));
        // a's token does not fire b.
        assert_eq!(m.on_timer(b, ta, 100), vec![]);
        assert_eq!(m.on_timer(b, tb, 110), vec![run(b, 2)]);
        // Both in flight at once, one per stream.
        assert!(m.is_running(a) && m.is_running(b));
        assert_eq!(
            m.on_run_done(b, 1, &RunOutcome::Success, 120),
            vec![ack(b, 0)]
        );
        assert!(m.is_running(a));
        assert_eq!(
            m.on_run_done(a, 2, &RunOutcome::Success, 130),
            vec![ack(a, 0)]
        );
    }

    #[test]
    fn replica_then_master() {
        let mut m = primed(config(3, 100, OnFailedPolicy::Continue), &[S]);
        let token = timer_token(&xadd(&mut m, S, 0));
        assert_eq!(
            m.on_became_replica(),
            vec![StreamAction::CancelTimer {
                key: S.to_vec(),
                token
            }]
        );
        assert_eq!(m.tracked_streams(), 0);
        assert_eq!(m.status(), RegistrationStatus::Ok);
        assert_eq!(m.on_became_master(), vec![StreamAction::Rescan]);
        assert_eq!(m.on_stream_found(S, 1), vec![run_pending(S)]);
    }
}
