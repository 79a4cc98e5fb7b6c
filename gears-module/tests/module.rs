//! The module `rg` in a real redis-server process: loading, module arguments,
//! INFO, MODULE UNLOAD, and the configuration commands over the wire.

use anyhow::Result;
use conformance::client::Client;
use conformance::local_server::{module_next_to_test_binary, LocalServer};
use gears_protocol::Reply;
use std::path::PathBuf;

fn module() -> PathBuf {
    module_next_to_test_binary().expect("the module is built next to the tests")
}

fn bulk(text: &str) -> Reply {
    Reply::bulk(text)
}

fn info_section(client: &mut Client, section: &str) -> Result<String> {
    match client.call(&["INFO", section])? {
        Reply::Bulk(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        other => anyhow::bail!("INFO replied {other}"),
    }
}

#[test]
fn module_list_shows_rg_with_the_redisgears_version() -> Result<()> {
    let server = LocalServer::start(&module(), &[])?;
    let mut client = server.client()?;
    let Reply::Array(modules) = client.cmd("MODULE LIST")? else {
        panic!("MODULE LIST is an array");
    };
    let rg = modules
        .iter()
        .find_map(|m| match m {
            Reply::Array(fields) if fields.get(1) == Some(&bulk("rg")) => Some(fields.clone()),
            _ => None,
        })
        .expect("rg is listed");
    assert_eq!(rg[2], bulk("ver"));
    let Reply::Integer(version) = rg[3] else {
        panic!("the version is an integer: {}", rg[3]);
    };
    assert!(version >= 10213, "version {version}");
    Ok(())
}

#[test]
fn info_has_an_rg_section() -> Result<()> {
    let server = LocalServer::start(&module(), &[])?;
    let mut client = server.client()?;
    let info = info_section(&mut client, "rg")?;
    assert!(info.contains("# rg\r\n"), "{info}");
    assert!(info.contains("rg_nexecutions:0\r\n"), "{info}");
    assert!(info.contains("rg_nregistrations:0\r\n"), "{info}");
    // The section is part of INFO everything as well.
    assert!(info_section(&mut client, "everything")?.contains("rg_nexecutions:"));
    Ok(())
}

#[test]
fn module_unload_is_refused_and_the_server_keeps_serving() -> Result<()> {
    let mut server = LocalServer::start(&module(), &["--enable-module-command", "yes"])?;
    let mut client = server.client()?;
    let reply = client.cmd("MODULE UNLOAD rg")?;
    let Reply::Error(text) = reply else {
        panic!("MODULE UNLOAD must fail, got {reply}");
    };
    // The module exports a data type (the registrations' aux data), so Redis itself
    // refuses before asking the module; `deinit` refuses as well, should it be asked.
    assert_eq!(
        text,
        "ERR Error unloading module: the module exports one or more module-side data types, can't unload"
    );
    assert_eq!(
        client.cmd("RG.CONFIGGET MaxExecutions")?,
        Reply::array([Reply::Integer(1000)])
    );
    assert!(server.is_running());
    Ok(())
}

#[test]
fn module_arguments_set_configs_plugins_and_extras() -> Result<()> {
    let server = LocalServer::start(
        &module(),
        &[
            "executionThreads",
            "1",
            "MAXEXECUTIONS",
            "5",
            "Plugin",
            "/opt/redislabs/lib/modules/gears_python.so",
            "myKey",
            "my value",
            "CreateVenv",
            "1",
        ],
    )?;
    let mut client = server.client()?;
    assert_eq!(
        client.cmd("RG.CONFIGGET ExecutionThreads MaxExecutions Plugin myKey CreateVenv")?,
        Reply::array([
            Reply::Integer(1),
            Reply::Integer(5),
            Reply::array([bulk("/opt/redislabs/lib/modules/gears_python.so")]),
            bulk("my value"),
            Reply::Integer(1),
        ])
    );
    let log = server.log();
    assert!(log.contains("<rg> ExecutionThreads:1"), "{log}");
    assert!(
        log.contains(
            "Plugin /opt/redislabs/lib/modules/gears_python.so is accepted and not loaded"
        ),
        "{log}"
    );
    Ok(())
}

#[rstest::rstest]
#[case(&["ExecutionThreads", "0"], "Failed setting config value ExecutionThreads")]
#[case(&["MaxExecutions", "many"], "Failed setting config value MaxExecutions")]
#[case(&["foo", "bar", "orphan"], "Value was not given to orphan")]
#[case(&["PythonAttemptTraceback", "yes"], "Failed parsing PythonAttemptTraceback config value.")]
#[case(
    &["PythonInstallReqMaxIdleTime", "0"],
    "Failed parsing PythonInstallReqMaxIdleTime config, value must be greater then zero."
)]
fn an_invalid_argument_fails_the_load_cleanly(
    #[case] args: &[&str],
    #[case] line: &str,
) -> Result<()> {
    let failed = LocalServer::start_expecting_failure(&module(), args)?;
    assert_eq!(failed.status.code(), Some(1), "{}", failed.log);
    assert!(
        failed.log.contains(&format!("<rg> {line}")),
        "{}",
        failed.log
    );
    assert!(
        failed.log.contains("could not initialize gears config"),
        "{}",
        failed.log
    );
    assert!(
        failed.log.contains("Module") && failed.log.contains("failed"),
        "{}",
        failed.log
    );
    assert!(!failed.log.contains("crashed by signal"), "{}", failed.log);
    Ok(())
}

#[test]
fn commands_are_registered_readonly_without_keys() -> Result<()> {
    let server = LocalServer::start(&module(), &[])?;
    let mut client = server.client()?;
    for name in ["rg.configget", "rg.configset"] {
        let Reply::Array(infos) = client.call(&["COMMAND", "INFO", name])? else {
            panic!("COMMAND INFO is an array");
        };
        let Some(Reply::Array(info)) = infos.first() else {
            panic!("{name} is not registered");
        };
        assert_eq!(info[0], bulk(name));
        assert_eq!(
            info[1],
            Reply::Integer(-1),
            "{name} takes any number of arguments"
        );
        assert!(
            info[2].to_string().contains("readonly"),
            "{name}: {}",
            info[2]
        );
        assert_eq!(
            (&info[3], &info[4], &info[5]),
            (&Reply::Integer(0), &Reply::Integer(0), &Reply::Integer(0))
        );
    }
    Ok(())
}

#[test]
fn configuration_commands_over_resp2_and_resp3() -> Result<()> {
    let server = LocalServer::start(&module(), &[])?;
    let mut client = server.client()?;
    assert_eq!(
        client.cmd("RG.CONFIGSET ExecutionThreads 5")?,
        Reply::array([Reply::error(
            "(error) Config value ExecutionThreads not modifiable at runtime"
        )])
    );
    assert_eq!(
        client.cmd("RG.CONFIGSET foo bar")?,
        Reply::array([Reply::simple(
            "OK - value was saved in extra config dictionary"
        )])
    );
    assert_eq!(
        client.cmd("RG.CONFIGGET foo nosuch")?,
        Reply::array([
            bulk("bar"),
            Reply::error("(error) Unsupported config parameter: nosuch")
        ])
    );
    // The same replies on a RESP3 connection.
    assert!(matches!(client.cmd("HELLO 3")?, Reply::Array(_)));
    assert_eq!(
        client.cmd("RG.CONFIGGET MaxExecutions foo")?,
        Reply::array([Reply::Integer(1000), bulk("bar")])
    );
    Ok(())
}

#[test]
fn odd_bytes_never_hurt_the_server() -> Result<()> {
    let mut server = LocalServer::start(&module(), &[])?;
    let mut client = server.client()?;
    let key: &[u8] = b"k\xff\x00%s%n";
    let value: &[u8] = b"\x00\xfe\r\n";
    assert_eq!(
        client.call(&[b"RG.CONFIGSET".as_slice(), key, value])?,
        Reply::array([Reply::simple(
            "OK - value was saved in extra config dictionary"
        )])
    );
    assert_eq!(
        client.call(&[b"RG.CONFIGGET".as_slice(), key])?,
        Reply::array([Reply::bulk(value)])
    );
    assert_eq!(
        client.call(&[b"RG.CONFIGGET".as_slice(), b"%s%s%s\xff"])?,
        Reply::array([Reply::error(
            "(error) Unsupported config parameter: %s%s%s\u{fffd}"
        )])
    );
    let many: Vec<String> = std::iter::once("RG.CONFIGGET".to_owned())
        .chain((0..10_000).map(|i| format!("missing{i}")))
        .collect();
    let Reply::Array(items) = client.call(&many)? else {
        panic!("an array");
    };
    assert_eq!(items.len(), 10_000);
    assert_eq!(client.cmd("PING")?, Reply::simple("PONG"));
    assert!(server.is_running());
    Ok(())
}
