//! Every error text of RedisGears 1.2, as a named constructor.
//!
//! Clients and scripts match on these strings, so each one is written exactly once,
//! here, and everything else calls the constructor. The texts are the module's error
//! replies verbatim: a leading `ERR ` appears only where RedisGears wrote it, and the
//! configuration errors carry a literal `(error) ` prefix (redis-cli shows them as
//! `(error) (error) ...`).

use crate::reply::Reply;

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `ERR wrong number of arguments for '<command>' command`, what
/// `RedisModule_WrongArity` sends on Redis 7: the command name as it was registered
/// (`rg.getresults`, `RG.INNERREGISTER`), whatever case the client typed.
pub fn wrong_arity(command: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        lossy(command)
    ))
}

/// `ERR unknown command '<command>'`, for a name that is not an `RG.*` command.
pub fn unknown_command(command: &[u8]) -> Reply {
    Reply::error(format!("ERR unknown command '{}'", lossy(command)))
}

/// The reply of a command whose handler panicked (a gears-rs bug, never a user
/// error); the details are in the Redis log.
pub fn internal_error(command: &str) -> Reply {
    Reply::error(format!(
        "ERR internal error in {command}, the command was aborted (details in the Redis log)"
    ))
}

/// The one error of an execution during which gears-rs itself failed (a panic in
/// a reader or a step's machinery, never the user's code); the execution ends
/// `done` with it, so whoever waits for it gets an answer.
pub fn execution_internal_error(message: &str) -> String {
    format!("internal error while running the execution: {message}")
}

/// The longest error text an execution keeps, in bytes.
///
/// An error that reaches Python again (through `execute('RG.TRIGGER', ...)`, a
/// hook's `call_next`) is raised as `gears.error` and then written as the repr of a
/// traceback that contains it, which escapes it once more: a failure at the bottom
/// of a chain of twenty sync triggers would grow to gigabytes. A traceback is a few
/// kilobytes; this leaves room for long messages and stops the growth.
pub const ERROR_TEXT_LIMIT: usize = 64 * 1024;

/// `text` cut to at most [`ERROR_TEXT_LIMIT`] bytes (at a character boundary), with
/// a note saying it was.
pub fn limited_error_text(mut text: String) -> String {
    if text.len() <= ERROR_TEXT_LIMIT {
        return text;
    }
    let marker = format!("... (error text truncated at {ERROR_TEXT_LIMIT} bytes)");
    let mut end = ERROR_TEXT_LIMIT - marker.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&marker);
    text
}

// ---------------------------------------------------------------- configuration

/// CONFIGGET of a name that is neither a config nor in the extra dictionary.
pub fn config_unsupported(name: &[u8]) -> Reply {
    Reply::error(format!(
        "(error) Unsupported config parameter: {}",
        lossy(name)
    ))
}

/// CONFIGSET of a core config that can only be given at load time.
pub fn config_not_modifiable(name: &[u8]) -> Reply {
    Reply::error(format!(
        "(error) Config value {} not modifiable at runtime",
        lossy(name)
    ))
}

/// A core config value that does not validate (or is missing).
pub fn config_failed_setting(name: &[u8]) -> Reply {
    Reply::error(format!(
        "(error) Failed setting config value {}",
        lossy(name)
    ))
}

/// A name without a value at the end of RG.CONFIGSET or of the module arguments.
pub fn config_value_not_given(name: &[u8]) -> Reply {
    Reply::error(format!("(error) Value was not given to {}", lossy(name)))
}

/// CONFIGSET of a Python config that can only be given at load time.
pub fn python_config_not_configurable(name: &[u8]) -> Reply {
    Reply::error(format!(
        "(error) {} is not configurable at runtime",
        lossy(name)
    ))
}

/// CONFIGSET of a Python config whose value does not validate.
pub fn python_config_failed_setting(name: &[u8], value: &[u8]) -> Reply {
    Reply::error(format!(
        "Failed setting config value for key '{}' with value '{}'",
        lossy(name),
        lossy(value)
    ))
}

/// The element RG.CONFIGSET answers for a value stored in the extra dictionary.
pub const CONFIG_SAVED_IN_EXTRA: &str = "OK - value was saved in extra config dictionary";

// ---------------------------------------------------------------- executions

/// An execution id that is unknown or malformed.
pub fn execution_plan_does_not_exist() -> Reply {
    Reply::error("execution plan does not exist")
}

/// RG.GETRESULTS of an execution that has not finished.
pub fn execution_is_still_running() -> Reply {
    Reply::error("execution is still running")
}

/// RG.DROPEXECUTION of an execution that has not finished.
pub fn can_not_drop_running_execution() -> Reply {
    Reply::error("can not drop a not yet finished execution, abort it first.")
}

/// RG.ABORTEXECUTION of an unknown execution (note: not "execution plan").
pub fn execution_does_not_exist() -> Reply {
    Reply::error("execution does not exist")
}

/// RG.GETEXECUTION with a third argument other than SHARD or CLUSTER.
pub fn unknown_subcommand() -> Reply {
    Reply::error("unknown subcommand")
}

/// RG.GETEXECUTION CLUSTER outside a cluster.
pub fn no_cluster_detected() -> Reply {
    Reply::error("no cluster detected - use `RG.GETEXECUTION <id> [SHARD]` instead")
}

/// An execution paused on remote data longer than ExecutionMaxIdleTime.
pub fn execution_max_idle_reached() -> Reply {
    Reply::error("Execution max idle reached")
}

// ---------------------------------------------------------------- RG.PYEXECUTE

/// RG.PYEXECUTE inside MULTI, Lua, or a context that cannot block.
pub fn can_not_run_gears_here() -> Reply {
    Reply::error("Can not run gears inside a multi exec, lua, or when blocking is not allowed")
}

/// RG.PYEXECUTE with a word that is neither an option nor REQUIREMENTS.
pub fn unknown_arguments(word: &[u8]) -> Reply {
    Reply::error(format!("Unknown arguments were given: {}", lossy(word)))
}

/// RG.PYEXECUTE ... ID without a value.
pub fn id_is_missing() -> Reply {
    Reply::error("ID is missing")
}

/// RG.PYEXECUTE ... DESCRIPTION without a value.
pub fn description_is_missing() -> Reply {
    Reply::error("DESCRIPTION is missing")
}

/// RG.PYEXECUTE ... REPLACE_WITH without a value.
pub fn replace_with_is_missing() -> Reply {
    Reply::error("REPLACE_WITH is missing")
}

/// A session id with a character outside `[A-Za-z0-9_-]`.
pub fn id_bad_characters() -> Reply {
    Reply::error("ID must be compose of: ['A'-'Z' | 'a'-'z' | '0' - '9' | '-' | '_']")
}

/// RG.PYEXECUTE ID of an existing session without UPGRADE.
pub fn session_already_exists(id: &str) -> Reply {
    Reply::error(format!("Session {id} already exists"))
}

/// REPLACE_WITH a session that does not exist.
pub fn can_not_replace_missing_session(old: &str) -> Reply {
    Reply::error(format!(
        "Can not replace with {old}, session does not exists."
    ))
}

/// REPLACE_WITH while the new id already exists.
pub fn can_not_replace_existing_session(id: &str, old: &str) -> Reply {
    Reply::error(format!(
        "Can not replace an existing session {id} with {old}"
    ))
}

/// A failed requirement installation.
pub fn could_not_satisfy_requirements() -> Reply {
    Reply::error("Could not satisfy requirements, look at the log file for more information.")
}

/// A session that cannot be serialized for registration.
pub fn failed_serializing_session() -> Reply {
    Reply::error("Failed serializing session")
}

/// A script that failed without a Python error text.
pub fn failed_running_script() -> Reply {
    Reply::error("failed running the given script")
}

// ---------------------------------------------------------------- registrations

/// RG.UNREGISTER of an unknown or malformed registration id.
pub fn execution_is_not_registered() -> Reply {
    Reply::error("execution is not registered")
}

/// RG.UNREGISTER of a registration whose reader cannot unregister.
pub fn reader_does_not_support_unregister() -> Reply {
    Reply::error("reader does not support unregister")
}

/// RG.PAUSEREGISTRATIONS / RG.UNPAUSEREGISTRATIONS without an id.
pub fn no_registration_to_pause() -> Reply {
    Reply::error("ERR no registration to pause")
}

/// RG.PAUSEREGISTRATIONS of an id unknown on this shard.
pub fn registration_not_on_shard(id: &[u8], shard: &str) -> Reply {
    Reply::error(format!(
        "Execution {} does not exists on shard {shard}",
        lossy(id)
    ))
}

/// RG.PAUSEREGISTRATIONS of a registration whose reader cannot pause.
pub fn reader_does_not_support_pause(reader: &str) -> Reply {
    Reply::error(format!("Reader {reader} does not support pause"))
}

/// RG.UNPAUSEREGISTRATIONS of a registration whose reader cannot unpause.
pub fn reader_does_not_support_unpause(reader: &str) -> Reply {
    Reply::error(format!("Reader {reader} does not support unpause"))
}

// ---------------------------------------------------------------- triggers and hooks

/// RG.TRIGGER of a name no registration has.
pub fn subcommand_not_found() -> Reply {
    Reply::error("ERR subcommand not found")
}

/// A non-sync trigger or hook inside MULTI, Lua or while loading.
pub fn non_sync_not_allowed_here() -> Reply {
    Reply::error(
        "ERR can not run a non-sync execution inside a MULTI/LUA (blocking is not allowed) or on loading.",
    )
}

/// A trigger whose execution could not start.
pub fn could_not_trigger(reason: &str) -> Reply {
    Reply::error(format!("ERR Could not trigger execution, {reason}"))
}

/// A hook execution that did not give exactly one result.
pub fn hook_must_return_one_result() -> Reply {
    Reply::error("Command hook must return exactly one result")
}

/// RG.INNERHOOK sent by a client instead of the command filter (RedisGears asserts
/// and crashes here; gears-rs refuses).
pub fn inner_hook_not_for_clients() -> Reply {
    Reply::error("ERR RG.INNERHOOK is internal and can not be called directly")
}

/// An internal replication command (RG.INNERREGISTER, RG.INNERUNREGISTER,
/// RG.PYIMPORTRETINTERNAL) sent by an ordinary client.
pub fn internal_command_not_for_clients(command: &str) -> Reply {
    Reply::error(format!(
        "ERR {command} is accepted only from the replication stream or the AOF"
    ))
}

/// A denyoom hooked command above maxmemory.
pub fn oom_command_not_allowed() -> Reply {
    Reply::error("OOM command not allowed when used memory > 'maxmemory'")
}

// ---------------------------------------------------------------- python

/// RG.PYPROFILE with a subcommand other than STATS or RESET.
pub fn pyprofile_wrong_subcommand() -> Reply {
    Reply::error("Wrong subcommand given to RG.PYPROFILE")
}

/// RG.PYPROFILE of an unknown session.
pub fn session_does_not_exist() -> Reply {
    Reply::error("session does not exists")
}

/// RG.PYDUMPSESSIONS with a word that is not an option.
pub fn unknown_option(word: &[u8]) -> Reply {
    Reply::error(format!("Unknown option {}", lossy(word)))
}

/// RG.PYDUMPSESSIONS SESSIONS of an unknown session: a bulk string, not an error.
pub fn session_does_not_exist_entry(name: &[u8]) -> Reply {
    Reply::bulk(format!("Session {} does not exists", lossy(name)))
}

/// RG.PYEXPORTREQ of an unknown requirement.
pub fn requirement_does_not_exist() -> Reply {
    Reply::error("requirement does not exists")
}

/// RG.PYIMPORTRETINTERNAL with other than one argument.
pub fn import_requirement_internal_bad_arguments() -> Reply {
    Reply::error("On RedisGearsPy_ImportRequirementInternal, got bad arguments")
}

/// RG.PYIMPORTREQ with no chunk or a chunk that does not start with a version.
pub fn bad_requirement_version_format() -> Reply {
    Reply::error("Bad serialization format on reading requirement version")
}

/// RG.PYFREEINTERPRETER's notice (a bulk string).
pub fn free_interpreter_not_supported() -> Reply {
    Reply::bulk("Free interpreter is not longer supported")
}

/// RG.PYEXECUTEREMOTE's notice (a bulk string).
pub fn execute_remote_not_supported() -> Reply {
    Reply::bulk("Execute remote is not longer supported")
}

// ---------------------------------------------------------------- cluster

/// Any command that needs a topology the shard does not have yet.
pub fn cluster_uninitialized() -> Reply {
    Reply::error("ERRCLUSTER Uninitialized cluster state")
}

/// An inter-shard message to a shard with no topology.
pub fn cluster_null_state() -> Reply {
    Reply::error("ERRCLUSTER NULL cluster state")
}

/// RG.HELLO to a shard with no topology.
pub fn cluster_null_state_on_hello() -> Reply {
    Reply::error("ERRCLUSTER NULL cluster state on hello msg")
}

/// RG.INNERMSGCOMMAND whose message id is not a number.
pub fn bad_msg_id() -> Reply {
    Reply::error("bad msg id given")
}

/// RG.INNERMSGCOMMAND naming a function this shard does not know.
pub fn unknown_message_callback() -> Reply {
    Reply::error("can not find the callback requested")
}

/// RG.INNERMSGCOMMAND repeating a message already received (a status, not an error).
pub fn duplicate_message_ignored() -> Reply {
    Reply::simple("duplicate message ignored")
}

/// RG.CLUSTERSET / RG.CLUSTERSETFROMSHARD arguments that do not parse.
pub fn could_not_parse_cluster_set() -> Reply {
    Reply::error("Could not parse cluster set arguments")
}

/// RG.INFOCLUSTER outside a cluster: a bulk string, not an error.
pub fn no_cluster_mode() -> Reply {
    Reply::bulk("no cluster mode")
}
