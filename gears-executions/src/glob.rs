//! Glob patterns exactly as Redis matches them (`stringmatchlen`, case-sensitive):
//! `*`, `?`, `[abc]`, `[^abc]`, `[a-z]` and `\` escapes, on bytes.
//!
//! KeysReader scans the keyspace with the module scan API, which has no MATCH, so the
//! pattern is applied here with the same rules `SCAN ... MATCH` uses.

/// True when `text` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // SCAN does not match at all for "*" (so even an empty key name passes).
    if pattern == b"*" {
        return true;
    }
    let mut skip_longer_matches = false;
    match_impl(pattern, text, &mut skip_longer_matches, 0)
}

/// True when the pattern has no glob special character, so it names one key.
pub fn is_literal(pattern: &[u8]) -> bool {
    !pattern
        .iter()
        .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
}

/// A port of Redis 7.0's `stringmatchlen_impl` (without `nocase`). Positions past
/// the end read as 0, like the C string terminator the original relies on.
fn match_impl(pattern: &[u8], text: &[u8], skip_longer_matches: &mut bool, nesting: usize) -> bool {
    // Protection against abusive patterns, as in Redis.
    if nesting > 1000 {
        return false;
    }
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let (mut p, mut t) = (0usize, 0usize);
    let (mut plen, mut tlen) = (pattern.len(), text.len());
    while plen > 0 && tlen > 0 {
        match at(p) {
            b'*' => {
                while plen > 0 && at(p + 1) == b'*' {
                    p += 1;
                    plen -= 1;
                }
                if plen == 1 {
                    return true;
                }
                while tlen > 0 {
                    if match_impl(
                        &pattern[p + 1..p + plen],
                        &text[t..t + tlen],
                        skip_longer_matches,
                        nesting + 1,
                    ) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    t += 1;
                    tlen -= 1;
                }
                // No match for the rest of the pattern from anywhere in the rest of
                // the text: earlier stars need not try longer matches either.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => {
                t += 1;
                tlen -= 1;
            }
            b'[' => {
                p += 1;
                plen = plen.saturating_sub(1);
                let negate = at(p) == b'^';
                if negate {
                    p += 1;
                    plen = plen.saturating_sub(1);
                }
                let mut matched = false;
                loop {
                    if at(p) == b'\\' && plen >= 2 {
                        p += 1;
                        plen -= 1;
                        if at(p) == text[t] {
                            matched = true;
                        }
                    } else if at(p) == b']' {
                        break;
                    } else if plen == 0 {
                        p = p.saturating_sub(1);
                        plen += 1;
                        break;
                    } else if plen >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (at(p), at(p + 2));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        p += 2;
                        plen -= 2;
                        if (start..=end).contains(&text[t]) {
                            matched = true;
                        }
                    } else if at(p) == text[t] {
                        matched = true;
                    }
                    p += 1;
                    plen = plen.saturating_sub(1);
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                t += 1;
                tlen -= 1;
            }
            byte => {
                let mut literal = byte;
                if byte == b'\\' && plen >= 2 {
                    p += 1;
                    plen -= 1;
                    literal = at(p);
                }
                if literal != text[t] {
                    return false;
                }
                t += 1;
                tlen -= 1;
            }
        }
        p += 1;
        plen = plen.saturating_sub(1);
        if tlen == 0 {
            while plen > 0 && at(p) == b'*' {
                p += 1;
                plen -= 1;
            }
            break;
        }
    }
    plen == 0 && tlen == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("*", "anything", true)]
    #[case("*", "", true)]
    #[case("user:*", "user:1", true)]
    #[case("user:*", "users:1", false)]
    #[case("*:1", "user:1", true)]
    #[case("h?llo", "hello", true)]
    #[case("h?llo", "hllo", false)]
    #[case("h*llo", "hllo", true)]
    #[case("h[ae]llo", "hallo", true)]
    #[case("h[ae]llo", "hillo", false)]
    #[case("h[^e]llo", "hallo", true)]
    #[case("h[^e]llo", "hello", false)]
    #[case("h[a-b]llo", "hbllo", true)]
    #[case("h[b-a]llo", "hallo", true)]
    #[case("h[a-b]llo", "hcllo", false)]
    #[case("h\\*llo", "h*llo", true)]
    #[case("h\\*llo", "hello", false)]
    #[case("a*b*c", "aXXbYYc", true)]
    #[case("a*b*c", "aXXbYY", false)]
    #[case("many:1?", "many:12", true)]
    #[case("many:1?", "many:1", false)]
    #[case("exact", "exact", true)]
    #[case("exact", "exactly", false)]
    #[case("", "", true)]
    #[case("", "a", false)]
    fn matches_like_redis(#[case] pattern: &str, #[case] text: &str, #[case] expected: bool) {
        assert_eq!(
            glob_match(pattern.as_bytes(), text.as_bytes()),
            expected,
            "{pattern} ~ {text}"
        );
    }

    #[test]
    fn binary_keys_and_pathological_patterns() {
        assert!(glob_match(b"k\xff*", b"k\xff\x00z"));
        let evil = "*a".repeat(40) + "b";
        assert!(!glob_match(evil.as_bytes(), "a".repeat(60).as_bytes()));
        assert!(is_literal(b"user:1"));
        assert!(!is_literal(b"user:*"));
        assert!(!is_literal(b"a\\b"));
    }
}
