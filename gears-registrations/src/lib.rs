//! # gears-registrations
//!
//! Everything event-driven that is not Python (architecture.md): the registration
//! model and its stats ([`registration`]), the key-prefix index that decides which
//! registrations a keyspace event fires ([`prefix`]), and the StreamReader state
//! machine ([`stream`]). No Redis and no Python: the module feeds events in and acts
//! on the decisions that come out.
//!
//! ```
//! use gears_registrations::prefix::PrefixIndex;
//! use gears_registrations::stream::{ReadKind, StreamAction, StreamConfig, StreamStateMachine};
//!
//! // `user:*` is a prefix, `user:1` an exact key: not globs.
//! let mut index = PrefixIndex::new();
//! index.insert(b"user:*", "audit");
//! index.insert(b"user:1", "vip");
//! assert_eq!(index.matching(b"user:1"), vec!["audit", "vip"]);
//!
//! // A stream seen for the first time is first read for the entries already in it.
//! let mut stream = StreamStateMachine::new(StreamConfig { batch: 2, ..StreamConfig::default() });
//! let _rescan = stream.start();
//! let actions = stream.on_xadd(b"s", 0, || 1);
//! assert!(actions.iter().any(|a| matches!(a, StreamAction::Run { read: ReadKind::Pending, .. })));
//! assert_eq!(stream.status().as_str(), "OK");
//! ```

pub mod persist;
pub mod prefix;
pub mod registration;
pub mod registry;
pub mod stream;
