//! RG.PYEXECUTE end to end: GearsBuilder programs on real Redis with the embedded
//! CPython, their replies, their errors, and what they must never do to the server.

use anyhow::Result;
use conformance::client::Client;
use conformance::local_server::{module_next_to_test_binary, LocalServer};
use gears_protocol::Reply;
use std::time::{Duration, Instant};

fn server(args: &[&str]) -> Result<LocalServer> {
    LocalServer::start(&module_next_to_test_binary()?, args)
}

fn bulks(values: &[&str]) -> Reply {
    Reply::array(values.iter().map(|v| Reply::bulk(*v)))
}

/// `[[results...], []]` with bulk-string results.
fn results(values: &[&str]) -> Reply {
    Reply::array([bulks(values), Reply::array([])])
}

fn pyexecute(client: &mut Client, script: &str) -> Result<Reply> {
    client.call(&["RG.PYEXECUTE", script])
}

fn error_text(reply: &Reply) -> String {
    match reply {
        Reply::Error(text) => text.clone(),
        other => panic!("expected an error, got {other}"),
    }
}

/// The errors array of a `[[results], [errors]]` reply, as strings.
fn errors_of(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::Array(parts) => match &parts[1] {
            Reply::Array(errors) => errors
                .iter()
                .map(|e| match e {
                    Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    other => other.to_string(),
                })
                .collect(),
            other => panic!("no errors array: {other}"),
        },
        other => panic!("not a run reply: {other}"),
    }
}

#[test]
fn the_documented_example_and_a_script_without_run() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    assert_eq!(pyexecute(&mut client, "GB().run()")?, results(&[]));
    assert_eq!(pyexecute(&mut client, "x = 1")?, Reply::ok());
    Ok(())
}

#[test]
fn word_count_over_hashes() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    client.cmd("HSET doc:1 title t1 text")?;
    client.call(&["HSET", "doc:1", "title", "one", "text", "the cat the hat"])?;
    client.call(&["HSET", "doc:2", "title", "two", "text", "the bat"])?;
    client.call(&["SET", "other", "not a doc"])?;
    let reply = pyexecute(
        &mut client,
        "GB().flatmap(lambda r: r['value']['text'].split()).countby()\
         .map(lambda r: '%s=%d' % (r['key'], r['value'])).sort().run('doc:*')",
    )?;
    assert_eq!(reply, results(&["bat=1", "cat=1", "hat=1", "the=3"]));
    Ok(())
}

#[test]
fn sugar_operations() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    for (key, value) in [("n:1", "4"), ("n:2", "1"), ("n:3", "7"), ("n:4", "1")] {
        client.call(&["SET", key, value])?;
    }
    let values = "GB().map(lambda r: int(r['value']))";
    assert_eq!(
        pyexecute(&mut client, &format!("{values}.sort().run('n:*')"))?,
        results(&["1", "1", "4", "7"])
    );
    assert_eq!(
        pyexecute(
            &mut client,
            &format!("{values}.sort(reverse=False).run('n:*')")
        )?,
        results(&["7", "4", "1", "1"])
    );
    assert_eq!(
        pyexecute(
            &mut client,
            &format!("{values}.distinct().sort().run('n:*')")
        )?,
        results(&["1", "4", "7"])
    );
    assert_eq!(
        pyexecute(&mut client, &format!("{values}.avg().run('n:*')"))?,
        results(&["3.25"])
    );
    assert_eq!(
        pyexecute(&mut client, &format!("{values}.count().run('n:*')"))?,
        results(&["4"])
    );
    assert_eq!(
        pyexecute(
            &mut client,
            &format!("{values}.aggregate(0, lambda a, r: a + r, lambda a, r: a + r).run('n:*')")
        )?,
        results(&["13"])
    );
    assert_eq!(
        pyexecute(
            &mut client,
            &format!("{values}.sort().limit(2, 1).run('n:*')")
        )?,
        results(&["1", "4"])
    );
    // limit takes any int, bool included, and a negative one is a huge one, as
    // RedisGears' cast to size_t makes it.
    for (limit, expected) in [
        ("True", vec!["0"]),
        ("-1", vec!["0", "1", "2"]),
        ("2, -3", vec![]),
    ] {
        assert_eq!(
            pyexecute(
                &mut client,
                &format!("GB('PythonReader').limit({limit}).run(lambda: (yield from range(3)))")
            )?,
            results(&expected),
            "limit({limit})"
        );
    }
    // accumulate with no input emits nothing.
    assert_eq!(
        pyexecute(
            &mut client,
            "GB().accumulate(lambda a, r: 1).run('nothing:*')"
        )?,
        results(&[])
    );
    Ok(())
}

#[test]
fn flatmap_emits_lists_last_element_first() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    assert_eq!(
        pyexecute(
            &mut client,
            "GB('ShardsIDReader').flatmap(lambda x: [1, 2, 3]).run()"
        )?,
        results(&["3", "2", "1"])
    );
    Ok(())
}

#[test]
fn readers() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    client.cmd("SET user:1 a")?;
    client.cmd("SET user:2 b")?;
    client.cmd("SET order:1 c")?;
    assert_eq!(
        pyexecute(
            &mut client,
            "GB('KeysOnlyReader').map(lambda k: k.split(':')[0]).countby()\
             .map(lambda r: '%s=%d' % (r['key'], r['value'])).sort().run()"
        )?,
        results(&["order=1", "user=2"])
    );
    assert_eq!(
        pyexecute(
            &mut client,
            "GB('KeysReader').run('user:1', readValue=False)"
        )?,
        results(&["{'event': None, 'key': 'user:1'}"])
    );
    assert_eq!(
        pyexecute(&mut client, "GB().run('missing', noScan=True)")?,
        results(&["{'event': None, 'key': 'missing', 'type': 'empty', 'value': None}"])
    );
    // A hash or stream field name that is not UTF-8 is a bytes dict key (a value
    // that is not UTF-8 is a bytearray, which cannot be a dict key).
    client.call(&[b"HSET".as_slice(), b"hbin", b"f\xff", b"v\xfe", b"g", b"w"])?;
    assert_eq!(
        pyexecute(
            &mut client,
            "GB().map(lambda r: repr(r['value'])).run('hbin')"
        )?,
        results(&["{b'f\\xff': bytearray(b'v\\xfe'), 'g': 'w'}"])
    );
    client.call(&[b"XADD".as_slice(), b"sbin", b"1-1", b"f\xff", b"v"])?;
    assert_eq!(
        pyexecute(
            &mut client,
            "GB('StreamReader').map(lambda r: repr(r['value'])).run('sbin')"
        )?,
        results(&["{b'f\\xff': 'v'}"])
    );
    // Key names are binary: one with a NUL is read by name and by scan alike.
    client.call(&[b"SET".as_slice(), b"nul\0key", b"v"])?;
    for script in [r"GB().run('nul\x00key', noScan=True)", r"GB().run('nul*')"] {
        assert_eq!(
            pyexecute(&mut client, script)?,
            results(&["{'event': None, 'key': 'nul\\x00key', 'type': 'string', 'value': 'v'}"]),
            "{script}"
        );
    }
    assert_eq!(
        pyexecute(&mut client, "GB('ShardsIDReader').run()")?,
        results(&["1"])
    );
    assert_eq!(
        pyexecute(&mut client, "GB('PythonReader').run(lambda: 42)")?,
        results(&["42"])
    );
    // A stream: everything after fromId, and XREAD's error as an error record.
    client.cmd("XADD s 1-1 f v1")?;
    client.cmd("XADD s 2-1 f v2")?;
    assert_eq!(
        pyexecute(&mut client, "GB('StreamReader').map(lambda r: r['id'] + ':' + r['value']['f']).run('s', fromId='1-1')")?,
        results(&["2-1:v2"])
    );
    let reply = pyexecute(&mut client, "GB('StreamReader').run('s', fromId='bad')")?;
    assert_eq!(
        errors_of(&reply),
        vec!["ERR Invalid stream ID specified as stream command argument".to_owned()]
    );
    // A value that is not UTF-8 arrives as a bytearray.
    client.call(&[b"SET".as_slice(), b"bin", b"\xff"])?;
    assert_eq!(
        pyexecute(&mut client, "GB().map(lambda r: r['value']).run('bin')")?,
        results(&["bytearray(b'\\xff')"])
    );
    Ok(())
}

/// String values of every layout Redis keeps them in: short (embstr), numbers
/// (int), and plain strings with each of the five sds header sizes.
fn string_values() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("s:embstr", b"hello".to_vec()),
        ("s:int", b"12345".to_vec()),
        ("s:min", i64::MIN.to_string().into_bytes()),
        ("s:lead", b"007".to_vec()),
        ("s:bin", b"a\x00b\xff".to_vec()),
        ("s:hdr8", vec![b'x'; 45]),
        ("s:hdr16", vec![b'y'; 300]),
        ("s:hdr32", vec![b'z'; 70_000]),
    ]
}

fn bulk_text(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("expected a bulk string, got {other}"),
    }
}

fn encodings(client: &mut Client, keys: &[&str]) -> Result<Vec<String>> {
    keys.iter()
        .map(|key| Ok(bulk_text(&client.call(&["OBJECT", "ENCODING", key])?)))
        .collect()
}

#[test]
fn reading_string_values_leaves_the_keys_as_they_were() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let values = string_values();
    for (key, value) in &values {
        client.call(&[b"SET".as_slice(), key.as_bytes(), value])?;
    }
    // A plain string short enough for the type-5 sds header (SETRANGE makes one).
    client.cmd("SETRANGE s:hdr5 0 hi")?;
    let mut keys: Vec<&str> = values.iter().map(|(key, _)| *key).collect();
    keys.push("s:hdr5");
    let before = encodings(&mut client, &keys)?;
    assert!(before.contains(&"embstr".to_owned()) && before.contains(&"int".to_owned()));
    let reply = pyexecute(
        &mut client,
        "GB().map(lambda r: '%s=%s' % (r['key'], r['value'] if isinstance(r['value'], str) \
         else bytes(r['value']).hex())).run('s:*')",
    )?;
    let mut expected: Vec<String> = values
        .iter()
        .map(|(key, value)| match std::str::from_utf8(value) {
            Ok(text) => format!("{key}={text}"),
            Err(_) => format!(
                "{key}={}",
                value.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        })
        .collect();
    expected.push("s:hdr5=hi".to_owned());
    expected.sort();
    let mut got: Vec<String> = match &reply {
        Reply::Array(parts) => match &parts[0] {
            Reply::Array(items) => items.iter().map(bulk_text).collect(),
            other => panic!("no results: {other}"),
        },
        other => panic!("not a run reply: {other}"),
    };
    got.sort();
    assert_eq!(got, expected, "{reply}");
    // Reading did not turn short strings and numbers into plain strings.
    assert_eq!(encodings(&mut client, &keys)?, before);
    // Nor does an event's read, for a registration.
    assert_eq!(
        pyexecute(
            &mut client,
            "GB().foreach(lambda r: execute('RPUSH', 'seen', r['value'])).register(prefix='e:*', mode='sync')"
        )?,
        Reply::simple("OK")
    );
    client.cmd("SET e:1 hello")?;
    client.cmd("SET e:2 42")?;
    assert_eq!(
        client.call(&["LRANGE", "seen", "0", "-1"])?,
        bulks(&["hello", "42"])
    );
    assert_eq!(encodings(&mut client, &["e:1", "e:2"])?, ["embstr", "int"]);
    Ok(())
}

#[test]
fn runtime_functions() -> Result<()> {
    let server = server(&["myConfig", "hello"])?;
    let mut client = server.client()?;
    client.cmd("SET x 5")?;
    assert_eq!(
        pyexecute(
            &mut client,
            "GB('ShardsIDReader').map(lambda s: execute('GET', 'x')).run()"
        )?,
        results(&["5"])
    );
    let reply = pyexecute(
        &mut client,
        "GB('ShardsIDReader').map(lambda s: execute('NOSUCHCOMMAND')).run()",
    )?;
    assert_eq!(errors_of(&reply).len(), 1);
    // RedisGears reports a command Redis refuses up front by errno text.
    assert!(
        errors_of(&reply)[0].contains("gears.error: No such file or directory"),
        "{reply}"
    );
    assert_eq!(
        pyexecute(
            &mut client,
            "def incr(s):\n    with atomic():\n        execute('INCR', 'x')\n        return execute('GET', 'x')\n\
             GB('ShardsIDReader').map(incr).run()"
        )?,
        results(&["6"])
    );
    // What execute() takes and refuses: no arguments gives an empty list; the
    // command must be a str; arguments are str, bytes, numbers or anything with a
    // str(); keywords are refused as by any C function of CPython.
    assert_eq!(
        pyexecute(
            &mut client,
            "class Bad:\n    def __str__(self): raise ValueError('no str')\n\
             def attempt(*args, **kwargs):\n    try:\n        return repr(execute(*args, **kwargs))\n    \
             except Exception as e:\n        return '%s: %s' % (type(e).__name__, e)\n\
             GB('ShardsIDReader').map(lambda s: [attempt(), attempt(1), attempt('SET', 'b', b'v\\xff'), \
             attempt('SET', 'f', 2.5), attempt('SET', 'i', 7), attempt('SET', 'o', Bad()), \
             attempt('GET', 'f', foo=1), attempt('GET', 'f')]).run()"
        )?,
        results(&["['[]', 'error: the given command must be a string', \"'OK'\", \"'OK'\", \"'OK'\", \
                   'ValueError: no str', 'TypeError: redisgears.executeCommand() takes no keyword arguments', \
                   \"'2.5'\"]"])
    );
    assert_eq!(
        pyexecute(&mut client, "GB('ShardsIDReader').map(lambda s: (configGet('myConfig'), configGet('MaxExecutions'), hashtag())).run()")?,
        results(&["('hello', None, '06S')"])
    );
    assert_eq!(
        pyexecute(
            &mut client,
            "GB('ShardsIDReader').foreach(lambda s: log('from a test')).run()"
        )?,
        results(&["1"])
    );
    assert!(
        server.log().contains("GEARS: from a test"),
        "{}",
        server.log()
    );
    Ok(())
}

/// `execute()` passes up to eight arguments one by one and more as one array
/// (`raw_call`): both give the command every argument as it was, empty and binary
/// ones included, and a command with no arguments runs too.
#[test]
fn execute_passes_every_argument_as_given_at_any_count() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    // RPUSH of n - 1 elements is a command of n arguments after its name: 7, 8
    // and 9 cross from one way of passing them to the other.
    for count in [1usize, 7, 8, 9, 20] {
        let key = format!("list{count}");
        let script = format!(
            "elements = [b'', b'a\\x00b', b'\\xff'] + [str(i) for i in range({count} - 4)]\n\
             def push(s):\n    execute('DEL', '{key}')\n    \
             pushed = execute('RPUSH', '{key}', *elements[:{count} - 1]) if {count} > 1 else execute('PING')\n    \
             return repr((pushed, execute('LRANGE', '{key}', '0', '-1')))\n\
             GB('ShardsIDReader').map(push).run()"
        );
        let mut expected: Vec<Vec<u8>> = vec![b"".to_vec(), b"a\x00b".to_vec(), b"\xff".to_vec()];
        expected.extend((0..count.saturating_sub(4)).map(|i| i.to_string().into_bytes()));
        expected.truncate(count - 1);
        let reply = pyexecute(&mut client, &script)?;
        assert_eq!(errors_of(&reply), Vec::<String>::new(), "{count}: {reply}");
        if count > 1 {
            assert_eq!(
                client.call(&["LRANGE", &key, "0", "-1"])?,
                Reply::array(expected.iter().map(|element| Reply::bulk(element.clone()))),
                "{count}"
            );
            assert!(
                bulk_text(&first_result(&reply)).starts_with(&format!("({}, [", count - 1)),
                "{count}: {reply}"
            );
        } else {
            assert_eq!(bulk_text(&first_result(&reply)), "('PONG', [])", "{reply}");
        }
    }
    Ok(())
}

/// The first result of a `[[results], [errors]]` reply.
fn first_result(reply: &Reply) -> Reply {
    match reply {
        Reply::Array(parts) => match parts.first() {
            Some(Reply::Array(results)) => results.first().cloned().unwrap_or(Reply::Nil),
            _ => Reply::Nil,
        },
        _ => Reply::Nil,
    }
}

#[test]
fn script_errors_and_argument_checks() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let text = error_text(&pyexecute(&mut client, "notexists()")?);
    assert!(
        text.starts_with("['Traceback (most recent call last):"),
        "{text}"
    );
    assert!(
        text.contains("NameError: name 'notexists' is not defined"),
        "{text}"
    );
    let text = error_text(&pyexecute(&mut client, "1 +")?);
    assert!(text.contains("invalid syntax"), "{text}");
    for (script, expected) in [
        ("GB().map(1)", "map argument must be a function"),
        ("GB().filter(len)", "filter argument must be a function"),
        ("GB().map()", "wrong number of args to map function"),
        ("GB().limit('a')", "limit argument must be a number"),
        (
            "GB().collect(1)",
            "wrong number of args to collect function",
        ),
        (
            "GB().groupby(1, lambda k, a, r: a)",
            "groupby extractor argument must be a function",
        ),
        (
            "GB().batchgroupby(2, lambda k, l: l)",
            "batchgroupby extractor argument must be a function",
        ),
        (
            "GB().localgroupby(lambda r: r)",
            "wrong number of args to groupby function",
        ),
        (
            "GB('PythonReader').run(len)",
            "pyreader argument must be a function",
        ),
        ("GB().avg(1)", "argument must be a function"),
        ("GB('NoSuchReader')", "reader does not exists"),
        ("GB().run(mode='sync')", "unknown execution mode"),
        ("GB().run(mode=1)", "execution mode must be a string"),
        ("GB().run(1)", "regex argument must be a string"),
        ("GB('CommandReader').run()", "reader do not support run"),
        (
            "GB().run()\nGB().run()",
            "Can not run more then 1 executions in a single script",
        ),
    ] {
        let text = error_text(&pyexecute(&mut client, script)?);
        assert!(text.contains(expected), "{script}: {text}");
    }
    // RedisGears never checks batchgroupby's reducer: it fails when called.
    assert_eq!(
        pyexecute(&mut client, "GB().batchgroupby(lambda r: r, 2)")?,
        Reply::ok()
    );
    // The reader's arguments are checked before the mode.
    let text = error_text(&pyexecute(&mut client, "GB().run(1, mode='bad')")?);
    assert!(text.contains("regex argument must be a string"), "{text}");
    // Without tracebacks, the type and value form.
    assert_eq!(
        client.cmd("RG.CONFIGSET PythonAttemptTraceback 0")?,
        Reply::array([Reply::simple(
            "OK - value was saved in extra config dictionary"
        )])
    );
    assert_eq!(
        error_text(&pyexecute(&mut client, "GB().map(1)")?),
        "Error type: <class 'gears.error'>, Value: map argument must be a function"
    );
    Ok(())
}

#[test]
fn the_reader_stops_at_the_first_error() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let reply = pyexecute(
        &mut client,
        "def g():\n    yield from [1, 0, 2]\nGB('PythonReader').map(lambda x: 10 // x).run(g)",
    )?;
    let Reply::Array(parts) = &reply else {
        panic!()
    };
    assert_eq!(parts[0], bulks(&["10"]));
    let errors = errors_of(&reply);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("ZeroDivisionError"), "{errors:?}");
    Ok(())
}

#[test]
fn unblocking_runs_and_abort_of_an_endless_callback() -> Result<()> {
    let mut server = server(&[])?;
    let mut client = server.client()?;
    let id = unblocking(&mut client, "GB('ShardsIDReader').map(lambda x: 1).run()")?;
    assert_eq!(
        client.call(&["RG.GETRESULTSBLOCKING", &id])?,
        results(&["1"])
    );

    let id = unblocking(
        &mut client,
        "def spin(x):\n    while True:\n        pass\nGB('ShardsIDReader').map(spin).run()",
    )?;
    // The server keeps serving while Python spins on an execution thread.
    let mut other = server.client()?;
    for _ in 0..20 {
        assert_eq!(other.cmd("PING")?, Reply::simple("PONG"));
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    assert_eq!(client.call(&["RG.ABORTEXECUTION", &id])?, Reply::ok());
    let reply = client.call(&["RG.GETRESULTSBLOCKING", &id])?;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "abort took {:?}",
        started.elapsed()
    );
    let errors = errors_of(&reply);
    assert_eq!(errors.len(), 1, "{reply}");
    assert!(errors[0].contains("forcestopped"), "{errors:?}");
    // The next execution on that thread is not hit by the abort.
    assert_eq!(
        pyexecute(&mut client, "GB('ShardsIDReader').map(lambda x: 2).run()")?,
        results(&["2"])
    );
    assert!(server.is_running());
    Ok(())
}

/// An abort that arrives as an execution starts, before its callback has taken
/// the GIL, still stops the callback (it used to be lost about once in a few
/// hundred, leaving an endless loop on an execution thread).
#[test]
fn an_abort_at_the_start_of_an_execution_is_never_lost() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    for _ in 0..300 {
        let id = unblocking(
            &mut client,
            "def spin(x):\n    while True:\n        pass\nGB('ShardsIDReader').map(spin).run()",
        )?;
        // Aborted as soon as it is running: before or after its callback started.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let Reply::Array(dumped) = client.call(&["RG.DUMPEXECUTIONS"])? else {
                panic!("an array")
            };
            let running = dumped.iter().any(|entry| {
                matches!(entry, Reply::Array(fields)
                    if fields.get(1) == Some(&Reply::bulk(id.as_str()))
                        && fields.get(3) == Some(&Reply::bulk("running")))
            });
            if running || Instant::now() > deadline {
                break;
            }
        }
        assert_eq!(client.call(&["RG.ABORTEXECUTION", &id])?, Reply::ok());
        let started = Instant::now();
        let reply = client.call(&["RG.GETRESULTSBLOCKING", &id])?;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the abort of {id} was lost"
        );
        assert!(errors_of(&reply)[0].contains("forcestopped"), "{reply}");
        assert_eq!(client.call(&["RG.DROPEXECUTION", &id])?, Reply::ok());
    }
    Ok(())
}

#[test]
fn nothing_a_script_does_crashes_the_server() -> Result<()> {
    let mut server = server(&[])?;
    let mut client = server.client()?;
    let text = error_text(&pyexecute(&mut client, "import sys\nsys.exit(3)")?);
    assert!(text.contains("SystemExit"), "{text}");
    let reply = pyexecute(
        &mut client,
        "import sys\nGB('ShardsIDReader').map(lambda x: sys.exit()).run()",
    )?;
    assert!(errors_of(&reply)[0].contains("SystemExit"), "{reply}");
    let text = error_text(&pyexecute(
        &mut client,
        "def f(n):\n    return f(n + 1)\nf(0)",
    )?);
    assert!(text.contains("RecursionError"), "{text}");
    let reply = pyexecute(
        &mut client,
        "GB('PythonReader').run(lambda: (yield from range(200000)))",
    )?;
    let Reply::Array(parts) = &reply else {
        panic!()
    };
    let Reply::Array(all) = &parts[0] else {
        panic!()
    };
    assert_eq!(all.len(), 200_000);
    client.call(&[b"SET".as_slice(), b"\xff\xfe", b"v"])?;
    let reply = pyexecute(&mut client, "GB().map(lambda r: r['key']).run('*')")?;
    assert_eq!(errors_of(&reply), Vec::<String>::new());
    // Refused inside MULTI, with RedisGears' text.
    client.cmd("MULTI")?;
    client.call(&["RG.PYEXECUTE", "GB().run()"])?;
    assert_eq!(
        client.cmd("EXEC")?,
        Reply::array([Reply::error(
            "Can not run gears inside a multi exec, lua, or when blocking is not allowed"
        )])
    );
    // An execution that waits for another through execute() cannot block: it gets
    // RedisGears' error instead of tripping Redis' assertion on blocked clients.
    let slow = unblocking(
        &mut client,
        "import time\nGB('ShardsIDReader').map(lambda x: time.sleep(1) or x).run()",
    )?;
    let reply = pyexecute(
        &mut client,
        &format!(
            "GB('ShardsIDReader').map(lambda x: str(execute('RG.GETRESULTSBLOCKING', '{slow}'))).run()"
        ),
    )?;
    let errors = errors_of(&reply);
    assert!(
        errors[0].contains(
            "Can not run gears inside a multi exec, lua, or when blocking is not allowed"
        ),
        "{reply}"
    );
    assert_eq!(client.cmd("PING")?, Reply::simple("PONG"));
    assert!(server.is_running());
    Ok(())
}

/// Starts `script` with UNBLOCKING and returns its execution id.
fn unblocking(client: &mut Client, script: &str) -> Result<String> {
    match client.call(&["RG.PYEXECUTE", script, "UNBLOCKING"])? {
        Reply::Bulk(id) => Ok(String::from_utf8_lossy(&id).into_owned()),
        other => anyhow::bail!("not an execution id: {other}"),
    }
}

/// An `atomic()` block left open by the code that opened it is closed when that
/// code returns: a step's block would otherwise keep the Redis lock for good, and a
/// script's would refuse every later `atomic()` on the main thread.
#[test]
fn an_atomic_block_left_open_is_closed() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let reply = pyexecute(
        &mut client,
        "def f(x):\n    a = atomic()\n    a.__enter__()\n    return 1\n\
         GB('PythonReader').map(f).run(lambda: 1)",
    )?;
    assert_eq!(reply, results(&["1"]));
    assert_eq!(client.cmd("PING")?, Reply::simple("PONG"));
    assert_eq!(
        pyexecute(&mut client, "a = atomic()\na.__enter__()")?,
        Reply::ok()
    );
    assert_eq!(
        pyexecute(&mut client, "with atomic():\n    execute('SET', 'y', '1')")?,
        Reply::ok()
    );
    assert_eq!(client.cmd("GET y")?, Reply::bulk("1"));
    assert!(server.log().contains("an atomic() block was left open"));
    Ok(())
}

/// Error replies carry non-ASCII text as it is (UTF-8), from Python and from
/// echoed arguments alike.
#[test]
fn error_replies_keep_non_ascii_text() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let text = error_text(&pyexecute(&mut client, "raise Exception('température ١')")?);
    assert!(text.contains("Exception: température ١"), "{text}");
    assert_eq!(
        client.call(&["RG.CONFIGGET", "é"])?,
        Reply::array([Reply::error("(error) Unsupported config parameter: é")])
    );
    Ok(())
}

#[test]
fn each_script_has_its_own_globals() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    assert_eq!(pyexecute(&mut client, "secret = 1")?, Reply::ok());
    let text = error_text(&pyexecute(&mut client, "secret")?);
    assert!(text.contains("name 'secret' is not defined"), "{text}");
    Ok(())
}

#[test]
fn dumpexecutions_lists_the_running_execution_that_calls_it() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let reply = pyexecute(
        &mut client,
        "GB('ShardsIDReader').map(lambda x: [e[3] for e in execute('RG.DUMPEXECUTIONS')]).run()",
    )?;
    assert_eq!(reply, results(&["['running']"]));
    Ok(())
}

#[test]
fn builders_take_plan_ids_from_their_own_counter() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    // The plan counter is independent of the execution counter (behaviour.md §5.1).
    assert_eq!(
        pyexecute(&mut client, "GB('ShardsIDReader').run()")?,
        results(&["1"])
    );
    let zeros = "0".repeat(40);
    let script = "a = GB().gearsCtx.planId\n\
                  try:\n    GB('NoSuchReader')\nexcept Exception:\n    pass\n\
                  b = GB().gearsCtx.planId\n\
                  GB('PythonReader').run(lambda: (a, b))";
    assert_eq!(
        pyexecute(&mut client, script)?,
        results(&[&format!("('{zeros}-1', '{zeros}-3')")])
    );
    Ok(())
}
