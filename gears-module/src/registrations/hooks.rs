//! Command hooks (behaviour.md §2.4, §3.6): CommandReader `hook=` registrations,
//! and KeysReader registrations with `commands=`.
//!
//! A command filter, installed with the first such registration, looks at every
//! command a client sends. When a hook applies (the command is hooked, and for a
//! `keyprefix`/KeysReader prefix one of its keys matches), the command is rewritten
//! as `RG.INNERHOOK <token> <command> <args...>`; the token is random per process,
//! so a client cannot send RG.INNERHOOK itself. Hooks are skipped while loading and
//! on replicas (what the master's hooks did reaches them as ordinary writes), and
//! the module's own calls (`execute`, `call_next`) are not filtered.
//!
//! - **CommandReader hooks** run newest first; `call_next(*args)` runs the next one,
//!   or finally the command itself. The client's reply is the hook's one result.
//! - **KeysReader `commands=`**: the command runs with a watch on this thread;
//!   the keyspace events it raises fire those registrations, linked to it
//!   (`get_command`, `override_reply`), and the client's reply waits until they are
//!   done.

use super::{lock, registry, run_for_client, run_inline, RegistrationEntry};
use crate::blocked::BlockedClient;
use crate::published::{LocalCopy, Published};
use crate::redis_access::{call, with_redis};
use gears_executions::execution::{Execution, Outcome};
use gears_protocol::{errors, Reply};
use gears_registrations::prefix::KeyRule;
use gears_registrations::registration::{CommandTrigger, ReaderArgs};
use redis_module::{raw, Context};
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Where a command's keys are, from `COMMAND INFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    first: i64,
    last: i64,
    step: i64,
    movable: bool,
    noscript: bool,
    denyoom: bool,
}

impl KeySpec {
    /// The keys of `argv` (command name first).
    fn keys<'a>(&self, argv: &[&'a [u8]]) -> Vec<&'a [u8]> {
        if self.first <= 0 || self.step <= 0 {
            return Vec::new();
        }
        let argc = i64::try_from(argv.len()).unwrap_or(i64::MAX);
        let last = if self.last < 0 {
            argc + self.last
        } else {
            self.last
        };
        let mut keys = Vec::new();
        let mut position = self.first;
        while position <= last && position < argc {
            if let Some(key) = usize::try_from(position).ok().and_then(|p| argv.get(p)) {
                keys.push(*key);
            }
            position += self.step;
        }
        keys
    }
}

/// `COMMAND INFO <command>` (the Redis lock held): `None` for an unknown command.
pub fn key_spec(ctx: &Context, command: &str) -> Option<KeySpec> {
    let Reply::Array(mut infos) = call(ctx, "COMMAND", &[b"INFO", command.as_bytes()]) else {
        return None;
    };
    let Some(Reply::Array(info)) = infos.pop() else {
        return None;
    };
    let number = |index: usize| match info.get(index) {
        Some(Reply::Integer(n)) => *n,
        _ => 0,
    };
    let flags: Vec<String> = match info.get(2) {
        Some(Reply::Array(flags)) => flags
            .iter()
            .filter_map(|f| match f {
                Reply::Simple(text) => Some(text.clone()),
                Reply::Bulk(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(KeySpec {
        first: number(3),
        last: number(4),
        step: number(5),
        movable: flags.iter().any(|f| f == "movablekeys"),
        noscript: flags.iter().any(|f| f == "noscript"),
        denyoom: flags.iter().any(|f| f == "denyoom"),
    })
}

/// RedisGears' texts for the checks of a hooked command: a CommandReader `hook`
/// and a KeysReader's `commands=` word them differently.
struct HookChecks {
    unknown: &'static str,
    noscript: &'static str,
    movable: &'static str,
    first_key: &'static str,
    step: &'static str,
}

const COMMAND_HOOK: HookChecks = HookChecks {
    unknown: "Can not override an unexisting command",
    noscript: "Can not override a command which are not allowed inside a script",
    movable: "Can not override a command with moveable keys by key prefix",
    first_key: "Can not override a command by key prefix with none positive first key",
    step: "Can not override a command by key prefix with none positive jump",
};

const KEYS_HOOK: HookChecks = HookChecks {
    unknown: "bad reply on COMMAND command",
    noscript: "Can not hook a command which are not allowed inside a script",
    movable: "Can not hook a command with moveable keys by key prefix",
    first_key: "Can not hook a command by key prefix with none positive first key",
    step: "Can not override a command by key prefix with none positive jump",
};

impl HookChecks {
    /// Checks `command`; `by_prefix` when its keys will be matched to a prefix.
    fn check(&self, ctx: &Context, command: &str, by_prefix: bool) -> Result<(), String> {
        let spec = key_spec(ctx, command).ok_or(self.unknown)?;
        let failed = if spec.noscript {
            Some(self.noscript)
        } else if !by_prefix {
            None
        } else if spec.movable {
            Some(self.movable)
        } else if spec.first <= 0 {
            Some(self.first_key)
        } else if spec.step <= 0 {
            Some(self.step)
        } else {
            None
        };
        failed.map_or(Ok(()), |text| Err(text.to_owned()))
    }
}

/// RedisGears' checks of a hook (`verifyRegister`), with the Redis lock held.
pub fn verify(ctx: &Context, reader: &ReaderArgs) -> Result<(), String> {
    match reader {
        ReaderArgs::Command {
            trigger:
                CommandTrigger::Hook {
                    command,
                    key_prefix,
                },
            ..
        } => COMMAND_HOOK.check(ctx, command, key_prefix.is_some()),
        ReaderArgs::Keys(keys) => {
            let Some(commands) = &keys.commands else {
                return Ok(());
            };
            if keys.prefix.is_empty() {
                return Err("Empty perfix given to command hooker".into());
            }
            commands
                .iter()
                .try_for_each(|command| KEYS_HOOK.check(ctx, command, true))
        }
        _ => Ok(()),
    }
}

/// The key specs a registration needs (its hooked commands), read at install.
pub fn key_specs(ctx: &Context, reader: &ReaderArgs) -> HashMap<String, KeySpec> {
    let commands: Vec<&String> = match reader {
        ReaderArgs::Command {
            trigger: CommandTrigger::Hook { command, .. },
            ..
        } => vec![command],
        ReaderArgs::Keys(keys) => keys.commands.iter().flatten().collect(),
        _ => Vec::new(),
    };
    commands
        .into_iter()
        .filter_map(|command| {
            key_spec(ctx, command).map(|spec| (command.to_ascii_lowercase(), spec))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The execution contexts Python's call_next / get_command / override_reply see.

/// A CommandReader hook running: the command as the hook got it, and the older
/// hooks `call_next` goes to.
#[derive(Debug)]
pub struct HookFrame {
    argv: Vec<Vec<u8>>,
    next: Vec<Arc<RegistrationEntry>>,
}

/// A command that KeysReader `commands=` registrations are linked to.
#[derive(Debug, Default)]
pub struct LinkedCommand {
    argv: Vec<Vec<u8>>,
    overridden: Mutex<Option<Reply>>,
    triggered: Mutex<Vec<Arc<Execution>>>,
}

/// What an execution runs inside of.
#[derive(Clone, Debug)]
pub enum CommandContext {
    /// A CommandReader hook.
    Hook(Arc<HookFrame>),
    /// A command linked to KeysReader registrations.
    Linked(Arc<LinkedCommand>),
}

thread_local! {
    static CURRENT: RefCell<Vec<CommandContext>> = const { RefCell::new(Vec::new()) };
    /// The command running under a `commands=` watch on this thread.
    static WATCH: RefCell<Option<Arc<LinkedCommand>>> = const { RefCell::new(None) };
}

/// Runs `body` with `context` current on this thread.
pub fn with_context<R>(context: Option<CommandContext>, body: impl FnOnce() -> R) -> R {
    match context {
        Some(context) => super::with_pushed(&CURRENT, context, body),
        None => body(),
    }
}

fn current() -> Option<CommandContext> {
    CURRENT.with(|c| c.borrow().last().cloned())
}

/// `call_next(*args)` of the hook running on this thread.
pub fn call_next(args: &[&[u8]]) -> Result<Reply, String> {
    let Some(CommandContext::Hook(frame)) = current() else {
        return Err("Can not get CommandHook ctx".to_owned());
    };
    let command = frame.argv.first().cloned().unwrap_or_default();
    let mut argv: Vec<Vec<u8>> = vec![command.clone()];
    argv.extend(args.iter().map(|a| a.to_vec()));
    Ok(match frame.next.split_first() {
        Some((next, older)) => with_redis(|_| {
            let frame = hook_frame(&argv, older.to_vec());
            run_inline(next, argv, Some(frame), hook_reply)
        }),
        None => with_redis(|ctx| run_command(ctx, &argv)),
    })
}

/// `get_command()` of the linked command this execution runs for.
pub fn get_command() -> Result<Vec<Vec<u8>>, String> {
    match current() {
        Some(CommandContext::Linked(linked)) => Ok(linked.argv.clone()),
        _ => Err("Can not get command ctx".to_owned()),
    }
}

/// `override_reply(value)`: the linked command's reply, once.
pub fn override_reply(reply: Reply) -> Result<(), String> {
    let Some(CommandContext::Linked(linked)) = current() else {
        return Err("Can not get command ctx".to_owned());
    };
    let mut overridden = lock(&linked.overridden);
    if overridden.is_some() {
        return Err("Can only override reply once".to_owned());
    }
    *overridden = Some(reply);
    Ok(())
}

/// The linked command a `commands=` registration fires for on this thread, if its
/// commands include the one running.
pub fn linked_command(commands: &[String]) -> Option<Arc<LinkedCommand>> {
    WATCH.with(|watch| {
        let watch = watch.borrow();
        let linked = watch.as_ref()?;
        let name = String::from_utf8_lossy(linked.argv.first()?);
        commands
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&name))
            .then(|| linked.clone())
    })
}

/// Notes an execution started for a linked command (its reply waits for it).
pub fn link_execution(linked: &LinkedCommand, execution: Arc<Execution>) {
    lock(&linked.triggered).push(execution);
}

// ---------------------------------------------------------------------------
// The filter and RG.INNERHOOK.

static FILTER_INSTALLED: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The per-process token the filter puts after RG.INNERHOOK.
fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(super::sessions::random_session_id)
}

/// The commands the filter looks further at (hooked, or linked to a KeysReader
/// `commands=` registration), lowercase: the filter sees every command a client
/// sends and most are none of these, so it decides on the name alone, without a
/// lock or an allocation (read through a per-thread copy, see
/// [`crate::published`]).
static INTERCEPTED: Published<Vec<Vec<u8>>> = Published::new();

thread_local! {
    static LOCAL_INTERCEPTED: LocalCopy<Vec<Vec<u8>>> = const { RefCell::new(None) };
}

/// Whether the command `name` (any case) is one the filter looks further at.
fn intercepted(name: &[u8]) -> bool {
    INTERCEPTED
        .read(&LOCAL_INTERCEPTED)
        .is_some_and(|names| names.iter().any(|known| known.eq_ignore_ascii_case(name)))
}

/// Called after registrations changed: installs the filter with the first hook.
pub fn registrations_changed() {
    let names = registry().intercepted_commands();
    let active = !names.is_empty();
    INTERCEPTED.publish(names.into_iter().map(String::into_bytes).collect());
    ACTIVE.store(active, Ordering::Release);
    if active && !FILTER_INSTALLED.swap(true, Ordering::AcqRel) {
        install_filter();
    }
}

fn install_filter() {
    let Some(ctx) = crate::MODULE_CTX.get() else {
        return;
    };
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let Some(register) = (unsafe { raw::RedisModule_RegisterCommandFilter }) else {
        return;
    };
    // SAFETY: called on the main thread with the module's context; the callback
    // matches RedisModuleCommandFilterFunc and lives for the process. NOSELF: the
    // module's own calls (execute, call_next) are not hooked.
    let filter = unsafe {
        register(
            ctx.0,
            Some(command_filter),
            raw::REDISMODULE_CMDFILTER_NOSELF as c_int,
        )
    };
    if filter.is_null() {
        crate::log::warning("the command filter for hooks could not be installed");
    }
}

/// The command's name (its first argument) in a filter context.
///
/// # Safety
/// `fctx` is the live filter context Redis passed in; the slice is used only while
/// the filter runs, before any argument is inserted.
unsafe fn command_name<'a>(fctx: *mut raw::RedisModuleCommandFilterCtx) -> Option<&'a [u8]> {
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let get = unsafe { raw::RedisModule_CommandFilterArgGet }?;
    // SAFETY: the caller's contract; position 0 exists in every command (Redis
    // gives NULL otherwise, checked).
    let name = unsafe { get(fctx, 0) };
    // SAFETY: a live module string, per the caller's contract.
    (!name.is_null()).then(|| unsafe { crate::keyspace::string_bytes(name) })
}

/// The filtered command's arguments, borrowed from Redis for as long as the filter
/// runs (an argument that can not be read is empty).
fn filter_args<'a>(fctx: *mut raw::RedisModuleCommandFilterCtx) -> Vec<&'a [u8]> {
    // SAFETY: reading function pointers that RedisModule_Init has filled.
    let (Some(count), Some(get)) = (unsafe { raw::RedisModule_CommandFilterArgsCount }, unsafe {
        raw::RedisModule_CommandFilterArgGet
    }) else {
        return Vec::new();
    };
    // SAFETY: fctx is the live filter context Redis passed in.
    let argc = unsafe { count(fctx) };
    (0..argc)
        .map(|position| {
            // SAFETY: position < argc; the string lives while the filter runs.
            let arg = unsafe { get(fctx, position) };
            if arg.is_null() {
                &[][..]
            } else {
                // SAFETY: a live module string; the slices are dropped before the
                // filter returns (nothing is inserted until they are).
                unsafe { crate::keyspace::string_bytes(arg) }
            }
        })
        .collect()
}

unsafe extern "C" fn command_filter(fctx: *mut raw::RedisModuleCommandFilterCtx) {
    if !ACTIVE.load(Ordering::Acquire) {
        return;
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Every command a client sends passes here once a hook exists: its name
        // alone decides whether to look further.
        // SAFETY: fctx is the live filter context Redis passed in.
        if !unsafe { command_name(fctx) }.is_some_and(intercepted) {
            return;
        }
        if super::persist::replica_or_loading() {
            return;
        }
        let hooked = {
            let argv = filter_args(fctx);
            let (hooks, linked) = candidates(&argv);
            !hooks.is_empty() || !linked.is_empty()
        };
        if !hooked {
            return;
        }
        // SAFETY: reading function pointers that RedisModule_Init has filled.
        let (Some(insert), Some(create)) =
            (unsafe { raw::RedisModule_CommandFilterArgInsert }, unsafe {
                raw::RedisModule_CreateString
            })
        else {
            return;
        };
        for (position, word) in [(0, "RG.INNERHOOK"), (1, token())] {
            // SAFETY: a NULL context creates a string the filter then owns; Redis
            // takes ownership of inserted arguments.
            unsafe {
                let arg = create(std::ptr::null_mut(), word.as_ptr().cast(), word.len());
                insert(fctx, position, arg);
            }
        }
    }));
    if outcome.is_err() {
        crate::log::warning("internal error in the command filter; the command runs unhooked");
    }
}

/// The CommandReader hooks that apply to `argv` (newest first), and the KeysReader
/// registrations linked to its command.
/// The hooks that apply to `argv` (newest first) and the `commands=` registrations
/// it is linked to.
fn candidates(argv: &[&[u8]]) -> (Vec<Arc<RegistrationEntry>>, Vec<Arc<RegistrationEntry>>) {
    let Some(name) = argv.first() else {
        return (Vec::new(), Vec::new());
    };
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let registry = registry();
    let hooks = registry
        .hooks(&name)
        .into_iter()
        .filter(|entry| hook_applies(entry, &name, argv))
        .collect();
    let linked = registry
        .keys_with_command(&name)
        .into_iter()
        .filter(|entry| keys_applies(entry, &name, argv))
        .collect();
    (hooks, linked)
}

/// The keys of `argv` for a registration hooking the command `name` (none until its
/// key positions are known).
fn command_keys<'a>(
    entry: &RegistrationEntry,
    name: &str,
    argv: &[&'a [u8]],
) -> impl Iterator<Item = &'a [u8]> {
    entry
        .payload()
        .key_specs
        .get()
        .and_then(|specs| specs.get(name))
        .map(|spec| spec.keys(argv))
        .unwrap_or_default()
        .into_iter()
}

fn hook_applies(entry: &RegistrationEntry, name: &str, argv: &[&[u8]]) -> bool {
    let key_prefix = match &entry.registration().reader {
        ReaderArgs::Command {
            trigger: CommandTrigger::Hook { key_prefix, .. },
            ..
        } => key_prefix.clone(),
        _ => return false,
    };
    let Some(prefix) = key_prefix else {
        return true;
    };
    command_keys(entry, name, argv).any(|key| key.starts_with(&prefix))
}

fn keys_applies(entry: &RegistrationEntry, name: &str, argv: &[&[u8]]) -> bool {
    let prefix = match &entry.registration().reader {
        ReaderArgs::Keys(keys) => keys.prefix.clone(),
        _ => return false,
    };
    let rule = KeyRule::from_prefix(&prefix);
    command_keys(entry, name, argv).any(|key| rule.matches(key))
}

/// `RG.INNERHOOK <token> <command> <args...>`: `None` when the client was blocked.
pub fn run_hooked(ctx: &Context, argv: Vec<Vec<u8>>) -> Option<Reply> {
    let Some((given, argv)) = argv.split_first() else {
        return Some(errors::inner_hook_not_for_clients());
    };
    if given.as_slice() != token().as_bytes() || argv.is_empty() {
        return Some(errors::inner_hook_not_for_clients());
    }
    let argv = argv.to_vec();
    let views: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let (hooks, linked) = candidates(&views);
    let registrations: Vec<&Arc<RegistrationEntry>> = hooks.iter().chain(&linked).collect();
    // RG.INNERHOOK itself is not denyoom, so Redis' own check did not see the
    // hooked command: it is made here, with Redis' text.
    if !registrations.is_empty() && over_maxmemory() && denies_oom(ctx, &registrations, &argv[0]) {
        return Some(errors::oom_command_not_allowed());
    }
    if let Some((top, older)) = hooks.split_first() {
        return run_hook(ctx, top, argv, older.to_vec());
    }
    if !linked.is_empty() {
        return run_linked(ctx, argv);
    }
    // Nothing applies any more (unregistered in between): the command as sent.
    Some(run_command(ctx, &argv))
}

/// Whether `command` is refused over maxmemory: from the key specs the registrations
/// that hook or link it keep, or (not activated yet) from `COMMAND INFO`.
fn denies_oom(ctx: &Context, registrations: &[&Arc<RegistrationEntry>], command: &[u8]) -> bool {
    let name = String::from_utf8_lossy(command).to_ascii_lowercase();
    let cached = registrations.iter().find_map(|entry| {
        entry
            .payload()
            .key_specs
            .get()
            .and_then(|specs| specs.get(&name).copied())
    });
    cached
        .or_else(|| key_spec(ctx, &name))
        .is_some_and(|spec| spec.denyoom)
}

fn over_maxmemory() -> bool {
    // SAFETY: reading a function pointer that RedisModule_Init has filled.
    let Some(ratio) = (unsafe { raw::RedisModule_GetUsedMemoryRatio }) else {
        return false;
    };
    // SAFETY: reads server state; the main thread holds the Redis lock here.
    unsafe { ratio() > 1.0 }
}

fn run_command(ctx: &Context, argv: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(&argv[0]).into_owned();
    let args: Vec<&[u8]> = argv.iter().skip(1).map(Vec::as_slice).collect();
    call(ctx, &name, &args)
}

/// A hook's reply: its one result, or its first error.
fn hook_reply(outcome: Outcome) -> Reply {
    if let Some(error) = outcome.errors.into_iter().next() {
        return Reply::error(error);
    }
    let mut results = outcome.results;
    match (results.pop(), results.is_empty()) {
        (Some(one), true) => one,
        _ => errors::hook_must_return_one_result(),
    }
}

/// Runs `hook` for the command `argv`, with `older` the hooks `call_next` goes to.
fn run_hook(
    ctx: &Context,
    hook: &Arc<RegistrationEntry>,
    argv: Vec<Vec<u8>>,
    older: Vec<Arc<RegistrationEntry>>,
) -> Option<Reply> {
    let frame = hook_frame(&argv, older);
    run_for_client(ctx, hook, argv, Some(frame), hook_reply)
}

/// What a hook's execution sees: the command, and the older hooks `call_next`
/// goes to.
fn hook_frame(argv: &[Vec<u8>], older: Vec<Arc<RegistrationEntry>>) -> CommandContext {
    CommandContext::Hook(Arc::new(HookFrame {
        argv: argv.to_vec(),
        next: older,
    }))
}

/// Runs a command linked to `commands=` registrations: its reply waits for the
/// executions its events started, and may be overridden by them.
fn run_linked(ctx: &Context, argv: Vec<Vec<u8>>) -> Option<Reply> {
    let linked = Arc::new(LinkedCommand {
        argv,
        ..LinkedCommand::default()
    });
    let previous = WATCH.with(|w| w.replace(Some(linked.clone())));
    let reply = run_command(ctx, &linked.argv);
    WATCH.with(|w| w.replace(previous));
    let unfinished: Vec<Arc<Execution>> = std::mem::take(&mut *lock(&linked.triggered))
        .into_iter()
        .filter(|e| !e.status().is_finished())
        .collect();
    let final_reply = |linked: &LinkedCommand, reply: &Reply| {
        lock(&linked.overridden)
            .clone()
            .unwrap_or_else(|| reply.clone())
    };
    if unfinished.is_empty() || !BlockedClient::allowed(ctx) {
        return Some(final_reply(&linked, &reply));
    }
    let Some(blocked) = BlockedClient::block(ctx) else {
        return Some(final_reply(&linked, &reply));
    };
    // The last execution to finish sends the reply.
    let waiting = Arc::new(Mutex::new((unfinished.len(), Some(blocked))));
    for execution in unfinished {
        let waiting = waiting.clone();
        let linked = linked.clone();
        let reply = reply.clone();
        execution.on_done(move |_| {
            let mut state = lock(&waiting);
            state.0 = state.0.saturating_sub(1);
            if state.0 == 0 {
                if let Some(blocked) = state.1.take() {
                    blocked.reply(&final_reply(&linked, &reply));
                }
            }
        });
    }
    None
}
