//! # gears-executions
//!
//! The language-neutral engine of gears-rs, like the C core of RedisGears: a
//! [`plan::Plan`] is a reader and ordered core steps whose callbacks a runtime
//! supplies ([`plan::Callback`]); [`record::Record`]s flow through a
//! [`pipeline::Pipeline`]; an [`execution::Execution`] holds status, results and
//! errors; the [`store::ExecutionStore`] hands out ids and keeps at most
//! `MaxExecutions` executions, some of them kept compactly by the registrations
//! that ran them ([`run_log::RunLog`]); [`pool::WorkerPool`] is the `ExecutionThreads` pool;
//! [`runner::run`] runs one execution. No Redis and no Python here: the keyspace
//! comes in through [`reader::KeySpace`] and the language through
//! [`runner::Runtime`].
//!
//! ```
//! use gears_executions::execution::{Execution, Status};
//! use gears_executions::plan::{Plan, Step, StepKind};
//! use gears_executions::reader::VecReader;
//! use gears_executions::record::Record;
//! use gears_executions::runner::{run, NativeRuntime};
//! use gears_executions::store::ExecutionStore;
//! use gears_protocol::Reply;
//! use std::sync::Arc;
//!
//! let store = ExecutionStore::default();
//! let plan = Arc::new(Plan {
//!     reader: "PythonReader".into(),
//!     steps: vec![Step::plain(StepKind::Limit { offset: 1, len: 2 }, "limit")].into(),
//!     description: None,
//! });
//! let execution = Arc::new(Execution::new(store.next_execution_id(), plan, false));
//! store.add(execution.clone());
//! let records = (1..=5).map(Record::Long).collect();
//! run(&execution, &mut VecReader::new(records), &NativeRuntime, false);
//! let outcome = execution.outcome().unwrap();
//! assert_eq!(outcome.status, Status::Done);
//! assert_eq!(outcome.results, vec![Reply::Integer(2), Reply::Integer(3)]);
//! ```

pub mod execution;
pub mod glob;
pub mod pipeline;
pub mod plan;
pub mod pool;
pub mod reader;
pub mod record;
pub mod run_log;
pub mod runner;
pub mod serial;
pub mod store;
