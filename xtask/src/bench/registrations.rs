//! The rows whose gears-rs side is a registration: B1 (a sync KeysReader trigger on
//! every SET), B1a (the same, `async_local`) and B6 (`RG.TRIGGER` of a sync
//! CommandReader registration).
//!
//! Every side of B1 and B1a runs on a fresh redis-server (bare SET and the Lua
//! function on one without the module, B1's floor on one with only the floor
//! module of [`super::floor`]), so no run inherits another's keys, memory or
//! registrations. The primary cost is the server's µs per call from
//! `INFO commandstats` after `CONFIG RESETSTAT`; every load is checked to have run
//! exactly as many commands as asked, none failing, and every counter to equal the
//! number of events.

use super::{median, redis_benchmark, scaled, Row, Server, PYTHON};
use anyhow::{bail, Context, Result};
use conformance::client::Client;
use gears_protocol::Reply;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The pipeline depth of the `-P 16` loads.
const PIPELINE: usize = 16;

/// The Lua side of B1 and B6, loaded with `FUNCTION LOAD`.
const LUA_LIBRARY: &str = "#!lua name=bench\n\
    redis.register_function('setincr', function(keys, args) \
    redis.call('SET', keys[1], args[1]) return redis.call('INCR', keys[2]) end)\n\
    redis.register_function('noop', function() return 1 end)\n\
    redis.register_function('incr', function(keys) return redis.call('INCR', keys[1]) end)\n";

/// The registration of B1 (`sync`) and B1a (`async_local`).
fn keys_registration(mode: &str) -> String {
    format!(
        "GB().foreach(lambda r: execute('INCR', 'counter'))\
         .register(prefix='key:*', eventTypes=['set'], mode='{mode}')"
    )
}

/// `count` scaled and rounded up to whole pipelines: redis-benchmark hands out
/// requests a pipeline at a time, so only then does it send exactly `count`.
fn requests(count: usize, scale: f64) -> usize {
    scaled(count, scale).div_ceil(PIPELINE) * PIPELINE
}

/// One command's line of `INFO commandstats`.
#[derive(Debug, Default)]
struct CommandStat {
    calls: u64,
    usec: u64,
    rejected: u64,
    failed: u64,
}

impl CommandStat {
    fn usec_per_call(&self) -> f64 {
        self.usec as f64 / self.calls.max(1) as f64
    }
}

/// The `cmdstat_<command>` line of `INFO commandstats` (zeros when absent).
fn command_stat(client: &mut Client, command: &str) -> Result<CommandStat> {
    let reply = client.call(&["INFO", "commandstats"])?;
    let Reply::Bulk(text) = reply else {
        bail!("INFO commandstats replied {reply}");
    };
    let text = String::from_utf8_lossy(&text);
    let prefix = format!("cmdstat_{}:", command.to_ascii_lowercase());
    let mut stat = CommandStat::default();
    if let Some(line) = text.lines().find(|line| line.starts_with(&prefix)) {
        for field in line[prefix.len()..].trim().split(',') {
            let (name, value) = field
                .split_once('=')
                .with_context(|| format!("commandstats field {field:?}"))?;
            let target = match name {
                "calls" => &mut stat.calls,
                "usec" => &mut stat.usec,
                "rejected_calls" => &mut stat.rejected,
                "failed_calls" => &mut stat.failed,
                _ => continue,
            };
            *target = value
                .parse()
                .with_context(|| format!("commandstats field {field:?}"))?;
        }
    }
    Ok(stat)
}

/// Throughput (requests/s) and the server's µs per call of one load.
#[derive(Clone, Copy)]
struct Measured {
    rps: f64,
    usec: f64,
}

/// Medians of the throughputs and of the µs per call, taken separately.
fn medians(values: &[Measured]) -> Measured {
    Measured {
        rps: median(values.iter().map(|m| m.rps).collect()),
        usec: median(values.iter().map(|m| m.usec).collect()),
    }
}

/// Runs `load` with redis-benchmark after `CONFIG RESETSTAT`, and checks that the
/// server ran `command` exactly `count` times and none of them failed.
fn measured(server: &Server, load: &[&str], command: &str, count: usize) -> Result<Measured> {
    let mut client = server.client()?;
    expect_ok(client.cmd("CONFIG RESETSTAT")?, "CONFIG RESETSTAT")?;
    let rps = redis_benchmark(server.port, load)?;
    let stat = command_stat(&mut client, command)?;
    if stat.calls != count as u64 || stat.failed != 0 || stat.rejected != 0 {
        bail!(
            "`redis-benchmark {}` ran {command} {} times ({} failed, {} rejected), not {count}",
            load.join(" "),
            stat.calls,
            stat.failed,
            stat.rejected
        );
    }
    Ok(Measured {
        rps,
        usec: stat.usec_per_call(),
    })
}

pub(super) fn expect_ok(reply: Reply, what: &str) -> Result<()> {
    match reply {
        Reply::Simple(ref status) if status == "OK" => Ok(()),
        other => bail!("{what} replied {other}"),
    }
}

/// Registers `script` with `RG.PYEXECUTE`, which replies OK when it registers.
pub(super) fn register(client: &mut Client, script: &str) -> Result<()> {
    expect_ok(
        client.call(&["RG.PYEXECUTE", script])?,
        &format!("RG.PYEXECUTE {script:?}"),
    )
}

fn load_lua_library(client: &mut Client) -> Result<()> {
    match client.call(&["FUNCTION", "LOAD", LUA_LIBRARY])? {
        Reply::Bulk(name) if name == b"bench" => Ok(()),
        other => bail!("FUNCTION LOAD replied {other}"),
    }
}

/// The integer value of a string key (0 when it does not exist).
fn counter(client: &mut Client, key: &str) -> Result<u64> {
    match client.call(&["GET", key])? {
        Reply::Nil => Ok(0),
        Reply::Bulk(bytes) => String::from_utf8_lossy(&bytes)
            .parse()
            .with_context(|| format!("{key} is not a counter")),
        other => bail!("GET {key} replied {other}"),
    }
}

fn check_counter(client: &mut Client, key: &str, expected: usize, what: &str) -> Result<()> {
    let value = counter(client, key)?;
    if value != expected as u64 {
        bail!("{what}: {key} is {value}, not {expected}");
    }
    Ok(())
}

/// The SET load of B1 and B1a: `-c 50 -P 16 -n <count> -r <keyspace>`.
fn set_load(count: &str, keyspace: &str) -> Vec<String> {
    [
        "-c",
        "50",
        "-P",
        "16",
        "-n",
        count,
        "-r",
        keyspace,
        "set",
        "key:__rand_int__",
        "v",
    ]
    .map(String::from)
    .to_vec()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

pub(super) fn verdict(misses: Vec<String>) -> String {
    if misses.is_empty() {
        "met".into()
    } else {
        format!("missed ({})", misses.join("; "))
    }
}

/// B1: a sync KeysReader registration on every SET vs bare SET vs a Lua function
/// doing SET+INCR.
pub(super) fn b1(module: &Path, runs: usize, scale: f64) -> Result<Row> {
    let count = requests(2_000_000, scale);
    let (count_text, keyspace) = (count.to_string(), scaled(1_000_000, scale).to_string());
    let set = set_load(&count_text, &keyspace);
    let mut fcall = set[..8].to_vec();
    fcall.extend(["fcall", "setincr", "2", "key:__rand_int__", "counter", "v"].map(String::from));
    let registration = keys_registration("sync");
    let floor_dir = tempfile::tempdir()?;
    let floor_module = super::floor::build(floor_dir.path())?;
    let (mut bare, mut lua, mut gears, mut floor) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let server = Server::start(None)?;
        bare.push(measured(&server, &strs(&set), "set", count)?);
        drop(server);

        let server = Server::start(None)?;
        let mut client = server.client()?;
        load_lua_library(&mut client)?;
        lua.push(measured(&server, &strs(&fcall), "fcall", count)?);
        check_counter(&mut client, "counter", count, "Lua SET+INCR")?;
        drop(server);

        let server = Server::start(Some(&floor_module))?;
        let mut client = server.client()?;
        floor.push(measured(&server, &strs(&set), "set", count)?);
        check_counter(&mut client, "counter", count, "the floor module")?;
        drop(server);

        let server = Server::start(Some(module))?;
        let mut client = server.client()?;
        register(&mut client, &registration)?;
        gears.push(measured(&server, &strs(&set), "set", count)?);
        check_counter(&mut client, "counter", count, "the sync registration")?;
    }
    let (bare, lua, gears, floor) = (
        medians(&bare),
        medians(&lua),
        medians(&gears),
        medians(&floor),
    );
    let throughput = gears.rps / bare.rps;
    let mut misses = Vec::new();
    if gears.usec > 1.6 {
        misses.push(format!("{:.2} µs/SET > 1.6", gears.usec));
    }
    if gears.usec >= lua.usec {
        misses.push("not faster than Lua".into());
    }
    if throughput < 0.5 {
        misses.push(format!("SET/s {throughput:.2}× bare"));
    }
    Ok(Row {
        id: "B1",
        workload: format!(
            "sync KeysReader INCR on every SET, {count} SETs -c 50 -P 16 -r {keyspace}; \
             vs bare SET, FCALL SET+INCR, the floor (a minimal C module calling one \
             Python function per SET)"
        ),
        measures: vec![
            ("gears".into(), gears.usec, "µs/SET"),
            ("Lua".into(), lua.usec, "µs/FCALL"),
            ("bare".into(), bare.usec, "µs/SET"),
            ("floor".into(), floor.usec, "µs/SET"),
            ("gears SET".into(), gears.rps, "req/s"),
            ("Lua FCALL".into(), lua.rps, "req/s"),
            ("bare SET".into(), bare.rps, "req/s"),
        ],
        ratios: vec![
            ("gears/Lua µs".into(), gears.usec / lua.usec),
            ("gears/bare µs".into(), gears.usec / bare.usec),
            ("gears/floor µs".into(), gears.usec / floor.usec),
            ("gears/bare SET/s".into(), throughput),
        ],
        target: "≤ 1.6 µs/SET, < Lua, ≥ 0.5× bare SET/s",
        verdict: verdict(misses),
    })
}

/// What an asynchronous side achieved: the load's own throughput, events counted
/// per second from the load's start, and the lag from the load's end (until the
/// counter was complete, or until the drain limit when it was not).
#[derive(Clone, Copy)]
struct Drained {
    load_rps: f64,
    events_per_second: f64,
    lag: f64,
    counted: u64,
}

/// How long an asynchronous side (B1a's counter, B5's drain) may take to finish:
/// a minute at full scale (RedisGears 1.2 takes 6.5 s), at least 10 s.
pub(super) fn drain_limit(scale: f64) -> Duration {
    Duration::from_secs_f64((60.0 * scale).max(10.0))
}

/// Runs the SET load and waits (at most `limit`) until `counter` equals the number
/// of SETs. An incomplete count is reported, not an error (it is a missed target);
/// a count past the number of SETs is an error.
fn drain(
    server: &Server,
    load: &[&str],
    count: usize,
    limit: Duration,
    what: &str,
) -> Result<Drained> {
    let mut client = server.client()?;
    expect_ok(client.cmd("CONFIG RESETSTAT")?, "CONFIG RESETSTAT")?;
    let start = Instant::now();
    let load_rps = redis_benchmark(server.port, load)?;
    let load_end = Instant::now();
    let sets = command_stat(&mut client, "set")?;
    if sets.calls != count as u64 || sets.failed != 0 {
        bail!("{what}: the load ran {sets:?}, not {count} SETs");
    }
    let deadline = load_end + limit;
    let counted = loop {
        let value = counter(&mut client, "counter")?;
        if value > count as u64 {
            bail!("{what}: counter is {value} after {count} SETs");
        }
        if value == count as u64 || Instant::now() > deadline {
            break value;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let done = Instant::now();
    if counted == count as u64 {
        // Nothing counted twice: the counter stays where it arrived.
        std::thread::sleep(Duration::from_millis(200));
        check_counter(&mut client, "counter", count, what)?;
    }
    Ok(Drained {
        load_rps,
        events_per_second: counted as f64 / (done - start).as_secs_f64(),
        lag: (done - load_end).as_secs_f64(),
        counted,
    })
}

fn drained_medians(values: &[Drained]) -> Drained {
    Drained {
        load_rps: median(values.iter().map(|d| d.load_rps).collect()),
        events_per_second: median(values.iter().map(|d| d.events_per_second).collect()),
        lag: median(values.iter().map(|d| d.lag).collect()),
        counted: values.iter().map(|d| d.counted).min().unwrap_or(0),
    }
}

/// The keyspace-notification baseline of B1a: a redis-py subscriber to
/// `__keyevent@0__:set` that INCRs `counter` once per event, pipelined 1000 at a time.
const SUBSCRIBER: &str = "import os, sys, time, redis\n\
r = redis.Redis(port=int(os.environ['REDIS_PORT']))\n\
events = int(os.environ['EVENTS'])\n\
p = r.pubsub()\n\
p.subscribe('__keyevent@0__:set')\n\
deadline = time.time() + 10\n\
while time.time() < deadline:\n\
\x20   m = p.get_message(timeout=1)\n\
\x20   if m and m['type'] == 'subscribe':\n\
\x20       break\n\
else:\n\
\x20   sys.exit('no subscribe confirmation')\n\
print('ready', flush=True)\n\
pipe = r.pipeline(transaction=False)\n\
seen = pending = 0\n\
deadline = time.time() + float(os.environ['LIMIT_S'])\n\
while seen < events and time.time() < deadline:\n\
\x20   m = p.get_message(timeout=0 if pending else 0.1)\n\
\x20   if m is None:\n\
\x20       if pending:\n\
\x20           pipe.execute()\n\
\x20           pending = 0\n\
\x20       continue\n\
\x20   if m['type'] == 'message':\n\
\x20       pipe.incr('counter')\n\
\x20       seen += 1\n\
\x20       pending += 1\n\
\x20       if pending == 1000:\n\
\x20           pipe.execute()\n\
\x20           pending = 0\n\
if pending:\n\
\x20   pipe.execute()\n\
print(seen, flush=True)\n";

/// The subscriber process, killed if it is still running when dropped.
struct Subscriber {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Subscriber {
    /// Starts the subscriber and waits until it is subscribed.
    fn start(port: u16, events: usize, limit: Duration) -> Result<Subscriber> {
        let mut child = Command::new(PYTHON)
            .arg("-c")
            .arg(SUBSCRIBER)
            .env("REDIS_PORT", port.to_string())
            .env("EVENTS", events.to_string())
            .env("LIMIT_S", (limit.as_secs_f64() + 30.0).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the Python subscriber")?;
        let stdout = BufReader::new(child.stdout.take().context("subscriber stdout")?);
        let mut subscriber = Subscriber { child, stdout };
        // The script gives up by itself after 10 s without a subscription.
        let line = subscriber.line()?;
        if line != "ready" {
            bail!(
                "the Python subscriber did not start: {}",
                subscriber.stderr()
            );
        }
        Ok(subscriber)
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line.trim().to_owned())
    }

    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let mut text = String::new();
        if let Some(stderr) = self.child.stderr.as_mut() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }

    /// Waits (bounded) for the subscriber to exit and checks it saw every event.
    fn finish(&mut self, events: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the Python subscriber failed: {}", self.stderr());
                }
                break;
            }
            if Instant::now() > deadline {
                bail!("the Python subscriber did not exit");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let seen = self.line()?;
        if seen != events.to_string() {
            bail!("the Python subscriber saw {seen:?} events, not {events}");
        }
        Ok(())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// B1a: the B1 registration with `mode='async_local'` vs keyspace notifications
/// consumed by a Python subscriber.
pub(super) fn b1a(module: &Path, runs: usize, scale: f64) -> Result<Row> {
    let count = requests(2_000_000, scale);
    let (count_text, keyspace) = (count.to_string(), scaled(1_000_000, scale).to_string());
    let set = set_load(&count_text, &keyspace);
    let registration = keys_registration("async_local");
    let limit = drain_limit(scale);
    let (mut python, mut gears) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let server = Server::start(None)?;
        let mut client = server.client()?;
        expect_ok(
            client.call(&["CONFIG", "SET", "notify-keyspace-events", "E$"])?,
            "CONFIG SET notify-keyspace-events",
        )?;
        // A subscriber that falls behind is not disconnected (and loses nothing).
        expect_ok(
            client.call(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 0 0 0",
            ])?,
            "CONFIG SET client-output-buffer-limit",
        )?;
        let mut subscriber = Subscriber::start(server.port, count, limit)?;
        let drained = drain(&server, &strs(&set), count, limit, "the Python subscriber")?;
        if drained.counted == count as u64 {
            subscriber.finish(count)?;
        }
        python.push(drained);
        drop(subscriber);
        drop(server);

        let server = Server::start(Some(module))?;
        let mut client = server.client()?;
        register(&mut client, &registration)?;
        gears.push(drain(
            &server,
            &strs(&set),
            count,
            limit,
            "the async_local registration",
        )?);
    }
    let (python, gears) = (drained_medians(&python), drained_medians(&gears));
    let mut misses = Vec::new();
    for (side, drained) in [("gears", &gears), ("subscriber", &python)] {
        if drained.counted != count as u64 {
            misses.push(format!(
                "{side} counted {} of {count} within {:.0} s of the load",
                drained.counted,
                limit.as_secs_f64()
            ));
        }
    }
    if gears.events_per_second < 300_000.0 {
        misses.push(format!("{:.0} events/s < 300k", gears.events_per_second));
    }
    if gears.lag > 1.0 {
        misses.push(format!("drained {:.2} s after the load > 1 s", gears.lag));
    }
    Ok(Row {
        id: "B1a",
        workload: format!(
            "async_local KeysReader INCR on every SET, {count} SETs -c 50 -P 16; \
             vs keyspace events (E$) + redis-py subscriber INCR"
        ),
        measures: vec![
            ("gears".into(), gears.events_per_second, "events/s"),
            ("subscriber".into(), python.events_per_second, "events/s"),
            ("gears lag".into(), gears.lag, "s"),
            ("subscriber lag".into(), python.lag, "s"),
            ("gears counted".into(), gears.counted as f64, ""),
            ("subscriber counted".into(), python.counted as f64, ""),
            ("gears load SET".into(), gears.load_rps, "req/s"),
            ("subscriber load SET".into(), python.load_rps, "req/s"),
        ],
        ratios: vec![
            (
                "gears/subscriber events/s".into(),
                gears.events_per_second / python.events_per_second,
            ),
            (
                "gears/subscriber load SET/s".into(),
                gears.load_rps / python.load_rps,
            ),
        ],
        target: "≥ 300k events/s, lag ≤ 1 s, none lost",
        verdict: verdict(misses),
    })
}

/// One load of B6: its label, the command after the benchmark options, the
/// commandstats name, and the counter it INCRs (if any).
struct TriggerLoad {
    label: &'static str,
    command: Vec<String>,
    stat: &'static str,
    counter: Option<&'static str>,
}

/// B6: `RG.TRIGGER` of a sync CommandReader registration vs `FCALL`, `EVALSHA` and
/// `PING`, at `-c 1` and at `-c 50 -P 16`; and the variant whose map INCRs, vs a Lua
/// function doing the same INCR. Returns two rows: B6 and its variant B6i.
pub(super) fn b6(module: &Path, runs: usize, scale: f64) -> Result<Vec<Row>> {
    let server = Server::start(Some(module))?;
    let mut client = server.client()?;
    register(
        &mut client,
        "GB('CommandReader').map(lambda a: 1).register(trigger='noop', mode='sync')",
    )?;
    register(
        &mut client,
        "GB('CommandReader').map(lambda a: execute('INCR', 'c'))\
         .register(trigger='noopincr', mode='sync')",
    )?;
    load_lua_library(&mut client)?;
    let sha = match client.call(&["SCRIPT", "LOAD", "return 1"])? {
        Reply::Bulk(sha) => String::from_utf8_lossy(&sha).into_owned(),
        other => bail!("SCRIPT LOAD replied {other}"),
    };
    // The answers, once each, before the loads repeat them.
    let one = Reply::Array(vec![Reply::bulk(b"1")]);
    for (command, expected) in [
        (vec!["RG.TRIGGER", "noop"], one.clone()),
        (vec!["RG.TRIGGER", "noopincr"], one.clone()),
        (vec!["FCALL", "noop", "0"], Reply::Integer(1)),
        (vec!["FCALL", "incr", "1", "c"], Reply::Integer(2)),
        (vec!["EVALSHA", &sha, "0"], Reply::Integer(1)),
    ] {
        let reply = client.call(&command)?;
        if reply != expected {
            bail!("{} replied {reply}, not {expected}", command.join(" "));
        }
    }
    client.cmd("DEL c")?;

    let words = |text: &str| -> Vec<String> { text.split_whitespace().map(String::from).collect() };
    let loads = [
        TriggerLoad {
            label: "PING",
            command: words("ping"),
            stat: "ping",
            counter: None,
        },
        TriggerLoad {
            label: "FCALL",
            command: words("fcall noop 0"),
            stat: "fcall",
            counter: None,
        },
        TriggerLoad {
            label: "EVALSHA",
            command: vec!["evalsha".into(), sha.clone(), "0".into()],
            stat: "evalsha",
            counter: None,
        },
        TriggerLoad {
            label: "RG.TRIGGER",
            command: words("rg.trigger noop"),
            stat: "rg.trigger",
            counter: None,
        },
        TriggerLoad {
            label: "FCALL incr",
            command: words("fcall incr 1 c"),
            stat: "fcall",
            counter: Some("c"),
        },
        TriggerLoad {
            label: "RG.TRIGGER incr",
            command: words("rg.trigger noopincr"),
            stat: "rg.trigger",
            counter: Some("c"),
        },
    ];
    let (c1, p16) = (scaled(100_000, scale), requests(2_000_000, scale));
    let configs: [(&str, Vec<String>, usize); 2] = [
        ("c1", words(&format!("-c 1 -n {c1}")), c1),
        ("P16", words(&format!("-c 50 -P 16 -n {p16}")), p16),
    ];
    let mut results: BTreeMap<(&str, &str), Vec<Measured>> = BTreeMap::new();
    for _ in 0..runs {
        for (config, options, count) in &configs {
            for load in &loads {
                if let Some(key) = load.counter {
                    client.call(&["DEL", key])?;
                }
                let args: Vec<String> = options.iter().chain(&load.command).cloned().collect();
                let measure = measured(&server, &strs(&args), load.stat, *count)?;
                if let Some(key) = load.counter {
                    check_counter(&mut client, key, *count, load.label)?;
                }
                results
                    .entry((config, load.label))
                    .or_default()
                    .push(measure);
            }
        }
    }
    let get = |config: &str, label: &str| -> Measured {
        results
            .get(&(config, label))
            .map(|values| medians(values))
            .unwrap_or(Measured {
                rps: f64::NAN,
                usec: f64::NAN,
            })
    };

    let row = |id: &'static str, trigger: &str, lua: &str, others: &[&str], workload: String| {
        let mut measures = Vec::new();
        for label in std::iter::once(&trigger).chain([&lua]).chain(others) {
            measures.push((format!("{label} P16"), get("P16", label).usec, "µs"));
        }
        for config in ["c1", "P16"] {
            for label in std::iter::once(&trigger).chain([&lua]).chain(others) {
                measures.push((format!("{label} {config}"), get(config, label).rps, "req/s"));
            }
        }
        let c1_ratio = get("c1", trigger).rps / get("c1", lua).rps;
        let p16_ratio = get("P16", trigger).rps / get("P16", lua).rps;
        let mut misses = Vec::new();
        if c1_ratio < 0.95 {
            misses.push(format!("c1 {c1_ratio:.3}× {lua}"));
        }
        if p16_ratio < 0.5 {
            misses.push(format!("P16 {p16_ratio:.3}× {lua}"));
        }
        Row {
            id,
            workload,
            measures,
            ratios: vec![
                (format!("c1 req/s vs {lua}"), c1_ratio),
                (format!("P16 req/s vs {lua}"), p16_ratio),
                (
                    format!("µs vs {lua}"),
                    get("P16", trigger).usec / get("P16", lua).usec,
                ),
            ],
            target: "c1 ≥ 0.95×, P16 ≥ 0.5× FCALL req/s",
            verdict: verdict(misses),
        }
    };
    Ok(vec![
        row(
            "B6",
            "RG.TRIGGER",
            "FCALL",
            &["EVALSHA", "PING"],
            format!(
                "RG.TRIGGER noop (sync CommandReader map 1), -c 1 -n {c1} and \
                 -c 50 -P 16 -n {p16}; vs FCALL noop 0, EVALSHA, PING"
            ),
        ),
        row(
            "B6i",
            "RG.TRIGGER incr",
            "FCALL incr",
            &[],
            "B6 with map execute('INCR','c'); vs FCALL of a Lua INCR".into(),
        ),
    ])
}
