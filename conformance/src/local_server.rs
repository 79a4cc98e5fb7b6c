//! A real redis-server process on loopback with the module loaded.
//!
//! For tests that need their own module arguments, the server log, or a server
//! that fails to start (the module crate's integration tests); transcripts run in
//! containers instead ([`crate::container`]).

use crate::client::Client;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server; killed when dropped.
pub struct LocalServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
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
        let (mut child, port, dir) = spawn(module, module_args)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default();
                bail!("redis-server exited ({status}) during start:\n{log}");
            }
            if let Ok(mut client) = Client::connect(port) {
                if client.cmd("PING").is_ok() {
                    return Ok(LocalServer { child, port, dir });
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("redis-server did not answer on port {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts redis-server expecting it to refuse to start; returns how it ended.
    pub fn start_expecting_failure(module: &Path, module_args: &[&str]) -> Result<FailedStart> {
        let (mut child, _port, dir) = spawn(module, module_args)?;
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

fn spawn(module: &Path, module_args: &[&str]) -> Result<(Child, u16, tempfile::TempDir)> {
    let dir = tempfile::tempdir().context("creating a server directory")?;
    // Load a private copy: rebuilding the module while a server has it mapped would
    // rewrite the mapped file under it.
    let staged: PathBuf = dir.path().join("librg.so");
    std::fs::copy(module, &staged)
        .with_context(|| format!("copying {} (build the module first)", module.display()))?;
    let port = crate::free_port()?;
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .args(["--logfile", "redis.log"])
        .arg("--loadmodule")
        .arg(&staged)
        .args(module_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server (is redis-server installed?)")?;
    Ok((child, port, dir))
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
