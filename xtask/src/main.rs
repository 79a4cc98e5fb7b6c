//! `cargo xtask`: the only entry point a person needs.
//!
//! - `cargo xtask run [--port N] [-- module args]`: installs what is missing (as root),
//!   builds the module in release and runs redis-server with it in the foreground.
//! - `cargo xtask test`: everything CI runs (fmt, clippy, unit and integration tests,
//!   the module's panic-guard test, and the conformance transcripts in containers).
//! - `cargo xtask image`: builds the `FROM scratch` conformance image.
//! - `cargo xtask conformance`: builds the image and replays the transcripts.
//! - `cargo xtask bench`: the benchmark suite, side by side with its baselines.

mod bench;
mod image;
mod paths;
mod prerequisites;
mod process;
mod run;
mod test;

use clap::{Parser, Subcommand};

/// Command-line interface of `cargo xtask`.
#[derive(Parser)]
#[command(name = "cargo xtask", about = "gears-rs developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the module in release and start redis-server with it (foreground).
    Run(run::RunArgs),
    /// fmt --check, clippy -D warnings, every test, and the conformance run.
    Test,
    /// Build the conformance image `gears-rs-conformance:latest` from local files.
    Image,
    /// Build the image and replay every conformance transcript.
    Conformance,
    /// The benchmark suite of shared/spec/benchmarks.md, then the criterion benches.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.task {
        Task::Run(args) => run::run(args),
        Task::Test => test::test(),
        Task::Image => image::build_image().map(|_| ()),
        Task::Conformance => test::conformance(),
        Task::Bench(args) => bench::bench(args),
    }
}
