//! A panic in a command handler must not reach Redis.
//!
//! Built with the `debug-commands` feature, the module has `RG.DEBUGPANIC`, whose
//! handler panics on purpose. The entry wrapper must answer an error, log where the
//! panic happened, and leave the server serving; run with
//! `cargo test -p gears-module --features debug-commands --test panic_guard`
//! (`cargo xtask test` does).

use anyhow::Result;
use conformance::local_server::{module_next_to_test_binary, LocalServer};
use gears_protocol::Reply;

#[test]
fn a_panicking_handler_answers_an_error_and_the_server_survives() -> Result<()> {
    let module = module_next_to_test_binary()?;
    let mut server = LocalServer::start(&module, &[])?;
    let mut client = server.client()?;

    for attempt in 0..3 {
        let reply = client.call(&["RG.DEBUGPANIC", &format!("deliberate panic {attempt}")])?;
        assert_eq!(
            reply,
            Reply::error("ERR internal error in RG.DEBUGPANIC, the command was aborted (details in the Redis log)")
        );
    }

    // The same connection and a new one keep working, and so does the module.
    assert_eq!(client.cmd("PING")?, Reply::simple("PONG"));
    assert_eq!(
        server.client()?.cmd("RG.CONFIGSET MaxExecutions 7")?,
        Reply::array([Reply::ok()])
    );
    assert_eq!(
        client.cmd("RG.CONFIGGET MaxExecutions")?,
        Reply::array([Reply::Integer(7)])
    );
    assert!(server.is_running());

    let log = server.log();
    assert!(
        log.contains(
            "internal error in RG.DEBUGPANIC: panic at gears-module/src/commands/debug.rs:"
        ),
        "{log}"
    );
    assert!(log.contains("deliberate panic 2"), "{log}");
    assert!(!log.contains("crashed by signal"), "{log}");
    Ok(())
}
