//! Records: what flows from a reader through the steps into the results.
//!
//! Native records are plain Rust values. A runtime (Python) adds its own values as
//! [`OpaqueRecord`]s; the engine only asks them for a reply and, for `flatmap`, for
//! their elements when they are a list.

use crate::execution::{DeferredReply, StoredResult};
use gears_protocol::Reply;
use std::any::Any;
use std::fmt;

/// A value owned by a runtime (a Python object).
pub trait OpaqueRecord: Send + fmt::Debug {
    /// The reply that shows this value (behaviour.md §6.7).
    fn to_reply(&self) -> Reply;
    /// The reply that shows this value, consuming it (a value that holds its reply's
    /// bytes hands them over instead of copying them).
    fn into_reply(self: Box<Self>) -> Reply {
        self.to_reply()
    }
    /// The value as an execution may keep it, its reply made only when asked, if it
    /// is an immutable snapshot; otherwise itself back (it becomes a reply now).
    /// (Implementations that are not snapshots return `Err(self)`.)
    fn into_deferred(self: Box<Self>) -> Result<Box<dyn DeferredReply>, Box<dyn OpaqueRecord>>;
    /// Its elements if it is a list (what `flatmap` expands), or itself back.
    fn into_list(self: Box<Self>) -> Result<Vec<Record>, Box<dyn OpaqueRecord>>;
    /// Access to the concrete type, for the runtime that made it.
    fn as_any(&self) -> &dyn Any;
    /// The concrete value, for the runtime that made it.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// The two `Any` accessors of an [`OpaqueRecord`], which every implementation
/// writes the same way.
#[macro_export]
macro_rules! opaque_any {
    () => {
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }

        fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
            self
        }
    };
}

/// The type of a key, as KeysReader records name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// A string.
    String,
    /// A hash.
    Hash,
    /// A list.
    List,
    /// A set.
    Set,
    /// A sorted set.
    ZSet,
    /// A stream (RedisGears names it `unknown` in records, a DOC≠CODE quirk).
    Stream,
    /// A module type.
    Module,
    /// The key does not exist.
    Empty,
}

impl KeyType {
    /// The name a KeysReader record gives this type (`'type'` of the record).
    pub fn record_name(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::Hash => "hash",
            KeyType::List => "list",
            KeyType::Set => "set",
            KeyType::ZSet => "zset",
            KeyType::Stream => "unknown",
            KeyType::Module => "module",
            KeyType::Empty => "empty",
        }
    }
}

/// The value of a key, as KeysReader reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyValue {
    /// A string's bytes.
    String(Vec<u8>),
    /// A hash's field/value pairs, in the order Redis gave them.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A list's elements, in LRANGE order.
    List(Vec<Vec<u8>>),
    /// Set, sorted set, stream, module and missing keys carry no value.
    None,
}

/// One key read by KeysReader (batch) or reported by a keyspace event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key name.
    pub key: Vec<u8>,
    /// The event name in event mode; `None` in batch mode. Shared: a server has a
    /// few event names, and an event's record need not copy its name.
    pub event: Option<std::sync::Arc<[u8]>>,
    /// Type and value, or `None` when the reader was asked not to read values.
    pub value: Option<(KeyType, KeyValue)>,
}

/// A record.
#[derive(Debug)]
pub enum Record {
    /// The null record.
    Nil,
    /// A string (bytes: keys and values need not be UTF-8).
    Text(Vec<u8>),
    /// An integer.
    Long(i64),
    /// A double.
    Double(f64),
    /// A list of records.
    List(Vec<Record>),
    /// A record with a key: what `extractkey` makes and `accumulatebykey`, `group`
    /// and `reduce` work on.
    Keyed {
        /// The key.
        key: Vec<u8>,
        /// The record it belongs to.
        value: Box<Record>,
    },
    /// A key read by a KeysReader.
    Key(KeyEntry),
    /// A value owned by the runtime.
    Opaque(Box<dyn OpaqueRecord>),
}

impl Record {
    /// [`Record::to_reply`], consuming the record: what an execution's results
    /// become when it finishes, without copying their bytes.
    pub fn into_reply(self) -> Reply {
        match self {
            Record::Text(bytes) => Reply::Bulk(bytes),
            Record::Opaque(value) => value.into_reply(),
            other => other.to_reply(),
        }
    }

    /// What an execution keeps of a result: its reply, or (a snapshot that is
    /// costly to show) the value itself, shown when someone asks.
    pub fn into_stored(self) -> StoredResult {
        match self {
            Record::Opaque(value) => match value.into_deferred() {
                Ok(deferred) => StoredResult::Deferred(deferred),
                Err(value) => StoredResult::Reply(value.into_reply()),
            },
            other => StoredResult::Reply(other.into_reply()),
        }
    }

    /// The reply that shows this record (behaviour.md §6.7, native records).
    pub fn to_reply(&self) -> Reply {
        match self {
            Record::Nil => Reply::Nil,
            Record::Text(bytes) => Reply::bulk(bytes.clone()),
            Record::Long(value) => Reply::Integer(*value),
            Record::Double(value) => Reply::Double(*value),
            Record::List(items) => Reply::array(items.iter().map(Record::to_reply)),
            Record::Keyed { key, value } => {
                Reply::array([Reply::bulk(key.clone()), value.to_reply()])
            }
            Record::Key(entry) => {
                let value = match &entry.value {
                    Some((_, KeyValue::String(bytes))) => Reply::bulk(bytes.clone()),
                    Some((_, KeyValue::Hash(pairs))) => Reply::array(pairs.iter().map(|(f, v)| {
                        Reply::array([Reply::bulk(f.clone()), Reply::bulk(v.clone())])
                    })),
                    Some((_, KeyValue::List(items))) => {
                        Reply::array(items.iter().map(|i| Reply::bulk(i.clone())))
                    }
                    Some((_, KeyValue::None)) | None => Reply::Nil,
                };
                Reply::array([Reply::bulk(entry.key.clone()), value])
            }
            Record::Opaque(value) => value.to_reply(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_records_reply_as_documented() {
        let record = Record::List(vec![
            Record::Text(b"a".to_vec()),
            Record::Long(3),
            Record::Double(1.5),
            Record::Nil,
            Record::Keyed {
                key: b"k".to_vec(),
                value: Box::new(Record::Long(1)),
            },
        ]);
        assert_eq!(
            record.to_reply(),
            Reply::array([
                Reply::bulk("a"),
                Reply::Integer(3),
                Reply::Double(1.5),
                Reply::Nil,
                Reply::array([Reply::bulk("k"), Reply::Integer(1)]),
            ])
        );
    }

    #[test]
    fn key_records_reply_key_and_value() {
        let entry = KeyEntry {
            key: b"h".to_vec(),
            event: None,
            value: Some((
                KeyType::Hash,
                KeyValue::Hash(vec![(b"f".to_vec(), b"v".to_vec())]),
            )),
        };
        assert_eq!(
            Record::Key(entry).to_reply(),
            Reply::array([
                Reply::bulk("h"),
                Reply::array([Reply::array([Reply::bulk("f"), Reply::bulk("v")])])
            ])
        );
        assert_eq!(KeyType::Stream.record_name(), "unknown");
        assert_eq!(KeyType::Empty.record_name(), "empty");
    }
}
