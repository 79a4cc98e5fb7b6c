//! The keyspace as KeysReader reads it, over the Redis module API.
//!
//! One [`KeySpace::scan`] step takes the Redis lock once, runs `SCAN cursor MATCH
//! pattern COUNT n` (so glob matching is exactly Redis'), and reads each key's type
//! and value before releasing the lock: the server stalls for one step at a time,
//! never for the whole scan.

use crate::redis_access::{call, with_redis};
use gears_executions::reader::KeySpace;
use gears_executions::record::{KeyEntry, KeyType, KeyValue};
use gears_protocol::Reply;
use redis_module::{raw, Context};

/// The server's keyspace.
#[derive(Debug, Default)]
pub struct RedisKeySpace;

impl KeySpace for RedisKeySpace {
    fn scan(
        &self,
        cursor: u64,
        pattern: &[u8],
        count: usize,
        read_value: bool,
    ) -> Result<(u64, Vec<KeyEntry>), String> {
        with_redis(|ctx| {
            let cursor = cursor.to_string();
            let count = count.to_string();
            let reply = call(
                ctx,
                "SCAN",
                &[
                    cursor.as_bytes(),
                    b"MATCH",
                    pattern,
                    b"COUNT",
                    count.as_bytes(),
                ],
            );
            let Reply::Array(parts) = reply else {
                return Err(format!("unexpected SCAN reply: {reply}"));
            };
            let (Some(Reply::Bulk(next)), Some(Reply::Array(keys))) = (parts.first(), parts.get(1))
            else {
                return Err("unexpected SCAN reply shape".to_owned());
            };
            let next = std::str::from_utf8(next)
                .ok()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| "unexpected SCAN cursor".to_owned())?;
            let entries = keys
                .iter()
                .filter_map(|key| match key {
                    Reply::Bulk(key) => Some(read_entry(ctx, key, read_value)),
                    _ => None,
                })
                .collect();
            Ok((next, entries))
        })
    }

    fn read_key(&self, key: &[u8], read_value: bool) -> Result<KeyEntry, String> {
        Ok(with_redis(|ctx| read_entry(ctx, key, read_value)))
    }
}

/// A key's entry, with the Redis lock held.
fn read_entry(ctx: &Context, key: &[u8], read_value: bool) -> KeyEntry {
    let mut entry = KeyEntry {
        key: key.to_vec(),
        event: None,
        value: None,
    };
    if !read_value {
        return entry;
    }
    let name = ctx.create_string(key.to_vec());
    let opened = ctx.open_key(&name);
    let value = match opened.key_type() {
        raw::KeyType::Empty => (KeyType::Empty, KeyValue::None),
        raw::KeyType::String => match opened.read() {
            Ok(Some(bytes)) => (KeyType::String, KeyValue::String(bytes.to_vec())),
            _ => (KeyType::String, KeyValue::String(Vec::new())),
        },
        raw::KeyType::Hash => (
            KeyType::Hash,
            KeyValue::Hash(pairs(call(ctx, "HGETALL", &[key]))),
        ),
        raw::KeyType::List => (
            KeyType::List,
            KeyValue::List(strings(call(ctx, "LRANGE", &[key, b"0", b"-1"]))),
        ),
        raw::KeyType::Set => (KeyType::Set, KeyValue::None),
        raw::KeyType::ZSet => (KeyType::ZSet, KeyValue::None),
        raw::KeyType::Stream => (KeyType::Stream, KeyValue::None),
        raw::KeyType::Module => (KeyType::Module, KeyValue::None),
    };
    entry.value = Some(value);
    entry
}

fn strings(reply: Reply) -> Vec<Vec<u8>> {
    match reply {
        Reply::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Reply::Bulk(bytes) => Some(bytes),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn pairs(reply: Reply) -> Vec<(Vec<u8>, Vec<u8>)> {
    let flat = strings(reply);
    flat.chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}
