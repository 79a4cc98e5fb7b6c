//! RG.PYEXECUTE (behaviour.md §5.5): run a Python script in a new session and, when
//! it asked for a run, start that execution on the execution threads.
//!
//! The script itself runs here, on the main thread, under the Redis lock (then the
//! GIL, in that order). A blocking run blocks the client until the execution is
//! done, replies `[[results], [errors]]` and drops the execution; UNBLOCKING replies
//! the execution id and keeps it listed.

use crate::blocked::BlockedClient;
use crate::entry;
use crate::log;
use crate::registrations::sessions;
use crate::state;
use gears_executions::execution::Execution;
use gears_executions::runner::run;
use gears_protocol::request::PyExecute;
use gears_protocol::{errors, Reply, Request};
use gears_python::builder::{with_script_context, PendingRun};
use gears_python::pyo3::Python;
use gears_python::readers::{make_reader, runtime};
use gears_python::Session;
use redis_module::{Context, ContextFlags, RedisResult, RedisString};
use std::sync::Arc;

/// `RG.PYEXECUTE <script> [UNBLOCKING] [ID id] [DESCRIPTION d] [UPGRADE] [REPLACE_WITH id] [REQUIREMENTS ...]`
pub fn pyexecute(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    entry::command_or_block(ctx, args, "RG.PYEXECUTE", |ctx, argv| {
        // RedisGears checks where it runs before it looks at the arguments.
        let flags = ctx.get_flags();
        if flags.intersects(ContextFlags::MULTI | ContextFlags::LUA | ContextFlags::DENY_BLOCKING) {
            return Some(errors::can_not_run_gears_here());
        }
        let request = match Request::parse(argv) {
            Ok(Request::PyExecute(request)) => request,
            Ok(_) => return Some(errors::internal_error("RG.PYEXECUTE")),
            Err(error) => return Some(error.reply()),
        };
        execute(ctx, request)
    })
}

fn execute(ctx: &Context, request: PyExecute) -> Option<Reply> {
    if !request.requirements.is_empty() {
        log::warning(
            "RG.PYEXECUTE REQUIREMENTS: installing requirements is not supported by gears-rs yet",
        );
        return Some(errors::could_not_satisfy_requirements());
    }
    let session_plan = match sessions::plan_session(&request) {
        Ok(plan) => plan,
        Err(reply) => return Some(reply),
    };
    let attempt_traceback = state::config().python_attempt_traceback();
    let outcome = sessions::with_replacing(&session_plan, || {
        Python::attach(|py| {
            let session = Session::new(py)?;
            let (result, script) =
                with_script_context(|| session.run_script(py, &request.script, attempt_traceback));
            result.map(|()| script)
        })
    });
    let script = match outcome {
        Err(error) => return Some(Reply::error(error.text)),
        Ok(script) => script,
    };
    let registered = sessions::apply(ctx, session_plan, script.registrations);
    match script.run {
        // Registering wins the reply; a run the script also asked for still runs.
        Some(pending) if registered => {
            start(ctx, pending, true);
            Some(Reply::ok())
        }
        Some(pending) => start(ctx, pending, request.unblocking),
        None => Some(Reply::ok()),
    }
}

/// Starts a run on the execution threads; `None` when the client was blocked.
fn start(ctx: &Context, pending: PendingRun, unblocking: bool) -> Option<Reply> {
    let Some(engine) = state::engine() else {
        return Some(errors::internal_error(
            "the execution engine is not started",
        ));
    };
    let mut reader = match make_reader(pending.reader) {
        Ok(reader) => reader,
        Err(error) => return Some(Reply::error(error)),
    };
    let profile = state::hot().profile_executions;
    let execution = Arc::new(Execution::new(
        engine.store.next_execution_id(),
        Arc::new(pending.plan),
        false,
    ));
    let reply = if unblocking {
        Some(Reply::bulk(execution.id().to_string()))
    } else {
        let Some(blocked) = BlockedClient::block(ctx) else {
            return Some(errors::can_not_run_gears_here());
        };
        let id = execution.id();
        execution.on_done(move |outcome| {
            // A blocking run is not kept once it replied: unlisted first, so that
            // the client's next command never sees it.
            if let Some(engine) = state::engine() {
                engine.store.remove(&id);
            }
            blocked.reply(&outcome.reply());
        });
        None
    };
    engine.store.add(execution.clone());
    let submitted = engine.pool.submit(Box::new(move || {
        run(&execution, reader.as_mut(), &runtime(), profile);
    }));
    if !submitted {
        log::warning("RG.PYEXECUTE: the execution threads are shutting down");
    }
    reply
}
