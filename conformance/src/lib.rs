//! # conformance
//!
//! Replays every documented example of the two RedisGears command references
//! against a real redis-server with the module loaded, in a container built `FROM
//! scratch` from local files, and checks each reply against the documentation and
//! an insta snapshot.
//!
//! - [`transcript`]: the transcript files (one per documented example);
//! - [`redis_cli`]: replies printed and read back in redis-cli's form;
//! - [`normalize`]: volatile ids, durations and addresses out;
//! - [`replay`]: one transcript against one server;
//! - [`pending`]: the manifest of transcripts that wait for a later issue;
//! - [`container`] and [`local_server`]: real servers (a container for transcripts,
//!   a local process for tests that need their own arguments or the server log);
//! - [`client`]: a byte-exact RESP client.
//!
//! The tests in `tests/` are run by `cargo xtask conformance` (and `cargo xtask
//! test`), which builds the image first.

pub mod client;
pub mod container;
pub mod local_server;
pub mod normalize;
pub mod pending;
pub mod redis_cli;
pub mod replay;
pub mod transcript;

use anyhow::{Context, Result};
use std::net::TcpListener;
use std::path::PathBuf;

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The directory that holds the transcripts and the pending manifest.
pub fn transcripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("transcripts")
}
