//! B5, stream write-behind: a StreamReader registration drains a preloaded stream
//! into a hash, vs a Lua function doing the same through a consumer group, and vs a
//! redis-py consumer-group worker.
//!
//! Every side runs on a fresh redis-server (the baselines on one without the
//! module), preloaded with the same `XADD s * f v<i % 10>` entries through one
//! pipelined connection. Each side's answer is checked: `agg` holds exactly as many
//! of each value as were added (so nothing was lost or counted twice), the stream is
//! empty and its consumer group has nothing pending.

use super::registrations::{drain_limit, expect_ok, register, verdict};
use super::{load_lines, median, python_baseline, scaled, Row, Server};
use anyhow::{bail, Context, Result};
use conformance::client::Client;
use gears_protocol::Reply;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The stream, the hash it drains into, and the number of distinct values of `f`.
const STREAM: &str = "s";
const AGG: &str = "agg";
const VALUES: usize = 10;

/// Entries per read, on every side.
const BATCH: usize = 1000;

/// The gears-rs side.
const REGISTRATION: &str = "GB('StreamReader')\
    .foreach(lambda r: execute('HINCRBY','agg',r['value']['f'],1))\
    .register(prefix='s', batch=1000, trimStream=True)";

/// The consumer group of StreamReader registrations.
const GEARS_GROUP: &str = "__gears_consumer_group__";

/// The consumer group (and consumer) of the baselines.
const GROUP: &str = "g";

/// The Lua side: one FCALL reads a batch through the group, counts it into `agg`,
/// acknowledges it, trims it off the stream, and returns how many entries it read.
///
/// The trim is `XTRIM MINID <last id + 1>`, exact: the group's only consumer reads in
/// order, so the batch is the head of the stream. (XDEL of the batch's ids would be
/// exact too, but halves Lua's rate: deleting inside listpacks costs more than
/// dropping whole nodes from the head, which is what trimStream does.)
const LUA_LIBRARY: &str = "#!lua name=b5\n\
    redis.register_function('drain', function(keys, args) \
    local reply = redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', args[1], 'STREAMS', keys[1], '>') \
    if not reply then return 0 end \
    local ids = {} \
    for i, entry in ipairs(reply[1][2]) do \
    local fields = entry[2] \
    for j = 1, #fields, 2 do \
    if fields[j] == 'f' then redis.call('HINCRBY', keys[2], fields[j + 1], 1) end \
    end \
    ids[i] = entry[1] \
    end \
    if #ids > 0 then \
    redis.call('XACK', keys[1], 'g', unpack(ids)) \
    local ms, seq = string.match(ids[#ids], '^(%d+)-(%d+)$') \
    redis.call('XTRIM', keys[1], 'MINID', ms .. '-' .. (tonumber(seq) + 1)) \
    end \
    return #ids end)\n";

/// The Python side: a redis-py consumer-group worker (XREADGROUP COUNT 1000, then one
/// pipeline of HINCRBYs, XACK and the Lua side's exact XTRIM MINID per batch) until a
/// read comes back empty.
/// Prints its seconds and `{"read": <entries>}`; gives up after `limit_s`.
fn python_worker(limit_s: f64) -> String {
    format!(
        "import os, sys, time, json, redis\n\
r = redis.Redis(port=int(os.environ['REDIS_PORT']))\n\
t = time.time()\n\
read = 0\n\
while True:\n\
\x20   reply = r.xreadgroup('{GROUP}', 'c', {{'{STREAM}': '>'}}, count={BATCH})\n\
\x20   entries = reply[0][1] if reply else []\n\
\x20   if not entries:\n\
\x20       break\n\
\x20   p = r.pipeline(transaction=False)\n\
\x20   for _, fields in entries:\n\
\x20       p.hincrby('{AGG}', fields[b'f'], 1)\n\
\x20   ids = [i for i, _ in entries]\n\
\x20   p.xack('{STREAM}', '{GROUP}', *ids)\n\
\x20   ms, seq = ids[-1].split(b'-')\n\
\x20   p.xtrim('{STREAM}', minid=b'%s-%d' % (ms, int(seq) + 1), approximate=False)\n\
\x20   p.execute()\n\
\x20   read += len(entries)\n\
\x20   if time.time() - t > {limit_s}:\n\
\x20       sys.exit('the worker did not drain the stream within {limit_s} s')\n\
print(time.time() - t)\n\
print(json.dumps({{'read': read}}))\n"
    )
}

/// What `agg` must hold after `count` entries: how many of each value.
fn expected_agg(count: usize) -> BTreeMap<String, i64> {
    (0..VALUES)
        .map(|v| {
            let n = count / VALUES + usize::from(v < count % VALUES);
            (format!("v{v}"), n as i64)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn integer(reply: Reply, what: &str) -> Result<i64> {
    match reply {
        Reply::Integer(n) => Ok(n),
        other => bail!("{what} replied {other}"),
    }
}

fn xlen(client: &mut Client) -> Result<i64> {
    integer(client.call(&["XLEN", STREAM])?, "XLEN")
}

/// `agg` as a map (empty when it does not exist).
fn agg(client: &mut Client) -> Result<BTreeMap<String, i64>> {
    let reply = client.call(&["HGETALL", AGG])?;
    let Reply::Array(items) = reply else {
        bail!("HGETALL {AGG} replied {reply}");
    };
    let mut map = BTreeMap::new();
    for pair in items.chunks_exact(2) {
        let (Reply::Bulk(field), Reply::Bulk(value)) = (&pair[0], &pair[1]) else {
            bail!("unexpected pair in HGETALL {AGG}");
        };
        let value = String::from_utf8_lossy(value);
        map.insert(
            String::from_utf8_lossy(field).into_owned(),
            value
                .parse()
                .with_context(|| format!("{AGG} holds {value:?}"))?,
        );
    }
    Ok(map)
}

/// The sum of `agg`'s values: how many entries have been counted.
fn counted(client: &mut Client) -> Result<i64> {
    let reply = client.call(&["HVALS", AGG])?;
    let Reply::Array(values) = reply else {
        bail!("HVALS {AGG} replied {reply}");
    };
    let mut sum = 0;
    for value in values {
        let Reply::Bulk(value) = value else {
            bail!("HVALS {AGG} holds {value}");
        };
        sum += String::from_utf8_lossy(&value).parse::<i64>()?;
    }
    Ok(sum)
}

/// A fresh server (with `module` or bare) holding `count` entries in the stream.
fn preloaded(module: Option<&Path>, count: usize) -> Result<(Server, Client)> {
    let server = Server::start(module)?;
    // Every XADD replies with the new id, a bulk string of two lines.
    load_lines(server.port, count, 2, |i| {
        vec![
            "XADD".into(),
            STREAM.into(),
            "*".into(),
            "f".into(),
            format!("v{}", i % VALUES),
        ]
    })?;
    let mut client = server.client()?;
    let len = xlen(&mut client)?;
    if len != count as i64 {
        bail!("the preload left {len} entries, not {count}");
    }
    Ok((server, client))
}

/// Checks a drained side: `agg` is exact, the stream empty, `group` has nothing
/// pending.
fn check_drained(client: &mut Client, count: usize, group: &str, what: &str) -> Result<()> {
    let expected = expected_agg(count);
    let found = agg(client)?;
    if found != expected {
        bail!("{what}: {AGG} is {found:?}, not {expected:?}");
    }
    let len = xlen(client)?;
    if len != 0 {
        bail!("{what}: {len} entries left in the stream");
    }
    let reply = client.call(&["XPENDING", STREAM, group])?;
    match &reply {
        Reply::Array(parts) if parts.first() == Some(&Reply::Integer(0)) => Ok(()),
        _ => bail!("{what}: XPENDING {STREAM} {group} replied {reply}"),
    }
}

fn create_group(client: &mut Client) -> Result<()> {
    expect_ok(
        client.call(&["XGROUP", "CREATE", STREAM, GROUP, "0"])?,
        "XGROUP CREATE",
    )
}

/// The Lua side's seconds to drain `count` entries, FCALL after FCALL.
fn lua_side(count: usize, limit: Duration) -> Result<f64> {
    let (_server, mut client) = preloaded(None, count)?;
    match client.call(&["FUNCTION", "LOAD", LUA_LIBRARY])? {
        Reply::Bulk(name) if name == b"b5" => {}
        other => bail!("FUNCTION LOAD replied {other}"),
    }
    create_group(&mut client)?;
    let batch = BATCH.to_string();
    let start = Instant::now();
    let mut read = 0;
    loop {
        let n = integer(
            client.call(&["FCALL", "drain", "2", STREAM, AGG, &batch])?,
            "FCALL drain",
        )?;
        if n == 0 {
            break;
        }
        read += n;
        if read > count as i64 {
            bail!("the Lua function read {read} entries of {count}");
        }
        if start.elapsed() > limit {
            bail!("the Lua function did not drain the stream within {limit:?}");
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if read != count as i64 {
        bail!("the Lua function read {read} entries, not {count}");
    }
    check_drained(&mut client, count, GROUP, "the Lua function")?;
    Ok(seconds)
}

/// The Python worker's seconds to drain `count` entries.
fn python_side(count: usize, limit: Duration) -> Result<f64> {
    let (server, mut client) = preloaded(None, count)?;
    create_group(&mut client)?;
    let (seconds, answer) = python_baseline(server.port, &python_worker(limit.as_secs_f64()))?;
    let answer: BTreeMap<String, i64> = serde_json::from_str(&answer)?;
    if answer.get("read") != Some(&(count as i64)) {
        bail!("the Python worker read {answer:?}, not {count} entries");
    }
    check_drained(&mut client, count, GROUP, "the Python worker")?;
    Ok(seconds)
}

/// What the gears-rs side achieved: seconds from the registration's reply until it
/// had counted everything and trimmed the stream (or until the limit), how many it
/// counted by then, the registration's own milliseconds, and the p99 of the polls'
/// round trips (the server's responsiveness while it drains).
#[derive(Clone, Copy)]
struct Gears {
    seconds: f64,
    counted: i64,
    register_ms: f64,
    poll_p99_ms: f64,
}

impl Gears {
    fn rate(&self) -> f64 {
        self.counted as f64 / self.seconds
    }
}

fn gears_side(module: &Path, count: usize, limit: Duration) -> Result<Gears> {
    let (_server, mut client) = preloaded(Some(module), count)?;
    let start = Instant::now();
    register(&mut client, REGISTRATION)?;
    let registered = Instant::now();
    let deadline = registered + limit;
    let mut polls = Vec::new();
    let (done, processed) = loop {
        let poll = Instant::now();
        let processed = counted(&mut client)?;
        let len = xlen(&mut client)?;
        let now = Instant::now();
        polls.push((now - poll).as_secs_f64() * 1000.0);
        if processed > count as i64 {
            bail!("the registration counted {processed} entries of {count}");
        }
        if (processed == count as i64 && len == 0) || now > deadline {
            break (now, processed);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if processed == count as i64 {
        // Nothing counted twice: `agg` stays where it arrived.
        std::thread::sleep(Duration::from_millis(200));
        check_drained(&mut client, count, GEARS_GROUP, "the registration")?;
    }
    Ok(Gears {
        seconds: (done - registered).as_secs_f64(),
        counted: processed,
        register_ms: (registered - start).as_secs_f64() * 1000.0,
        poll_p99_ms: p99(polls),
    })
}

fn p99(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let index = (values.len() * 99 / 100).min(values.len().saturating_sub(1));
    values.get(index).copied().unwrap_or(f64::NAN)
}

/// B5: drain `XADD s * f v` entries into `agg`: a StreamReader registration vs a Lua
/// function loop and a redis-py consumer-group worker.
pub(super) fn b5(module: &Path, runs: usize, scale: f64) -> Result<Row> {
    let count = scaled(1_000_000, scale);
    let limit = drain_limit(scale);
    let (mut lua, mut python, mut gears) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        lua.push(count as f64 / lua_side(count, limit)?);
        python.push(count as f64 / python_side(count, limit)?);
        gears.push(gears_side(module, count, limit)?);
    }
    let (lua, python) = (median(lua), median(python));
    let rate = median(gears.iter().map(Gears::rate).collect());
    let seconds = median(gears.iter().map(|g| g.seconds).collect());
    let register_ms = median(gears.iter().map(|g| g.register_ms).collect());
    let poll_p99 = median(gears.iter().map(|g| g.poll_p99_ms).collect());
    let least = gears.iter().map(|g| g.counted).min().unwrap_or(0);
    let mut misses = Vec::new();
    if least != count as i64 {
        misses.push(format!(
            "counted {least} of {count} within {:.0} s",
            limit.as_secs_f64()
        ));
    }
    if rate < 380_000.0 {
        misses.push(format!("{rate:.0} rec/s < 380k"));
    }
    if rate / lua < 0.8 {
        misses.push(format!("{:.2}× Lua < 0.8", rate / lua));
    }
    if rate / python < 2.4 {
        misses.push(format!("{:.2}× Python < 2.4", rate / python));
    }
    Ok(Row {
        id: "B5",
        workload: format!(
            "stream write-behind: drain {count} preloaded XADD s * f v0..v9 into HINCRBY agg \
             (StreamReader foreach, batch 1000, trimStream); vs a Lua FCALL loop \
             (XREADGROUP 1000 + HINCRBY + XACK + XTRIM MINID), a redis-py consumer-group worker"
        ),
        measures: vec![
            ("gears".into(), rate, "rec/s"),
            ("Lua".into(), lua, "rec/s"),
            ("Python worker".into(), python, "rec/s"),
            ("gears drain".into(), seconds, "s"),
            ("Lua drain".into(), count as f64 / lua, "s"),
            ("Python drain".into(), count as f64 / python, "s"),
            ("gears register".into(), register_ms, "ms"),
            ("poll RTT p99 during gears".into(), poll_p99, "ms"),
            ("gears counted".into(), least as f64, ""),
        ],
        ratios: vec![
            ("gears/Lua rec/s".into(), rate / lua),
            ("gears/Python rec/s".into(), rate / python),
        ],
        target: "≥ 380k rec/s, ≥ 0.8× Lua, ≥ 2.4× Python worker",
        verdict: verdict(misses),
    })
}
