//! Registrations end to end: `register()` on a real redis-server with the module,
//! KeysReader events (sync and async), CommandReader triggers, and the management
//! commands that list, clear and remove registrations.

mod common;

use anyhow::{bail, Result};
use common::{id, pyexecute, registration_data, server, text};
use conformance::client::Client;
use gears_protocol::Reply;
use std::time::{Duration, Instant};

fn list(client: &mut Client, key: &str) -> Result<Vec<String>> {
    match client.call(&["LRANGE", key, "0", "-1"])? {
        Reply::Array(items) => Ok(items.iter().map(text).collect()),
        other => bail!("LRANGE replied {other}"),
    }
}

/// Waits until `key` holds `expected` (async executions finish on their own time).
fn wait_for(client: &mut Client, key: &str, expected: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = text(&client.call(&["GET", key])?);
        if value == expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{key} is {value}, expected {expected}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn script_error(reply: &Reply) -> String {
    match reply {
        Reply::Error(text) => text.clone(),
        other => panic!("expected an error, got {other}"),
    }
}

#[test]
fn register_returns_its_id_and_ids_follow_redisgears() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    // The builder takes -0, the registration -1; the internal distribution takes
    // plan -2 and execution -0, so the first triggered execution is -1.
    let reply = pyexecute(
        &mut client,
        "rid = GB('CommandReader').register(trigger='t', mode='sync')\nexecute('SET', 'rid', rid)",
    )?;
    assert_eq!(reply, Reply::ok());
    assert_eq!(text(&client.call(&["GET", "rid"])?), id(1));
    client.call(&["RG.CONFIGSET", "MaxExecutions", "1000"])?;
    assert_eq!(
        client.call(&["RG.TRIGGER", "t", "a"])?,
        Reply::array([Reply::bulk("['t', 'a']")])
    );
    let Reply::Array(listed) = client.call(&["RG.DUMPEXECUTIONS"])? else {
        bail!("RG.DUMPEXECUTIONS is not an array");
    };
    assert_eq!(
        listed,
        vec![Reply::array([
            Reply::bulk("executionId"),
            Reply::bulk(id(1)),
            Reply::bulk("status"),
            Reply::bulk("done"),
            Reply::bulk("registered"),
            Reply::Integer(1),
        ])]
    );
    assert!(text(&client.call(&["INFO", "rg"])?).contains("rg_nregistrations:1"));
    Ok(())
}

#[test]
fn sync_keys_registrations_follow_the_prefix_rule_and_filters() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let log = "GB().foreach(lambda r: execute('RPUSH', 'log', repr(r)))";
    pyexecute(
        &mut client,
        &format!("{log}.register(prefix='user:*', mode='sync')"),
    )?;
    // Not a glob: `a?` is an exact key.
    pyexecute(
        &mut client,
        &format!("{log}.register(prefix='a?', mode='sync', readValue=False)"),
    )?;
    pyexecute(
        &mut client,
        &format!(
            "{log}.register(prefix='h:*', mode='sync', keyTypes=['hash'], eventTypes=['HSET'])"
        ),
    )?;
    client.call(&["SET", "user:1", "a"])?;
    client.call(&["DEL", "user:1"])?;
    client.call(&["SET", "ab", "no"])?;
    client.call(&["SET", "a?", "yes"])?;
    client.call(&["SET", "h:1", "a string, not a hash"])?;
    client.call(&["HSET", "h:2", "f", "v"])?;
    client.call(&["HDEL", "h:2", "f"])?;
    assert_eq!(
        list(&mut client, "log")?,
        vec![
            "{'event': 'set', 'key': 'user:1', 'type': 'string', 'value': 'a'}",
            "{'event': 'del', 'key': 'user:1', 'type': 'empty', 'value': None}",
            "{'event': 'set', 'key': 'a?'}",
            "{'event': 'hset', 'key': 'h:2', 'type': 'hash', 'value': {'f': 'v'}}",
        ]
    );
    Ok(())
}

/// The results of every listed execution, in the order RG.DUMPEXECUTIONS lists them.
fn listed_results(client: &mut Client) -> Result<Vec<Reply>> {
    let Reply::Array(listed) = client.call(&["RG.DUMPEXECUTIONS"])? else {
        bail!("RG.DUMPEXECUTIONS is not an array");
    };
    let mut results = Vec::new();
    for execution in listed {
        let Reply::Array(fields) = execution else {
            bail!("an execution is not an array");
        };
        let id = text(&fields[1]);
        results.push(client.call(&["RG.GETRESULTS", &id])?);
    }
    Ok(results)
}

#[test]
fn registration_results_show_the_record_whether_or_not_the_callback_read_it() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    // Reads nothing of its record; changes its record; reads its record.
    pyexecute(
        &mut client,
        "GB().foreach(lambda r: execute('INCR', 'n')).register(prefix='a:*', mode='sync')",
    )?;
    pyexecute(
        &mut client,
        "def mark(r):\n    r['seen'] = 'yes'\nGB().foreach(mark).register(prefix='b:*', mode='sync')",
    )?;
    pyexecute(
        &mut client,
        "GB().foreach(lambda r: execute('SET', 'copy', r['value']['f'])).register(prefix='c:*', mode='sync')",
    )?;
    client.call(&["SET", "a:1", "v"])?;
    client.call(&["SET", "b:1", "w"])?;
    client.call(&["HSET", "c:1", "f", "it's"])?;
    client.call(&["SET", "a:2", "tab\tx"])?;
    // The key changed after the events: results show the value of their event.
    client.call(&["SET", "a:1", "later"])?;
    let result = |text: &str| Reply::array([Reply::array([Reply::bulk(text)]), Reply::array([])]);
    assert_eq!(
        listed_results(&mut client)?,
        vec![
            result("{'event': 'set', 'key': 'a:1', 'type': 'string', 'value': 'v'}"),
            result("{'event': 'set', 'key': 'b:1', 'type': 'string', 'value': 'w', 'seen': 'yes'}"),
            result("{'event': 'hset', 'key': 'c:1', 'type': 'hash', 'value': {'f': \"it's\"}}"),
            result("{'event': 'set', 'key': 'a:2', 'type': 'string', 'value': 'tab\\tx'}"),
            result("{'event': 'set', 'key': 'a:1', 'type': 'string', 'value': 'later'}"),
        ]
    );
    assert_eq!(text(&client.call(&["GET", "n"])?), "3");
    assert_eq!(text(&client.call(&["GET", "copy"])?), "it's");
    Ok(())
}

#[test]
fn a_keymiss_registration_loads_a_cache_and_own_writes_do_not_loop() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB().foreach(lambda r: execute('SET', r['key'], 'loaded')).register(prefix='cache:*', eventTypes=['keymiss'], mode='sync', readValue=False)",
    )?;
    // The miss is reported after the read: the first GET misses, the next one hits.
    assert_eq!(client.call(&["GET", "cache:1"])?, Reply::Nil);
    assert_eq!(client.call(&["GET", "cache:1"])?, Reply::bulk("loaded"));
    // A registration on every key that writes a key does not fire itself.
    pyexecute(
        &mut client,
        "GB().foreach(lambda r: execute('INCR', 'writes')).register(mode='sync', eventTypes=['set'])",
    )?;
    client.call(&["SET", "x", "1"])?;
    client.call(&["SET", "y", "1"])?;
    assert_eq!(client.call(&["GET", "writes"])?, Reply::bulk("2"));
    Ok(())
}

#[test]
fn async_registrations_run_every_event_and_keep_stats() -> Result<()> {
    let server = server(&["MaxExecutionsPerRegistration", "3"])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB().foreach(lambda r: execute('INCR', 'count')).register(prefix='k:*', mode='async_local')",
    )?;
    for n in 0..50 {
        client.call(&["SET", &format!("k:{n}"), "v"])?;
    }
    wait_for(&mut client, "count", "50")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let data = loop {
        let data = registration_data(&mut client, 0)?;
        if data[5] == Reply::Integer(50) || Instant::now() > deadline {
            break data;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        data[0..8].to_vec(),
        vec![
            Reply::bulk("mode"),
            Reply::bulk("async_local"),
            Reply::bulk("numTriggered"),
            Reply::Integer(50),
            Reply::bulk("numSuccess"),
            Reply::Integer(50),
            Reply::bulk("numFailures"),
            Reply::Integer(0),
        ]
    );
    // Only the last three finished executions stay listed.
    let Reply::Array(listed) = client.call(&["RG.DUMPEXECUTIONS"])? else {
        bail!("RG.DUMPEXECUTIONS is not an array");
    };
    assert_eq!(listed.len(), 3);
    Ok(())
}

/// A failure at the bottom of a chain of sync triggers comes back up as one error
/// per level, each the repr of a traceback holding the one below: the texts are cut
/// at 64 KiB, so a deep chain answers an error instead of growing without bound.
#[test]
fn a_failure_deep_in_a_chain_of_triggers_answers_a_bounded_error() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "def f(a):\n    \
             n = int(a[1])\n    \
             if n == 0:\n        raise Exception('bottom')\n    \
             return execute('RG.TRIGGER', 'rec', str(n - 1))\n\
         GB('CommandReader').map(f).register(trigger='rec', mode='sync')",
    )?;
    let Reply::Error(shallow) = client.call(&["RG.TRIGGER", "rec", "2"])? else {
        bail!("not an error");
    };
    assert!(shallow.contains("Exception: bottom"), "{shallow}");
    let Reply::Error(deep) = client.call(&["RG.TRIGGER", "rec", "40"])? else {
        bail!("not an error");
    };
    assert!(deep.len() <= 64 * 1024, "{} bytes", deep.len());
    assert!(deep.ends_with("... (error text truncated at 65536 bytes)"));
    assert_eq!(client.cmd("PING")?, Reply::simple("PONG"));
    Ok(())
}

/// MaxExecutionsPerRegistration 0 (or less) means no limit per registration, as in
/// RedisGears; MaxExecutions still bounds the whole list.
#[test]
fn max_executions_per_registration_zero_keeps_every_execution() -> Result<()> {
    let server = server(&["MaxExecutionsPerRegistration", "0", "MaxExecutions", "8"])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB().foreach(lambda r: execute('INCR', 'count')).register(prefix='k:*', mode='sync')",
    )?;
    let listed = |client: &mut Client| -> Result<usize> {
        match client.call(&["RG.DUMPEXECUTIONS"])? {
            Reply::Array(listed) => Ok(listed.len()),
            other => bail!("RG.DUMPEXECUTIONS is not an array: {other}"),
        }
    };
    for n in 0..5 {
        client.call(&["SET", &format!("k:{n}"), "v"])?;
    }
    assert_eq!(listed(&mut client)?, 5);
    for n in 5..20 {
        client.call(&["SET", &format!("k:{n}"), "v"])?;
    }
    assert_eq!(listed(&mut client)?, 8);
    client.cmd("RG.CONFIGSET MaxExecutionsPerRegistration -1")?;
    client.cmd("RG.CONFIGSET MaxExecutions 0")?;
    for n in 20..40 {
        client.call(&["SET", &format!("k:{n}"), "v"])?;
    }
    assert_eq!(listed(&mut client)?, 28);
    assert_eq!(client.call(&["GET", "count"])?, Reply::bulk("40"));
    Ok(())
}

/// An async execution sees the value its own event left, even when later writes
/// change the key before the execution runs (the key is read in the event).
#[test]
fn async_records_hold_the_value_of_their_event() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "import time\n\
         def seen(r):\n    \
             if r['value'] == 'first':\n        time.sleep(0.3)\n    \
             execute('RPUSH', 'seen', r['value'])\n\
         GB().foreach(seen).register(prefix='v:*', mode='async_local')",
    )?;
    for value in ["first", "second", "third"] {
        client.call(&["SET", "v:1", value])?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while list(&mut client, "seen")?.len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(list(&mut client, "seen")?, vec!["first", "second", "third"]);
    Ok(())
}

/// Short async executions may run in batches under the Redis lock. A callback that
/// waits on something inside a batch holds the server that once, and ends batching
/// for its registration for good: however many times it waits again, the server
/// answers. (Whether a given round batched depends on timing; that the server is
/// held at most once over all rounds does not.)
#[test]
fn a_callback_that_waits_ends_batching_for_good() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "import time\n\
         def f(r):\n    \
             if r['key'].startswith('slow:'):\n        time.sleep(0.5)\n    \
             execute('INCR', 'done')\n\
         GB().foreach(f).register(prefix='*', eventTypes=['set'], mode='async_local')",
    )?;
    let mut expected = 0;
    let mut held = Vec::new();
    for round in 0..3 {
        // Enough short executions to earn batching, then one that sleeps.
        for n in 0..100 {
            client.call(&["SET", &format!("fast:{n}"), "v"])?;
        }
        expected += 100;
        wait_for(&mut client, "done", &expected.to_string())?;
        client.call(&["SET", &format!("slow:{round}"), "v"])?;
        expected += 1;
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        assert_eq!(client.call(&["PING"])?, Reply::Simple("PONG".into()));
        let waited = started.elapsed();
        if waited > Duration::from_millis(250) {
            held.push(waited);
        }
        wait_for(&mut client, "done", &expected.to_string())?;
    }
    assert!(
        held.len() <= 1,
        "the server was held {} times: {held:?}",
        held.len()
    );
    Ok(())
}

#[test]
fn failures_show_in_the_stats_until_cleared() -> Result<()> {
    let server = server(&["PythonAttemptTraceback", "0"])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "def check(r):\n    if r['value'] == 'bad':\n        raise Exception('bad value')\nGB().foreach(check).register(prefix='v:*', mode='sync')",
    )?;
    client.call(&["SET", "v:1", "bad"])?;
    client.call(&["SET", "v:2", "good"])?;
    client.call(&["SET", "v:3", "bad"])?;
    let data = registration_data(&mut client, 0)?;
    assert_eq!(data[3], Reply::Integer(3), "numTriggered");
    assert_eq!(data[5], Reply::Integer(1), "numSuccess");
    assert_eq!(data[7], Reply::Integer(2), "numFailures");
    assert_eq!(
        data[17],
        Reply::bulk("Error type: <class 'Exception'>, Value: bad value")
    );
    // A success clears the last error; runs made with executions profiled (which
    // are counted apart from the sync runs' log) keep their order.
    client.call(&["SET", "v:4", "good"])?;
    let data = registration_data(&mut client, 0)?;
    assert_eq!(data[5], Reply::Integer(2), "numSuccess");
    assert_eq!(data[17], Reply::Nil, "lastError");
    client.call(&["RG.CONFIGSET", "ProfileExecutions", "1"])?;
    client.call(&["SET", "v:5", "bad"])?;
    client.call(&["RG.CONFIGSET", "ProfileExecutions", "0"])?;
    client.call(&["SET", "v:6", "good"])?;
    let data = registration_data(&mut client, 0)?;
    assert_eq!(data[3], Reply::Integer(6), "numTriggered");
    assert_eq!(data[7], Reply::Integer(3), "numFailures");
    assert_eq!(data[17], Reply::Nil, "lastError after the last success");
    client.call(&["SET", "v:7", "bad"])?;
    client.call(&["RG.CONFIGSET", "ProfileExecutions", "1"])?;
    client.call(&["SET", "v:8", "good"])?;
    let data = registration_data(&mut client, 0)?;
    assert_eq!(
        data[17],
        Reply::Nil,
        "a profiled success after a logged failure"
    );
    assert_eq!(client.call(&["RG.CLEARREGISTRATIONSSTATS"])?, Reply::ok());
    let data = registration_data(&mut client, 0)?;
    assert_eq!(data[3], Reply::Integer(0));
    assert_eq!(data[7], Reply::Integer(0));
    assert_eq!(data[17], Reply::Nil);
    Ok(())
}

#[test]
fn triggers_reply_results_or_the_first_error() -> Result<()> {
    let server = server(&["PythonAttemptTraceback", "0"])?;
    let mut client = server.client()?;
    pyexecute(&mut client, "GB('CommandReader').register(trigger='echo')")?;
    assert_eq!(
        client.call(&["RG.TRIGGER", "echo", "foo", "bar"])?,
        Reply::array([Reply::bulk("['echo', 'foo', 'bar']")])
    );
    pyexecute(
        &mut client,
        "GB('CommandReader').map(lambda a: len(a)).register(trigger='len', convertToStr=False, mode='sync')",
    )?;
    assert_eq!(
        client.call(&["RG.TRIGGER", "len", "a", "b"])?,
        Reply::array([Reply::Integer(3)])
    );
    pyexecute(
        &mut client,
        "GB('CommandReader').map(lambda a: 1 / 0).register(trigger='fail')",
    )?;
    assert_eq!(
        client.call(&["RG.TRIGGER", "fail"])?,
        Reply::error("Error type: <class 'ZeroDivisionError'>, Value: division by zero")
    );
    pyexecute(
        &mut client,
        "GB('CommandReader').map(lambda x: execute('set', x[1], x[2])).register(trigger='my_set')",
    )?;
    assert_eq!(
        client.call(&["RG.TRIGGERONKEY", "my_set", "foo", "bar"])?,
        Reply::array([Reply::bulk("OK")])
    );
    assert_eq!(client.call(&["GET", "foo"])?, Reply::bulk("bar"));
    assert_eq!(
        client.call(&["RG.TRIGGER", "nothing"])?,
        Reply::error("ERR subcommand not found")
    );
    // Inside MULTI only sync registrations run.
    client.call(&["MULTI"])?;
    client.call(&["RG.TRIGGER", "echo"])?;
    client.call(&["RG.TRIGGER", "len"])?;
    assert_eq!(
        client.call(&["EXEC"])?,
        Reply::array([
            Reply::error(
                "ERR can not run a non-sync execution inside a MULTI/LUA (blocking is not allowed) or on loading."
            ),
            Reply::array([Reply::Integer(1)]),
        ])
    );
    Ok(())
}

#[test]
fn unregister_stops_the_events() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB().foreach(lambda r: execute('INCR', 'count')).register(prefix='k:*', mode='sync')",
    )?;
    client.call(&["SET", "k:1", "v"])?;
    assert_eq!(client.call(&["RG.UNREGISTER", &id(1)])?, Reply::ok());
    client.call(&["SET", "k:2", "v"])?;
    assert_eq!(client.call(&["GET", "count"])?, Reply::bulk("1"));
    assert_eq!(client.call(&["RG.DUMPREGISTRATIONS"])?, Reply::array([]));
    assert_eq!(
        client.call(&["RG.UNREGISTER", &id(1)])?,
        Reply::error("execution is not registered")
    );
    assert_eq!(
        client.call(&["RG.UNREGISTER", "not-an-id"])?,
        Reply::error("execution is not registered")
    );
    assert!(text(&client.call(&["INFO", "rg"])?).contains("rg_nregistrations:0"));
    Ok(())
}

#[test]
fn pausing_is_for_stream_readers_only() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(&mut client, "GB().register()")?;
    assert_eq!(
        client.call(&["RG.PAUSEREGISTRATIONS", &id(1)])?,
        Reply::error("Reader KeysReader does not support pause")
    );
    assert_eq!(
        client.call(&["RG.UNPAUSEREGISTRATIONS", &id(1)])?,
        Reply::error("Reader KeysReader does not support unpause")
    );
    assert_eq!(
        client.call(&["RG.PAUSEREGISTRATIONS", &id(7)])?,
        Reply::error(format!(
            "Execution {} does not exists on shard {}",
            id(7),
            "0".repeat(40)
        ))
    );
    Ok(())
}

#[test]
fn register_checks_its_arguments_in_redisgears_order() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let cases = [
        (
            "GB().register(mode=1, eventTypes=1)",
            "execution mode must be a string",
        ),
        ("GB().register(mode='x')", "unknown execution mode"),
        (
            "GB().register(onRegistered=1, eventTypes=1)",
            "OnRegistered argument must be a function",
        ),
        ("GB().register(1)", "regex argument must be a string"),
        (
            "GB().register(eventTypes=1)",
            "given eventTypes is not iterable",
        ),
        (
            "GB().register(eventTypes=[1])",
            "given event type is not string",
        ),
        (
            "GB().register(keyTypes=1)",
            "given keyTypes is not iterable",
        ),
        (
            "GB().register(keyTypes=[1])",
            "given key type is not string",
        ),
        ("GB().register(keyTypes=['strings'])", "unknown key type"),
        ("GB().register(readValue=1)", "readValue is not boolean"),
        (
            "GB().register(commands=1)",
            "given commands is not iterable",
        ),
        (
            "GB().register(commands=[1])",
            "given command type is not string",
        ),
        (
            "GB('CommandReader').register(trigger=1)",
            "trigger argument is not string",
        ),
        (
            "GB('CommandReader').register(trigger='t', inorder=1)",
            "inorder argument is be boolean",
        ),
        (
            "GB('CommandReader').register(keyprefix=1)",
            "keyprefix argument is not string",
        ),
        (
            "GB('CommandReader').register(hook=1)",
            "hook argument is not string",
        ),
        (
            "GB('CommandReader').register(trigger='t', keyprefix='k')",
            "trigger argument can not be given with keyprefix or hook",
        ),
        (
            "GB('CommandReader').register()",
            "no trigger or hook argument was given",
        ),
        (
            "GB('PythonReader').register()",
            "given reader does not exists or does not support register",
        ),
        (
            "GB('KeysOnlyReader').register()",
            "given reader does not exists or does not support register",
        ),
        (
            "GB('CommandReader').register(trigger='a')\nGB('CommandReader').register(trigger='a')",
            "trigger already registered in this session",
        ),
    ];
    for (script, expected) in cases {
        let error = script_error(&pyexecute(&mut client, script)?);
        assert!(
            error.contains(expected),
            "{script}: {error} does not contain {expected}"
        );
    }
    // Nothing of the failed scripts was registered.
    assert_eq!(client.call(&["RG.DUMPREGISTRATIONS"])?, Reply::array([]));
    pyexecute(&mut client, "GB('CommandReader').register(trigger='a')")?;
    let error = script_error(&pyexecute(
        &mut client,
        "GB('CommandReader').register(trigger='a')",
    )?);
    assert!(error.contains("trigger already registered"), "{error}");
    // Unknown keywords are ignored, `regex` is the old name of prefix.
    assert_eq!(
        pyexecute(&mut client, "GB().register(noScan=True, regex='r:*')")?,
        Reply::ok()
    );
    let Reply::Array(entries) = client.call(&["RG.DUMPREGISTRATIONS"])? else {
        bail!("not an array");
    };
    let Reply::Array(last) = &entries[1] else {
        bail!("not an entry");
    };
    let Reply::Array(data) = &last[7] else {
        bail!("no data");
    };
    assert_eq!(
        data[19],
        Reply::array([
            Reply::bulk("regex"),
            Reply::bulk("r:*"),
            Reply::bulk("eventTypes"),
            Reply::Nil,
            Reply::bulk("keyTypes"),
            Reply::Nil,
            Reply::bulk("hookCommands"),
            Reply::Nil,
        ])
    );
    Ok(())
}

#[test]
fn sessions_upgrade_and_replace_their_registrations() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let script = "GB('CommandReader').map(lambda a: 'v1').register(trigger='version', mode='sync')";
    assert_eq!(
        client.call(&["RG.PYEXECUTE", script, "ID", "app", "DESCRIPTION", "my app"])?,
        Reply::ok()
    );
    assert_eq!(
        client.call(&["RG.PYEXECUTE", script, "ID", "app"])?,
        Reply::error("Session app already exists")
    );
    // A failing upgrade leaves the old registrations in place.
    let failing = "GB('CommandReader').map(lambda a: 'v2').register(trigger='version', mode='sync')\nraise Exception('no')";
    assert!(matches!(
        client.call(&["RG.PYEXECUTE", failing, "ID", "app", "UPGRADE"])?,
        Reply::Error(_)
    ));
    assert_eq!(
        client.call(&["RG.TRIGGER", "version"])?,
        Reply::array([Reply::bulk("v1")])
    );
    let v2 = "GB('CommandReader').map(lambda a: 'v2').register(trigger='version', mode='sync')";
    assert_eq!(
        client.call(&["RG.PYEXECUTE", v2, "ID", "app", "UPGRADE"])?,
        Reply::ok()
    );
    assert_eq!(
        client.call(&["RG.TRIGGER", "version"])?,
        Reply::array([Reply::bulk("v2")])
    );
    let Reply::Array(entries) = client.call(&["RG.DUMPREGISTRATIONS"])? else {
        bail!("not an array");
    };
    assert_eq!(entries.len(), 1);
    let Reply::Array(entry) = &entries[0] else {
        bail!("not an entry");
    };
    let pd = text(&entry[9]);
    assert!(
        pd.starts_with("{'sessionName':'app', 'sessionDescription':'null'"),
        "{pd}"
    );
    assert_eq!(
        client.call(&["RG.PYEXECUTE", v2, "REPLACE_WITH", "nothing"])?,
        Reply::error("Can not replace with nothing, session does not exists.")
    );
    let v3 = "GB('CommandReader').map(lambda a: 'v3').register(trigger='version', mode='sync')";
    assert_eq!(
        client.call(&["RG.PYEXECUTE", v3, "ID", "app2", "REPLACE_WITH", "app"])?,
        Reply::ok()
    );
    assert_eq!(
        client.call(&["RG.TRIGGER", "version"])?,
        Reply::array([Reply::bulk("v3")])
    );
    Ok(())
}

#[test]
fn on_registered_runs_when_the_registration_is_applied() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "def setup():\n    execute('SET', 'ready', 'yes')\nGB('CommandReader').register(trigger='t', onRegistered=setup)",
    )?;
    assert_eq!(client.call(&["GET", "ready"])?, Reply::bulk("yes"));
    Ok(())
}

/// Registers an `async_local` registration whose executions each sleep 200 ms
/// then count themselves in `done`, fires it `events` times (a backlog builds up
/// behind the first), unregisters it with ABORTPENDING, waits `wait`, and checks
/// that at most the execution already running did its work.
fn abort_a_backlog(client: &mut Client, events: usize, wait: Duration) -> Result<()> {
    pyexecute(
        client,
        "import time\ndef slow(r):\n    time.sleep(0.2)\n    execute('INCR', 'done')\n\
         GB().foreach(slow).register(prefix='q:*', mode='async_local')",
    )?;
    for n in 0..events {
        client.call(&["SET", &format!("q:{n}"), "v"])?;
    }
    assert_eq!(
        client.call(&["RG.UNREGISTER", &id(1), "ABORTPENDING"])?,
        Reply::ok()
    );
    std::thread::sleep(wait);
    let done = text(&client.call(&["GET", "done"])?);
    assert!(done == "(nil)" || done == "1", "{done}");
    Ok(())
}

#[test]
fn unregister_abortpending_aborts_queued_executions() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    abort_a_backlog(&mut client, 5, Duration::from_millis(600))?;
    // Once they have all ended, none of its executions is listed any more: an
    // unregistered registration's executions go with it, as in RedisGears.
    assert_eq!(client.call(&["RG.DUMPEXECUTIONS"])?, Reply::array([]));
    Ok(())
}

/// Polls RG.DUMPEXECUTIONS until it lists `expected` executions, for 10 s at most.
fn listed_eventually(client: &mut Client, expected: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Reply::Array(listed) = client.call(&["RG.DUMPEXECUTIONS"])? else {
            bail!("RG.DUMPEXECUTIONS is not an array");
        };
        if listed.len() == expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} executions listed, expected {expected}", listed.len());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Unregistering drops the registration's finished executions from the list (they
/// hold its plan and, through it, its session); the one still running is unlisted
/// when it ends. Its session goes with its last registration: the session id can be
/// used again.
#[test]
fn unregister_drops_its_executions_and_its_session() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let script = "import time\n\
         def f(r):\n    \
             if r['key'] == 'k:slow':\n        time.sleep(0.5)\n\
         GB().foreach(f).register(prefix='k:*', mode='async_local')";
    assert_eq!(
        client.call(&["RG.PYEXECUTE", script, "ID", "audit"])?,
        Reply::ok()
    );
    for n in 0..3 {
        client.call(&["SET", &format!("k:{n}"), "v"])?;
    }
    listed_eventually(&mut client, 3)?;
    client.call(&["SET", "k:slow", "v"])?;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(client.call(&["RG.UNREGISTER", &id(1)])?, Reply::ok());
    // The running one is still listed until it ends.
    let Reply::Array(listed) = client.call(&["RG.DUMPEXECUTIONS"])? else {
        bail!("not an array");
    };
    assert_eq!(listed.len(), 1, "{listed:?}");
    listed_eventually(&mut client, 0)?;
    assert_eq!(
        client.call(&["RG.PYEXECUTE", script, "ID", "audit"])?,
        Reply::ok()
    );
    Ok(())
}

#[test]
fn abortpending_reaches_queued_executions_that_are_no_longer_listed() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    // Only the newest two executions stay listed; the backlog is longer.
    client.call(&["RG.CONFIGSET", "MaxExecutions", "2"])?;
    abort_a_backlog(&mut client, 6, Duration::from_millis(1200))
}

#[test]
fn key_types_include_empty_and_stream() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB().foreach(lambda r: execute('RPUSH', 'log', r['event'] + ':' + r['key'])).register(prefix='t:*', mode='sync', keyTypes=['empty', 'stream'], readValue=False)",
    )?;
    client.call(&["SET", "t:1", "v"])?;
    client.call(&["DEL", "t:1"])?;
    client.call(&["XADD", "t:2", "*", "f", "v"])?;
    assert_eq!(list(&mut client, "log")?, vec!["del:t:1", "xadd:t:2"]);
    Ok(())
}

/// The executions a sync KeysReader registration lists are its runs, kept
/// compactly in the registration's log: they are listed in creation order among
/// the other executions (`registered 1`), hold their results and errors, can be
/// looked at, dropped, and go with the registration.
#[test]
fn sync_runs_are_listed_looked_at_and_dropped_like_executions() -> Result<()> {
    let server = server(&["MaxExecutionsPerRegistration", "3"])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "def f(r):\n    \
             if r['value'] == 'bad':\n        raise Exception('bad value')\n\
         GB().foreach(f).register(prefix='k:*', mode='sync')",
    )?;
    let listed = |client: &mut Client| -> Result<Vec<Reply>> {
        match client.call(&["RG.DUMPEXECUTIONS"])? {
            Reply::Array(listed) => Ok(listed),
            other => bail!("RG.DUMPEXECUTIONS is not an array: {other}"),
        }
    };
    for n in 0..5 {
        client.call(&["SET", &format!("k:{n}"), &format!("v{n}")])?;
    }
    // The first triggered execution is -1 (see the test of ids above): the five
    // runs are -1 to -5, and the registration keeps the last three.
    let summary = |n: u64| {
        Reply::array([
            Reply::bulk("executionId"),
            Reply::bulk(id(n)),
            Reply::bulk("status"),
            Reply::bulk("done"),
            Reply::bulk("registered"),
            Reply::Integer(1),
        ])
    };
    assert_eq!(
        listed(&mut client)?,
        vec![summary(3), summary(4), summary(5)]
    );
    assert_eq!(
        client.call(&["RG.GETRESULTS", &id(5)])?,
        Reply::array([
            Reply::array([Reply::bulk(
                "{'event': 'set', 'key': 'k:4', 'type': 'string', 'value': 'v4'}"
            )]),
            Reply::array([]),
        ])
    );
    assert!(matches!(
        client.call(&["RG.GETEXECUTION", &id(5)])?,
        Reply::Array(_)
    ));
    assert_eq!(
        client.call(&["RG.GETRESULTS", &id(2)])?,
        Reply::error("execution plan does not exist")
    );
    // A failed run keeps its error; a run of another kind of execution comes in
    // between in creation order.
    client.call(&["SET", "k:bad", "bad"])?;
    let Reply::Array(outcome) = client.call(&["RG.GETRESULTS", &id(6)])? else {
        bail!("no results");
    };
    assert_eq!(outcome[0], Reply::array([]));
    assert!(
        text(&outcome[1]).contains("Exception: bad value"),
        "{}",
        outcome[1]
    );
    let unblocked =
        text(&client.call(&["RG.PYEXECUTE", "GB('ShardsIDReader').run()", "UNBLOCKING"])?);
    client.call(&["SET", "k:9", "v9"])?;
    let ids: Vec<String> = listed(&mut client)?
        .iter()
        .map(|summary| match summary {
            Reply::Array(fields) => text(&fields[1]),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(ids[0..3], [id(5), id(6), unblocked.clone()], "{ids:?}");
    let counter = |id: &str| id.rsplit('-').next().and_then(|n| n.parse::<u64>().ok());
    assert!(counter(&ids[3]) > counter(&unblocked), "{ids:?}");
    // Dropped, it is gone; a registration's runs go with it.
    assert_eq!(client.call(&["RG.DROPEXECUTION", &id(6)])?, Reply::ok());
    assert_eq!(
        client.call(&["RG.GETRESULTS", &id(6)])?,
        Reply::error("execution plan does not exist")
    );
    assert!(text(&client.call(&["INFO", "rg"])?).contains("rg_nexecutions:"));
    assert_eq!(client.call(&["RG.UNREGISTER", &id(1)])?, Reply::ok());
    let left = listed(&mut client)?;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(matches!(&left[0], Reply::Array(fields) if text(&fields[1]) == unblocked));
    Ok(())
}

/// A sync registration's runs keep the GIL on the main thread until Redis is about
/// to sleep (gil_parking). Worker threads still get it: async executions (which
/// take the Redis lock, then the GIL) and a batch run of pure Python finish while
/// several clients keep firing sync events, and every event runs once.
#[test]
fn sync_runs_keep_the_gil_without_starving_worker_threads() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    for script in [
        "GB().foreach(lambda r: execute('INCR', 'sync_n')).register(prefix='a:*', mode='sync')",
        "GB().foreach(lambda r: execute('INCR', 'async_n')).register(prefix='b:*', mode='async')",
        "GB().foreach(lambda r: execute('INCR', 'local_n')).register(prefix='b:*', mode='async_local')",
    ] {
        assert_eq!(pyexecute(&mut client, script)?, Reply::ok());
    }
    const WRITERS: usize = 4;
    const EACH: usize = 300;
    let port = server.port();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            std::thread::spawn(move || -> Result<()> {
                let mut client = Client::connect(port)?;
                for i in 0..EACH {
                    client.call(&["SET", &format!("a:{writer}:{i}"), "v"])?;
                    client.call(&["SET", &format!("b:{writer}:{i}"), "v"])?;
                }
                Ok(())
            })
        })
        .collect();
    // Pure Python on a worker thread while the writers go on (the client waits
    // for it; the server does not).
    assert_eq!(
        pyexecute(
            &mut client,
            "GB('ShardsIDReader').map(lambda x: sum(range(2000000))).run()"
        )?,
        Reply::array([
            Reply::array([Reply::bulk("1999999000000")]),
            Reply::array([]),
        ])
    );
    for writer in writers {
        writer.join().expect("writer thread")?;
    }
    let total = (WRITERS * EACH).to_string();
    assert_eq!(text(&client.call(&["GET", "sync_n"])?), total);
    wait_for(&mut client, "async_n", &total)?;
    wait_for(&mut client, "local_n", &total)?;
    Ok(())
}
