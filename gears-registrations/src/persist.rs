//! The serialized form of registrations, for the RDB aux data and for replication
//! (`RG.INNERREGISTER <blob>`).
//!
//! A registration is its description (id, reader arguments, mode, the session that
//! made it), which this crate understands, plus the runtime's opaque bytes (the
//! pickled plan and `onRegistered`). The description is JSON, so that a field added
//! later does not break reading older data; the blob frames each part with its
//! length:
//!
//! ```text
//! "GRS1" | u32 count | count × (u32 len, JSON description, u32 len, runtime bytes)
//! ```
//!
//! (lengths little-endian). Decoding never trusts a length: a truncated or corrupt
//! blob is an error, not a panic.

use crate::registration::{Mode, ReaderArgs};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 4] = b"GRS1";

/// What is saved of one registration besides the runtime's bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedRegistration {
    /// Its id, as text.
    pub id: String,
    /// Reader and arguments.
    pub reader: ReaderArgs,
    /// Its mode.
    pub mode: Mode,
    /// The builder's description.
    pub description: Option<String>,
    /// The session that made it.
    pub session_id: String,
    /// That session's description.
    pub session_description: Option<String>,
}

/// A registration with the runtime's bytes (the pickled plan).
#[derive(Clone, Debug, PartialEq)]
pub struct SavedEntry {
    /// The description.
    pub registration: SavedRegistration,
    /// The runtime's bytes.
    pub plan: Vec<u8>,
}

/// Why a blob could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// It does not start with the magic bytes.
    #[error("not a gears-rs registrations blob")]
    NotOurs,
    /// It ends in the middle of a part.
    #[error("the registrations blob is truncated")]
    Truncated,
    /// A description is not valid.
    #[error("a registration in the blob is corrupt: {0}")]
    Corrupt(String),
}

fn push_part(out: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&part[..len as usize]);
}

/// Encodes registrations into one blob.
pub fn encode(entries: &[SavedEntry]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    for entry in entries.iter().take(count as usize) {
        // Serializing plain data to JSON cannot fail.
        let description = serde_json::to_vec(&entry.registration).unwrap_or_default();
        push_part(&mut out, &description);
        push_part(&mut out, &entry.plan);
    }
    out
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn part(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

/// Decodes a blob made by [`encode`].
pub fn decode(blob: &[u8]) -> Result<Vec<SavedEntry>, DecodeError> {
    let mut cursor = Cursor { rest: blob };
    if cursor.take(4).map_err(|_| DecodeError::NotOurs)? != MAGIC {
        return Err(DecodeError::NotOurs);
    }
    let count = cursor.u32()?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let description = cursor.part()?;
        let registration: SavedRegistration = serde_json::from_slice(description)
            .map_err(|error| DecodeError::Corrupt(error.to_string()))?;
        let plan = cursor.part()?.to_vec();
        entries.push(SavedEntry { registration, plan });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registration::{CommandTrigger, KeysArgs, StreamArgs};
    use crate::stream::OnFailedPolicy;

    fn entries() -> Vec<SavedEntry> {
        let readers = [
            ReaderArgs::Keys(KeysArgs {
                prefix: b"user:*".to_vec(),
                event_types: Some(vec!["set".to_owned()]),
                key_types: None,
                read_value: false,
                commands: Some(vec!["hset".to_owned()]),
            }),
            ReaderArgs::Stream(StreamArgs {
                prefix: vec![0xff, b's'],
                batch: 10,
                duration_ms: 50,
                on_failed: OnFailedPolicy::Retry,
                retry_interval_secs: 3,
                trim: false,
            }),
            ReaderArgs::Command {
                trigger: CommandTrigger::Hook {
                    command: "hset".to_owned(),
                    key_prefix: Some(b"h:".to_vec()),
                },
                in_order: true,
            },
        ];
        readers
            .into_iter()
            .enumerate()
            .map(|(n, reader)| SavedEntry {
                registration: SavedRegistration {
                    id: format!("{}-{n}", "0".repeat(40)),
                    reader,
                    mode: Mode::AsyncLocal,
                    description: (n == 1).then(|| "desc".to_owned()),
                    session_id: "s".to_owned(),
                    session_description: None,
                },
                plan: vec![n as u8; n * 3],
            })
            .collect()
    }

    #[test]
    fn registrations_survive_a_round_trip() {
        let entries = entries();
        assert_eq!(decode(&encode(&entries)), Ok(entries));
        assert_eq!(decode(&encode(&[])), Ok(Vec::new()));
    }

    #[test]
    fn bad_blobs_are_errors() {
        let blob = encode(&entries());
        assert_eq!(decode(b"RDB0"), Err(DecodeError::NotOurs));
        assert_eq!(decode(b""), Err(DecodeError::NotOurs));
        for cut in [5, 9, 20, blob.len() - 1] {
            assert_eq!(
                decode(&blob[..cut]),
                Err(DecodeError::Truncated),
                "cut at {cut}"
            );
        }
        let mut corrupt = blob.clone();
        corrupt[12] = b'#';
        assert!(matches!(decode(&corrupt), Err(DecodeError::Corrupt(_))));
    }
}
