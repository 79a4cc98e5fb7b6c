//! Volatile fields out, stable placeholders in.
//!
//! Execution and registration ids, shard, run and session ids, durations, memory
//! figures, addresses and Python object addresses change from run to run (and differ
//! between the reference's examples and a real server). A [`Normalizer`] rewrites
//! them into numbered placeholders in order of first appearance, so the same
//! transcript always gives the same text, and a documented reply and a real one are
//! equal when they have the same shape and the same ids in the same places.

use gears_protocol::Reply;
use regex::{Captures, Regex};
use std::collections::HashMap;

/// Keys whose value is volatile in key/value reply arrays.
const VOLATILE_KEYS: &[&str] = &[
    "total_duration",
    "read_duration",
    "duration",
    "lastRunDurationMS",
    "totalRunDurationMS",
    "avgRunDurationMS",
    "lastEstimatedLagMS",
    "avgEstimatedLagMS",
    "TotalAllocated",
    "PeakAllocated",
    "CurrAllocated",
    "runid",
    "MyRunId",
    "ip",
    "port",
    "unixSocket",
];

/// Rewrites volatile parts of replies; one per transcript side.
pub struct Normalizer {
    gears_id: Regex,
    hex_id: Regex,
    address: Regex,
    gears_ids: HashMap<String, usize>,
    hex_ids: HashMap<String, usize>,
}

impl Default for Normalizer {
    fn default() -> Normalizer {
        Normalizer::new()
    }
}

impl Normalizer {
    /// A normalizer with no placeholders handed out yet.
    pub fn new() -> Normalizer {
        Normalizer {
            gears_id: Regex::new(r"\b[0-9A-Za-z]{40}-\d+\b").expect("a constant pattern"),
            hex_id: Regex::new(r"\b[0-9a-f]{40}\b").expect("a constant pattern"),
            address: Regex::new(r"\b0x[0-9a-f]+\b").expect("a constant pattern"),
            gears_ids: HashMap::new(),
            hex_ids: HashMap::new(),
        }
    }

    /// The reply with its volatile parts replaced.
    pub fn reply(&mut self, reply: &Reply) -> Reply {
        match reply {
            Reply::Simple(text) => Reply::Simple(self.text(text)),
            Reply::Error(text) => Reply::Error(self.text(text)),
            Reply::Bulk(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => Reply::Bulk(self.text(text).into_bytes()),
                Err(_) => reply.clone(),
            },
            Reply::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut volatile_next = false;
                for item in items {
                    if volatile_next {
                        out.push(Reply::Simple("<volatile>".to_owned()));
                        volatile_next = false;
                        continue;
                    }
                    volatile_next = matches!(item, Reply::Bulk(key) if VOLATILE_KEYS.iter().any(|k| k.as_bytes() == key.as_slice()));
                    out.push(self.reply(item));
                }
                Reply::Array(out)
            }
            other => other.clone(),
        }
    }

    /// Text with its ids and addresses replaced.
    pub fn text(&mut self, text: &str) -> String {
        let gears_ids = &mut self.gears_ids;
        let text = self.gears_id.replace_all(text, |c: &Captures<'_>| {
            let next = gears_ids.len() + 1;
            format!("<id-{}>", gears_ids.entry(c[0].to_owned()).or_insert(next))
        });
        let hex_ids = &mut self.hex_ids;
        let text = self.hex_id.replace_all(&text, |c: &Captures<'_>| {
            if c[0].bytes().all(|b| b == b'0') {
                // The standalone shard id is not volatile.
                return c[0].to_owned();
            }
            let next = hex_ids.len() + 1;
            format!("<hex-{}>", hex_ids.entry(c[0].to_owned()).or_insert(next))
        });
        self.address.replace_all(&text, "0x<address>").into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZEROS: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn ids_become_placeholders_in_order_of_appearance() {
        let mut normalizer = Normalizer::new();
        let reply = Reply::array([
            Reply::bulk(format!("{ZEROS}-7")),
            Reply::bulk(format!("{ZEROS}-2")),
            Reply::bulk(format!("{{'sessionId':'{ZEROS}-7'}}")),
            Reply::bulk(ZEROS),
            Reply::bulk("15f41d945e9e76175dd92bbfde27ded6bcfe53df"),
        ]);
        assert_eq!(
            normalizer.reply(&reply),
            Reply::array([
                Reply::bulk("<id-1>"),
                Reply::bulk("<id-2>"),
                Reply::bulk("{'sessionId':'<id-1>'}"),
                Reply::bulk(ZEROS),
                Reply::bulk("<hex-1>"),
            ])
        );
    }

    #[test]
    fn durations_memory_and_addresses_are_volatile() {
        let mut normalizer = Normalizer::new();
        let reply = Reply::array([
            Reply::bulk("total_duration"),
            Reply::Integer(12),
            Reply::bulk("results"),
            Reply::Integer(3),
            Reply::bulk("arg"),
            Reply::bulk("<function <lambda> at 0x7f8b8f869880>"),
        ]);
        assert_eq!(
            normalizer.reply(&reply),
            Reply::array([
                Reply::bulk("total_duration"),
                Reply::simple("<volatile>"),
                Reply::bulk("results"),
                Reply::Integer(3),
                Reply::bulk("arg"),
                Reply::bulk("<function <lambda> at 0x<address>>"),
            ])
        );
    }
}
