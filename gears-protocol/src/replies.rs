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

#[cfg(test)]
mod tests {
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
