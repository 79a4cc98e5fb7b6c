//! Registrations that survive: DEBUG RELOAD, SAVE and a restart, the AOF (with and
//! without a rewrite), and a real replica that holds them without firing until it
//! is promoted (behaviour.md §5.7).

mod common;

use anyhow::{bail, Result};
use common::{eventually, id, integer, pyexecute, text};
use conformance::client::Client;
use conformance::local_server::{module_next_to_test_binary, LocalServer};
use gears_protocol::Reply;
use std::time::{Duration, Instant};

fn server_with(server_args: &[&str]) -> Result<LocalServer> {
    LocalServer::start_with(&module_next_to_test_binary()?, &[], server_args)
}

/// A sync keys registration counting `k:` writes, whose onRegistered counts its
/// starts, and a sync trigger.
const SCRIPT: &str = "def setup():\n    execute('INCR', 'starts')\n\
GB().foreach(lambda r: execute('INCR', 'writes')).register(prefix='k:*', mode='sync', onRegistered=setup)\n\
GB('CommandReader').map(lambda a: 'v1:' + a[1]).register(trigger='version', mode='sync')";

fn registered_ids(client: &mut Client) -> Result<Vec<String>> {
    let Reply::Array(entries) = client.call(&["RG.DUMPREGISTRATIONS"])? else {
        bail!("RG.DUMPREGISTRATIONS is not an array");
    };
    Ok(entries
        .iter()
        .filter_map(|entry| match entry {
            Reply::Array(fields) => fields.get(1).map(text),
            _ => None,
        })
        .collect())
}

/// Checks that both registrations of SCRIPT work, `starts` times started.
fn check_alive(client: &mut Client, writes: i64, starts: i64) -> Result<()> {
    client.call(&["SET", &format!("k:{writes}"), "v"])?;
    assert_eq!(integer(&client.call(&["GET", "writes"])?), writes);
    assert_eq!(integer(&client.call(&["GET", "starts"])?), starts);
    assert_eq!(
        client.call(&["RG.TRIGGER", "version", "x"])?,
        Reply::array([Reply::bulk("v1:x")])
    );
    Ok(())
}

#[test]
fn registrations_survive_debug_reload_and_a_restart() -> Result<()> {
    let mut server = server_with(&["--enable-debug-command", "yes"])?;
    let mut client = server.client()?;
    // An idle server reloads without trouble.
    assert_eq!(client.call(&["DEBUG", "RELOAD"])?, Reply::ok());
    assert_eq!(
        client.call(&[
            "RG.PYEXECUTE",
            SCRIPT,
            "ID",
            "app",
            "DESCRIPTION",
            "the app"
        ])?,
        Reply::ok()
    );
    check_alive(&mut client, 1, 1)?;
    assert_eq!(client.call(&["DEBUG", "RELOAD"])?, Reply::ok());
    assert_eq!(registered_ids(&mut client)?, vec![id(1), id(3)]);
    check_alive(&mut client, 2, 2)?;
    assert_eq!(client.call(&["SAVE"])?, Reply::ok());
    server.restart()?;
    let mut client = server.client()?;
    check_alive(&mut client, 3, 3)?;
    // The session came back with its name and description.
    let Reply::Array(entries) = client.call(&["RG.DUMPREGISTRATIONS"])? else {
        bail!("not an array");
    };
    let Reply::Array(first) = &entries[0] else {
        bail!("not an entry");
    };
    let pd = text(&first[9]);
    assert!(
        pd.starts_with("{'sessionName':'app', 'sessionDescription':'the app'"),
        "{pd}"
    );
    // Loaded ids push the counter: the next registration does not reuse one.
    pyexecute(&mut client, "GB('CommandReader').register(trigger='other')")?;
    let ids = registered_ids(&mut client)?;
    assert_eq!(ids.len(), 3);
    assert!(!ids[..2].contains(&ids[2]), "{ids:?}");
    // An unregistered registration stays gone after a reload.
    assert_eq!(client.call(&["RG.UNREGISTER", &id(3)])?, Reply::ok());
    assert_eq!(client.call(&["DEBUG", "RELOAD"])?, Reply::ok());
    assert_eq!(
        client.call(&["RG.TRIGGER", "version"])?,
        Reply::error("ERR subcommand not found")
    );
    Ok(())
}

#[test]
fn registrations_survive_the_aof_and_its_rewrite() -> Result<()> {
    let mut server = server_with(&["--appendonly", "yes"])?;
    let mut client = server.client()?;
    assert_eq!(client.call(&["RG.PYEXECUTE", SCRIPT])?, Reply::ok());
    check_alive(&mut client, 1, 1)?;
    // Replayed from the AOF: RG.INNERREGISTER.
    server.restart()?;
    let mut client = server.client()?;
    check_alive(&mut client, 2, 2)?;
    client.call(&["BGREWRITEAOF"])?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = text(&client.call(&["INFO", "persistence"])?);
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            break;
        }
        if Instant::now() > deadline {
            bail!("the AOF rewrite did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Loaded from the rewritten AOF's RDB preamble.
    server.restart()?;
    let mut client = server.client()?;
    check_alive(&mut client, 3, 3)?;
    assert_eq!(registered_ids(&mut client)?, vec![id(1), id(3)]);
    Ok(())
}

/// Waits until the replica `client` talks to has synced with its master.
fn wait_for_sync(client: &mut Client) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text(&client.call(&["INFO", "replication"])?).contains("master_link_status:up") {
        if Instant::now() > deadline {
            bail!("the replica did not sync");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn a_replica_holds_registrations_and_fires_them_once_promoted() -> Result<()> {
    let master = server_with(&["--repl-diskless-sync-delay", "0"])?;
    let replica = server_with(&[])?;
    let mut on_master = master.client()?;
    let mut on_replica = replica.client()?;
    // One registration before the replica attaches (full sync), one after.
    pyexecute(
        &mut on_master,
        "GB().foreach(lambda r: execute('INCR', 'a')).register(prefix='a:*', mode='sync')",
    )?;
    on_replica.call(&["REPLICAOF", "127.0.0.1", &master.port().to_string()])?;
    wait_for_sync(&mut on_replica)?;
    pyexecute(
        &mut on_master,
        "GB().foreach(lambda r: execute('INCR', 'b')).register(prefix='b:*', mode='sync')",
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while registered_ids(&mut on_replica)?.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        registered_ids(&mut on_replica)?,
        registered_ids(&mut on_master)?
    );
    // The master fires them; the replica only receives the writes.
    on_master.call(&["SET", "a:1", "x"])?;
    on_master.call(&["SET", "b:1", "x"])?;
    eventually(&mut on_replica, &["GET", "b"], 1)?;
    assert_eq!(integer(&on_replica.call(&["GET", "a"])?), 1);
    // Clients can not send the internal commands.
    assert_eq!(
        on_replica.call(&["RG.INNERREGISTER", "blob"])?,
        Reply::error(
            "ERR RG.INNERREGISTER is accepted only from the replication stream or the AOF"
        )
    );
    assert_eq!(
        on_master.call(&["RG.INNERUNREGISTER", &id(1)])?,
        Reply::error(
            "ERR RG.INNERUNREGISTER is accepted only from the replication stream or the AOF"
        )
    );
    // Unregistering on the master reaches the replica.
    let first = registered_ids(&mut on_master)?[0].clone();
    assert_eq!(on_master.call(&["RG.UNREGISTER", &first])?, Reply::ok());
    let deadline = Instant::now() + Duration::from_secs(10);
    while registered_ids(&mut on_replica)?.len() != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(registered_ids(&mut on_replica)?.len(), 1);
    // Promoted, the replica fires what it holds.
    on_replica.call(&["REPLICAOF", "NO", "ONE"])?;
    on_replica.call(&["SET", "b:2", "x"])?;
    assert_eq!(integer(&on_replica.call(&["GET", "b"])?), 2);
    Ok(())
}

#[test]
fn a_server_started_as_a_replica_does_not_fire() -> Result<()> {
    let master = server_with(&["--repl-diskless-sync-delay", "0"])?;
    let mut on_master = master.client()?;
    pyexecute(
        &mut on_master,
        "GB().foreach(lambda r: execute('INCR', 'a')).register(prefix='a:*', mode='sync')",
    )?;
    // A replica from its command line: it is one before the module is loaded.
    let port = master.port().to_string();
    let replica = server_with(&["--replicaof", "127.0.0.1", &port])?;
    let mut on_replica = replica.client()?;
    wait_for_sync(&mut on_replica)?;
    on_master.call(&["SET", "a:1", "x"])?;
    on_master.call(&["SET", "marker", "1"])?;
    eventually(&mut on_replica, &["EXISTS", "marker"], 1)?;
    // The master's run is replicated; the replica's registration did not run too.
    assert_eq!(integer(&on_replica.call(&["GET", "a"])?), 1);
    Ok(())
}

#[test]
fn stream_entries_are_processed_once_across_a_restart() -> Result<()> {
    let mut server = server_with(&[])?;
    let mut client = server.client()?;
    pyexecute(
        &mut client,
        "GB('StreamReader').foreach(lambda r: execute('HINCRBY', 'seen', r['id'], 1)).register(prefix='s', batch=3)",
    )?;
    for n in 1..=7 {
        client.call(&["XADD", "s", &format!("{n}-0"), "f", "v"])?;
    }
    eventually(&mut client, &["HLEN", "seen"], 6)?;
    client.call(&["SAVE"])?;
    server.restart()?;
    let mut client = server.client()?;
    // Entries found in the stream when the registration comes back are run at once.
    eventually(&mut client, &["HLEN", "seen"], 7)?;
    for n in 8..=10 {
        client.call(&["XADD", "s", &format!("{n}-0"), "f", "v"])?;
    }
    eventually(&mut client, &["HLEN", "seen"], 10)?;
    eventually(&mut client, &["XLEN", "s"], 0)?;
    std::thread::sleep(Duration::from_millis(100));
    let Reply::Array(values) = client.call(&["HVALS", "seen"])? else {
        bail!("HVALS is not an array");
    };
    assert!(values.iter().all(|v| integer(v) == 1), "{values:?}");
    Ok(())
}

#[test]
fn an_unpicklable_callback_is_refused_at_register_time() -> Result<()> {
    let server = server_with(&[])?;
    let mut client = server.client()?;
    let reply = pyexecute(
        &mut client,
        "import threading\nlock = threading.Lock()\nGB().foreach(lambda r: lock.acquire()).register()",
    )?;
    let Reply::Error(text) = reply else {
        bail!("expected an error, got {reply}");
    };
    assert!(
        text.contains("Error occured when serialized a python callback, callback=<lambda> error=cannot pickle '_thread.lock' object"),
        "{text}"
    );
    assert_eq!(client.call(&["RG.DUMPREGISTRATIONS"])?, Reply::array([]));
    // The upstream answer: create it in onRegistered.
    assert_eq!(
        pyexecute(
            &mut client,
            "import threading\nholder = {}\ndef setup():\n    holder['lock'] = threading.Lock()\nGB().foreach(lambda r: holder['lock']).register(onRegistered=setup)",
        )?,
        Reply::ok()
    );
    Ok(())
}
