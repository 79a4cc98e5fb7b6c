//! `cargo xtask bench`: the benchmark suite of `shared/spec/benchmarks.md`.
//!
//! Each workload runs side by side with its baselines in the same process tree, on
//! one Debian redis-server on loopback, interleaved, 5 times; the median is reported
//! and, above all, the ratio to the baselines (these machines are shared and noisy).
//! Every run checks its answer against the baselines' answers: a fast wrong answer
//! is a failure. The table is printed and written to `target/bench/results.json`.
//! Then the criterion benchmarks of the pure-Rust hot paths run.
//!
//! The rows whose gears-rs side is a registration (B1, B1a, B6) are in
//! [`registrations`]; the stream write-behind row (B5) is in [`streams`].

mod floor;
mod registrations;
mod streams;

use crate::paths::target_dir;
use crate::prerequisites::{ensure_packages, BUILD_PACKAGES};
use crate::process::{cargo, output, run};
use crate::run::{build_dist_module, stage_module};
use anyhow::{bail, Context, Result};
use conformance::client::Client;
use gears_protocol::Reply;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Runs per workload (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Skip the criterion micro-benchmarks.
    #[arg(long)]
    no_criterion: bool,
    /// Scale the data sets down (e.g. 0.1 for a quick look); 1.0 is the suite's size.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Run only these rows, e.g. `--only B1,B1a,B6` (all rows when absent).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// The rows of the suite, in the order of the table.
const ROWS: &[&str] = &["B0", "B7", "B1", "B1a", "B2", "B3", "B4", "B5", "B6"];

/// One row of the table.
struct Row {
    id: &'static str,
    workload: String,
    measures: Vec<(String, f64, &'static str)>,
    ratios: Vec<(String, f64)>,
    target: &'static str,
    verdict: String,
}

/// A redis-server for the benchmarks, with or without the module.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(module: Option<&Path>) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let port = conformance::free_port()?;
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(["--logfile", "redis.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(module) = module {
            command.arg("--loadmodule").arg(module);
        }
        let child = command.spawn().context("starting redis-server")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut client) = Client::connect(port) {
                if client.cmd("PING").is_ok() {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("redis-server did not start on port {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Server {
            child,
            port,
            _dir: dir,
        })
    }

    fn client(&self) -> Result<Client> {
        Client::connect(self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the suite.
pub fn bench(args: BenchArgs) -> Result<()> {
    for id in &args.only {
        if !ROWS.iter().any(|row| row.eq_ignore_ascii_case(id)) {
            bail!("--only: no row {id}; the rows are {}", ROWS.join(", "));
        }
    }
    let wanted =
        |id: &str| args.only.is_empty() || args.only.iter().any(|o| o.eq_ignore_ascii_case(id));
    let mut packages = BUILD_PACKAGES.to_vec();
    packages.push("python3-redis");
    // The C compiler of B1's floor module.
    packages.push("gcc");
    ensure_packages(&packages)?;
    let built = build_dist_module()?;
    // A copy of this run's own: the rows start fresh servers throughout the run, and
    // each must load this build even if someone rebuilds or restages meanwhile.
    let module_dir = tempfile::tempdir()?;
    let module = module_dir.path().join("librg.so");
    std::fs::copy(stage_module(&built)?, &module)
        .context("copying the module for the benchmark run")?;
    let scale = args.scale.clamp(0.001, 10.0);
    let runs = args.runs.max(1);

    let shared = ["B0", "B7", "B2", "B3", "B4"].iter().any(|id| wanted(id));
    let servers = if shared {
        Some((Server::start(Some(&module))?, Server::start(None)?))
    } else {
        None
    };
    let mut rows = Vec::new();
    if let Some((with_module, without_module)) = &servers {
        if wanted("B0") {
            rows.push(b0(with_module)?);
        }
        if wanted("B7") {
            rows.push(b7(with_module, without_module, runs)?);
        }
    }
    if wanted("B1") {
        rows.push(registrations::b1(&module, runs, scale)?);
    }
    if wanted("B1a") {
        rows.push(registrations::b1a(&module, runs, scale)?);
    }
    if let Some((with_module, _)) = &servers {
        if wanted("B2") {
            rows.push(b2(with_module, runs, scale)?);
        }
        if wanted("B3") {
            rows.push(b3(with_module, runs, scale)?);
        }
        if wanted("B4") {
            rows.push(b4(with_module, runs, scale)?);
        }
    }
    drop(servers);
    if wanted("B5") {
        rows.push(streams::b5(&module, runs, scale)?);
    }
    if wanted("B6") {
        rows.extend(registrations::b6(&module, runs, scale)?);
    }

    print_table(&rows);
    write_json(&rows)?;
    if !args.no_criterion {
        run(cargo().args(["bench", "-p", "gears-executions", "-p", "gears-python"]))?;
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `redis-benchmark -q` requests per second for one test.
fn redis_benchmark(port: u16, extra: &[&str]) -> Result<f64> {
    let result = output(
        Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .args(extra),
    )?;
    let text = String::from_utf8_lossy(&result.stdout);
    // "... SET: 812345.67 requests per second, p50=..." after the progress lines.
    let number = text
        .rsplit('\r')
        .next()
        .and_then(|line| line.split(" requests per second").next())
        .and_then(|head| head.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok());
    number.with_context(|| format!("unexpected redis-benchmark output: {text}"))
}

fn b0(server: &Server) -> Result<Row> {
    let p = server.port;
    let ping = redis_benchmark(
        p,
        &["-c", "50", "-P", "16", "-n", "2000000", "-t", "ping_mbulk"],
    )?;
    let set = redis_benchmark(
        p,
        &[
            "-c",
            "50",
            "-P",
            "16",
            "-n",
            "2000000",
            "-r",
            "1000000",
            "set",
            "key:__rand_int__",
            "v",
        ],
    )?;
    let xadd = redis_benchmark(
        p,
        &[
            "-c",
            "50",
            "-P",
            "16",
            "-n",
            "1000000",
            "xadd",
            "bench:stream",
            "*",
            "f",
            "v",
        ],
    )?;
    let ping_c1 = redis_benchmark(p, &["-c", "1", "-n", "100000", "-t", "ping_mbulk"])?;
    let mut client = server.client()?;
    client.cmd("FLUSHALL")?;
    Ok(Row {
        id: "B0",
        workload: "calibration (redis-benchmark, -c 50 -P 16; PING also -c 1)".into(),
        measures: vec![
            ("PING".into(), ping, "req/s"),
            ("SET".into(), set, "req/s"),
            ("XADD".into(), xadd, "req/s"),
            ("PING c1".into(), ping_c1, "req/s"),
        ],
        ratios: vec![],
        target: "-",
        verdict: "-".into(),
    })
}

/// Rounds of B7 at least: a 2% target is within the noise of a few runs of one
/// machine, so each round pairs the two servers back to back and the row takes the
/// median of the rounds' ratios, after a warm-up round that fills both keyspaces.
const B7_MIN_ROUNDS: usize = 9;

fn b7(with_module: &Server, without_module: &Server, runs: usize) -> Result<Row> {
    let mut ratios = BTreeMap::new();
    for test in ["set", "get", "ping_mbulk"] {
        let args = [
            "-c", "50", "-P", "16", "-n", "1000000", "-r", "100000", "-t", test,
        ];
        redis_benchmark(without_module.port, &args)?;
        redis_benchmark(with_module.port, &args)?;
        let mut paired = Vec::new();
        for round in 0..runs.max(B7_MIN_ROUNDS) {
            // Alternate which server goes first, so neither always runs on a
            // machine the other has just warmed (or heated).
            let (with, without) = if round % 2 == 0 {
                let without = redis_benchmark(without_module.port, &args)?;
                (redis_benchmark(with_module.port, &args)?, without)
            } else {
                let with = redis_benchmark(with_module.port, &args)?;
                (with, redis_benchmark(without_module.port, &args)?)
            };
            paired.push(with / without);
        }
        ratios.insert(test.to_owned(), median(paired));
    }
    for server in [with_module, without_module] {
        server.client()?.cmd("FLUSHALL")?;
    }
    let worst = ratios.values().copied().fold(f64::INFINITY, f64::min);
    Ok(Row {
        id: "B7",
        workload: "module tax: SET/GET/PING, module loaded vs not".into(),
        measures: vec![],
        ratios: ratios
            .into_iter()
            .map(|(k, v)| (format!("{k} with/without"), v))
            .collect(),
        target: "≥ 0.98 (≤ 2% slower)",
        verdict: if worst >= 0.98 {
            "met".into()
        } else {
            format!("missed ({worst:.3})")
        },
    })
}

/// Measures PING latency on its own connection while `work` runs; returns the
/// work's result and the PING p99 in milliseconds.
fn with_ping_probe<T>(port: u16, work: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let probe = std::thread::spawn(move || -> Result<Vec<f64>> {
        let mut client = Client::connect(port)?;
        let mut latencies = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
            let start = Instant::now();
            client.cmd("PING")?;
            latencies.push(start.elapsed().as_secs_f64() * 1000.0);
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(latencies)
    });
    let result = work();
    stop.store(true, Ordering::SeqCst);
    let mut latencies = probe
        .join()
        .map_err(|_| anyhow::anyhow!("the PING probe panicked"))??;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let p99 = latencies
        .get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0);
    Ok((result?, p99))
}

/// The Python of the client baselines: Debian's, which has `python3-redis`.
const PYTHON: &str = "/usr/bin/python3.11";

/// Runs a Python baseline script that prints `<seconds>\n<json answer>`.
fn python_baseline(port: u16, script: &str) -> Result<(f64, String)> {
    let result = output(
        Command::new(PYTHON)
            .arg("-c")
            .arg(script)
            .env("REDIS_PORT", port.to_string()),
    )?;
    if !result.status.success() {
        bail!(
            "python baseline failed: {}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
    let text = String::from_utf8_lossy(&result.stdout).into_owned();
    let (seconds, answer) = text.split_once('\n').context("python baseline output")?;
    Ok((seconds.trim().parse()?, answer.trim().to_owned()))
}

/// A `prefix=count` map from a reply of flat `[k, v, k, v]` pairs (Lua).
fn pairs_to_map(reply: &Reply) -> Result<BTreeMap<String, i64>> {
    let Reply::Array(items) = reply else {
        bail!("not an array: {reply}");
    };
    let mut map = BTreeMap::new();
    for pair in items.chunks_exact(2) {
        let (Reply::Bulk(key), Reply::Integer(count)) = (&pair[0], &pair[1]) else {
            bail!("unexpected pair in {reply}");
        };
        map.insert(String::from_utf8_lossy(key).into_owned(), *count);
    }
    Ok(map)
}

/// Results of a gears run that end with `.map(lambda r: '%s=%d' % ...)`.
fn gears_map(reply: &Reply) -> Result<BTreeMap<String, i64>> {
    let Reply::Array(parts) = reply else {
        bail!("RG.PYEXECUTE replied {reply}");
    };
    if let Some(Reply::Array(errors)) = parts.get(1) {
        if !errors.is_empty() {
            bail!("the gears run had errors: {reply}");
        }
    }
    let Some(Reply::Array(results)) = parts.first() else {
        bail!("no results in {reply}");
    };
    let mut map = BTreeMap::new();
    for result in results {
        let Reply::Bulk(text) = result else {
            bail!("unexpected result {result}")
        };
        let text = String::from_utf8_lossy(text);
        let (key, count) = text.rsplit_once('=').context("a key=count result")?;
        map.insert(key.to_owned(), count.parse()?);
    }
    Ok(map)
}

fn json_map(text: &str) -> Result<BTreeMap<String, i64>> {
    Ok(serde_json::from_str(text)?)
}

fn timed<T>(work: impl FnOnce() -> Result<T>) -> Result<(f64, T)> {
    let start = Instant::now();
    let value = work()?;
    Ok((start.elapsed().as_secs_f64(), value))
}

/// Runs the three sides `runs` times, interleaved, checking that they agree.
fn three_way(
    server: &Server,
    runs: usize,
    gears: &str,
    lua: &str,
    python: &str,
    gears_answer: fn(&Reply) -> Result<BTreeMap<String, i64>>,
) -> Result<(f64, f64, f64, f64)> {
    let (mut g, mut l, mut p, mut pings) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut client = server.client()?;
        let ((seconds, gears_reply), p99) = with_ping_probe(server.port, || {
            timed(|| client.call(&["RG.PYEXECUTE", gears]))
        })?;
        let gears_result = gears_answer(&gears_reply)?;
        let (lua_seconds, lua_reply) = timed(|| client.call(&["EVAL", lua, "0"]))?;
        let lua_result = pairs_to_map(&lua_reply)?;
        let (python_seconds, python_json) = python_baseline(server.port, python)?;
        let python_result = json_map(&python_json)?;
        if gears_result != lua_result || lua_result != python_result {
            bail!("answers differ:\n gears  {gears_result:?}\n lua    {lua_result:?}\n python {python_result:?}");
        }
        g.push(seconds);
        l.push(lua_seconds);
        p.push(python_seconds);
        pings.push(p99);
    }
    Ok((median(g), median(l), median(p), median(pings)))
}

/// Writes `count` commands built by `command(i)` through one pipelined connection;
/// every reply is one integer line.
fn load(port: u16, count: usize, command: impl Fn(usize) -> Vec<String>) -> Result<()> {
    load_lines(port, count, 1, command)
}

/// [`load`] for commands whose every reply is `lines` lines (a bulk string is 2).
fn load_lines(
    port: u16,
    count: usize,
    lines: usize,
    command: impl Fn(usize) -> Vec<String>,
) -> Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let mut buffer = Vec::new();
    let mut pending = 0usize;
    let mut sink = stream.try_clone()?;
    // Read replies on a thread so the pipeline never stalls on a full socket.
    let counter = std::thread::spawn(move || -> Result<()> {
        let mut bytes = vec![0u8; 1 << 16];
        let mut seen = 0usize;
        use std::io::Read;
        // Every reply of the loaded commands is `lines` lines.
        while seen < count * lines {
            let read = sink.read(&mut bytes)?;
            if read == 0 {
                bail!("connection closed while loading");
            }
            seen += bytes[..read].iter().filter(|b| **b == b'\n').count();
        }
        Ok(())
    });
    for index in 0..count {
        let args = command(index);
        gears_protocol::Reply::array(args.iter().map(|a| Reply::bulk(a.as_bytes())))
            .write_resp(&mut buffer, gears_protocol::RespVersion::Resp2);
        pending += 1;
        if pending == 1000 {
            stream.write_all(&buffer)?;
            buffer.clear();
            pending = 0;
        }
    }
    stream.write_all(&buffer)?;
    counter
        .join()
        .map_err(|_| anyhow::anyhow!("the loader panicked"))??;
    Ok(())
}

fn scaled(count: usize, scale: f64) -> usize {
    ((count as f64 * scale) as usize).max(1)
}

fn b2(server: &Server, runs: usize, scale: f64) -> Result<Row> {
    let mut client = server.client()?;
    client.cmd("FLUSHALL")?;
    for (prefix, count) in [
        ("user", 400_000),
        ("order", 300_000),
        ("item", 200_000),
        ("session", 100_000),
    ] {
        client.call(&[
            "DEBUG",
            "POPULATE",
            &scaled(count, scale).to_string(),
            prefix,
        ])?;
    }
    let gears = "GB('KeysOnlyReader').map(lambda k: k.split(':')[0]).countby(lambda x: x)\
                 .map(lambda r: '%s=%d' % (r['key'], r['value'])).run()";
    let lua = "local counts = {} local cursor = '0' \
               repeat local r = redis.call('SCAN', cursor, 'COUNT', 1000) cursor = r[1] \
               for _, k in ipairs(r[2]) do local p = string.match(k, '^([^:]*)') counts[p] = (counts[p] or 0) + 1 end \
               until cursor == '0' \
               local out = {} for k, v in pairs(counts) do table.insert(out, k) table.insert(out, v) end return out";
    let python = "import os, time, json, collections, redis\n\
                  r = redis.Redis(port=int(os.environ['REDIS_PORT']))\n\
                  t = time.time()\n\
                  c = collections.Counter(k.split(b':')[0].decode() for k in r.scan_iter(count=1000))\n\
                  print(time.time() - t)\nprint(json.dumps(c))";
    let (g, l, p, ping) = three_way(server, runs, gears, lua, python, gears_map)?;
    client.cmd("FLUSHALL")?;
    Ok(ratio_row(
        "B2",
        "count 1M keys by prefix (KeysOnlyReader + countby)",
        (g, l, p, ping),
        "≤ 1.0× Lua, PING p99 < 5 ms",
        g / l <= 1.0 && ping < 5.0,
    ))
}

fn b3(server: &Server, runs: usize, scale: f64) -> Result<Row> {
    let mut client = server.client()?;
    client.cmd("FLUSHALL")?;
    client.call(&[
        "DEBUG",
        "POPULATE",
        &scaled(1_000_000, scale).to_string(),
        "key",
        "12",
    ])?;
    let gears = "import operator\n\
                 GB().map(lambda r: len(r['value'])).aggregate(0, operator.add, operator.add)\
                 .map(lambda total: 'total=%d' % total).run()";
    let lua = "local total = 0 local cursor = '0' \
               repeat local r = redis.call('SCAN', cursor, 'COUNT', 1000) cursor = r[1] \
               for _, k in ipairs(r[2]) do total = total + string.len(redis.call('GET', k)) end \
               until cursor == '0' return {'total', total}";
    let python = "import os, time, json, redis\n\
                  r = redis.Redis(port=int(os.environ['REDIS_PORT']))\n\
                  t = time.time()\n\
                  total = 0\n\
                  cursor = 0\n\
                  while True:\n\
                  \x20   cursor, keys = r.scan(cursor, count=1000)\n\
                  \x20   if keys:\n\
                  \x20       total += sum(len(v) for v in r.mget(keys))\n\
                  \x20   if cursor == 0:\n\
                  \x20       break\n\
                  print(time.time() - t)\nprint(json.dumps({'total': total}))";
    let (g, l, p, ping) = three_way(server, runs, gears, lua, python, gears_map)?;
    client.cmd("FLUSHALL")?;
    Ok(ratio_row(
        "B3",
        "sum of value lengths over 1M strings (KeysReader + aggregate)",
        (g, l, p, ping),
        "≤ 1.0× Lua, PING p99 < 5 ms",
        g / l <= 1.0 && ping < 5.0,
    ))
}

fn b4(server: &Server, runs: usize, scale: f64) -> Result<Row> {
    let mut client = server.client()?;
    client.cmd("FLUSHALL")?;
    let vocabulary: Vec<String> = (0..1000).map(|w| format!("w{w}")).collect();
    let documents = scaled(100_000, scale);
    load(server.port, documents, |n| {
        // A deterministic pseudo-random choice of 10 words per document.
        let words: Vec<&str> = (0..10)
            .map(|i| {
                let mixed = (n as u64 * 2_654_435_761 + i as u64 * 40_503) % 1000;
                vocabulary[mixed as usize].as_str()
            })
            .collect();
        vec![
            "HSET".into(),
            format!("doc:{n}"),
            "title".into(),
            format!("title {n}"),
            "text".into(),
            words.join(" "),
        ]
    })?;
    let gears = "GB().flatmap(lambda r: r['value']['text'].split()).countby()\
                 .map(lambda r: '%s=%d' % (r['key'], r['value'])).run('doc:*')";
    let lua = "local counts = {} local cursor = '0' \
               repeat local r = redis.call('SCAN', cursor, 'MATCH', 'doc:*', 'COUNT', 1000) cursor = r[1] \
               for _, k in ipairs(r[2]) do local text = redis.call('HGET', k, 'text') \
               for w in string.gmatch(text, '%S+') do counts[w] = (counts[w] or 0) + 1 end end \
               until cursor == '0' \
               local out = {} for k, v in pairs(counts) do table.insert(out, k) table.insert(out, v) end return out";
    let python = "import os, time, json, collections, redis\n\
                  r = redis.Redis(port=int(os.environ['REDIS_PORT']))\n\
                  t = time.time()\n\
                  c = collections.Counter()\n\
                  cursor = 0\n\
                  while True:\n\
                  \x20   cursor, keys = r.scan(cursor, match='doc:*', count=1000)\n\
                  \x20   p = r.pipeline(transaction=False)\n\
                  \x20   for k in keys:\n\
                  \x20       p.hget(k, 'text')\n\
                  \x20   for text in p.execute():\n\
                  \x20       c.update(text.decode().split())\n\
                  \x20   if cursor == 0:\n\
                  \x20       break\n\
                  print(time.time() - t)\nprint(json.dumps(c))";
    let (g, l, p, ping) = three_way(server, runs, gears, lua, python, gears_map)?;
    client.cmd("FLUSHALL")?;
    Ok(ratio_row(
        "B4",
        "word count over 100k hashes (flatmap + countby)",
        (g, l, p, ping),
        "≤ 2× Lua, faster than the client",
        g / l <= 2.0 && g < p,
    ))
}

fn ratio_row(
    id: &'static str,
    workload: &str,
    (gears, lua, python, ping): (f64, f64, f64, f64),
    target: &'static str,
    met: bool,
) -> Row {
    Row {
        id,
        workload: workload.to_owned(),
        measures: vec![
            ("gears-rs".into(), gears, "s"),
            ("Lua".into(), lua, "s"),
            ("Python client".into(), python, "s"),
            ("PING p99 during gears".into(), ping, "ms"),
        ],
        ratios: vec![
            ("gears/Lua".into(), gears / lua),
            ("gears/client".into(), gears / python),
        ],
        target,
        verdict: if met { "met".into() } else { "missed".into() },
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<4} {:<62} {:<58} {:<34} {:<28} verdict",
        "#", "workload", "measured (median)", "ratios", "target"
    );
    for row in rows {
        let measures = row
            .measures
            .iter()
            .map(|(name, value, unit)| format!("{name} {}{unit}", number(*value)))
            .collect::<Vec<_>>()
            .join(", ");
        let ratios = row
            .ratios
            .iter()
            .map(|(name, value)| format!("{name} {value:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "{:<4} {:<62} {:<58} {:<34} {:<28} {}",
            row.id, row.workload, measures, ratios, row.target, row.verdict
        );
    }
}

/// Large values (rates, counts) without decimals, small ones (times) with three.
fn number(value: f64) -> String {
    if value.abs() >= 1000.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

fn write_json(rows: &[Row]) -> Result<PathBuf> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "id": row.id,
                "workload": row.workload,
                "measures": row.measures.iter().map(|(n, v, u)| serde_json::json!({"name": n, "value": v, "unit": u})).collect::<Vec<_>>(),
                "ratios": row.ratios.iter().map(|(n, v)| serde_json::json!({"name": n, "value": v})).collect::<Vec<_>>(),
                "target": row.target,
                "verdict": row.verdict,
            })
        })
        .collect();
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
    println!("\nwritten to {}", path.display());
    Ok(path)
}
