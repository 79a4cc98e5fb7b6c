//! `cargo xtask test` and `cargo xtask conformance`: everything CI runs.

use crate::image::build_image;
use crate::prerequisites::{ensure_packages, BUILD_PACKAGES};
use crate::process::{cargo, run};
use anyhow::Result;

/// fmt, clippy, the workspace tests, the panic-guard test and the conformance run.
pub fn test() -> Result<()> {
    ensure_packages(BUILD_PACKAGES)?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args(["test", "--workspace", "--exclude", "conformance"]))?;
    // The panic guard and the execution commands are tested through commands that
    // exist only in a test build of the module (RG.DEBUGPANIC, RG.DEBUGRUN), so
    // those tests run as their own build with that feature on.
    run(cargo().args(["test", "-p", "gears-module", "--features", "debug-commands"]))?;
    conformance()
}

/// Builds the conformance image and replays every transcript against it.
pub fn conformance() -> Result<()> {
    let image = build_image()?;
    run(cargo()
        .args(["test", "-p", "conformance", "--", "--nocapture"])
        .env("GEARS_CONFORMANCE_IMAGE", image))
}
