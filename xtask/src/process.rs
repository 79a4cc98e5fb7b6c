//! Running external commands loudly: every command is echoed before it runs, and a
//! failure names the command that failed.

use anyhow::{bail, Context, Result};
use std::process::{Command, Output};

/// Echoes and runs `command`, failing when it exits non-zero.
pub fn run(command: &mut Command) -> Result<()> {
    eprintln!("+ {}", describe(command));
    let status = command
        .status()
        .with_context(|| format!("could not start `{}`", describe(command)))?;
    if !status.success() {
        bail!("`{}` failed: {status}", describe(command));
    }
    Ok(())
}

/// Runs `command` quietly and returns its output, whatever its exit status.
pub fn output(command: &mut Command) -> Result<Output> {
    command
        .output()
        .with_context(|| format!("could not start `{}`", describe(command)))
}

/// True when `command` runs and exits zero (its output is discarded).
pub fn succeeds(command: &mut Command) -> bool {
    output(command).map(|o| o.status.success()).unwrap_or(false)
}

/// The command line as a person would type it.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// A `cargo` command that uses the same cargo that runs xtask.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(crate::paths::workspace_root());
    command
}
