//! # gears-protocol
//!
//! What RedisGears 1.2 commands say, as plain Rust with no Redis and no Python: the
//! grammar of every `RG.*` command ([`request`]), the command table ([`commands`]),
//! shard and execution ids ([`ids`]), the configuration table and the
//! RG.CONFIGGET / RG.CONFIGSET rules ([`config`]), the reply model with its RESP2 and
//! RESP3 rendering ([`reply`]), and every error text as a named constructor
//! ([`errors`]).
//!
//! The module uses it to answer clients; a client, a proxy or a test can use it to
//! build, check or decode the same traffic.
//!
//! ```
//! use gears_protocol::request::Request;
//! use gears_protocol::{GearsId, Reply, RespVersion, ShardId};
//!
//! // A client-side check of a command before it is sent:
//! let argv = ["RG.GETRESULTS", "0000000000000000000000000000000000000000-4"];
//! let Ok(Request::GetResults(id)) = Request::parse(&argv) else { panic!() };
//! assert_eq!(id.id, Some(GearsId::new(ShardId::STANDALONE, 4)));
//!
//! // Rendering a reply the way the module sends it:
//! let reply = Reply::array([Reply::array([]), Reply::array([])]);
//! assert_eq!(reply.to_resp(RespVersion::Resp2), b"*2\r\n*0\r\n*0\r\n");
//! ```

pub mod commands;
pub mod config;
pub mod errors;
pub mod ids;
pub mod numbers;
pub mod replies;
pub mod reply;
pub mod request;

pub use commands::{CommandName, CommandSpec, COMMANDS};
pub use ids::{GearsId, ShardId};
pub use reply::{Reply, RespVersion};
pub use request::{ParseError, Request};

/// The module name given to `RedisModule_Init`; INFO fields come out as `rg_*`.
pub const MODULE_NAME: &str = "rg";

/// The module version: RedisGears 1.2.13 is 10213 (`major*10000 + minor*100 + patch`).
pub const MODULE_VERSION: i32 = 10213;
