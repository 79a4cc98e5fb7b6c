//! The reply model: what a command answers, independent of how it is sent.
//!
//! A [`Reply`] is an ordered tree (arrays keep their order, there are no hash maps),
//! so the same state always renders to the same bytes; the conformance snapshots
//! depend on that. It renders to RESP2 and RESP3 exactly as Redis 7.0 would send the
//! same values through the module API (`RedisModule_ReplyWith*`), and decodes from
//! RESP so that clients, proxies and tests can read replies back into the same model.

use std::fmt;

/// The RESP protocol version a reply is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespVersion {
    /// RESP2, the default of every Redis connection.
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// One reply, as a client receives it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A status reply (`+OK`). Never contains `\r` or `\n`.
    Simple(String),
    /// A bulk string; binary safe.
    Bulk(Vec<u8>),
    /// An integer reply.
    Integer(i64),
    /// A double reply (RESP3 `,`); RESP2 clients receive it as a bulk string
    /// formatted the way Redis 7.0 formats doubles (`%.17g`).
    Double(f64),
    /// The null reply (`$-1` in RESP2, `_` in RESP3).
    Nil,
    /// An array; order is significant.
    Array(Vec<Reply>),
    /// An error reply. The text is what the client sees after the `-`, verbatim:
    /// module errors carry no implicit `ERR ` prefix.
    Error(String),
}

impl Reply {
    /// The `+OK` status reply.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_owned())
    }

    /// A status reply. Line breaks would corrupt the protocol, so they become spaces.
    pub fn simple(text: impl Into<String>) -> Reply {
        Reply::Simple(sanitize_line(text.into()))
    }

    /// A bulk string reply.
    pub fn bulk(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Bulk(bytes.into())
    }

    /// An error reply. Redis replaces line breaks in module errors by spaces; so do we,
    /// so that the model holds exactly what the client will read.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(sanitize_line(text.into()))
    }

    /// An array reply from any sequence of replies.
    pub fn array(items: impl IntoIterator<Item = Reply>) -> Reply {
        Reply::Array(items.into_iter().collect())
    }

    /// True for an error reply (not for an array that holds errors).
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Renders the reply in the given protocol version.
    pub fn to_resp(&self, version: RespVersion) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_resp(&mut out, version);
        out
    }

    /// Appends the rendering of the reply to `out`.
    pub fn write_resp(&self, out: &mut Vec<u8>, version: RespVersion) {
        match self {
            Reply::Simple(text) => {
                out.push(b'+');
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Error(text) => {
                out.push(b'-');
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(bytes) => write_bulk(out, bytes),
            Reply::Integer(value) => {
                out.push(b':');
                out.extend_from_slice(value.to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Double(value) => {
                let text = format_double(*value);
                match version {
                    RespVersion::Resp2 => write_bulk(out, text.as_bytes()),
                    RespVersion::Resp3 => {
                        out.push(b',');
                        out.extend_from_slice(text.as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
            Reply::Nil => match version {
                RespVersion::Resp2 => out.extend_from_slice(b"$-1\r\n"),
                RespVersion::Resp3 => out.extend_from_slice(b"_\r\n"),
            },
            Reply::Array(items) => {
                out.push(b'*');
                out.extend_from_slice(items.len().to_string().as_bytes());
                out.extend_from_slice(b"\r\n");
                for item in items {
                    item.write_resp(out, version);
                }
            }
        }
    }

    /// Decodes one reply from the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a reply (read more and try
    /// again), or the reply and the number of bytes it used. Understands every RESP2
    /// type and the RESP3 types Redis sends for module replies (null, double,
    /// boolean, big number, verbatim string, map, set and push, the last three read
    /// as flat arrays).
    pub fn decode(buf: &[u8]) -> Result<Option<(Reply, usize)>, DecodeError> {
        decode_at(buf, 0)
    }
}

impl fmt::Display for Reply {
    /// A one-line, human-readable form, for logs and failure messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(text) => write!(f, "+{text}"),
            Reply::Error(text) => write!(f, "-{text}"),
            Reply::Bulk(bytes) => write!(f, "{:?}", String::from_utf8_lossy(bytes)),
            Reply::Integer(value) => write!(f, "(integer) {value}"),
            Reply::Double(value) => write!(f, "(double) {}", format_double(*value)),
            Reply::Nil => write!(f, "(nil)"),
            Reply::Array(items) => {
                write!(f, "[")?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// Why bytes could not be decoded as a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The type byte is not a RESP type.
    #[error("unknown RESP type byte {0:#04x}")]
    UnknownType(u8),
    /// A length or integer field is not a number.
    #[error("malformed RESP number {0:?}")]
    BadNumber(String),
    /// A bulk string is not followed by CRLF.
    #[error("bulk string is not terminated by CRLF")]
    MissingCrlf,
}

/// Formats a double the way Redis 7.0 does for `RedisModule_ReplyWithDouble`
/// (`%.17g`, with `inf`/`-inf`/`nan` spelled out).
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    const PRECISION: i32 = 17;
    // `{:e}` with 16 fractional digits gives the 17 significant digits of `%.17g`
    // and, after rounding, the decimal exponent that decides between the two styles.
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, value);
    let (mantissa, exponent) = match scientific.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (scientific.as_str(), 0),
    };
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (PRECISION - 1 - exponent).max(0) as usize;
        strip_fraction_zeros(&format!("{value:.decimals$}")).to_owned()
    }
}

fn strip_fraction_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

fn sanitize_line(text: String) -> String {
    if text.contains(['\r', '\n']) {
        text.replace(['\r', '\n'], " ")
    } else {
        text
    }
}

fn write_bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// Finds the CRLF-terminated line starting at `start`; returns it and the offset after it.
fn line_at(buf: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(start..)?;
    // Looks for the CR alone (a byte compare per byte), then checks the LF.
    let mut from = 0;
    loop {
        let end = from + rest.get(from..)?.iter().position(|&byte| byte == b'\r')?;
        match rest.get(end + 1) {
            Some(b'\n') => return Some((&rest[..end], start + end + 2)),
            Some(_) => from = end + 1,
            None => return None,
        }
    }
}

fn number(line: &[u8]) -> Result<i64, DecodeError> {
    decimal(line)
        .or_else(|| {
            std::str::from_utf8(line)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
        })
        .ok_or_else(|| DecodeError::BadNumber(String::from_utf8_lossy(line).into_owned()))
}

/// A number as Redis writes it (an optional `-`, then digits), read without the
/// UTF-8 check and generic parser of `str::parse`: every integer reply and every
/// length goes through here (the one reply of most `execute()` calls). `None` for
/// anything else, which `str::parse` then reads or refuses.
fn decimal(line: &[u8]) -> Option<i64> {
    let (negative, digits) = match line {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() {
        return None;
    }
    // Summed below zero, so that i64::MIN, which has no positive, reads too.
    let mut below_zero: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        below_zero = below_zero
            .checked_mul(10)?
            .checked_sub(i64::from(digit - b'0'))?;
    }
    if negative {
        Some(below_zero)
    } else {
        below_zero.checked_neg()
    }
}

type Decoded = Result<Option<(Reply, usize)>, DecodeError>;

fn decode_at(buf: &[u8], start: usize) -> Decoded {
    let Some(&kind) = buf.get(start) else {
        return Ok(None);
    };
    let Some((line, next)) = line_at(buf, start + 1) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(line).into_owned();
    match kind {
        b'+' => Ok(Some((Reply::Simple(text()), next))),
        b'-' => Ok(Some((Reply::Error(text()), next))),
        b':' => Ok(Some((Reply::Integer(number(line)?), next))),
        b'(' => Ok(Some((Reply::Bulk(line.to_vec()), next))),
        b'_' => Ok(Some((Reply::Nil, next))),
        b'#' => Ok(Some((Reply::Integer(i64::from(line == b"t")), next))),
        b',' => {
            let value = match line {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                _ => text()
                    .parse::<f64>()
                    .map_err(|_| DecodeError::BadNumber(text()))?,
            };
            Ok(Some((Reply::Double(value), next)))
        }
        b'$' | b'=' | b'!' => {
            let length = number(line)?;
            if length < 0 {
                return Ok(Some((Reply::Nil, next)));
            }
            let length = length as usize;
            let end = next + length;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(DecodeError::MissingCrlf);
            }
            let body = &buf[next..end];
            let reply = match kind {
                b'!' => Reply::Error(String::from_utf8_lossy(body).into_owned()),
                // A verbatim string starts with its three-letter format and a colon.
                b'=' => Reply::Bulk(body.get(4..).unwrap_or_default().to_vec()),
                _ => Reply::Bulk(body.to_vec()),
            };
            Ok(Some((reply, end + 2)))
        }
        b'*' | b'~' | b'>' | b'%' => {
            let count = number(line)?;
            if count < 0 {
                return Ok(Some((Reply::Nil, next)));
            }
            let count = if kind == b'%' { count * 2 } else { count } as usize;
            let mut items = Vec::with_capacity(count.min(1024));
            let mut offset = next;
            for _ in 0..count {
                match decode_at(buf, offset)? {
                    Some((item, after)) => {
                        items.push(item);
                        offset = after;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(items), offset)))
        }
        other => Err(DecodeError::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0.0, "0")]
    #[case(1.5, "1.5")]
    #[case(49.5, "49.5")]
    #[case(0.1, "0.10000000000000001")]
    #[case(1.0 / 3.0, "0.33333333333333331")]
    #[case(1e20, "1e+20")]
    #[case(1.25e-7, "1.2499999999999999e-07")]
    #[case(123456789.0, "123456789")]
    #[case(-2.5, "-2.5")]
    #[case(f64::INFINITY, "inf")]
    #[case(f64::NEG_INFINITY, "-inf")]
    fn doubles_format_like_redis(#[case] value: f64, #[case] expected: &str) {
        assert_eq!(format_double(value), expected);
    }

    #[rstest]
    #[case(Reply::ok(), RespVersion::Resp2, "+OK\r\n")]
    #[case(Reply::bulk("bar"), RespVersion::Resp2, "$3\r\nbar\r\n")]
    #[case(Reply::Integer(-7), RespVersion::Resp2, ":-7\r\n")]
    #[case(Reply::Nil, RespVersion::Resp2, "$-1\r\n")]
    #[case(Reply::Nil, RespVersion::Resp3, "_\r\n")]
    #[case(Reply::Double(0.0), RespVersion::Resp2, "$1\r\n0\r\n")]
    #[case(Reply::Double(2.5), RespVersion::Resp3, ",2.5\r\n")]
    #[case(
        Reply::error("execution plan does not exist"),
        RespVersion::Resp3,
        "-execution plan does not exist\r\n"
    )]
    #[case(Reply::array([Reply::ok(), Reply::error("(error) x")]), RespVersion::Resp2, "*2\r\n+OK\r\n-(error) x\r\n")]
    #[case(Reply::array([]), RespVersion::Resp2, "*0\r\n")]
    fn renders_resp(#[case] reply: Reply, #[case] version: RespVersion, #[case] expected: &str) {
        assert_eq!(reply.to_resp(version), expected.as_bytes());
    }

    #[test]
    fn errors_and_statuses_never_carry_line_breaks() {
        assert_eq!(Reply::error("a\r\nb\nc"), Reply::Error("a  b c".into()));
        assert_eq!(Reply::simple("x\ny"), Reply::Simple("x y".into()));
    }

    #[rstest]
    #[case(Reply::array([Reply::bulk(vec![0xff, 0x00, b'\r', b'\n']), Reply::Nil, Reply::Integer(i64::MIN)]))]
    #[case(Reply::array([Reply::array([Reply::ok()]), Reply::error("ERR x"), Reply::array([])]))]
    #[case(Reply::bulk(""))]
    fn decode_reads_back_what_was_rendered(#[case] reply: Reply) {
        for version in [RespVersion::Resp2, RespVersion::Resp3] {
            let bytes = reply.to_resp(version);
            let decoded = Reply::decode(&bytes).expect("valid RESP");
            assert_eq!(decoded, Some((reply.clone(), bytes.len())));
        }
    }

    #[test]
    fn decode_double_in_resp3_and_bulk_in_resp2() {
        let reply = Reply::Double(0.5);
        assert_eq!(
            Reply::decode(&reply.to_resp(RespVersion::Resp3))
                .ok()
                .flatten()
                .map(|(r, _)| r),
            Some(Reply::Double(0.5))
        );
        assert_eq!(
            Reply::decode(&reply.to_resp(RespVersion::Resp2))
                .ok()
                .flatten()
                .map(|(r, _)| r),
            Some(Reply::bulk("0.5"))
        );
    }

    #[test]
    fn decode_waits_for_incomplete_input() {
        let bytes =
            Reply::array([Reply::bulk("hello"), Reply::Integer(1)]).to_resp(RespVersion::Resp2);
        for cut in 0..bytes.len() {
            assert_eq!(Reply::decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[rstest]
    #[case(b":0\r\n".as_slice(), 0)]
    #[case(b":-1\r\n".as_slice(), -1)]
    #[case(b":+7\r\n".as_slice(), 7)]
    #[case(b":9223372036854775807\r\n".as_slice(), i64::MAX)]
    #[case(b":-9223372036854775808\r\n".as_slice(), i64::MIN)]
    fn decode_reads_integers_to_their_limits(#[case] bytes: &[u8], #[case] expected: i64) {
        assert_eq!(
            Reply::decode(bytes),
            Ok(Some((Reply::Integer(expected), bytes.len())))
        );
    }

    #[rstest]
    #[case(b":9223372036854775808\r\n".as_slice())]
    #[case(b":-9223372036854775809\r\n".as_slice())]
    #[case(b":-\r\n".as_slice())]
    #[case(b":\r\n".as_slice())]
    #[case(b":1 \r\n".as_slice())]
    fn decode_refuses_numbers_out_of_range_or_malformed(#[case] bytes: &[u8]) {
        assert!(matches!(
            Reply::decode(bytes),
            Err(DecodeError::BadNumber(_))
        ));
    }

    #[rstest]
    #[case(b"?x\r\n".as_slice())]
    #[case(b":12a\r\n".as_slice())]
    #[case(b"$2\r\nabcd\r\n".as_slice())]
    fn decode_rejects_garbage(#[case] bytes: &[u8]) {
        assert!(Reply::decode(bytes).is_err());
    }

    #[test]
    fn decode_reads_resp3_maps_sets_and_booleans_flat() {
        let bytes = b"%1\r\n+a\r\n#t\r\n";
        assert_eq!(
            Reply::decode(bytes),
            Ok(Some((
                Reply::array([Reply::simple("a"), Reply::Integer(1)]),
                bytes.len()
            )))
        );
    }
}
