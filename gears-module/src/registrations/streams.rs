//! StreamReader registrations (behaviour.md §3.3): the module's side of
//! [`gears_registrations::stream::StreamStateMachine`].
//!
//! The machine decides; this file carries its actions out. `xadd` events come from
//! the keyspace subscription, runs read through the consumer group
//! `__gears_consumer_group__` ([`StreamGroupReader`]), and when a run is over its ids
//! are acknowledged (and the stream trimmed) as the machine says. Timers are short
//! threads that take the Redis lock when they fire; a rescan walks the keyspace for
//! stream keys matching the registration's pattern (a glob, as upstream).
//!
//! Actions are carried out one after another from a per-thread work list: the end of
//! one run may start the next, and doing that by recursion would nest one stack
//! frame per batch in `sync` mode.

use super::{registry, trigger, RegistrationEntry};
use crate::raw_call::call_resp;
use crate::redis_access::{call, with_redis};
use gears_executions::execution::{Execution, Status};
use gears_protocol::Reply;
use gears_python::readers::{RespCall, StreamGroupReader, StreamIds, CONSUMER_GROUP};
use gears_registrations::registration::{Mode, StreamArgs};
use gears_registrations::stream::{
    ReadKind, RunOutcome, StreamAction, StreamConfig, StreamStateMachine,
};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The StreamReader state of a registration.
#[derive(Debug)]
pub struct StreamRegistration {
    machine: Mutex<StreamStateMachine>,
    pattern: Vec<u8>,
}

impl StreamRegistration {
    /// The state of a registration with `args`.
    pub fn new(args: &StreamArgs) -> StreamRegistration {
        let config = StreamConfig {
            batch: usize::try_from(args.batch).unwrap_or(usize::MAX),
            duration_ms: args.duration_ms,
            on_failed: args.on_failed,
            retry_interval_secs: args.retry_interval_secs,
            trim: args.trim,
        };
        StreamRegistration {
            machine: Mutex::new(StreamStateMachine::new(config)),
            pattern: args.prefix.clone(),
        }
    }

    fn machine(&self) -> MutexGuard<'_, StreamStateMachine> {
        super::lock(&self.machine)
    }

    /// `(lastEstimatedLagMS, avgEstimatedLagMS, status)` for RG.DUMPREGISTRATIONS.
    pub fn dump_fields(&self) -> (i64, f64, &'static str) {
        self.machine().dump_fields()
    }

    /// RG.CLEARREGISTRATIONSSTATS.
    pub fn clear_stats(&self) {
        self.machine().clear_stats();
    }
}

/// Milliseconds on one monotonic clock, for the machine's lag statistics.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Something to carry out for a registration.
enum Work {
    /// An action of the machine.
    Action(StreamAction),
    /// Acknowledge the ids a finished run read, then maybe trim.
    Ack {
        key: Vec<u8>,
        ids: StreamIds,
        trim_to: Option<u64>,
    },
}

/// The work waiting on one thread, and whether a loop is draining it.
struct WorkList {
    queue: VecDeque<(Arc<RegistrationEntry>, Work)>,
    draining: bool,
}

thread_local! {
    static WORK: RefCell<WorkList> = const {
        RefCell::new(WorkList {
            queue: VecDeque::new(),
            draining: false,
        })
    };
}

/// Carries out `work` for `entry` after whatever this thread is already doing.
fn perform(entry: &Arc<RegistrationEntry>, work: Vec<Work>) {
    let draining = WORK.with(|queue| {
        let mut list = queue.borrow_mut();
        list.queue
            .extend(work.into_iter().map(|w| (entry.clone(), w)));
        std::mem::replace(&mut list.draining, true)
    });
    if draining {
        return;
    }
    // If carrying something out panics, the list must not stay marked as drained
    // by a loop that no longer runs.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            if std::thread::panicking() {
                WORK.with(|queue| {
                    let mut list = queue.borrow_mut();
                    list.queue.clear();
                    list.draining = false;
                });
            }
        }
    }
    let _reset = Reset;
    loop {
        let next = WORK.with(|queue| {
            let mut list = queue.borrow_mut();
            let next = list.queue.pop_front();
            if next.is_none() {
                list.draining = false;
            }
            next
        });
        let Some((entry, work)) = next else {
            return;
        };
        carry_out(&entry, work);
    }
}

fn actions(actions: Vec<StreamAction>) -> Vec<Work> {
    actions.into_iter().map(Work::Action).collect()
}

fn stream_of(entry: &RegistrationEntry) -> Option<&StreamRegistration> {
    entry.payload().stream.as_ref()
}

/// Whether `entry` is still registered (timers and scans outlive unregistering).
fn still_registered(entry: &RegistrationEntry) -> bool {
    registry().get(&entry.id()).is_some()
}

fn carry_out(entry: &Arc<RegistrationEntry>, work: Work) {
    let Some(stream) = stream_of(entry) else {
        return;
    };
    match work {
        Work::Action(StreamAction::Run { key, read }) => run(entry, key, read),
        Work::Ack { key, ids, trim_to } => acknowledge(&key, &ids, trim_to),
        // The machine acks through Work::Ack, which carries the run's ids.
        Work::Action(StreamAction::Ack { .. }) => {}
        Work::Action(StreamAction::ArmTimer {
            key,
            delay_ms,
            token,
        }) => after(entry, delay_ms, move |entry, stream| {
            let next = stream.machine().on_timer(&key, token, now_ms());
            perform(entry, actions(next));
        }),
        // A stale timer that fires is ignored by the machine.
        Work::Action(StreamAction::CancelTimer { .. }) => {}
        Work::Action(StreamAction::ScheduleRetry { delay_ms, token }) => {
            after(entry, delay_ms, move |entry, stream| {
                let next = stream.machine().on_retry_timer(token, now_ms());
                perform(entry, actions(next));
            });
        }
        Work::Action(StreamAction::Rescan) => rescan(entry, &stream.pattern),
    }
}

/// Runs `body` after `delay_ms` on a short-lived thread, under the Redis lock, if the
/// registration still exists then.
fn after(
    entry: &Arc<RegistrationEntry>,
    delay_ms: u64,
    body: impl FnOnce(&Arc<RegistrationEntry>, &StreamRegistration) + Send + 'static,
) {
    let entry = entry.clone();
    let spawned = std::thread::Builder::new()
        .name("rg-stream-timer".to_owned())
        .spawn(move || {
            std::thread::sleep(Duration::from_millis(delay_ms));
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                with_redis(|_| {
                    if let (true, Some(stream)) = (still_registered(&entry), stream_of(&entry)) {
                        body(&entry, stream);
                    }
                });
            }));
            if outcome.is_err() {
                crate::log::warning("internal error in a StreamReader timer");
            }
        });
    if spawned.is_err() {
        crate::log::warning("a StreamReader timer could not be started");
    }
}

fn acknowledge(key: &[u8], ids: &StreamIds, trim_to: Option<u64>) {
    with_redis(|ctx| {
        if !ids.is_empty() {
            let mut args: Vec<&[u8]> = Vec::with_capacity(ids.len() + 2);
            args.extend([key, CONSUMER_GROUP.as_bytes()]);
            args.extend(ids.iter());
            // The reply (how many were acknowledged) is not needed: its text is
            // not decoded.
            let _ = call_resp(ctx, b"XACK", &args);
        }
        // Trimmed by id, not by length: XADDs can land between the moment the run
        // ended (when the machine counted what is left) and this call, and a
        // MAXLEN of the old count would then cut entries nobody has read.
        if trim_to.is_some() {
            // XREADGROUP hands entries out in id order: the last id read is the
            // highest.
            if let Some(threshold) = trim_threshold(ids.iter().last().into_iter()) {
                call(ctx, "XTRIM", &[key, b"MINID", threshold.as_bytes()]);
            }
        }
    });
}

/// The `MINID` that trims every entry up to the highest of `ids` (the id right
/// after it); `None` when there is no id or one is not a stream id.
fn trim_threshold<'a>(ids: impl Iterator<Item = &'a [u8]>) -> Option<String> {
    let mut highest: Option<(u64, u64)> = None;
    for id in ids {
        let text = std::str::from_utf8(id).ok()?;
        let (ms, seq) = text.split_once('-')?;
        let id = (ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?);
        highest = highest.max(Some(id));
    }
    let (ms, seq) = highest?;
    Some(match seq.checked_add(1) {
        Some(next) => format!("{ms}-{next}"),
        None => format!("{}-0", ms.checked_add(1)?),
    })
}

/// How StreamGroupReader reaches Redis: under the Redis lock, replicated, the reply
/// as RESP2 text (see [`crate::raw_call`]).
fn resp_call() -> RespCall {
    static CALL: OnceLock<RespCall> = OnceLock::new();
    CALL.get_or_init(|| {
        Arc::new(|args: &[&[u8]]| {
            let Some((command, rest)) = args.split_first() else {
                return Err("Failed executing command".to_owned());
            };
            with_redis(|ctx| call_resp(ctx, command, rest))
        })
    })
    .clone()
}

/// Starts one execution over `key`; its end goes back to the machine.
fn run(entry: &Arc<RegistrationEntry>, key: Vec<u8>, read: ReadKind) {
    let read_ids = Arc::new(Mutex::new(StreamIds::default()));
    let reader = StreamGroupReader::new(
        key.clone(),
        read.start_id(),
        read.count(),
        read_ids.clone(),
        resp_call(),
    );
    let done_entry = entry.clone();
    let done_key = key.clone();
    let on_done = Box::new(move |execution: &Execution| {
        let ids = std::mem::take(&mut *super::lock(&read_ids));
        // Only the status and the first error: not a copy of a batch's results.
        let result = match execution.ending() {
            Some((Status::Aborted, _)) | None => RunOutcome::Aborted,
            Some((_, Some(error))) => RunOutcome::Failed(error),
            Some((_, None)) => RunOutcome::Success,
        };
        finish_run(&done_entry, &done_key, ids, &result);
    });
    let sync = entry.registration().mode == Mode::Sync;
    let started = if sync {
        with_redis(|_| trigger(entry, reader, true, Some(on_done), None))
    } else {
        trigger(entry, reader, false, Some(on_done), None)
    };
    if started.is_none() {
        finish_run(entry, &key, StreamIds::default(), &RunOutcome::Aborted);
    }
}

fn finish_run(entry: &Arc<RegistrationEntry>, key: &[u8], ids: StreamIds, result: &RunOutcome) {
    let Some(stream) = stream_of(entry) else {
        return;
    };
    let next = stream
        .machine()
        .on_run_done(key, ids.len(), result, now_ms());
    let mut ids = Some(ids);
    let work = next
        .into_iter()
        .map(|action| match action {
            StreamAction::Ack { key, trim_to } => Work::Ack {
                key,
                ids: ids.take().unwrap_or_default(),
                trim_to,
            },
            other => Work::Action(other),
        })
        .collect();
    perform(entry, work);
}

/// Finds the streams matching the registration's pattern (a glob) on the execution
/// threads and hands each to the machine.
fn rescan(entry: &Arc<RegistrationEntry>, pattern: &[u8]) {
    let Some(engine) = crate::state::engine() else {
        return;
    };
    let entry = entry.clone();
    let pattern = pattern.to_vec();
    let submitted = engine.pool.submit(Box::new(move || {
        let mut cursor = b"0".to_vec();
        loop {
            let (next, keys) = with_redis(|ctx| {
                let reply = call(
                    ctx,
                    "SCAN",
                    &[
                        &cursor, b"MATCH", &pattern, b"COUNT", b"1000", b"TYPE", b"stream",
                    ],
                );
                scan_page(reply)
            });
            for key in keys {
                if !still_registered(&entry) {
                    return;
                }
                with_redis(|ctx| {
                    let len = stream_len(ctx, &key);
                    if let Some(stream) = stream_of(&entry) {
                        let next = stream.machine().on_stream_found(&key, len);
                        perform(&entry, actions(next));
                    }
                });
            }
            match next {
                Some(next) if next != b"0" => cursor = next,
                _ => return,
            }
        }
    }));
    if !submitted {
        crate::log::warning("a StreamReader rescan could not be started");
    }
}

/// `XLEN key` (0 for a missing key or an error).
fn stream_len(ctx: &redis_module::Context, key: &[u8]) -> u64 {
    match call(ctx, "XLEN", &[key]) {
        Reply::Integer(n) => u64::try_from(n).unwrap_or(0),
        _ => 0,
    }
}

fn scan_page(reply: Reply) -> (Option<Vec<u8>>, Vec<Vec<u8>>) {
    let Reply::Array(mut parts) = reply else {
        return (None, Vec::new());
    };
    let keys = match parts.pop() {
        Some(Reply::Array(keys)) => keys
            .into_iter()
            .filter_map(|k| match k {
                Reply::Bulk(key) => Some(key),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let cursor = match parts.pop() {
        Some(Reply::Bulk(cursor)) => Some(cursor),
        _ => None,
    };
    (cursor, keys)
}

/// A registration was applied: its first scan (on a master; a replica waits until
/// it becomes one).
pub fn start(entry: &Arc<RegistrationEntry>) {
    if super::persist::is_replica() {
        return;
    }
    if let Some(stream) = stream_of(entry) {
        let next = stream.machine().start();
        perform(entry, actions(next));
    }
}

/// An `xadd` on `key` (the Redis lock is held).
pub fn on_xadd(key: &[u8]) {
    let entries = registry().streams_matching(key);
    for entry in entries {
        if super::running_here(entry.id()) {
            continue;
        }
        let Some(stream) = stream_of(&entry) else {
            continue;
        };
        let next = stream
            .machine()
            .on_xadd(key, now_ms(), || with_redis(|ctx| stream_len(ctx, key)));
        perform(&entry, actions(next));
    }
}

/// RG.PAUSEREGISTRATIONS (`pausing`) or RG.UNPAUSEREGISTRATIONS of a StreamReader
/// registration; false for another reader.
pub fn set_paused(entry: &Arc<RegistrationEntry>, pausing: bool) -> bool {
    let Some(stream) = stream_of(entry) else {
        return false;
    };
    let next = if pausing {
        stream.machine().pause()
    } else {
        stream.machine().unpause()
    };
    perform(entry, actions(next));
    true
}

/// The server became a master (`master`) or a replica: a StreamReader registration
/// starts reading, or drops what it tracked.
pub fn role_changed(entry: &Arc<RegistrationEntry>, master: bool) {
    let Some(stream) = stream_of(entry) else {
        return;
    };
    let next = if master {
        stream.machine().on_became_master()
    } else {
        stream.machine().on_became_replica()
    };
    perform(entry, actions(next));
}

#[cfg(test)]
mod tests {
    use super::trim_threshold;

    #[test]
    fn the_trim_threshold_is_just_past_the_highest_id_read() {
        let ids: [&[u8]; 3] = [b"5-1", b"7-0", b"6-9"];
        assert_eq!(trim_threshold(ids.into_iter()).as_deref(), Some("7-1"));
        let last: [&[u8]; 1] = [b"3-18446744073709551615"];
        assert_eq!(trim_threshold(last.into_iter()).as_deref(), Some("4-0"));
        let bad: [&[u8]; 2] = [b"5-1", b"x"];
        assert_eq!(trim_threshold(bad.into_iter()), None);
        assert_eq!(trim_threshold(std::iter::empty()), None);
    }
}
