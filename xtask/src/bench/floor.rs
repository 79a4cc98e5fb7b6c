//! The floor of B1 (benchmarks.md): a minimal C module that calls one Python
//! function per SET (`xtask/floor/floor.c`), built with gcc against Redis'
//! `redismodule.h` (the copy the redis-module crate ships) and Debian's
//! libpython3.11. It shows how much of a sync trigger's cost is the Python call and
//! the command themselves, on this machine.

use crate::process::run;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `redismodule.h`: the redis-module crate's, in Cargo's
/// registry (the module's build has fetched it).
fn redismodule_include() -> Result<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let sources = cargo_home.join("registry").join("src");
    for index in std::fs::read_dir(&sources)
        .with_context(|| format!("reading {}", sources.display()))?
        .flatten()
    {
        let include = index.path().join("redis-module-2.0.8/src/include");
        if include.join("redismodule.h").is_file() {
            return Ok(include);
        }
    }
    bail!(
        "redismodule.h of redis-module 2.0.8 not found under {}",
        sources.display()
    )
}

/// Builds the floor module into `dir` and returns its path.
pub(super) fn build(dir: &Path) -> Result<PathBuf> {
    let source = crate::paths::workspace_root().join("xtask/floor/floor.c");
    let output = dir.join("floor.so");
    let mut gcc = Command::new("gcc");
    gcc.args(["-O2", "-fPIC", "-shared"])
        .arg(&source)
        .arg("-I")
        .arg(redismodule_include()?)
        .args([
            "-I/usr/include/python3.11",
            "-L/usr/lib/x86_64-linux-gnu",
            "-lpython3.11",
            "-o",
        ])
        .arg(&output);
    run(&mut gcc).context("building the B1 floor module (xtask/floor/floor.c)")?;
    Ok(output)
}
