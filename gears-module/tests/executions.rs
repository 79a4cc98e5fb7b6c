//! The execution commands against a real server, driven by native executions
//! (`RG.DEBUGRUN`, built with the `debug-commands` feature): results, blocking
//! waits, listing, dropping, aborting, MaxExecutions and the id counter.

use anyhow::Result;
use conformance::client::Client;
use conformance::local_server::{module_next_to_test_binary, LocalServer};
use gears_protocol::Reply;
use std::time::{Duration, Instant};

const ZEROS: &str = "0000000000000000000000000000000000000000";

fn server(args: &[&str]) -> Result<LocalServer> {
    LocalServer::start(&module_next_to_test_binary()?, args)
}

fn id(counter: u64) -> String {
    format!("{ZEROS}-{counter}")
}

fn ints(values: impl IntoIterator<Item = i64>) -> Reply {
    Reply::array(values.into_iter().map(Reply::Integer))
}

fn status(client: &mut Client, execution: &str) -> Result<Reply> {
    let reply = client.call(&["RG.GETEXECUTION", execution])?;
    let Reply::Array(shards) = reply else {
        anyhow::bail!("not an array: {reply}");
    };
    let Some(Reply::Array(entry)) = shards.first() else {
        anyhow::bail!("no shard entry");
    };
    let Some(Reply::Array(plan)) = entry.get(3) else {
        anyhow::bail!("no plan");
    };
    Ok(plan[1].clone())
}

#[test]
fn a_blocking_run_replies_results_and_is_dropped() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    assert_eq!(
        client.cmd("RG.DEBUGRUN 4 0")?,
        Reply::array([ints(0..4), Reply::array([])])
    );
    assert_eq!(client.cmd("RG.DUMPEXECUTIONS")?, Reply::array([]));
    assert_eq!(
        client.call(&["RG.GETRESULTS", &id(0)])?,
        Reply::error("execution plan does not exist")
    );
    Ok(())
}

#[test]
fn unblocking_runs_are_listed_until_dropped() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    assert_eq!(
        client.cmd("RG.DEBUGRUN 3 0 UNBLOCKING")?,
        Reply::bulk(id(0))
    );
    assert_eq!(
        client.call(&["RG.GETRESULTSBLOCKING", &id(0)])?,
        Reply::array([ints(0..3), Reply::array([])])
    );
    assert_eq!(
        client.call(&["RG.GETRESULTS", &id(0)])?,
        Reply::array([ints(0..3), Reply::array([])])
    );
    assert_eq!(
        client.cmd("RG.DUMPEXECUTIONS")?,
        Reply::array([Reply::array([
            Reply::bulk("executionId"),
            Reply::bulk(id(0)),
            Reply::bulk("status"),
            Reply::bulk("done"),
            Reply::bulk("registered"),
            Reply::Integer(0),
        ])])
    );
    assert_eq!(status(&mut client, &id(0))?, Reply::bulk("done"));
    assert_eq!(client.call(&["RG.DROPEXECUTION", &id(0)])?, Reply::ok());
    assert_eq!(
        client.call(&["RG.DROPEXECUTION", &id(0)])?,
        Reply::error("execution plan does not exist")
    );
    assert!(client
        .cmd("INFO rg")?
        .to_string()
        .contains("rg_nexecutions:0"));
    Ok(())
}

#[test]
fn a_running_execution_can_be_aborted_but_not_dropped() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    let long = client.cmd("RG.DEBUGRUN 1000 50 UNBLOCKING")?;
    assert_eq!(long, Reply::bulk(id(0)));
    // An execution is `created` until an execution thread picks it up.
    let deadline = Instant::now() + Duration::from_secs(2);
    while status(&mut client, &id(0))? == Reply::bulk("created") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(status(&mut client, &id(0))?, Reply::bulk("running"));
    assert_eq!(
        client.call(&["RG.GETRESULTS", &id(0)])?,
        Reply::error("execution is still running")
    );
    assert_eq!(
        client.call(&["RG.DROPEXECUTION", &id(0)])?,
        Reply::error("can not drop a not yet finished execution, abort it first.")
    );
    // A second client waits for it meanwhile, and the server keeps serving.
    let mut waiter = server.client()?;
    let started = Instant::now();
    assert_eq!(client.call(&["RG.ABORTEXECUTION", &id(0)])?, Reply::ok());
    let Reply::Array(outcome) = waiter.call(&["RG.GETRESULTSBLOCKING", &id(0)])? else {
        panic!("an array");
    };
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "abort took {:?}",
        started.elapsed()
    );
    let Reply::Array(results) = &outcome[0] else {
        panic!()
    };
    assert!(results.len() < 1000);
    assert_eq!(status(&mut client, &id(0))?, Reply::bulk("done"));
    // Aborting a finished execution is fine; an unknown one is not.
    assert_eq!(client.call(&["RG.ABORTEXECUTION", &id(0)])?, Reply::ok());
    assert_eq!(
        client.call(&["RG.ABORTEXECUTION", &id(99)])?,
        Reply::error("execution does not exist")
    );
    Ok(())
}

#[test]
fn max_executions_keeps_the_newest() -> Result<()> {
    let server = server(&["MaxExecutions", "2"])?;
    let mut client = server.client()?;
    for n in 0..4 {
        assert_eq!(
            client.cmd("RG.DEBUGRUN 1 0 UNBLOCKING")?,
            Reply::bulk(id(n))
        );
        client.call(&["RG.GETRESULTSBLOCKING", &id(n)])?;
    }
    let Reply::Array(listed) = client.cmd("RG.DUMPEXECUTIONS")? else {
        panic!()
    };
    let ids: Vec<Reply> = listed
        .iter()
        .map(|entry| match entry {
            Reply::Array(fields) => fields[1].clone(),
            other => other.clone(),
        })
        .collect();
    assert_eq!(ids, vec![Reply::bulk(id(2)), Reply::bulk(id(3))]);
    // RG.CONFIGSET changes the cap for new executions.
    assert_eq!(
        client.cmd("RG.CONFIGSET MaxExecutions 3")?,
        Reply::array([Reply::ok()])
    );
    client.cmd("RG.DEBUGRUN 1 0 UNBLOCKING")?;
    let Reply::Array(listed) = client.cmd("RG.DUMPEXECUTIONS")? else {
        panic!()
    };
    assert_eq!(listed.len(), 3);
    Ok(())
}

#[test]
fn getexecution_shows_the_plan_and_checks_the_id_first() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    client.cmd("RG.DEBUGRUN 2 0 UNBLOCKING")?;
    client.call(&["RG.GETRESULTSBLOCKING", &id(0)])?;
    let reply = client.call(&["RG.GETEXECUTION", &id(0), "shard"])?;
    assert_eq!(
        reply,
        client.call(&["RG.GETEXECUTION", &id(0)])?,
        "SHARD is the default outside a cluster"
    );
    let Reply::Array(shards) = reply else {
        panic!()
    };
    let Reply::Array(entry) = &shards[0] else {
        panic!()
    };
    assert_eq!(entry[0], Reply::bulk("shard_id"));
    assert_eq!(entry[1], Reply::bulk(ZEROS));
    let Reply::Array(plan) = &entry[3] else {
        panic!()
    };
    assert_eq!(plan.len(), 16);
    assert_eq!(plan[7], Reply::Integer(2));
    assert_eq!(
        plan[15],
        Reply::array([Reply::array([
            Reply::bulk("type"),
            Reply::bulk("map"),
            Reply::bulk("duration"),
            Reply::Integer(0),
            Reply::bulk("name"),
            Reply::bulk("DebugSleepMapper"),
            Reply::bulk("arg"),
            Reply::bulk("<sleep 0 ms>"),
        ])])
    );
    assert_eq!(
        client.call(&["RG.GETEXECUTION", &id(0), "CLUSTER"])?,
        Reply::error("no cluster detected - use `RG.GETEXECUTION <id> [SHARD]` instead")
    );
    assert_eq!(
        client.call(&["RG.GETEXECUTION", &id(0), "bogus"])?,
        Reply::error("unknown subcommand")
    );
    assert_eq!(
        client.call(&["RG.GETEXECUTION", &id(7), "bogus"])?,
        Reply::error("execution plan does not exist")
    );
    assert_eq!(
        client.call(&["RG.GETEXECUTION", "not-an-id"])?,
        Reply::error("execution plan does not exist")
    );
    Ok(())
}

#[test]
fn malformed_calls_get_redisgears_errors() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    for (command, name) in [
        ("RG.GETRESULTS", "rg.getresults"),
        ("RG.GETRESULTSBLOCKING", "rg.getresultsblocking"),
        ("RG.GETEXECUTION", "rg.getexecution"),
        ("RG.DROPEXECUTION", "rg.dropexecution"),
        ("RG.ABORTEXECUTION", "rg.abortexecution"),
    ] {
        assert_eq!(
            client.cmd(command)?,
            Reply::error(format!(
                "ERR wrong number of arguments for '{name}' command"
            ))
        );
    }
    assert_eq!(
        client.call(&["RG.GETRESULTSBLOCKING", "\u{ff}"])?,
        Reply::error("execution plan does not exist")
    );
    Ok(())
}

#[test]
fn profiling_measures_step_durations() -> Result<()> {
    let server = server(&["ProfileExecutions", "1"])?;
    let mut client = server.client()?;
    client.cmd("RG.DEBUGRUN 3 20 UNBLOCKING")?;
    client.call(&["RG.GETRESULTSBLOCKING", &id(0)])?;
    let Reply::Array(shards) = client.call(&["RG.GETEXECUTION", &id(0)])? else {
        panic!()
    };
    let Reply::Array(entry) = &shards[0] else {
        panic!()
    };
    let Reply::Array(plan) = &entry[3] else {
        panic!()
    };
    let Reply::Array(steps) = &plan[15] else {
        panic!()
    };
    let Reply::Array(step) = &steps[0] else {
        panic!()
    };
    let Reply::Integer(duration) = step[3] else {
        panic!()
    };
    assert!(duration >= 50, "3 records of 20 ms took {duration} ms");
    Ok(())
}

#[test]
fn the_keys_reader_reads_every_type_in_batches_under_the_lock() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    client.cmd("SET s:1 hello")?;
    client.call(&[b"SET".as_slice(), b"s:\xff", b"\xfe\x00"])?;
    client.cmd("HSET h:1 f v")?;
    client.cmd("RPUSH l:1 a b c")?;
    client.cmd("SADD set:1 m")?;
    client.cmd("XADD st:1 * f v")?;
    for n in 0..100 {
        client.call(&["SET", &format!("many:{n}"), "x"])?;
    }
    let Reply::Array(outcome) = client.cmd("RG.DEBUGSCAN *")? else {
        panic!()
    };
    let Reply::Array(results) = &outcome[0] else {
        panic!()
    };
    assert_eq!(results.len(), 106);
    let find = |key: &[u8]| {
        results.iter().find_map(|r| match r {
            Reply::Array(pair) if pair[0] == Reply::bulk(key) => Some(pair[1].clone()),
            _ => None,
        })
    };
    assert_eq!(find(b"s:1"), Some(Reply::bulk("hello")));
    assert_eq!(find(b"s:\xff"), Some(Reply::bulk(b"\xfe\x00".to_vec())));
    assert_eq!(
        find(b"h:1"),
        Some(Reply::array([Reply::array([
            Reply::bulk("f"),
            Reply::bulk("v")
        ])]))
    );
    assert_eq!(
        find(b"l:1"),
        Some(Reply::array([
            Reply::bulk("a"),
            Reply::bulk("b"),
            Reply::bulk("c")
        ]))
    );
    assert_eq!(find(b"set:1"), Some(Reply::Nil));
    assert_eq!(find(b"st:1"), Some(Reply::Nil));

    // The glob is Redis' own; NOSCAN reads one key by name even if it is missing.
    let Reply::Array(outcome) = client.cmd("RG.DEBUGSCAN many:1?")? else {
        panic!()
    };
    let Reply::Array(results) = &outcome[0] else {
        panic!()
    };
    assert_eq!(results.len(), 10);
    assert_eq!(
        client.cmd("RG.DEBUGSCAN nothing* NOSCAN")?,
        Reply::array([
            Reply::array([Reply::array([Reply::bulk("nothing*"), Reply::Nil])]),
            Reply::array([])
        ])
    );
    Ok(())
}

#[test]
fn the_keys_reader_matches_globs_like_redis_and_skips_expired_keys() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    for key in [
        "ab", "abc", "a*b", "b1", "bb", "c9", "xa", "a", "[x]", "a\\b",
    ] {
        client.call(&["SET", key, "v"])?;
    }
    let names = |reply: Reply| -> Vec<Reply> {
        let Reply::Array(mut items) = reply else {
            panic!()
        };
        let items = match items.remove(0) {
            Reply::Array(results) => results
                .into_iter()
                .map(|pair| match pair {
                    Reply::Array(mut kv) => kv.remove(0),
                    other => other,
                })
                .collect(),
            other => vec![other],
        };
        let mut items: Vec<Reply> = items;
        items.sort_by_key(|r| r.to_string());
        items
    };
    for pattern in [
        "*", "a*", "?b*", "[ab]*", "[^a]*", "a\\*b", "*[0-9]", "[a-b]?", "\\[x\\]", "a\\\\b", "*b*",
    ] {
        let Reply::Array(mut expected) = client.call(&["KEYS", pattern])? else {
            panic!()
        };
        expected.sort_by_key(|r| r.to_string());
        assert_eq!(
            names(client.call(&["RG.DEBUGSCAN", pattern])?),
            expected,
            "pattern {pattern}"
        );
    }
    client.cmd("SET gone v PX 1")?;
    std::thread::sleep(Duration::from_millis(20));
    let all = names(client.cmd("RG.DEBUGSCAN *")?);
    assert!(!all.contains(&Reply::bulk("gone")), "{all:?}");
    Ok(())
}

#[test]
fn an_abort_takes_an_execution_id_like_redisgears_internal_execution() -> Result<()> {
    let server = server(&[])?;
    let mut client = server.client()?;
    assert_eq!(
        client.cmd("RG.DEBUGRUN 1 0 UNBLOCKING")?,
        Reply::bulk(id(0))
    );
    assert_eq!(client.call(&["RG.ABORTEXECUTION", &id(0)])?, Reply::ok());
    assert_eq!(
        client.call(&["RG.ABORTEXECUTION", &id(42)])?,
        Reply::error("execution does not exist")
    );
    // Two aborts, two internal executions: the next run is -3.
    assert_eq!(
        client.cmd("RG.DEBUGRUN 1 0 UNBLOCKING")?,
        Reply::bulk(id(3))
    );
    Ok(())
}
