//! `RG.PYEXECUTE <script> [UNBLOCKING] [ID id] [DESCRIPTION d] [UPGRADE]
//! [REPLACE_WITH id] [FORCE_REINSTALL_REQUIREMENTS] [REQUIREMENTS r ...]`
//!
//! Options follow the script in any order, case-insensitively, and may repeat (the
//! last value wins). The first word that is not an option ends them; it must be
//! `REQUIREMENTS`, and every word after it is a requirement (none is fine).

use super::{Argv, ParseError};

/// A parsed RG.PYEXECUTE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PyExecute {
    /// The Python source, as sent (Python decodes it as UTF-8).
    pub script: Vec<u8>,
    /// Reply with the execution id instead of waiting for the results.
    pub unblocking: bool,
    /// The session id (`[A-Za-z0-9_-]*`); a random one when absent.
    pub id: Option<String>,
    /// The session description.
    pub description: Option<Vec<u8>>,
    /// Replace an existing session with the same id.
    pub upgrade: bool,
    /// The session this one replaces (implies upgrade of that session).
    pub replace_with: Option<Vec<u8>>,
    /// Reinstall every requirement even if installed.
    pub force_reinstall_requirements: bool,
    /// Requirements to install before running the script, as given.
    pub requirements: Vec<Vec<u8>>,
}

/// Whether a session id is made of `[A-Za-z0-9_-]` only (an empty id passes, as in
/// RedisGears).
pub fn is_valid_session_id(id: &[u8]) -> bool {
    id.iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

pub(super) fn parse(argv: &Argv<'_>) -> Result<PyExecute, ParseError> {
    if argv.argc() < 2 {
        return Err(argv.wrong_arity());
    }
    let mut request = PyExecute {
        script: argv.required(1)?.to_vec(),
        ..PyExecute::default()
    };
    let rest = argv.from(2);
    let mut index = 0;
    while let Some(word) = rest.get(index) {
        let value = rest.get(index + 1).copied();
        let word_is = |name: &str| word.eq_ignore_ascii_case(name.as_bytes());
        if word_is("UNBLOCKING") {
            request.unblocking = true;
        } else if word_is("UPGRADE") {
            request.upgrade = true;
        } else if word_is("FORCE_REINSTALL_REQUIREMENTS") {
            request.force_reinstall_requirements = true;
        } else if word_is("ID") {
            let id = value.ok_or(ParseError::IdIsMissing)?;
            if !is_valid_session_id(id) {
                return Err(ParseError::IdBadCharacters);
            }
            // Only ASCII passes the check above, so this conversion is lossless.
            request.id = Some(String::from_utf8_lossy(id).into_owned());
            index += 1;
        } else if word_is("DESCRIPTION") {
            request.description = Some(value.ok_or(ParseError::DescriptionIsMissing)?.to_vec());
            index += 1;
        } else if word_is("REPLACE_WITH") {
            request.replace_with = Some(value.ok_or(ParseError::ReplaceWithIsMissing)?.to_vec());
            index += 1;
        } else {
            break;
        }
        index += 1;
    }
    if let Some(word) = rest.get(index) {
        if !word.eq_ignore_ascii_case(b"REQUIREMENTS") {
            return Err(ParseError::UnknownArguments(word.to_vec()));
        }
        request.requirements = rest[index + 1..].iter().map(|r| r.to_vec()).collect();
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Request;
    use super::*;
    use rstest::rstest;

    fn pyexecute(words: &[&str]) -> PyExecute {
        match parse_words(words) {
            Ok(Request::PyExecute(request)) => request,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    #[test]
    fn script_alone() {
        assert_eq!(
            pyexecute(&["RG.PYEXECUTE", "GB().run()"]),
            PyExecute {
                script: b"GB().run()".to_vec(),
                ..PyExecute::default()
            }
        );
    }

    #[test]
    fn every_option_in_any_order_and_case() {
        let request = pyexecute(&[
            "RG.PYEXECUTE",
            "s",
            "upgrade",
            "Id",
            "my_session-1",
            "DESCRIPTION",
            "my desc",
            "unblocking",
            "REPLACE_WITH",
            "old",
            "force_reinstall_requirements",
            "requirements",
            "redis==4.0",
            "numpy",
        ]);
        assert!(request.unblocking && request.upgrade && request.force_reinstall_requirements);
        assert_eq!(request.id.as_deref(), Some("my_session-1"));
        assert_eq!(request.description.as_deref(), Some(b"my desc".as_slice()));
        assert_eq!(request.replace_with.as_deref(), Some(b"old".as_slice()));
        assert_eq!(
            request.requirements,
            vec![b"redis==4.0".to_vec(), b"numpy".to_vec()]
        );
    }

    #[test]
    fn repeated_options_keep_the_last_value_and_requirements_may_be_empty() {
        let request = pyexecute(&["RG.PYEXECUTE", "s", "ID", "a", "ID", "b", "REQUIREMENTS"]);
        assert_eq!(request.id.as_deref(), Some("b"));
        assert!(request.requirements.is_empty());
    }

    #[test]
    fn words_after_requirements_are_requirements_even_if_they_look_like_options() {
        let request = pyexecute(&["RG.PYEXECUTE", "s", "REQUIREMENTS", "UNBLOCKING", "ID"]);
        assert!(!request.unblocking);
        assert_eq!(
            request.requirements,
            vec![b"UNBLOCKING".to_vec(), b"ID".to_vec()]
        );
    }

    #[test]
    fn an_empty_id_is_accepted_like_redisgears() {
        assert_eq!(
            pyexecute(&["RG.PYEXECUTE", "s", "ID", ""]).id.as_deref(),
            Some("")
        );
    }

    #[rstest]
    #[case(&["RG.PYEXECUTE"], "ERR wrong number of arguments for 'rg.pyexecute' command")]
    #[case(&["rg.pyexecute"], "ERR wrong number of arguments for 'rg.pyexecute' command")]
    #[case(&["RG.PYEXECUTE", "s", "NOSUCH"], "Unknown arguments were given: NOSUCH")]
    #[case(&["RG.PYEXECUTE", "s", "UNBLOCKING", "extra", "REQUIREMENTS"], "Unknown arguments were given: extra")]
    #[case(&["RG.PYEXECUTE", "s", "ID"], "ID is missing")]
    #[case(&["RG.PYEXECUTE", "s", "DESCRIPTION"], "DESCRIPTION is missing")]
    #[case(&["RG.PYEXECUTE", "s", "REPLACE_WITH"], "REPLACE_WITH is missing")]
    #[case(&["RG.PYEXECUTE", "s", "ID", "bad id"], "ID must be compose of: ['A'-'Z' | 'a'-'z' | '0' - '9' | '-' | '_']")]
    #[case(&["RG.PYEXECUTE", "s", "ID", "a.b"], "ID must be compose of: ['A'-'Z' | 'a'-'z' | '0' - '9' | '-' | '_']")]
    fn malformed_calls(#[case] words: &[&str], #[case] expected: &str) {
        assert_eq!(error_text(words), expected);
    }

    #[test]
    fn odd_bytes() {
        let request = Request::parse(&[
            b"RG.PYEXECUTE".as_slice(),
            b"\xff\x00",
            b"DESCRIPTION",
            b"\xfe",
        ]);
        match request {
            Ok(Request::PyExecute(request)) => {
                assert_eq!(request.script, b"\xff\x00".to_vec());
                assert_eq!(request.description, Some(b"\xfe".to_vec()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Request::parse(&[b"RG.PYEXECUTE".as_slice(), b"s", b"ID", b"\xff"])
                .map_err(|e| e.to_string()),
            Err("ID must be compose of: ['A'-'Z' | 'a'-'z' | '0' - '9' | '-' | '_']".to_owned())
        );
        assert_eq!(
            Request::parse(&[b"RG.PYEXECUTE".as_slice(), b"s", b"\xff"]).map_err(|e| e.to_string()),
            Err("Unknown arguments were given: \u{fffd}".to_owned())
        );
    }

    #[test]
    fn thousands_of_requirements() {
        let mut words = vec![
            "RG.PYEXECUTE".to_owned(),
            "s".to_owned(),
            "REQUIREMENTS".to_owned(),
        ];
        words.extend((0..5000).map(|i| format!("pkg{i}")));
        match Request::parse(&words) {
            Ok(Request::PyExecute(request)) => assert_eq!(request.requirements.len(), 5000),
            other => panic!("{other:?}"),
        }
    }
}
