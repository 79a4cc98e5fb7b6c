//! The module in its conformance image, started with testcontainers.
//!
//! The image (`cargo xtask image`) is built `FROM scratch` from local files, since no
//! image can be pulled here. The container shares the host network and listens on a
//! free loopback port, so tests reach it at `127.0.0.1:<port>`.

use crate::client::Client;
use anyhow::{Context, Result};
use std::time::Duration;
use testcontainers::core::WaitFor;
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

/// The image reference the tests use unless `GEARS_CONFORMANCE_IMAGE` says otherwise.
pub const DEFAULT_IMAGE: &str = "gears-rs-conformance:latest";

/// A redis-server with the module, in a container that is removed on drop.
pub struct GearsContainer {
    _container: Container<GenericImage>,
    port: u16,
}

impl GearsContainer {
    /// Starts the image with `--loadmodule /rg/librg.so <module_args>`.
    pub fn start(module_args: &[String]) -> Result<GearsContainer> {
        let reference =
            std::env::var("GEARS_CONFORMANCE_IMAGE").unwrap_or_else(|_| DEFAULT_IMAGE.to_owned());
        let (name, tag) = reference
            .split_once(':')
            .unwrap_or((reference.as_str(), "latest"));
        let port = crate::free_port()?;
        let mut cmd = vec![
            "--bind".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            port.to_string(),
            "--save".to_owned(),
            String::new(),
            "--appendonly".to_owned(),
            "no".to_owned(),
            "--loadmodule".to_owned(),
            "/rg/librg.so".to_owned(),
        ];
        cmd.extend(module_args.iter().cloned());
        let container = GenericImage::new(name, tag)
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
            .with_network("host")
            .with_cmd(cmd)
            .with_startup_timeout(Duration::from_secs(60))
            .start()
            .with_context(|| {
                format!(
                    "starting {reference}; build it with `cargo xtask image` (and start dockerd)"
                )
            })?;
        Ok(GearsContainer {
            _container: container,
            port,
        })
    }

    /// A new connection to the server in the container.
    pub fn client(&self) -> Result<Client> {
        Client::connect(self.port)
    }
}
