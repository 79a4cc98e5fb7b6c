//! Command hooks end to end (behaviour.md §2.4, §3.6): CommandReader `hook=`
//! registrations with `call_next`, and KeysReader `commands=` registrations with
//! `override_reply` and `get_command`.

mod common;

use anyhow::{bail, Result};
use common::{pyexecute, server};
use conformance::local_server::{module_next_to_test_binary, LocalServer};
use gears_protocol::Reply;
use std::time::{Duration, Instant};

fn script_error(reply: Reply) -> String {
    match reply {
        Reply::Error(text) => text,
        other => panic!("expected an error, got {other}"),
    }
}

#[test]
fn a_sync_hook_adds_a_field_through_call_next() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "def stamp(args):\n    return call_next(*args[1:], 'stamped', 'yes')\n\
         GB('CommandReader').map(stamp).register(hook='hset', keyprefix='user:', mode='sync', convertToStr=False)",
    )?;
    // The reply is the hook's one result: HSET's own reply, through call_next.
    assert_eq!(
        client.call(&["HSET", "user:1", "name", "ann"])?,
        Reply::Integer(2)
    );
    assert_eq!(
        client.call(&["HGETALL", "user:1"])?,
        Reply::array(["name", "ann", "stamped", "yes"].map(Reply::bulk))
    );
    // keyprefix: other keys are not hooked.
    client.call(&["HSET", "order:1", "id", "7"])?;
    assert_eq!(
        client.call(&["HGETALL", "order:1"])?,
        Reply::array(["id", "7"].map(Reply::bulk))
    );
    Ok(())
}

#[test]
fn nested_hooks_run_newest_first() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    for name in ["first", "second", "third"] {
        pyexecute(
            &mut client,
            &format!(
                "def hook(args):\n    execute('RPUSH', 'order', '{name}')\n    return call_next(*args[1:])\n\
                 GB('CommandReader').map(hook).register(hook='set', mode='sync')"
            ),
        )?;
    }
    assert_eq!(client.call(&["SET", "k", "v"])?, Reply::bulk("OK"));
    assert_eq!(
        client.call(&["LRANGE", "order", "0", "-1"])?,
        Reply::array(["third", "second", "first"].map(Reply::bulk))
    );
    assert_eq!(client.call(&["GET", "k"])?, Reply::bulk("v"));
    Ok(())
}

#[test]
fn a_hook_replies_exactly_one_result_or_its_error() -> Result<()> {
    let server = server(&["PythonAttemptTraceback", "0"])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB('CommandReader').flatmap(lambda a: [1, 2]).register(hook='incr', mode='sync')",
    )?;
    assert_eq!(
        client.call(&["INCR", "n"])?,
        Reply::error("Command hook must return exactly one result")
    );
    pyexecute(
        &mut client,
        "GB('CommandReader').map(lambda a: 1 / 0).register(hook='decr', mode='sync')",
    )?;
    assert_eq!(
        client.call(&["DECR", "n"])?,
        Reply::error("Error type: <class 'ZeroDivisionError'>, Value: division by zero")
    );
    // A reply starting with '-' is an error, '+' a status.
    pyexecute(
        &mut client,
        "GB('CommandReader').map(lambda a: '-denied ' + a[1]).register(hook='del', mode='sync')",
    )?;
    assert_eq!(client.call(&["DEL", "x"])?, Reply::error("denied x"));
    Ok(())
}

#[test]
fn async_hooks_block_the_client_and_are_refused_in_multi() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "import time\ndef slow(args):\n    time.sleep(0.05)\n    return call_next(*args[1:])\n\
         GB('CommandReader').map(slow).register(hook='lpush', mode='async_local', inorder=True)",
    )?;
    assert_eq!(client.call(&["LPUSH", "l", "a"])?, Reply::bulk("1"));
    assert_eq!(client.call(&["LLEN", "l"])?, Reply::Integer(1));
    client.call(&["MULTI"])?;
    client.call(&["LPUSH", "l", "b"])?;
    assert_eq!(
        client.call(&["EXEC"])?,
        Reply::array([Reply::error(
            "ERR can not run a non-sync execution inside a MULTI/LUA (blocking is not allowed) or on loading."
        )])
    );
    // The dump shows the hooked command and inorder.
    let Reply::Array(entries) = client.call(&["RG.DUMPREGISTRATIONS"])? else {
        bail!("not an array");
    };
    let Reply::Array(entry) = &entries[0] else {
        bail!("not an entry");
    };
    let Reply::Array(data) = &entry[7] else {
        bail!("no data");
    };
    assert_eq!(
        data[19],
        Reply::array([
            Reply::bulk("trigger"),
            Reply::bulk("lpush"),
            Reply::bulk("inorder"),
            Reply::Integer(1)
        ])
    );
    Ok(())
}

#[test]
fn hook_verification_errors() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let cases = [
        (
            "GB('CommandReader').register(hook='nosuchcommand')",
            "Can not override an unexisting command",
        ),
        (
            "GB('CommandReader').register(hook='multi')",
            "Can not override a command which are not allowed inside a script",
        ),
        (
            "GB('CommandReader').register(hook='xread', keyprefix='x')",
            "Can not override a command with moveable keys by key prefix",
        ),
        (
            "GB('CommandReader').register(hook='set')\nGB('CommandReader').register(hook='set')",
            "Can not override a none sync registration which already created on this session",
        ),
        (
            "GB().register(commands=['xread'])",
            "Can not hook a command with moveable keys by key prefix",
        ),
        ("GB().register(commands=['nosuchcommand'])", "bad reply"),
        (
            "GB().register(commands=['exec'])",
            "Can not hook a command which are not allowed inside a script",
        ),
        (
            "GB().register('', commands=['set'])",
            "Empty perfix given to command hooker",
        ),
    ];
    for (script, expected) in cases {
        let error = script_error(pyexecute(&mut client, script)?);
        assert!(error.contains(expected), "{script}: {error}");
    }
    pyexecute(&mut client, "GB('CommandReader').register(hook='set')")?;
    let error = script_error(pyexecute(
        &mut client,
        "GB('CommandReader').register(hook='set', mode='sync')",
    )?);
    assert!(
        error.contains("Can not override a none sync registration"),
        "{error}"
    );
    // Clients can not send the rewritten form themselves.
    assert_eq!(
        client.call(&["RG.INNERHOOK", "set", "k", "v"])?,
        Reply::error("ERR RG.INNERHOOK is internal and can not be called directly")
    );
    Ok(())
}

#[test]
fn context_functions_outside_their_context_raise() -> Result<()> {
    let server = server(&["PythonAttemptTraceback", "0"])?;
    let mut client = server.client()?;
    for (call, expected) in [
        ("call_next('x')", "Can not get CommandHook ctx"),
        ("get_command()", "Can not get command ctx"),
        ("override_reply('x')", "Can not get command ctx"),
        (
            "override_reply()",
            "Override reply must get a single argument",
        ),
    ] {
        let reply = pyexecute(
            &mut client,
            &format!("GB('PythonReader').map(lambda x: {call}).run(lambda: [1])"),
        )?;
        let text = reply.to_string();
        assert!(text.contains(expected), "{call}: {text}");
    }
    Ok(())
}

#[test]
fn commands_registrations_override_the_reply_after_their_executions() -> Result<()> {
    let server = server(&["PythonAttemptTraceback", "0"])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "import time\ndef audit(r):\n    time.sleep(0.05)\n    execute('SET', 'seen', ' '.join(get_command()))\n    override_reply('+audited ' + r['key'])\n\
         GB().foreach(audit).register(prefix='doc:*', commands=['set'], mode='async_local')",
    )?;
    let started = Instant::now();
    assert_eq!(
        client.call(&["SET", "doc:1", "body"])?,
        Reply::Simple("audited doc:1".to_owned())
    );
    // The reply waited for the execution.
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        client.call(&["GET", "seen"])?,
        Reply::bulk("SET doc:1 body")
    );
    assert_eq!(client.call(&["GET", "doc:1"])?, Reply::bulk("body"));
    // Other commands on the key do not fire it, nor SET on other keys.
    client.call(&["APPEND", "doc:1", "!"])?;
    assert_eq!(client.call(&["SET", "other", "x"])?, Reply::ok());
    assert_eq!(
        client.call(&["GET", "seen"])?,
        Reply::bulk("SET doc:1 body")
    );
    // Overriding twice is an error of the execution; the first override stands.
    pyexecute(
        &mut client,
        "def twice(r):\n    override_reply(1)\n    override_reply(2)\n\
         GB().foreach(twice).register(prefix='n:*', commands=['incr'], mode='sync')",
    )?;
    assert_eq!(client.call(&["INCR", "n:1"])?, Reply::Integer(1));
    let Reply::Array(entries) = client.call(&["RG.DUMPREGISTRATIONS"])? else {
        bail!("not an array");
    };
    let Reply::Array(entry) = &entries[1] else {
        bail!("not an entry");
    };
    let Reply::Array(data) = &entry[7] else {
        bail!("no data");
    };
    assert_eq!(
        data[17],
        Reply::bulk("Error type: <class 'gears.error'>, Value: Can only override reply once")
    );
    assert_eq!(
        data[19],
        Reply::array([
            Reply::bulk("regex"),
            Reply::bulk("n:*"),
            Reply::bulk("eventTypes"),
            Reply::Nil,
            Reply::bulk("keyTypes"),
            Reply::Nil,
            Reply::bulk("hookCommands"),
            Reply::array([Reply::bulk("incr")]),
        ])
    );
    Ok(())
}

#[test]
fn hooks_survive_a_reload_and_are_not_applied_on_replicas() -> Result<()> {
    let module = module_next_to_test_binary()?;
    let master = LocalServer::start_with(
        &module,
        &[],
        &[
            "--enable-debug-command",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
        ],
    )?;
    let replica = LocalServer::start_with(&module, &[], &[])?;
    let mut on_master = master.client()?;
    pyexecute(
        &mut on_master,
        "GB('CommandReader').map(lambda a: call_next(a[1], a[2] + '!')).register(hook='set', keyprefix='k', mode='sync', convertToStr=False)",
    )?;
    assert_eq!(on_master.call(&["DEBUG", "RELOAD"])?, Reply::ok());
    // The hook's result is call_next's reply as a Python str: a bulk string.
    assert_eq!(on_master.call(&["SET", "k1", "v"])?, Reply::bulk("OK"));
    assert_eq!(on_master.call(&["GET", "k1"])?, Reply::bulk("v!"));
    let mut on_replica = replica.client()?;
    on_replica.call(&["REPLICAOF", "127.0.0.1", &master.port().to_string()])?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while on_replica.call(&["GET", "k1"])? != Reply::bulk("v!") {
        if Instant::now() > deadline {
            bail!("the replica did not sync");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The master's hooked write reaches the replica once, as the master did it.
    on_master.call(&["SET", "k2", "w"])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while on_replica.call(&["GET", "k2"])? == Reply::Nil && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(on_replica.call(&["GET", "k2"])?, Reply::bulk("w!"));
    Ok(())
}

#[test]
fn a_denyoom_hooked_command_is_refused_over_maxmemory() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB('CommandReader').map(lambda a: call_next(*a[1:])).register(hook='set', mode='sync')",
    )?;
    assert_eq!(client.call(&["SET", "k", "v"])?, Reply::bulk("OK"));
    // A limit below what the server already uses.
    client.call(&["CONFIG", "SET", "maxmemory", "1mb"])?;
    assert_eq!(
        client.call(&["SET", "k", "v"])?,
        Reply::error("OOM command not allowed when used memory > 'maxmemory'")
    );
    // Reads are not denyoom.
    assert_eq!(client.call(&["GET", "k"])?, Reply::bulk("v"));
    client.call(&["CONFIG", "SET", "maxmemory", "0"])?;
    assert_eq!(client.call(&["SET", "k", "w"])?, Reply::bulk("OK"));
    Ok(())
}
