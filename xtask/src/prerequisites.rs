//! Installing what the build and the tests need, only when it is missing.
//!
//! Debian packages are installed with apt-get when xtask runs as root; otherwise a
//! missing package is an error that names the command to run. The Docker engine is
//! started in the background when `docker info` cannot reach it.

use crate::process::{output, run, succeeds};
use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What building the module and running it needs.
pub const BUILD_PACKAGES: &[&str] = &[
    "redis-server",
    "redis-tools",
    "libclang-dev",
    "python3.11",
    "libpython3.11-dev",
    // Registrations are pickled with cloudpickle (RDB, replication); Debian's
    // package puts it where the embedded Python looks (/usr/lib/python3/dist-packages).
    "python3-cloudpickle",
];

/// What the conformance run needs on top of the build packages.
pub const DOCKER_PACKAGES: &[&str] = &["docker.io"];

/// True when the Debian package is installed.
fn is_installed(package: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("ok installed"))
        .unwrap_or(false)
}

fn running_as_root() -> bool {
    output(Command::new("id").arg("-u"))
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Installs the packages that are not installed yet.
pub fn ensure_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !running_as_root() {
        bail!(
            "missing Debian packages: {}; install them with `sudo apt-get install -y {}`",
            missing.join(" "),
            missing.join(" ")
        );
    }
    eprintln!("installing missing packages: {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Makes sure a Docker engine answers, installing and starting it when needed.
pub fn ensure_docker() -> Result<()> {
    ensure_packages(DOCKER_PACKAGES)?;
    if docker_answers() {
        return Ok(());
    }
    if !running_as_root() {
        bail!("the Docker engine is not running; start it with `sudo dockerd &`");
    }
    eprintln!("starting dockerd in the background (log: /tmp/gears-rs-dockerd.log)");
    let log = std::fs::File::create("/tmp/gears-rs-dockerd.log")
        .context("creating /tmp/gears-rs-dockerd.log")?;
    let log_err = log
        .try_clone()
        .context("duplicating the dockerd log handle")?;
    Command::new("dockerd")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .context("starting dockerd")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if docker_answers() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    bail!("dockerd did not answer within 60 s; see /tmp/gears-rs-dockerd.log")
}

fn docker_answers() -> bool {
    succeeds(Command::new("docker").arg("info"))
}
