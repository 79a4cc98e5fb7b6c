//! A minimal blocking Redis client that keeps replies exact.
//!
//! General-purpose clients fold error replies into their own error types and lose the
//! exact text; conformance needs every byte, so this client sends RESP arrays and
//! decodes with [`gears_protocol::Reply::decode`].

use anyhow::{bail, Context, Result};
use gears_protocol::{Reply, RespVersion};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One connection to a Redis server.
pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    /// Connects to `127.0.0.1:port`.
    pub fn connect(port: u16) -> Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buffer: Vec::new(),
        })
    }

    /// Sends one command (binary-safe arguments) and reads its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply> {
        let request = Reply::array(args.iter().map(|a| Reply::bulk(a.as_ref())));
        self.stream
            .write_all(&request.to_resp(RespVersion::Resp2))
            .context("sending a command")?;
        self.read_reply()
    }

    /// Sends a command given as whitespace-separated words.
    pub fn cmd(&mut self, line: &str) -> Result<Reply> {
        let words: Vec<&str> = line.split_whitespace().collect();
        self.call(&words)
    }

    fn read_reply(&mut self) -> Result<Reply> {
        loop {
            if let Some((reply, used)) = Reply::decode(&self.buffer)? {
                self.buffer.drain(..used);
                return Ok(reply);
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = self.stream.read(&mut chunk).context("reading a reply")?;
            if read == 0 {
                bail!("the server closed the connection");
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}
