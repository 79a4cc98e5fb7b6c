//! StreamReader registrations end to end (behaviour.md §3.3): the consumer group,
//! batches and durations, the failure policies, pause and unpause, trimming, and the
//! entries that were in the stream before the registration.

mod common;

use anyhow::{bail, Result};
use common::{eventually, id, integer, pyexecute, registration_data, server};
use conformance::client::Client;
use gears_protocol::Reply;
use std::time::{Duration, Instant};

/// The RegistrationData of the first registration.
fn data(client: &mut Client) -> Result<Vec<Reply>> {
    registration_data(client, 0)
}

fn status(client: &mut Client) -> Result<Reply> {
    Ok(data(client)?[25].clone())
}

const WRITE_BEHIND: &str =
    "GB('StreamReader').foreach(lambda r: execute('HINCRBY', 'agg', r['value']['f'], 1))";

#[test]
fn write_behind_processes_old_and_new_entries_once_and_trims() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    for n in 0..5 {
        client.call(&["XADD", "s", "*", "f", &format!("v{}", n % 2)])?;
    }
    pyexecute(
        &mut client,
        &format!("{WRITE_BEHIND}.register(prefix='s', batch=3)"),
    )?;
    // The five entries that were there are processed by the first runs.
    eventually(&mut client, &["HGET", "agg", "v0"], 3)?;
    eventually(&mut client, &["HGET", "agg", "v1"], 2)?;
    eventually(&mut client, &["XLEN", "s"], 0)?;
    for _ in 0..7 {
        client.call(&["XADD", "s", "*", "f", "v2"])?;
    }
    // Two batches of three ran; the seventh entry waits for its batch.
    eventually(&mut client, &["HGET", "agg", "v2"], 6)?;
    eventually(&mut client, &["XLEN", "s"], 1)?;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(integer(&client.call(&["HGET", "agg", "v2"])?), 6);
    let group = client.call(&["XINFO", "GROUPS", "s"])?;
    let text = group.to_string();
    assert!(text.contains("__gears_consumer_group__"), "{text}");
    let data = data(&mut client)?;
    assert_eq!(
        data[0..2].to_vec(),
        vec![Reply::bulk("mode"), Reply::bulk("async")]
    );
    assert_eq!(
        data[23],
        Reply::array([
            Reply::bulk("batchSize"),
            Reply::Integer(3),
            Reply::bulk("durationMS"),
            Reply::Integer(0),
            Reply::bulk("stream"),
            Reply::bulk("s"),
            Reply::bulk("trimStream"),
            Reply::Integer(1),
            Reply::bulk("onFailedPolicy"),
            Reply::bulk("continue"),
            Reply::bulk("retryInterval"),
            Reply::Integer(1),
        ])
    );
    assert_eq!(data[25], Reply::bulk("OK"));
    Ok(())
}

#[test]
fn duration_runs_an_incomplete_batch() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        &format!("{WRITE_BEHIND}.register(prefix='d:*', batch=100, duration=50, trimStream=False)"),
    )?;
    client.call(&["XADD", "d:1", "*", "f", "x"])?;
    client.call(&["XADD", "d:1", "*", "f", "x"])?;
    eventually(&mut client, &["HGET", "agg", "x"], 2)?;
    // trimStream=False keeps the entries.
    assert_eq!(integer(&client.call(&["XLEN", "d:1"])?), 2);
    Ok(())
}

#[test]
fn failure_policies_continue_abort_and_retry() -> Result<()> {
    let server = server(&["PythonAttemptTraceback", "0"])?;
    let mut client = server.client()?;
    // abort: the registration stops at the first failure.
    pyexecute(
        &mut client,
        "def f(r):\n    if r['value']['f'] == 'bad':\n        raise Exception('bad entry')\n    execute('INCR', 'ok')\nGB('StreamReader').foreach(f).register(prefix='a', onFailedPolicy='abort')",
    )?;
    client.call(&["XADD", "a", "*", "f", "bad"])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&mut client)? != Reply::bulk("ABORTED") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(status(&mut client)?, Reply::bulk("ABORTED"));
    assert_eq!(
        data(&mut client)?[21],
        Reply::bulk("Error type: <class 'Exception'>, Value: bad entry")
    );
    client.call(&["XADD", "a", "*", "f", "good"])?;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(client.call(&["GET", "ok"])?, Reply::Nil);
    // Unpausing restarts it: it reads the failed entry again (still bad) and aborts.
    assert_eq!(
        client.call(&["RG.UNPAUSEREGISTRATIONS", &id(1)])?,
        Reply::ok()
    );
    Ok(())
}

#[test]
fn retry_reads_the_failed_entries_again() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    // Fails until the key `allow` exists.
    pyexecute(
        &mut client,
        "def f(r):\n    if execute('EXISTS', 'allow') == 0:\n        raise Exception('not yet')\n    execute('INCR', 'done')\nGB('StreamReader').foreach(f).register(prefix='r', onFailedPolicy='retry', onFailedRetryInterval=1)",
    )?;
    client.call(&["XADD", "r", "*", "f", "x"])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&mut client)? != Reply::bulk("WAITING_FOR_RETRY_ON_FAILURE")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        status(&mut client)?,
        Reply::bulk("WAITING_FOR_RETRY_ON_FAILURE")
    );
    client.call(&["SET", "allow", "1"])?;
    eventually(&mut client, &["GET", "done"], 1)?;
    assert_eq!(status(&mut client)?, Reply::bulk("OK"));
    eventually(&mut client, &["XLEN", "r"], 0)?;
    Ok(())
}

#[test]
fn a_pause_error_pauses_and_unpause_resumes() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "def f(r):\n    if execute('EXISTS', 'go') == 0:\n        flat_error('PAUSE waiting for go')\n    execute('INCR', 'done')\nGB('StreamReader').foreach(f).register(prefix='p')",
    )?;
    client.call(&["XADD", "p", "*", "f", "x"])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&mut client)? != Reply::bulk("PAUSED") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(status(&mut client)?, Reply::bulk("PAUSED"));
    assert_eq!(data(&mut client)?[21], Reply::bulk("PAUSE waiting for go"));
    // Pausing a paused registration is a no-op.
    assert_eq!(
        client.call(&["RG.PAUSEREGISTRATIONS", &id(1)])?,
        Reply::ok()
    );
    client.call(&["SET", "go", "1"])?;
    client.call(&["XADD", "p", "*", "f", "y"])?;
    assert_eq!(
        client.call(&["RG.UNPAUSEREGISTRATIONS", &id(1)])?,
        Reply::ok()
    );
    // Both entries: the one that paused it, and the one added while paused.
    eventually(&mut client, &["GET", "done"], 2)?;
    assert_eq!(status(&mut client)?, Reply::bulk("OK"));
    // An explicit pause stops new entries until the unpause.
    assert_eq!(
        client.call(&["RG.PAUSEREGISTRATIONS", &id(1)])?,
        Reply::ok()
    );
    assert_eq!(status(&mut client)?, Reply::bulk("PAUSED"));
    client.call(&["XADD", "p", "*", "f", "z"])?;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(integer(&client.call(&["GET", "done"])?), 2);
    assert_eq!(
        client.call(&["RG.UNPAUSEREGISTRATIONS", &id(1)])?,
        Reply::ok()
    );
    eventually(&mut client, &["GET", "done"], 3)?;
    Ok(())
}

#[test]
fn one_execution_per_stream_and_sync_mode_runs_inline() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    // Each run records how many runs overlap it; none may.
    pyexecute(
        &mut client,
        "import time\ndef f(r):\n    if execute('INCR', 'running') != 1:\n        execute('INCR', 'overlaps')\n    time.sleep(0.001)\n    execute('DECR', 'running')\n    execute('INCR', 'seen')\nGB('StreamReader').foreach(f).register(prefix='o', mode='async_local')",
    )?;
    for _ in 0..50 {
        client.call(&["XADD", "o", "*", "f", "x"])?;
    }
    eventually(&mut client, &["GET", "seen"], 50)?;
    assert_eq!(client.call(&["GET", "overlaps"])?, Reply::Nil);
    // sync: the entry is processed before XADD replies.
    pyexecute(
        &mut client,
        "GB('StreamReader').foreach(lambda r: execute('INCR', 'inline')).register(prefix='i', mode='sync')",
    )?;
    client.call(&["XADD", "i", "*", "f", "x"])?;
    assert_eq!(client.call(&["GET", "inline"])?, Reply::bulk("1"));
    Ok(())
}

/// trimStream removes what was read, never what was not: entries keep arriving
/// while earlier runs are acknowledged and trimmed (a trim to the length counted
/// when a run ended once cut unread entries here).
#[test]
fn trimming_never_cuts_unread_entries() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB('StreamReader').foreach(lambda r: execute('INCR', 'seen')).register(prefix='t', mode='async_local', trimStream=True)",
    )?;
    for _ in 0..300 {
        client.call(&["XADD", "t", "*", "f", "x"])?;
    }
    eventually(&mut client, &["GET", "seen"], 300)?;
    eventually(&mut client, &["XLEN", "t"], 0)?;
    Ok(())
}

#[test]
fn stream_arguments_are_checked() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let cases = [
        (
            "GB('StreamReader').register(batch='x')",
            "batch argument must be a number",
        ),
        (
            "GB('StreamReader').register(duration='x')",
            "duration argument must be a number",
        ),
        (
            "GB('StreamReader').register(onFailedPolicy=1)",
            "onFailedPolicy must be a string (Continue/Abort/Retry)",
        ),
        (
            "GB('StreamReader').register(onFailedPolicy='stop')",
            "onFailedPolicy must be Continue/Abort/Retry",
        ),
        (
            "GB('StreamReader').register(onFailedPolicy='retry', mode='sync')",
            "ExecutionMode sync can only be combined with OnFailedPolicy Continue",
        ),
        (
            "GB('StreamReader').register(onFailedRetryInterval='x')",
            "retryInterval argument must be a number",
        ),
        (
            "GB('StreamReader').register(trimStream=1)",
            "pyTrimmStream argument must be a boolean",
        ),
    ];
    for (script, expected) in cases {
        match pyexecute(&mut client, script)? {
            Reply::Error(text) => assert!(text.contains(expected), "{script}: {text}"),
            other => bail!("{script}: {other}"),
        }
    }
    assert_eq!(
        pyexecute(
            &mut client,
            "GB('StreamReader').register(onFailedPolicy='ReTrY')"
        )?,
        Reply::ok()
    );
    Ok(())
}
