//! Replies in the form the command references print them: redis-cli's TTY output.
//!
//! [`render`] prints a [`Reply`] exactly as redis-cli 7 does (nested, right-aligned
//! indexes, quoted and escaped bulk strings). [`parse`] reads that form back, so a
//! documented reply and a real one can be compared as trees, whatever the spacing
//! or the redis-cli version that printed the docs (`(empty list or set)` is the old
//! spelling of `(empty array)`).

use anyhow::{bail, Result};
use gears_protocol::reply::format_double;
use gears_protocol::Reply;

/// Renders `reply` as redis-cli prints it in a terminal.
pub fn render(reply: &Reply) -> String {
    let mut out = String::new();
    render_into(&mut out, reply, "");
    out
}

fn render_into(out: &mut String, reply: &Reply, prefix: &str) {
    match reply {
        Reply::Simple(text) => {
            out.push_str(text);
            out.push('\n');
        }
        Reply::Error(text) => {
            out.push_str("(error) ");
            out.push_str(text);
            out.push('\n');
        }
        Reply::Integer(value) => out.push_str(&format!("(integer) {value}\n")),
        Reply::Double(value) => out.push_str(&format!("(double) {}\n", format_double(*value))),
        Reply::Nil => out.push_str("(nil)\n"),
        Reply::Bulk(bytes) => {
            out.push_str(&quote(bytes));
            out.push('\n');
        }
        Reply::Array(items) if items.is_empty() => out.push_str("(empty array)\n"),
        Reply::Array(items) => {
            let width = items.len().to_string().len();
            let nested_prefix = format!("{prefix}{}", " ".repeat(width + 2));
            for (index, item) in items.iter().enumerate() {
                let lead = if index == 0 { "" } else { prefix };
                out.push_str(&format!("{lead}{:>width$}) ", index + 1));
                render_into(out, item, &nested_prefix);
            }
        }
    }
}

/// redis-cli's `sdscatrepr`: a double-quoted string with C-style escapes.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('"');
    out
}

/// Reads redis-cli output (one reply) back into a [`Reply`].
///
/// A line that is not a quoted string, a `(type)` form or an indexed array entry is a
/// status reply, which is how redis-cli shows `+OK`.
pub fn parse(text: &str) -> Result<Reply> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        bail!("an empty reply");
    }
    let mut cursor = 0;
    let reply = parse_value(&lines, &mut cursor, 0)?;
    if cursor != lines.len() {
        bail!("unexpected line {}: {:?}", cursor + 1, lines[cursor]);
    }
    Ok(reply)
}

/// Parses the value that starts at byte column `column` of `lines[*cursor]`.
fn parse_value(lines: &[&str], cursor: &mut usize, column: usize) -> Result<Reply> {
    let line = lines[*cursor];
    let rest = line.get(column..).unwrap_or_default();
    if let Some(close) = index_marker(rest) {
        // An array: every entry's `)` sits in the same column (indexes are
        // right-aligned), and entries after the first start on their own lines.
        let close_column = column + close;
        let mut items = Vec::new();
        loop {
            let item = parse_value(lines, cursor, close_column + 2)?;
            items.push(item);
            let Some(next) = lines.get(*cursor) else {
                break;
            };
            let head = next.get(..close_column).unwrap_or_default();
            let starts_entry = next.as_bytes().get(close_column) == Some(&b')')
                && !head.trim().is_empty()
                && head.trim_start().chars().all(|c| c.is_ascii_digit())
                && next
                    .get(..column)
                    .is_some_and(|lead| lead.trim().is_empty());
            if !starts_entry {
                break;
            }
        }
        return Ok(Reply::Array(items));
    }
    *cursor += 1;
    parse_leaf(rest.trim_end())
}

/// If `text` starts with an array index (`  12) `), the offset of its `)`.
fn index_marker(text: &str) -> Option<usize> {
    let digits_start = text.len() - text.trim_start_matches(' ').len();
    let after_spaces = &text[digits_start..];
    let digits = after_spaces.len()
        - after_spaces
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .len();
    if digits == 0 {
        return None;
    }
    let close = digits_start + digits;
    (text[close..].starts_with(") ")).then_some(close)
}

fn parse_leaf(text: &str) -> Result<Reply> {
    if let Some(rest) = text.strip_prefix("(integer) ") {
        return Ok(Reply::Integer(rest.trim().parse()?));
    }
    if let Some(rest) = text.strip_prefix("(double) ") {
        return Ok(Reply::Double(rest.trim().parse()?));
    }
    if let Some(rest) = text.strip_prefix("(error) ") {
        return Ok(Reply::Error(rest.to_owned()));
    }
    match text {
        "(nil)" => return Ok(Reply::Nil),
        "(empty array)" | "(empty list or set)" => return Ok(Reply::Array(Vec::new())),
        _ => {}
    }
    if text.starts_with('"') {
        return Ok(Reply::Bulk(unquote(text)?));
    }
    Ok(Reply::Simple(text.to_owned()))
}

/// Decodes the C-style escape whose backslash is at `bytes[index]`; returns the byte
/// and the index after the escape.
pub(crate) fn unescape_at(bytes: &[u8], index: usize) -> Result<(u8, usize)> {
    let byte = match bytes.get(index + 1) {
        Some(b'n') => b'\n',
        Some(b'r') => b'\r',
        Some(b't') => b'\t',
        Some(b'a') => 0x07,
        Some(b'b') => 0x08,
        Some(b'x') => {
            let hex = bytes.get(index + 2..index + 4).unwrap_or_default();
            let hex = std::str::from_utf8(hex).unwrap_or_default();
            return Ok((u8::from_str_radix(hex, 16)?, index + 4));
        }
        Some(&other) => other,
        None => bail!("a dangling backslash"),
    };
    Ok((byte, index + 2))
}

/// The inverse of [`quote`].
pub fn unquote(text: &str) -> Result<Vec<u8>> {
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(|| anyhow::anyhow!("unterminated quoted string {text:?}"))?;
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\' {
            let (byte, next) = unescape_at(bytes, index)?;
            out.push(byte);
            index = next;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn bulk(s: &str) -> Reply {
        Reply::bulk(s)
    }

    #[test]
    fn renders_nested_arrays_like_redis_cli() {
        let reply = Reply::array([
            Reply::array([
                bulk("executionId"),
                bulk("x-0"),
                bulk("status"),
                bulk("done"),
            ]),
            Reply::array([]),
        ]);
        assert_eq!(
            render(&reply),
            "1) 1) \"executionId\"\n   2) \"x-0\"\n   3) \"status\"\n   4) \"done\"\n2) (empty array)\n"
        );
    }

    #[test]
    fn right_aligns_indexes_of_ten_or_more() {
        let inner = Reply::array((0..10).map(Reply::Integer));
        let text = render(&Reply::array([inner]));
        assert!(
            text.starts_with("1)  1) (integer) 0\n    2) (integer) 1\n"),
            "{text}"
        );
        assert!(text.ends_with("   10) (integer) 9\n"), "{text}");
    }

    #[rstest]
    #[case(Reply::ok())]
    #[case(Reply::error("(error) Unsupported config parameter: foo"))]
    #[case(Reply::array([Reply::error("(error) Config value x not modifiable at runtime")]))]
    #[case(Reply::array([Reply::array((0..12).map(Reply::Integer)), Reply::Nil, bulk("a\"b\\c\n\u{1}")]))]
    #[case(Reply::array([Reply::array([Reply::array([bulk("deep")])]), Reply::array([])]))]
    #[case(bulk(""))]
    fn parse_reads_back_what_render_prints(#[case] reply: Reply) {
        assert_eq!(parse(&render(&reply)).expect("parses"), reply);
    }

    #[test]
    fn parses_documented_forms() {
        let doc = "1) (empty list or set)\n2) (empty list or set)\n";
        assert_eq!(
            parse(doc).expect("parses"),
            Reply::array([Reply::array([]), Reply::array([])])
        );
        let doc = "1) (error) (error) Unsupported config parameter: foo";
        assert_eq!(
            parse(doc).expect("parses"),
            Reply::array([Reply::error("(error) Unsupported config parameter: foo")])
        );
    }

    #[test]
    fn rejects_misaligned_entries() {
        assert!(parse("1) \"a\"\n  2) \"b\"\n").is_err());
    }
}
