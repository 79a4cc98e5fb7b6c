//! Integers as Redis reads them (`RedisModule_StringToLongLong`, i.e. `string2ll`).
//!
//! Strict on purpose, because RedisGears' configs and ids go through it: no
//! spaces, no `+`, no leading zeros (`"0"` itself is fine), no trailing bytes, and
//! at most 20 bytes.

/// Parses `bytes` exactly as Redis' `string2ll` does; `None` when Redis would refuse.
pub fn parse_redis_integer(bytes: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE in Redis: longer strings are refused before looking at them.
    const LONG_STR_SIZE: usize = 21;
    if bytes.is_empty() || bytes.len() >= LONG_STR_SIZE {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        // i64::MIN has a magnitude one larger than i64::MAX.
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Reads the counter of an id the way RedisGears' lookups do (`sscanf("%lld")`):
/// leading whitespace and a sign are accepted and anything after the digits is
/// ignored. `None` when there are no digits.
pub fn scan_long_long(bytes: &[u8]) -> Option<i64> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let rest = &bytes[start..];
    let (negative, rest) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    // sscanf saturates on overflow; do the same.
    let mut value: i64 = 0;
    for &digit in &rest[..digits] {
        let digit = i64::from(digit - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(digit)
        } else {
            value.saturating_mul(10).saturating_add(digit)
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(b"0".as_slice(), Some(0))]
    #[case(b"1000".as_slice(), Some(1000))]
    #[case(b"-5".as_slice(), Some(-5))]
    #[case(b"9223372036854775807".as_slice(), Some(i64::MAX))]
    #[case(b"-9223372036854775808".as_slice(), Some(i64::MIN))]
    #[case(b"9223372036854775808".as_slice(), None)]
    #[case(b"99999999999999999999".as_slice(), None)]
    #[case(b"".as_slice(), None)]
    #[case(b"-".as_slice(), None)]
    #[case(b"-0".as_slice(), None)]
    #[case(b"+1".as_slice(), None)]
    #[case(b"01".as_slice(), None)]
    #[case(b" 1".as_slice(), None)]
    #[case(b"1 ".as_slice(), None)]
    #[case(b"1.5".as_slice(), None)]
    #[case(b"abc".as_slice(), None)]
    #[case(b"\xff".as_slice(), None)]
    fn parses_like_string2ll(#[case] text: &[u8], #[case] expected: Option<i64>) {
        assert_eq!(parse_redis_integer(text), expected);
    }

    #[rstest]
    #[case(b"12".as_slice(), Some(12))]
    #[case(b"12abc".as_slice(), Some(12))]
    #[case(b"  +7".as_slice(), Some(7))]
    #[case(b"-3".as_slice(), Some(-3))]
    #[case(b"".as_slice(), None)]
    #[case(b"x1".as_slice(), None)]
    #[case(b"99999999999999999999999".as_slice(), Some(i64::MAX))]
    fn scans_like_sscanf(#[case] text: &[u8], #[case] expected: Option<i64>) {
        assert_eq!(scan_long_long(text), expected);
    }
}
