//! A real redis-server process on loopback with the module loaded.
//!
//! For tests that need their own module arguments, the server log, or a server
//! that fails to start (the module crate's integration tests); transcripts run in
//! containers instead ([`crate::container`]).

use crate::client::Client;
use anyhow::{bail, Context, Result};
use gears_protocol::Reply;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server; killed when dropped.
pub struct LocalServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    module_args: Vec<String>,
    server_args: Vec<String>,
}

/// How a server that was expected not to start ended.
pub struct FailedStart {
    /// Its exit status.
    pub status: std::process::ExitStatus,
    /// Everything it wrote to its log file.
    pub log: String,
}

impl LocalServer {
    /// Starts redis-server with `module` and its `module_args`, and waits until it
    /// answers PING.
    pub fn start(module: &Path, module_args: &[&str]) -> Result<LocalServer> {
        LocalServer::start_with(module, module_args, &[])
    }

    /// Like [`LocalServer::start`], with redis-server options after the defaults
    /// (`--save ''`, `--appendonly no`), which they may override.
    pub fn start_with(
        module: &Path,
        module_args: &[&str],
        server_args: &[&str],
    ) -> Result<LocalServer> {
        let dir = tempfile::tempdir().context("creating a server directory")?;
        // Load a private copy: rebuilding the module while a server has it mapped
        // would rewrite the mapped file under it.
        std::fs::copy(module, dir.path().join("librg.so"))
            .with_context(|| format!("copying {} (build the module first)", module.display()))?;
        let port = crate::free_port()?;
        let owned = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        let child = spawn(dir.path(), port, module_args, server_args)?;
        let mut server = LocalServer {
            child,
            port,
            dir,
            module_args: owned(module_args),
            server_args: owned(server_args),
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Stops the server (SHUTDOWN, which saves when persistence is configured) and
    /// starts it again on the same port and directory, with the same arguments.
    pub fn restart(&mut self) -> Result<()> {
        if let Ok(mut client) = self.client() {
            // The connection drops when the server exits: the reply is an error.
            let _ = client.cmd("SHUTDOWN");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let module_args: Vec<&str> = self.module_args.iter().map(String::as_str).collect();
        let server_args: Vec<&str> = self.server_args.iter().map(String::as_str).collect();
        self.child = spawn(self.dir.path(), self.port, &module_args, &server_args)?;
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "redis-server exited ({status}) during start:\n{}",
                    self.log()
                );
            }
            // Ready means answering: while it loads, Redis replies `-LOADING` to PING.
            if let Ok(mut client) = Client::connect(self.port) {
                if matches!(client.cmd("PING"), Ok(reply) if reply == Reply::simple("PONG")) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!(
                    "redis-server did not answer on port {} within 20 s",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts redis-server expecting it to refuse to start; returns how it ended.
    pub fn start_expecting_failure(module: &Path, module_args: &[&str]) -> Result<FailedStart> {
        let dir = tempfile::tempdir().context("creating a server directory")?;
        std::fs::copy(module, dir.path().join("librg.so"))
            .with_context(|| format!("copying {} (build the module first)", module.display()))?;
        let mut child = spawn(dir.path(), crate::free_port()?, module_args, &[])?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default();
                return Ok(FailedStart { status, log });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("redis-server kept running although the module load should have failed");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A new connection to the server.
    pub fn client(&self) -> Result<Client> {
        Client::connect(self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// True while the process is alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts redis-server in `dir` (which holds `librg.so`) on `port`.
fn spawn(dir: &Path, port: u16, module_args: &[&str], server_args: &[&str]) -> Result<Child> {
    let staged: PathBuf = dir.join("librg.so");
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .args(["--logfile", "redis.log"])
        .args(server_args)
        .arg("--loadmodule")
        .arg(&staged)
        .args(module_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server (is redis-server installed?)")
}

/// The module built by cargo next to the running test binary
/// (`target/<profile>/deps/librg.so` or `target/<profile>/librg.so`).
pub fn module_next_to_test_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("test binary has no directory")?;
    for candidate in [deps.join("librg.so"), deps.join("..").join("librg.so")] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    bail!(
        "librg.so not found next to {}; build gears-module first",
        exe.display()
    )
}
