//! The registration model: what a `register()` made, and its counters.
//!
//! A registration has an id (taken from the plan counter), a reader with its
//! arguments, a mode, the session that made it and the stats RG.DUMPREGISTRATIONS
//! shows: triggered, succeeded, failed and aborted executions, run durations and the
//! last error (cleared by a later success). RG.CLEARREGISTRATIONSSTATS resets them
//! but keeps counting the executions still in flight as triggered.

use crate::stream::OnFailedPolicy;
use gears_protocol::replies::{RegistrationArgsView, RegistrationStatsView, RegistrationView};
use gears_protocol::GearsId;
use serde::{Deserialize, Serialize};

/// How a registration's executions run (behaviour.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// On the execution threads, distributed to every shard.
    Async,
    /// On the execution threads, this shard only.
    AsyncLocal,
    /// Inline, inside the event or command that triggered it.
    Sync,
}

impl Mode {
    /// `async`, `async_local` or `sync`; anything else is `unknown execution mode`.
    pub fn parse(text: &str) -> Result<Mode, &'static str> {
        match text {
            "async" => Ok(Mode::Async),
            "async_local" => Ok(Mode::AsyncLocal),
            "sync" => Ok(Mode::Sync),
            _ => Err("unknown execution mode"),
        }
    }

    /// The name replies show.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Async => "async",
            Mode::AsyncLocal => "async_local",
            Mode::Sync => "sync",
        }
    }
}

/// The key types KeysReader registrations accept in `keyTypes`.
pub const KEY_TYPES: &[&str] = &[
    "string", "list", "hash", "set", "zset", "stream", "module", "empty",
];

/// KeysReader registration arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysArgs {
    /// The prefix rule (see [`crate::prefix`]).
    pub prefix: Vec<u8>,
    /// Event names to fire on (case-insensitive); `None` for all.
    pub event_types: Option<Vec<String>>,
    /// Key types to fire on; `None` for all.
    pub key_types: Option<Vec<String>>,
    /// Whether records carry the value.
    pub read_value: bool,
    /// Commands that must be running for an event to fire (`commands=`).
    pub commands: Option<Vec<String>>,
}

impl KeysArgs {
    /// Whether an event named `event` (as Redis spells it) passes `eventTypes`.
    pub fn accepts_event(&self, event: &[u8]) -> bool {
        self.event_types.as_ref().is_none_or(|types| {
            types
                .iter()
                .any(|t| t.as_bytes().eq_ignore_ascii_case(event))
        })
    }

    /// Whether a key of type `key_type` (a [`KEY_TYPES`] name) passes `keyTypes`.
    pub fn accepts_key_type(&self, key_type: &str) -> bool {
        self.key_types
            .as_ref()
            .is_none_or(|types| types.iter().any(|t| t == key_type))
    }
}

/// What fires a CommandReader registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandTrigger {
    /// `RG.TRIGGER <name>` / `RG.TRIGGERONKEY <name> <key>`.
    Trigger(String),
    /// A hooked Redis command, optionally only for keys with a prefix.
    Hook {
        /// The command.
        command: String,
        /// `keyprefix`.
        key_prefix: Option<Vec<u8>>,
    },
}

/// StreamReader registration arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamArgs {
    /// The stream prefix rule.
    pub prefix: Vec<u8>,
    /// `batch`.
    pub batch: u64,
    /// `duration`, milliseconds.
    pub duration_ms: u64,
    /// `onFailedPolicy`: `continue`, `abort` or `retry`.
    pub on_failed: OnFailedPolicy,
    /// `onFailedRetryInterval`, seconds.
    pub retry_interval_secs: u64,
    /// `trimStream`.
    pub trim: bool,
}

/// A registration's reader and its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ReaderArgs {
    /// KeysReader.
    Keys(KeysArgs),
    /// StreamReader.
    Stream(StreamArgs),
    /// CommandReader.
    Command {
        /// Trigger or hook.
        trigger: CommandTrigger,
        /// `inorder`.
        in_order: bool,
    },
}

impl ReaderArgs {
    /// The reader's name.
    pub fn reader_name(&self) -> &'static str {
        match self {
            ReaderArgs::Keys(_) => "KeysReader",
            ReaderArgs::Stream(_) => "StreamReader",
            ReaderArgs::Command { .. } => "CommandReader",
        }
    }
}

/// How an execution of a registration ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// No error.
    Success,
    /// Errors; the first one's text.
    Failure(String),
    /// Aborted.
    Aborted,
}

/// The counters of a registration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Executions triggered.
    pub triggered: u64,
    /// Executions that succeeded.
    pub success: u64,
    /// Executions that failed.
    pub failures: u64,
    /// Executions aborted.
    pub aborted: u64,
    /// Milliseconds of the last run.
    pub last_run_ms: u64,
    /// Milliseconds of all runs.
    pub total_run_ms: u64,
    /// The last error, until a success.
    pub last_error: Option<String>,
}

impl Stats {
    /// An execution was triggered.
    pub fn triggered(&mut self) {
        self.triggered += 1;
    }

    /// An execution finished.
    pub fn finished(&mut self, outcome: RunOutcome, duration_ms: u64) {
        self.last_run_ms = duration_ms;
        self.total_run_ms = self.total_run_ms.saturating_add(duration_ms);
        match outcome {
            RunOutcome::Success => {
                self.success += 1;
                self.last_error = None;
            }
            RunOutcome::Failure(error) => {
                self.failures += 1;
                self.last_error = Some(error);
            }
            RunOutcome::Aborted => self.aborted += 1,
        }
    }

    /// Executions triggered and not finished yet.
    pub fn in_flight(&self) -> u64 {
        self.triggered
            .saturating_sub(self.success + self.failures + self.aborted)
    }

    /// `totalRunDurationMS / (success + failures + aborted)`, or 0.
    pub fn avg_run_ms(&self) -> f64 {
        let finished = self.success + self.failures + self.aborted;
        if finished == 0 {
            0.0
        } else {
            self.total_run_ms as f64 / finished as f64
        }
    }

    /// RG.CLEARREGISTRATIONSSTATS: everything back to zero, except that executions
    /// still in flight stay counted as triggered.
    pub fn clear(&mut self) {
        *self = Stats {
            triggered: self.in_flight(),
            ..Stats::default()
        };
    }
}

/// One registration.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    /// Its id.
    pub id: GearsId,
    /// Reader and arguments.
    pub reader: ReaderArgs,
    /// The description of the builder.
    pub description: Option<String>,
    /// Execution mode.
    pub mode: Mode,
    /// The session that made it.
    pub session_id: String,
    /// Counters.
    pub stats: Stats,
}

impl Registration {
    /// Its RG.DUMPREGISTRATIONS entry; `stream` supplies a StreamReader's lag and
    /// status (`(last lag ms, average lag ms, status)`), `private_data` the session
    /// string.
    pub fn view(
        &self,
        stream: Option<(i64, f64, &'static str)>,
        private_data: Option<String>,
    ) -> RegistrationView {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let stats = RegistrationStatsView {
            mode: self.mode.name(),
            triggered: count(self.stats.triggered),
            success: count(self.stats.success),
            failures: count(self.stats.failures),
            aborted: count(self.stats.aborted),
            last_run_ms: count(self.stats.last_run_ms),
            total_run_ms: count(self.stats.total_run_ms),
            avg_run_ms: self.stats.avg_run_ms(),
            last_error: self.stats.last_error.clone(),
        };
        let args = match &self.reader {
            ReaderArgs::Keys(keys) => RegistrationArgsView::Keys {
                regex: keys.prefix.clone(),
                event_types: keys.event_types.clone(),
                key_types: keys.key_types.clone(),
                hook_commands: keys.commands.clone(),
            },
            ReaderArgs::Command { trigger, in_order } => RegistrationArgsView::Command {
                trigger: match trigger {
                    CommandTrigger::Trigger(name) => name.clone(),
                    CommandTrigger::Hook { command, .. } => command.clone(),
                },
                in_order: *in_order,
            },
            ReaderArgs::Stream(args) => {
                let (last_lag_ms, avg_lag_ms, status) = stream.unwrap_or((0, 0.0, "OK"));
                RegistrationArgsView::Stream {
                    batch: count(args.batch),
                    duration_ms: count(args.duration_ms),
                    stream: args.prefix.clone(),
                    trim: args.trim,
                    on_failed_policy: args.on_failed.as_str(),
                    retry_interval: count(args.retry_interval_secs),
                    last_lag_ms,
                    avg_lag_ms,
                    status,
                }
            }
        };
        RegistrationView {
            id: self.id.to_string(),
            reader: self.reader.reader_name(),
            desc: self.description.clone(),
            stats,
            args,
            private_data,
        }
    }
}

/// The finished local executions a registration keeps listed
/// (`MaxExecutionsPerRegistration`): the oldest go first.
#[derive(Debug, Default)]
pub struct RecentExecutions {
    ids: std::collections::VecDeque<GearsId>,
}

impl RecentExecutions {
    /// Records a finished execution and hands `drop` the ones that no longer fit
    /// under `cap`, oldest first; 0 or less means no limit, as in RedisGears.
    pub fn push(&mut self, id: GearsId, cap: i64, mut drop: impl FnMut(GearsId)) {
        self.ids.push_back(id);
        let Ok(keep) = usize::try_from(cap) else {
            return;
        };
        if keep == 0 {
            return;
        }
        let over = self.ids.len().saturating_sub(keep);
        for old in self.ids.drain(..over) {
            drop(old);
        }
    }

    /// Forgets an execution dropped by other means (RG.DROPEXECUTION, trimming).
    pub fn forget(&mut self, id: &GearsId) {
        self.ids.retain(|kept| kept != id);
    }

    /// Takes every id kept, oldest first, leaving none.
    pub fn take(&mut self) -> Vec<GearsId> {
        self.ids.drain(..).collect()
    }

    /// Every id kept, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = &GearsId> {
        self.ids.iter()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn recent_executions_keep_the_newest_under_the_cap() {
        let id = |n| GearsId::new(ShardId::STANDALONE, n);
        let mut recent = RecentExecutions::default();
        let push = |recent: &mut RecentExecutions, n, cap| {
            let mut dropped = Vec::new();
            recent.push(id(n), cap, |old| dropped.push(old));
            dropped
        };
        assert!(push(&mut recent, 1, 2).is_empty());
        assert!(push(&mut recent, 2, 2).is_empty());
        assert_eq!(push(&mut recent, 3, 2), vec![id(1)]);
        recent.forget(&id(2));
        assert_eq!(recent.ids().copied().collect::<Vec<_>>(), vec![id(3)]);
        // 0 or less: no limit.
        assert!(push(&mut recent, 4, 0).is_empty());
        assert!(push(&mut recent, 5, -1).is_empty());
        assert_eq!(push(&mut recent, 6, 1), vec![id(3), id(4), id(5)]);
    }

    use super::*;
    use gears_protocol::ShardId;
    use rstest::rstest;

    #[rstest]
    #[case("async", Ok(Mode::Async))]
    #[case("async_local", Ok(Mode::AsyncLocal))]
    #[case("sync", Ok(Mode::Sync))]
    #[case("SYNC", Err("unknown execution mode"))]
    #[case("", Err("unknown execution mode"))]
    fn modes(#[case] text: &str, #[case] expected: Result<Mode, &'static str>) {
        assert_eq!(Mode::parse(text), expected);
        if let Ok(mode) = expected {
            assert_eq!(mode.name(), text);
        }
    }

    #[test]
    fn stats_follow_outcomes_and_clear_keeps_in_flight() {
        let mut stats = Stats::default();
        for _ in 0..4 {
            stats.triggered();
        }
        stats.finished(RunOutcome::Failure("boom".into()), 10);
        assert_eq!(stats.last_error.as_deref(), Some("boom"));
        stats.finished(RunOutcome::Success, 20);
        assert_eq!(stats.last_error, None);
        stats.finished(RunOutcome::Aborted, 0);
        assert_eq!(
            (
                stats.success,
                stats.failures,
                stats.aborted,
                stats.in_flight()
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(stats.total_run_ms, 30);
        assert_eq!(stats.avg_run_ms(), 10.0);
        stats.clear();
        assert_eq!(
            stats,
            Stats {
                triggered: 1,
                ..Stats::default()
            }
        );
        assert_eq!(Stats::default().avg_run_ms(), 0.0);
    }

    #[test]
    fn event_and_key_type_filters() {
        let args = KeysArgs {
            prefix: b"*".to_vec(),
            event_types: Some(vec!["SET".into(), "hset".into()]),
            key_types: Some(vec!["string".into()]),
            read_value: true,
            commands: None,
        };
        assert!(
            args.accepts_event(b"set")
                && args.accepts_event(b"hset")
                && !args.accepts_event(b"del")
        );
        assert!(args.accepts_key_type("string") && !args.accepts_key_type("hash"));
        let all = KeysArgs {
            event_types: None,
            key_types: None,
            ..args
        };
        assert!(all.accepts_event(b"expired") && all.accepts_key_type("empty"));
    }

    #[test]
    fn views_match_the_dump_shapes() {
        let registration = Registration {
            id: GearsId::new(ShardId::STANDALONE, 1),
            reader: ReaderArgs::Command {
                trigger: CommandTrigger::Trigger("mytrigger".into()),
                in_order: false,
            },
            description: None,
            mode: Mode::Async,
            session_id: "s".into(),
            stats: Stats::default(),
        };
        let view = registration.view(None, None);
        assert_eq!(view.reader, "CommandReader");
        assert_eq!(view.id, format!("{}-1", "0".repeat(40)));
        assert_eq!(
            view.args,
            RegistrationArgsView::Command {
                trigger: "mytrigger".into(),
                in_order: false
            }
        );
    }
}
