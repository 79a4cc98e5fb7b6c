//! `cargo xtask run`: build the module (cargo profile `dist`) and run redis-server
//! with it.

use crate::paths::{dist_module, target_dir};
use crate::prerequisites::{ensure_packages, BUILD_PACKAGES};
use crate::process::{cargo, describe, run as run_command};
use anyhow::{bail, Context, Result};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `cargo xtask run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The port redis-server listens on (127.0.0.1 only).
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Module arguments passed after the module path, e.g. `-- ExecutionThreads 5`.
    #[arg(last = true)]
    module_args: Vec<String>,
}

/// Builds the module and replaces this process with redis-server.
pub fn run(args: RunArgs) -> Result<()> {
    ensure_packages(BUILD_PACKAGES)?;
    let module = stage_module(&build_dist_module()?)?;
    let data_dir = target_dir().join("gears-run");
    std::fs::create_dir_all(&data_dir).context("creating the data directory")?;

    let mut server = Command::new("redis-server");
    server
        .args(["--bind", "127.0.0.1", "--port", &args.port.to_string()])
        .arg("--dir")
        .arg(&data_dir)
        .arg("--loadmodule")
        .arg(&module)
        .args(&args.module_args);

    println!(
        "Starting redis-server with gears-rs on 127.0.0.1:{}",
        args.port
    );
    println!("Connect with:  redis-cli -p {}", args.port);
    println!(
        "Try:           redis-cli -p {} RG.CONFIGGET MaxExecutions",
        args.port
    );
    println!("Stop with Ctrl-C.");
    eprintln!("+ {}", describe(&server));
    // exec() only returns on failure.
    let error = server.exec();
    bail!("could not start redis-server: {error}")
}

/// `cargo build --profile dist -p gears-module`; the module it built.
pub fn build_dist_module() -> Result<PathBuf> {
    run_command(cargo().args(["build", "--profile", "dist", "-p", "gears-module"]))?;
    let module = dist_module();
    if !module.exists() {
        bail!("the build did not produce {}", module.display());
    }
    Ok(module)
}

/// Copies the module to a place of its own before a server loads it.
///
/// A rebuild rewrites cargo's copy in place, and rewriting a `.so` that a running
/// server has mapped crashes that server; removing the old file first (as
/// `cp --remove-destination` does) leaves the mapped inode alone.
pub fn stage_module(module: &Path) -> Result<PathBuf> {
    let staged_dir = target_dir().join("gears-run");
    std::fs::create_dir_all(&staged_dir).context("creating target/gears-run")?;
    let staged = staged_dir.join("librg.so");
    match std::fs::remove_file(&staged) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("removing the previously staged module"),
    }
    std::fs::copy(module, &staged)
        .with_context(|| format!("copying {} to {}", module.display(), staged.display()))?;
    Ok(staged)
}
