//! Shard ids and gears ids (`<shard id>-<counter>`), as RedisGears prints them.
//!
//! Execution ids and registration ids share one textual form: the 40-character id of
//! the shard that created them, a dash, and a decimal counter. Outside a cluster the
//! shard id is forty `'0'` characters, so the first execution of a fresh standalone
//! server is `0000000000000000000000000000000000000000-0`.

use std::fmt;
use std::str::FromStr;

/// Length of a shard id: the length of a Redis Cluster node id.
pub const SHARD_ID_LEN: usize = 40;

/// The 40-character id of a shard.
///
/// In a Redis Cluster it is the node id (40 lowercase hex characters); ids pushed by
/// `RG.CLUSTERSET` are shorter and are left-padded with `'0'`; outside a cluster it is
/// forty `'0'`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId([u8; SHARD_ID_LEN]);

/// Why a text is not a shard id or a gears id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The shard part does not have exactly 40 characters.
    #[error("a shard id has {SHARD_ID_LEN} characters, got {0}")]
    ShardIdLength(usize),
    /// The shard part has a character that is not an ASCII letter or digit.
    #[error("a shard id holds only ASCII letters and digits")]
    ShardIdCharacter,
    /// A padded shard id is longer than 40 characters.
    #[error("a shard id to pad is longer than {SHARD_ID_LEN} characters")]
    ShardIdTooLong,
    /// There is no `-` after the 40-character shard part.
    #[error("a gears id is <shard id>-<counter>")]
    MissingDash,
    /// The counter is not a decimal number that fits in 64 bits.
    #[error("the counter of a gears id is a decimal number")]
    BadCounter,
}

impl ShardId {
    /// The shard id outside a cluster: forty `'0'`.
    pub const STANDALONE: ShardId = ShardId([b'0'; SHARD_ID_LEN]);

    /// Parses exactly 40 ASCII letters or digits.
    pub fn parse(text: &[u8]) -> Result<ShardId, IdError> {
        let bytes: [u8; SHARD_ID_LEN] = text
            .try_into()
            .map_err(|_| IdError::ShardIdLength(text.len()))?;
        if !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(IdError::ShardIdCharacter);
        }
        Ok(ShardId(bytes))
    }

    /// Left-pads a shorter id with `'0'` to 40 characters, as RedisGears does with the
    /// shard ids of `RG.CLUSTERSET`.
    pub fn padded(text: &[u8]) -> Result<ShardId, IdError> {
        if text.len() > SHARD_ID_LEN {
            return Err(IdError::ShardIdTooLong);
        }
        let mut bytes = [b'0'; SHARD_ID_LEN];
        bytes[SHARD_ID_LEN - text.len()..].copy_from_slice(text);
        ShardId::parse(&bytes)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored, so this cannot fail; fall back to
        // an empty string rather than panic if that invariant is ever broken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShardId({})", self.as_str())
    }
}

impl FromStr for ShardId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<ShardId, IdError> {
        ShardId::parse(text.as_bytes())
    }
}

/// An execution or registration id: `<shard id>-<counter>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GearsId {
    /// The shard that created the id.
    pub shard: ShardId,
    /// That shard's counter value when the id was taken.
    pub counter: u64,
}

impl GearsId {
    /// An id from its two parts.
    pub fn new(shard: ShardId, counter: u64) -> GearsId {
        GearsId { shard, counter }
    }

    /// Parses `<40 characters>-<decimal counter>`; nothing may follow the counter.
    pub fn parse(text: &[u8]) -> Result<GearsId, IdError> {
        if text.len() <= SHARD_ID_LEN {
            return Err(IdError::ShardIdLength(text.len().min(SHARD_ID_LEN)));
        }
        let (shard, rest) = text.split_at(SHARD_ID_LEN);
        let shard = ShardId::parse(shard)?;
        let digits = rest.strip_prefix(b"-").ok_or(IdError::MissingDash)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(IdError::BadCounter);
        }
        let counter = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or(IdError::BadCounter)?;
        Ok(GearsId { shard, counter })
    }
}

impl GearsId {
    /// The id a lookup by this text would find, following RedisGears' lenient rules:
    /// at least 42 bytes, a `-` after the 40-byte shard part, and a counter read like
    /// `sscanf("%lld")` (leading blanks and a sign allowed, trailing bytes ignored).
    ///
    /// `None` means no id can match, so the lookup answers "not found" — RedisGears
    /// has no separate error for a malformed id.
    pub fn lookup(text: &[u8]) -> Option<GearsId> {
        if text.len() < SHARD_ID_LEN + 2 || text[SHARD_ID_LEN] != b'-' {
            return None;
        }
        let shard = ShardId::parse(&text[..SHARD_ID_LEN]).ok()?;
        let counter = crate::numbers::scan_long_long(&text[SHARD_ID_LEN + 1..])?;
        Some(GearsId::new(shard, u64::try_from(counter).ok()?))
    }
}

impl fmt::Display for GearsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.shard, self.counter)
    }
}

impl fmt::Debug for GearsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GearsId({self})")
    }
}

impl FromStr for GearsId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<GearsId, IdError> {
        GearsId::parse(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const ZEROS: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn standalone_ids_print_like_redisgears() {
        assert_eq!(
            GearsId::new(ShardId::STANDALONE, 4).to_string(),
            format!("{ZEROS}-4")
        );
    }

    #[rstest]
    #[case(format!("{ZEROS}-0"), 0)]
    #[case(format!("{ZEROS}-18446744073709551615"), u64::MAX)]
    #[case("15f41d945e9e76175dd92bbfde27ded6bcfe53df-12".to_owned(), 12)]
    fn parses_valid_ids(#[case] text: String, #[case] counter: u64) {
        let id = GearsId::parse(text.as_bytes()).expect("valid id");
        assert_eq!(id.counter, counter);
        assert_eq!(id.to_string(), text);
    }

    #[rstest]
    #[case(b"".to_vec(), IdError::ShardIdLength(0))]
    #[case(b"1".to_vec(), IdError::ShardIdLength(1))]
    #[case(ZEROS.as_bytes().to_vec(), IdError::ShardIdLength(40))]
    #[case(format!("{ZEROS}-").into_bytes(), IdError::BadCounter)]
    #[case(format!("{ZEROS}_1").into_bytes(), IdError::MissingDash)]
    #[case(format!("{ZEROS}-1x").into_bytes(), IdError::BadCounter)]
    #[case(format!("{ZEROS}--1").into_bytes(), IdError::BadCounter)]
    #[case(format!("{ZEROS}-18446744073709551616").into_bytes(), IdError::BadCounter)]
    #[case([vec![0xff; 40], b"-1".to_vec()].concat(), IdError::ShardIdCharacter)]
    fn rejects_malformed_ids(#[case] text: Vec<u8>, #[case] error: IdError) {
        assert_eq!(GearsId::parse(&text), Err(error));
    }

    #[rstest]
    #[case(format!("{ZEROS}-12"), Some(12))]
    #[case(format!("{ZEROS}-12abc"), Some(12))]
    #[case(format!("{ZEROS}- +3"), Some(3))]
    #[case(format!("{ZEROS}--3"), None)]
    #[case(format!("{ZEROS}-"), None)]
    #[case(format!("{ZEROS}x1"), None)]
    #[case("short-1".to_owned(), None)]
    fn lookups_follow_redisgears_leniency(#[case] text: String, #[case] counter: Option<u64>) {
        assert_eq!(
            GearsId::lookup(text.as_bytes()).map(|id| id.counter),
            counter
        );
    }

    #[test]
    fn pads_short_shard_ids_with_zeros() {
        let id = ShardId::padded(b"1").expect("short id");
        assert_eq!(id.as_str(), format!("{}1", &ZEROS[..39]));
        assert_eq!(ShardId::padded(&[b'a'; 41]), Err(IdError::ShardIdTooLong));
    }
}
