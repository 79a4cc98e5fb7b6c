//! Helpers shared by the registration tests: a server with the module, scripts, ids,
//! and waiting for what executions do in the background.

#![allow(dead_code)]

use anyhow::{bail, Result};
use conformance::client::Client;
use conformance::local_server::{module_next_to_test_binary, LocalServer};
use gears_protocol::Reply;
use std::time::{Duration, Instant};

/// A redis-server with the module built next to the test binary.
pub fn server(args: &[&str]) -> Result<LocalServer> {
    LocalServer::start(&module_next_to_test_binary()?, args)
}

/// `RG.PYEXECUTE <script>`.
pub fn pyexecute(client: &mut Client, script: &str) -> Result<Reply> {
    client.call(&["RG.PYEXECUTE", script])
}

/// The standalone id with counter `n`.
pub fn id(n: u64) -> String {
    format!("0000000000000000000000000000000000000000-{n}")
}

/// A reply as the text redis-cli would show without quotes.
pub fn text(reply: &Reply) -> String {
    match reply {
        Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Reply::Simple(text) | Reply::Error(text) => text.clone(),
        Reply::Integer(n) => n.to_string(),
        Reply::Nil => "(nil)".to_owned(),
        other => other.to_string(),
    }
}

/// A reply as a number: integers, numeric bulk strings, and nil as 0.
pub fn integer(reply: &Reply) -> i64 {
    match reply {
        Reply::Integer(n) => *n,
        Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).parse().unwrap_or(-1),
        Reply::Nil => 0,
        _ => -1,
    }
}

/// Polls the command `args` until its reply reads as `expected`, for 10 s at most.
pub fn eventually(client: &mut Client, args: &[&str], expected: i64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = integer(&client.call(args)?);
        if value == expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{args:?} is {value}, expected {expected}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The RegistrationData array of the registration listed at `index`.
pub fn registration_data(client: &mut Client, index: usize) -> Result<Vec<Reply>> {
    let Reply::Array(entries) = client.call(&["RG.DUMPREGISTRATIONS"])? else {
        bail!("RG.DUMPREGISTRATIONS is not an array");
    };
    let Some(Reply::Array(entry)) = entries.get(index) else {
        bail!("no registration {index}");
    };
    match entry.get(7) {
        Some(Reply::Array(data)) => Ok(data.clone()),
        other => bail!("no RegistrationData: {other:?}"),
    }
}
