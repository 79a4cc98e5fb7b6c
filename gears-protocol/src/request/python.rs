//! The Python runtime's commands: RG.PYSTATS, RG.PYDUMPREQS, RG.PYEXPORTREQ,
//! RG.PYIMPORTREQ, RG.PYPROFILE, RG.PYFREEINTERPRETER, RG.PYEXECUTEREMOTE and
//! RG.PYDUMPSESSIONS.
//!
//! Where RedisGears misbehaves, gears-rs refuses cleanly instead: `RG.PYPROFILE STATS`
//! without a session id (an out-of-bounds read upstream) is a wrong-arity call.

use super::{Argv, ParseError, Request};
use crate::commands::CommandName;

/// A parsed RG.PYPROFILE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PyProfile {
    /// `STATS <session> [order]`; the order defaults to `tottime`.
    Stats {
        /// The session id.
        session: Vec<u8>,
        /// The pstats sort key, if given.
        order: Option<Vec<u8>>,
    },
    /// `RESET <session>`
    Reset {
        /// The session id.
        session: Vec<u8>,
    },
}

/// A parsed RG.PYDUMPSESSIONS.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PyDumpSessions {
    /// Full requirement and registration dumps instead of names and ids.
    pub verbose: bool,
    /// Sessions that were unlinked but are not freed yet (`DEAD`, or the documented
    /// alias `TS`).
    pub dead: bool,
    /// Only these sessions (`SESSIONS s1 s2 ...`, which must come last).
    pub sessions: Option<Vec<Vec<u8>>>,
}

pub(super) fn parse(command: CommandName, argv: &Argv<'_>) -> Result<Request, ParseError> {
    match command {
        CommandName::PyStats => Ok(Request::PyStats),
        CommandName::PyDumpReqs => Ok(Request::PyDumpReqs),
        CommandName::PyFreeInterpreter => Ok(Request::PyFreeInterpreter),
        CommandName::PyExecuteRemote => Ok(Request::PyExecuteRemote),
        CommandName::PyExportReq => {
            argv.expect_argc(2, 2)?;
            Ok(Request::PyExportReq {
                name: argv.required(1)?.to_vec(),
            })
        }
        CommandName::PyImportReq => Ok(Request::PyImportReq {
            chunks: argv.from(1).iter().map(|c| c.to_vec()).collect(),
        }),
        CommandName::PyProfile => parse_profile(argv).map(Request::PyProfile),
        _ => parse_dump_sessions(argv).map(Request::PyDumpSessions),
    }
}

fn parse_profile(argv: &Argv<'_>) -> Result<PyProfile, ParseError> {
    if argv.argc() < 2 {
        return Err(argv.wrong_arity());
    }
    let subcommand = argv.required(1)?;
    if subcommand.eq_ignore_ascii_case(b"RESET") {
        argv.expect_argc(3, 3)?;
        Ok(PyProfile::Reset {
            session: argv.required(2)?.to_vec(),
        })
    } else if subcommand.eq_ignore_ascii_case(b"STATS") {
        argv.expect_argc(3, 4)?;
        Ok(PyProfile::Stats {
            session: argv.required(2)?.to_vec(),
            order: argv.at(3).map(<[u8]>::to_vec),
        })
    } else {
        Err(ParseError::PyProfileWrongSubcommand)
    }
}

fn parse_dump_sessions(argv: &Argv<'_>) -> Result<PyDumpSessions, ParseError> {
    let mut request = PyDumpSessions::default();
    let mut words = argv.from(1);
    while let Some(word) = words.first() {
        if word.eq_ignore_ascii_case(b"VERBOSE") {
            request.verbose = true;
        } else if word.eq_ignore_ascii_case(b"DEAD") || word.eq_ignore_ascii_case(b"TS") {
            request.dead = true;
        } else {
            break;
        }
        words = &words[1..];
    }
    if let Some(word) = words.first() {
        if !word.eq_ignore_ascii_case(b"SESSIONS") {
            return Err(ParseError::UnknownOption(word.to_vec()));
        }
        request.sessions = Some(words[1..].iter().map(|s| s.to_vec()).collect());
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(&["RG.PYSTATS", "x"], Request::PyStats)]
    #[case(&["RG.PYDUMPREQS"], Request::PyDumpReqs)]
    #[case(&["RG.PYFREEINTERPRETER"], Request::PyFreeInterpreter)]
    #[case(&["RG.PYEXECUTEREMOTE", "a", "b"], Request::PyExecuteRemote)]
    #[case(&["RG.PYEXPORTREQ", "redis"], Request::PyExportReq { name: b"redis".to_vec() })]
    #[case(&["RG.PYIMPORTREQ"], Request::PyImportReq { chunks: vec![] })]
    #[case(&["RG.PYIMPORTREQ", "a", "b"], Request::PyImportReq { chunks: vec![b"a".to_vec(), b"b".to_vec()] })]
    #[case(&["RG.PYPROFILE", "stats", "s1"], Request::PyProfile(PyProfile::Stats { session: b"s1".to_vec(), order: None }))]
    #[case(&["RG.PYPROFILE", "STATS", "s1", "cumtime"], Request::PyProfile(PyProfile::Stats { session: b"s1".to_vec(), order: Some(b"cumtime".to_vec()) }))]
    #[case(&["RG.PYPROFILE", "Reset", "s1"], Request::PyProfile(PyProfile::Reset { session: b"s1".to_vec() }))]
    fn valid_forms(#[case] words: &[&str], #[case] expected: Request) {
        assert_eq!(parse_words(words), Ok(expected));
    }

    #[rstest]
    #[case(&["RG.PYEXPORTREQ"], "ERR wrong number of arguments for 'rg.pyexportreq' command")]
    #[case(&["RG.PYEXPORTREQ", "a", "b"], "ERR wrong number of arguments for 'rg.pyexportreq' command")]
    #[case(&["RG.PYPROFILE"], "ERR wrong number of arguments for 'rg.pyprofile' command")]
    #[case(&["RG.PYPROFILE", "STATS"], "ERR wrong number of arguments for 'rg.pyprofile' command")]
    #[case(&["RG.PYPROFILE", "STATS", "s", "o", "x"], "ERR wrong number of arguments for 'rg.pyprofile' command")]
    #[case(&["RG.PYPROFILE", "RESET"], "ERR wrong number of arguments for 'rg.pyprofile' command")]
    #[case(&["RG.PYPROFILE", "RESET", "s", "x"], "ERR wrong number of arguments for 'rg.pyprofile' command")]
    #[case(&["RG.PYPROFILE", "nope"], "Wrong subcommand given to RG.PYPROFILE")]
    #[case(&["RG.PYPROFILE", "nope", "s"], "Wrong subcommand given to RG.PYPROFILE")]
    #[case(&["RG.PYDUMPSESSIONS", "FOO"], "Unknown option FOO")]
    #[case(&["RG.PYDUMPSESSIONS", "VERBOSE", "x", "SESSIONS"], "Unknown option x")]
    fn malformed_calls(#[case] words: &[&str], #[case] expected: &str) {
        assert_eq!(error_text(words), expected);
    }

    #[rstest]
    #[case(&["RG.PYDUMPSESSIONS"], PyDumpSessions::default())]
    #[case(&["RG.PYDUMPSESSIONS", "verbose"], PyDumpSessions { verbose: true, ..Default::default() })]
    #[case(&["RG.PYDUMPSESSIONS", "DEAD"], PyDumpSessions { dead: true, ..Default::default() })]
    #[case(&["RG.PYDUMPSESSIONS", "ts", "VERBOSE", "ts"], PyDumpSessions { dead: true, verbose: true, sessions: None })]
    #[case(&["RG.PYDUMPSESSIONS", "SESSIONS"], PyDumpSessions { sessions: Some(vec![]), ..Default::default() })]
    #[case(&["RG.PYDUMPSESSIONS", "VERBOSE", "SESSIONS", "test", "VERBOSE"], PyDumpSessions { verbose: true, dead: false, sessions: Some(vec![b"test".to_vec(), b"VERBOSE".to_vec()]) })]
    fn dump_sessions(#[case] words: &[&str], #[case] expected: PyDumpSessions) {
        assert_eq!(parse_words(words), Ok(Request::PyDumpSessions(expected)));
    }
}
