//! The reply shapes of RedisGears 1.2 (behaviour.md §5.5, §8), as named constructors.
//!
//! Callers fill plain view structs; the constructors lay them out in RedisGears'
//! exact order, so the same state always gives the same reply.
//!
//! ```
//! use gears_protocol::replies::{self, ExecutionSummary};
//! use gears_protocol::Reply;
//!
//! let entry = replies::dump_executions(&[ExecutionSummary {
//!     id: "0000000000000000000000000000000000000000-0".into(),
//!     status: "done",
//!     registered: false,
//! }]);
//! assert_eq!(entry.to_string(), "[[\"executionId\", \"0000000000000000000000000000000000000000-0\", \"status\", \"done\", \"registered\", (integer) 0]]");
//! ```

use crate::reply::Reply;

/// `[[results...], [errors...]]`: the reply of a finished run (RG.PYEXECUTE,
/// RG.GETRESULTS, RG.GETRESULTSBLOCKING). Errors are bulk strings.
pub fn results_and_errors(results: Vec<Reply>, errors: &[String]) -> Reply {
    Reply::array([
        Reply::Array(results),
        Reply::array(errors.iter().map(|e| Reply::bulk(e.as_bytes()))),
    ])
}

/// One line of RG.DUMPEXECUTIONS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionSummary {
    /// The execution id.
    pub id: String,
    /// Its status name (`created`, `running`, ..., `done`, `aborted`).
    pub status: &'static str,
    /// Whether a registration created it.
    pub registered: bool,
}

/// RG.DUMPEXECUTIONS: `[['executionId', id, 'status', s, 'registered', 0|1], ...]`.
pub fn dump_executions(executions: &[ExecutionSummary]) -> Reply {
    Reply::array(executions.iter().map(|e| {
        Reply::array([
            Reply::bulk("executionId"),
            Reply::bulk(e.id.as_bytes()),
            Reply::bulk("status"),
            Reply::bulk(e.status),
            Reply::bulk("registered"),
            Reply::Integer(i64::from(e.registered)),
        ])
    }))
}

/// One step of an execution plan, as RG.GETEXECUTION shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepView {
    /// The core step type (`map`, `flatmap`, `filter`, ...).
    pub kind: &'static str,
    /// Milliseconds spent in it (0 unless ProfileExecutions is on).
    pub duration_ms: i64,
    /// The callback's name (`RedisGearsPy_PyCallbackMapper`, `collect`, ...).
    pub name: String,
    /// The callback's description (the repr of a Python function), or "".
    pub arg: String,
}

/// One shard's view of an execution for RG.GETEXECUTION.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionPlanView {
    /// The shard's 40-character id.
    pub shard_id: String,
    /// Status name.
    pub status: &'static str,
    /// Shards that received the execution.
    pub shards_received: i64,
    /// Shards that completed it.
    pub shards_completed: i64,
    /// Number of results, or `None` while not done (shown as -1).
    pub results: Option<i64>,
    /// Error texts (empty while not done).
    pub errors: Vec<String>,
    /// Total milliseconds.
    pub total_duration_ms: i64,
    /// Milliseconds spent reading.
    pub read_duration_ms: i64,
    /// The steps from the first to the last (shown last-to-first, reader excluded).
    pub steps: Vec<StepView>,
}

/// `['shard_id', id, 'execution_plan', [16 items]]`: one shard's entry.
pub fn execution_plan_entry(view: &ExecutionPlanView) -> Reply {
    let steps = view.steps.iter().rev().map(|step| {
        Reply::array([
            Reply::bulk("type"),
            Reply::bulk(step.kind),
            Reply::bulk("duration"),
            Reply::Integer(step.duration_ms),
            Reply::bulk("name"),
            Reply::bulk(step.name.as_bytes()),
            Reply::bulk("arg"),
            Reply::bulk(step.arg.as_bytes()),
        ])
    });
    Reply::array([
        Reply::bulk("shard_id"),
        Reply::bulk(view.shard_id.as_bytes()),
        Reply::bulk("execution_plan"),
        Reply::array([
            Reply::bulk("status"),
            Reply::bulk(view.status),
            Reply::bulk("shards_received"),
            Reply::Integer(view.shards_received),
            Reply::bulk("shards_completed"),
            Reply::Integer(view.shards_completed),
            Reply::bulk("results"),
            Reply::Integer(view.results.unwrap_or(-1)),
            Reply::bulk("errors"),
            Reply::array(view.errors.iter().map(|e| Reply::bulk(e.as_bytes()))),
            Reply::bulk("total_duration"),
            Reply::Integer(view.total_duration_ms),
            Reply::bulk("read_duration"),
            Reply::Integer(view.read_duration_ms),
            Reply::bulk("steps"),
            Reply::array(steps),
        ]),
    ])
}

/// RG.GETEXECUTION ... SHARD: an array holding this shard's entry.
pub fn get_execution_shard(view: &ExecutionPlanView) -> Reply {
    Reply::array([execution_plan_entry(view)])
}

/// The counters every registration shows in RG.DUMPREGISTRATIONS.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationStatsView {
    /// `async`, `async_local` or `sync`.
    pub mode: &'static str,
    /// Executions triggered.
    pub triggered: i64,
    /// Executions that succeeded.
    pub success: i64,
    /// Executions that failed.
    pub failures: i64,
    /// Executions aborted.
    pub aborted: i64,
    /// Milliseconds of the last run.
    pub last_run_ms: i64,
    /// Milliseconds of all runs.
    pub total_run_ms: i64,
    /// Average milliseconds per finished run.
    pub avg_run_ms: f64,
    /// The last error, cleared by a later success.
    pub last_error: Option<String>,
}

/// The reader-specific part of a registration's dump.
#[derive(Clone, Debug, PartialEq)]
pub enum RegistrationArgsView {
    /// KeysReader: `regex`, `eventTypes`, `keyTypes`, `hookCommands`.
    Keys {
        /// The prefix as given.
        regex: Vec<u8>,
        /// Event names, or none for all.
        event_types: Option<Vec<String>>,
        /// Key types, or none for all.
        key_types: Option<Vec<String>>,
        /// Commands of `commands=`, or none.
        hook_commands: Option<Vec<String>>,
    },
    /// CommandReader: `trigger` (the trigger or the hooked command) and `inorder`.
    Command {
        /// The trigger name, or the hooked command.
        trigger: String,
        /// Whether executions run one after another.
        in_order: bool,
    },
    /// StreamReader: batching, policy, lag and status.
    Stream {
        /// `batch`.
        batch: i64,
        /// `duration` in milliseconds.
        duration_ms: i64,
        /// The stream prefix.
        stream: Vec<u8>,
        /// `trimStream`.
        trim: bool,
        /// `continue`, `abort` or `retry`.
        on_failed_policy: &'static str,
        /// `onFailedRetryInterval` in seconds.
        retry_interval: i64,
        /// Lag of the last batch, ms.
        last_lag_ms: i64,
        /// Average lag, ms.
        avg_lag_ms: f64,
        /// `OK`, `WAITING_FOR_RETRY_ON_FAILURE`, `ABORTED` or `PAUSED`.
        status: &'static str,
    },
}

/// One registration as RG.DUMPREGISTRATIONS shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationView {
    /// The registration id.
    pub id: String,
    /// `KeysReader`, `StreamReader` or `CommandReader`.
    pub reader: &'static str,
    /// The description.
    pub desc: Option<String>,
    /// The counters.
    pub stats: RegistrationStatsView,
    /// The reader's part.
    pub args: RegistrationArgsView,
    /// The session string (PD).
    pub private_data: Option<String>,
}

fn optional_text(text: &Option<String>) -> Reply {
    text.as_ref()
        .map_or(Reply::Nil, |t| Reply::bulk(t.as_bytes()))
}

fn optional_list(items: &Option<Vec<String>>) -> Reply {
    items.as_ref().map_or(Reply::Nil, |items| {
        Reply::array(items.iter().map(|i| Reply::bulk(i.as_bytes())))
    })
}

/// `RegistrationData`: 20 items (KeysReader, CommandReader) or 26 (StreamReader).
pub fn registration_data(stats: &RegistrationStatsView, args: &RegistrationArgsView) -> Reply {
    let mut items = vec![
        Reply::bulk("mode"),
        Reply::bulk(stats.mode),
        Reply::bulk("numTriggered"),
        Reply::Integer(stats.triggered),
        Reply::bulk("numSuccess"),
        Reply::Integer(stats.success),
        Reply::bulk("numFailures"),
        Reply::Integer(stats.failures),
        Reply::bulk("numAborted"),
        Reply::Integer(stats.aborted),
        Reply::bulk("lastRunDurationMS"),
        Reply::Integer(stats.last_run_ms),
        Reply::bulk("totalRunDurationMS"),
        Reply::Integer(stats.total_run_ms),
        Reply::bulk("avgRunDurationMS"),
        Reply::Double(stats.avg_run_ms),
    ];
    let last_error = [Reply::bulk("lastError"), optional_text(&stats.last_error)];
    match args {
        RegistrationArgsView::Keys {
            regex,
            event_types,
            key_types,
            hook_commands,
        } => {
            items.extend(last_error);
            items.push(Reply::bulk("args"));
            items.push(Reply::array([
                Reply::bulk("regex"),
                Reply::bulk(regex.clone()),
                Reply::bulk("eventTypes"),
                optional_list(event_types),
                Reply::bulk("keyTypes"),
                optional_list(key_types),
                Reply::bulk("hookCommands"),
                optional_list(hook_commands),
            ]));
        }
        RegistrationArgsView::Command { trigger, in_order } => {
            items.extend(last_error);
            items.push(Reply::bulk("args"));
            items.push(Reply::array([
                Reply::bulk("trigger"),
                Reply::bulk(trigger.as_bytes()),
                Reply::bulk("inorder"),
                Reply::Integer(i64::from(*in_order)),
            ]));
        }
        RegistrationArgsView::Stream {
            batch,
            duration_ms,
            stream,
            trim,
            on_failed_policy,
            retry_interval,
            last_lag_ms,
            avg_lag_ms,
            status,
        } => {
            items.push(Reply::bulk("lastEstimatedLagMS"));
            items.push(Reply::Integer(*last_lag_ms));
            items.push(Reply::bulk("avgEstimatedLagMS"));
            items.push(Reply::Double(*avg_lag_ms));
            items.extend(last_error);
            items.push(Reply::bulk("args"));
            items.push(Reply::array([
                Reply::bulk("batchSize"),
                Reply::Integer(*batch),
                Reply::bulk("durationMS"),
                Reply::Integer(*duration_ms),
                Reply::bulk("stream"),
                Reply::bulk(stream.clone()),
                Reply::bulk("trimStream"),
                Reply::Integer(i64::from(*trim)),
                Reply::bulk("onFailedPolicy"),
                Reply::bulk(*on_failed_policy),
                Reply::bulk("retryInterval"),
                Reply::Integer(*retry_interval),
            ]));
            items.push(Reply::bulk("status"));
            items.push(Reply::bulk(*status));
        }
    }
    Reply::Array(items)
}

/// A session as the `PD` string of RG.DUMPREGISTRATIONS shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    /// The session id (the `ID` of RG.PYEXECUTE, or 40 random hex characters).
    pub id: String,
    /// Its `DESCRIPTION`.
    pub description: Option<String>,
    /// How many holders keep it alive (the sessions dictionary and its registrations).
    pub ref_count: i64,
    /// `primary`, `temprary` (sic) or `None`.
    pub linked: &'static str,
    /// Unlinked by an upgrade and not yet freed.
    pub dead: bool,
    /// Requirements still to install.
    pub installation_needed: bool,
    /// Its registrations' ids, oldest first.
    pub registrations: Vec<String>,
    /// Its requirements.
    pub requirements: Vec<String>,
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("'{item}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `PD` string: `{'sessionName':'<id>', 'sessionDescription':'<d|null>', ...}`.
pub fn session_private_data(session: &SessionView) -> String {
    format!(
        "{{'sessionName':'{}', 'sessionDescription':'{}', 'refCount': {}, 'linkedTo': {}, 'dead': {}, 'isInstallationNeeded':{}, 'registrationsList':[{}], 'depsList':[{}]}}",
        session.id,
        session.description.as_deref().unwrap_or("null"),
        session.ref_count,
        session.linked,
        session.dead,
        i32::from(session.installation_needed),
        quoted_list(&session.registrations),
        quoted_list(&session.requirements),
    )
}

/// RG.DUMPREGISTRATIONS: a 12-item array per registration.
pub fn dump_registrations(registrations: &[RegistrationView]) -> Reply {
    Reply::array(registrations.iter().map(|r| {
        Reply::array([
            Reply::bulk("id"),
            Reply::bulk(r.id.as_bytes()),
            Reply::bulk("reader"),
            Reply::bulk(r.reader),
            Reply::bulk("desc"),
            optional_text(&r.desc),
            Reply::bulk("RegistrationData"),
            registration_data(&r.stats, &r.args),
            Reply::bulk("PD"),
            optional_text(&r.private_data),
            Reply::bulk("ExecutionThreadPool"),
            Reply::bulk("DefaultPool"),
        ])
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pd_string_lists_the_session() {
        let view = super::SessionView {
            id: "s1".to_owned(),
            description: None,
            ref_count: 2,
            linked: "primary",
            dead: false,
            installation_needed: false,
            registrations: vec!["0000000000000000000000000000000000000000-1".to_owned()],
            requirements: Vec::new(),
        };
        assert_eq!(
            super::session_private_data(&view),
            "{'sessionName':'s1', 'sessionDescription':'null', 'refCount': 2, 'linkedTo': primary, 'dead': false, 'isInstallationNeeded':0, 'registrationsList':['0000000000000000000000000000000000000000-1'], 'depsList':[]}"
        );
    }

    use super::*;

    #[test]
    fn results_and_errors_shape() {
        assert_eq!(
            results_and_errors(vec![Reply::bulk("a")], &["boom".to_owned()]),
            Reply::array([
                Reply::array([Reply::bulk("a")]),
                Reply::array([Reply::bulk("boom")])
            ])
        );
    }

    fn stats() -> RegistrationStatsView {
        RegistrationStatsView {
            mode: "async",
            triggered: 1,
            success: 1,
            failures: 0,
            aborted: 0,
            last_run_ms: 0,
            total_run_ms: 0,
            avg_run_ms: 0.0,
            last_error: None,
        }
    }

    fn len(reply: &Reply) -> usize {
        match reply {
            Reply::Array(items) => items.len(),
            _ => 0,
        }
    }

    #[test]
    fn registration_data_has_the_documented_sizes() {
        let keys = RegistrationArgsView::Keys {
            regex: b"*".to_vec(),
            event_types: None,
            key_types: Some(vec!["string".into()]),
            hook_commands: None,
        };
        assert_eq!(len(&registration_data(&stats(), &keys)), 20);
        let command = RegistrationArgsView::Command {
            trigger: "test".into(),
            in_order: false,
        };
        let data = registration_data(&stats(), &command);
        assert_eq!(len(&data), 20);
        let Reply::Array(items) = &data else { panic!() };
        assert_eq!(items[15], Reply::Double(0.0));
        assert_eq!(
            items[19],
            Reply::array([
                Reply::bulk("trigger"),
                Reply::bulk("test"),
                Reply::bulk("inorder"),
                Reply::Integer(0)
            ])
        );
        let stream = RegistrationArgsView::Stream {
            batch: 1,
            duration_ms: 0,
            stream: b"s".to_vec(),
            trim: true,
            on_failed_policy: "continue",
            retry_interval: 1,
            last_lag_ms: 0,
            avg_lag_ms: 0.0,
            status: "OK",
        };
        let data = registration_data(
            &RegistrationStatsView {
                last_error: Some("boom".into()),
                ..stats()
            },
            &stream,
        );
        assert_eq!(len(&data), 26);
        let Reply::Array(items) = &data else { panic!() };
        assert_eq!(
            (items[20].clone(), items[21].clone()),
            (Reply::bulk("lastError"), Reply::bulk("boom"))
        );
        let entry = dump_registrations(&[RegistrationView {
            id: "x-1".into(),
            reader: "StreamReader",
            desc: None,
            stats: stats(),
            args: stream,
            private_data: None,
        }]);
        let Reply::Array(entries) = entry else {
            panic!()
        };
        assert_eq!(len(&entries[0]), 12);
    }

    #[test]
    fn plan_has_sixteen_items_and_steps_last_to_first() {
        let view = ExecutionPlanView {
            shard_id: "0".repeat(40),
            status: "done",
            shards_received: 0,
            shards_completed: 0,
            results: Some(2),
            errors: vec![],
            total_duration_ms: 1,
            read_duration_ms: 0,
            steps: vec![
                StepView {
                    kind: "map",
                    duration_ms: 0,
                    name: "RedisGearsPy_ToPyRecordMapper".into(),
                    arg: String::new(),
                },
                StepView {
                    kind: "collect",
                    duration_ms: 0,
                    name: "collect".into(),
                    arg: String::new(),
                },
            ],
        };
        let Reply::Array(outer) = get_execution_shard(&view) else {
            panic!()
        };
        let Reply::Array(entry) = &outer[0] else {
            panic!()
        };
        let Reply::Array(plan) = &entry[3] else {
            panic!()
        };
        assert_eq!(plan.len(), 16);
        assert_eq!(plan[7], Reply::Integer(2));
        let Reply::Array(steps) = &plan[15] else {
            panic!()
        };
        let Reply::Array(first) = &steps[0] else {
            panic!()
        };
        assert_eq!(first[1], Reply::bulk("collect"));
        let running = ExecutionPlanView {
            results: None,
            ..view
        };
        let Reply::Array(outer) = get_execution_shard(&running) else {
            panic!()
        };
        let Reply::Array(entry) = &outer[0] else {
            panic!()
        };
        let Reply::Array(plan) = &entry[3] else {
            panic!()
        };
        assert_eq!(plan[7], Reply::Integer(-1));
    }
}
