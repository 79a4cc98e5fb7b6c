//! The Python runtime against a fake host: scripts, runs and runtime functions with
//! no Redis at all. The host records what Python asked of it and answers from
//! memory, so every call can be checked.

use gears_executions::execution::{Execution, Status};
use gears_executions::reader::{KeyScanner, KeySpace};
use gears_executions::record::{KeyEntry, KeyType, KeyValue};
use gears_executions::runner::run;
use gears_executions::store::ExecutionStore;
use gears_protocol::Reply;
use gears_python::builder::with_script_context;
use gears_python::host::{set_host, Host, LogLevel};
use gears_python::pyo3::Python;
use gears_python::readers::{make_reader, runtime};
use gears_python::{start, Session, StartOptions};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What the fake host saw.
#[derive(Default)]
struct FakeHost {
    commands: Mutex<Vec<Vec<String>>>,
    logs: Mutex<Vec<(LogLevel, String)>>,
    atomic_blocks: AtomicUsize,
    plan_ids: AtomicU64,
}

impl Host for FakeHost {
    fn execute(&self, args: &[&[u8]]) -> Reply {
        let args: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        self.commands.lock().expect("lock").push(args.clone());
        match args.first().map(|c| c.to_ascii_uppercase()).as_deref() {
            Some("GET") => Reply::bulk("5"),
            Some("INCR") => Reply::Integer(6),
            Some("LRANGE") => Reply::array([Reply::bulk("a"), Reply::Nil, Reply::Integer(3)]),
            Some("BIN") => Reply::bulk(vec![0xff]),
            _ => Reply::error("ERR unknown command"),
        }
    }
    fn atomic_begin(&self) -> bool {
        self.atomic_blocks.fetch_add(1, Ordering::SeqCst);
        true
    }
    fn atomic_end(&self, _taken: bool) {}
    fn log(&self, level: LogLevel, message: &str) {
        self.logs
            .lock()
            .expect("lock")
            .push((level, message.to_owned()));
    }
    fn config_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        (key == b"myKey").then(|| b"myValue".to_vec())
    }
    fn attempt_traceback(&self) -> bool {
        false
    }
    fn keyspace(&self) -> Arc<dyn KeySpace> {
        Arc::new(FakeKeys)
    }
    fn hashtag(&self) -> String {
        "06S".to_owned()
    }
    fn is_async_allowed(&self) -> bool {
        true
    }
    fn next_plan_id(&self) -> String {
        format!(
            "{}-{}",
            "0".repeat(40),
            self.plan_ids.fetch_add(1, Ordering::SeqCst)
        )
    }
}

/// Three keys: a string, a hash and a list.
struct FakeKeys;

fn entries() -> Vec<KeyEntry> {
    vec![
        KeyEntry {
            key: b"s".to_vec(),
            event: None,
            value: Some((KeyType::String, KeyValue::String(b"hello".to_vec()))),
        },
        KeyEntry {
            key: b"h".to_vec(),
            event: None,
            value: Some((
                KeyType::Hash,
                KeyValue::Hash(vec![
                    (b"name".to_vec(), b"n".to_vec()),
                    (b"age".to_vec(), b"3".to_vec()),
                ]),
            )),
        },
        KeyEntry {
            key: b"l".to_vec(),
            event: None,
            value: Some((KeyType::List, KeyValue::List(vec![b"x".to_vec()]))),
        },
    ]
}

struct OneStep(Option<Vec<KeyEntry>>);

impl KeyScanner for OneStep {
    fn next(&mut self, _count: usize) -> Result<Option<Vec<KeyEntry>>, String> {
        Ok(self.0.take())
    }
}

impl KeySpace for FakeKeys {
    fn scanner(&self, pattern: &[u8], _read_value: bool) -> Box<dyn KeyScanner> {
        let matching = entries()
            .into_iter()
            .filter(|e| gears_executions::glob::glob_match(pattern, &e.key))
            .collect();
        Box::new(OneStep(Some(matching)))
    }
    fn read_key(&self, key: &[u8], _read_value: bool) -> Result<KeyEntry, String> {
        Ok(entries()
            .into_iter()
            .find(|e| e.key == key)
            .unwrap_or(KeyEntry {
                key: key.to_vec(),
                event: None,
                value: Some((KeyType::Empty, KeyValue::None)),
            }))
    }
}

/// The tests share one host and its counters, so they run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn host() -> &'static FakeHost {
    static HOST: OnceLock<Arc<FakeHost>> = OnceLock::new();
    HOST.get_or_init(|| {
        start(&StartOptions::default()).expect("python starts");
        let host = Arc::new(FakeHost::default());
        set_host(host.clone());
        host
    })
}

/// Runs a script like RG.PYEXECUTE: the error text, or `[[results], [errors]]`
/// (`Reply::Nil` when the script asked for no run).
fn pyexecute(script: &str) -> Result<Reply, String> {
    host();
    let pending = Python::attach(|py| {
        let session = Session::new(py).map_err(|e| e.text)?;
        let (result, context) =
            with_script_context(|| session.run_script(py, script.as_bytes(), false));
        result.map_err(|e| e.text)?;
        Ok::<_, String>(context.run)
    })?;
    let Some(pending) = pending else {
        return Ok(Reply::Nil);
    };
    let store = ExecutionStore::default();
    let mut reader = make_reader(pending.reader)?;
    let execution = Execution::new(store.next_execution_id(), Arc::new(pending.plan), false);
    run(&execution, reader.as_mut(), &runtime(), false);
    let outcome = execution
        .wait(Duration::from_secs(5))
        .ok_or("the run did not finish")?;
    assert_eq!(outcome.status, Status::Done);
    Ok(outcome.reply())
}

fn results(values: &[&str]) -> Reply {
    Reply::array([
        Reply::array(values.iter().map(|v| Reply::bulk(*v))),
        Reply::array([]),
    ])
}

#[test]
fn keys_reader_records_over_the_host_keyspace() {
    let _serial = serial();
    assert_eq!(
        pyexecute("GB().run()"),
        Ok(results(&[
            "{'event': None, 'key': 's', 'type': 'string', 'value': 'hello'}",
            "{'event': None, 'key': 'h', 'type': 'hash', 'value': {'age': '3', 'name': 'n'}}",
            "{'event': None, 'key': 'l', 'type': 'list', 'value': ['x']}",
        ]))
    );
    assert_eq!(
        pyexecute("GB('KeysOnlyReader').run('[sl]')"),
        Ok(results(&["s", "l"]))
    );
    assert_eq!(
        pyexecute("GB().run('missing', noScan=True)"),
        Ok(results(&[
            "{'event': None, 'key': 'missing', 'type': 'empty', 'value': None}"
        ]))
    );
}

#[test]
fn execute_maps_replies_and_raises_errors() {
    let _serial = serial();
    assert_eq!(
        pyexecute("GB('ShardsIDReader').map(lambda x: (execute('GET', 'x'), execute('INCR', b'y'), execute('LRANGE', 'l', 0, -1), execute('BIN'), execute())).run()"),
        Ok(results(&["('5', 6, ['a', None, 3], bytearray(b'\\xff'), [])"]))
    );
    let commands = host().commands.lock().expect("lock").clone();
    assert!(commands.contains(&vec!["GET".to_owned(), "x".to_owned()]));
    assert!(commands.contains(&vec![
        "LRANGE".to_owned(),
        "l".to_owned(),
        "0".to_owned(),
        "-1".to_owned()
    ]));
    assert_eq!(
        pyexecute("GB('ShardsIDReader').map(lambda x: execute('NOPE')).run()"),
        Ok(Reply::array([
            Reply::array([]),
            Reply::array([Reply::bulk(
                "Error type: <class 'gears.error'>, Value: ERR unknown command"
            )])
        ]))
    );
    let text = pyexecute("execute(1)").expect_err("a non-str command");
    assert!(
        text.contains("the given command must be a string"),
        "{text}"
    );
}

#[test]
fn atomic_log_config_and_hashtag() {
    let _serial = serial();
    let before = host().atomic_blocks.load(Ordering::SeqCst);
    assert_eq!(
        pyexecute("def f(x):\n    with atomic():\n        return execute('GET', 'x')\nGB('ShardsIDReader').map(f).run()"),
        Ok(results(&["5"]))
    );
    assert_eq!(host().atomic_blocks.load(Ordering::SeqCst), before + 1);
    let text = pyexecute("with atomic():\n    with atomic():\n        pass").expect_err("nested");
    assert!(text.contains("Already inside an atomic block"), "{text}");
    assert_eq!(
        pyexecute("log('hi')\nlog('careful', level='warning')\nlog('warning', 'old style')"),
        Ok(Reply::Nil)
    );
    let logs = host().logs.lock().expect("lock").clone();
    assert!(
        logs.contains(&(LogLevel::Notice, "GEARS: hi".to_owned())),
        "{logs:?}"
    );
    assert!(
        logs.contains(&(LogLevel::Warning, "GEARS: careful".to_owned())),
        "{logs:?}"
    );
    assert!(
        logs.contains(&(LogLevel::Warning, "GEARS: old style".to_owned())),
        "{logs:?}"
    );
    for (script, expected) in [
        ("log(1)", "Log message must be a string"),
        (
            "log('x', level='loud')",
            "Log level should be one of the following : debug,verbose,notice,warning",
        ),
        (
            "log('x', level=2)",
            "Log level must be a sting (debug/verbose/notice/warning)",
        ),
        (
            "configGet()",
            "get_config function must get a single key input",
        ),
        ("configGet(1)", "get_config key must be a string"),
    ] {
        let text = pyexecute(script).expect_err(script);
        assert!(text.contains(expected), "{script}: {text}");
    }
    assert_eq!(
        pyexecute("GB('ShardsIDReader').map(lambda x: (configGet('myKey'), configGet('other'), gearsConfigGet('other', 'd'), hashtag(), isAsyncAllow())).run()"),
        Ok(results(&["('myValue', None, 'd', '06S', True)"]))
    );
}

#[test]
fn every_builder_takes_a_plan_id_even_for_an_unknown_reader() {
    let _serial = serial();
    let first = pyexecute("GB().gearsCtx.planId").map(|_| ());
    assert_eq!(first, Ok(()));
    let before = host().plan_ids.load(Ordering::SeqCst);
    let _ = pyexecute("GB('NoSuchReader')");
    let _ = pyexecute("GB()\nGB('PythonReader')");
    assert_eq!(host().plan_ids.load(Ordering::SeqCst), before + 3);
    let ids = pyexecute(
        "GB('ShardsIDReader').map(lambda x: GB().gearsCtx.planId != GB().gearsCtx.planId).run()",
    );
    assert_eq!(ids, Ok(results(&["True"])));
}
