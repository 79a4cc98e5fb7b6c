//! RG.DUMPREGISTRATIONS, RG.UNREGISTER, RG.PAUSEREGISTRATIONS,
//! RG.UNPAUSEREGISTRATIONS and RG.CLEARREGISTRATIONSSTATS.
//!
//! RedisGears' pause and unpause take exactly one argument (the reference's "list of
//! ids" is DOC≠CODE): `RG.PAUSEREGISTRATIONS ABORTPENDING` alone is "no registration
//! to pause", and `ABORTPENDING <id>` is a wrong-arity call.

use super::{Argv, IdArg, ParseError, Request};
use crate::commands::CommandName;

/// A parsed RG.PAUSEREGISTRATIONS or RG.UNPAUSEREGISTRATIONS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseRegistrations {
    /// Abort the registrations' pending executions (pause only).
    pub abort_pending: bool,
    /// The registrations; never empty.
    pub ids: Vec<IdArg>,
}

pub(super) fn parse(command: CommandName, argv: &Argv<'_>) -> Result<Request, ParseError> {
    match command {
        CommandName::DumpRegistrations => Ok(Request::DumpRegistrations),
        CommandName::Unregister => {
            let (id, abort_pending) = parse_unregister(argv)?;
            Ok(Request::Unregister { id, abort_pending })
        }
        CommandName::PauseRegistrations | CommandName::UnpauseRegistrations => {
            argv.expect_argc(2, 2)?;
            let pausing = command == CommandName::PauseRegistrations;
            let mut words = argv.from(1);
            let mut abort_pending = false;
            while pausing
                && words
                    .first()
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"ABORTPENDING"))
            {
                abort_pending = true;
                words = &words[1..];
            }
            if words.is_empty() {
                return Err(ParseError::NoRegistrationToPause);
            }
            let request = PauseRegistrations {
                abort_pending,
                ids: words.iter().map(|w| IdArg::new(w)).collect(),
            };
            Ok(if pausing {
                Request::PauseRegistrations(request)
            } else {
                Request::UnpauseRegistrations(request)
            })
        }
        _ => {
            argv.expect_argc(1, 1)?;
            Ok(Request::ClearRegistrationsStats)
        }
    }
}

/// `<id> [abortpending]`, shared with RG.INNERUNREGISTER. A second word other than
/// `abortpending` is ignored, as in RedisGears.
pub(super) fn parse_unregister(argv: &Argv<'_>) -> Result<(IdArg, bool), ParseError> {
    argv.expect_argc(2, 3)?;
    let abort_pending = argv
        .at(2)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"abortpending"));
    Ok((IdArg::new(argv.required(1)?), abort_pending))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use rstest::rstest;

    const ID: &str = "0000000000000000000000000000000000000000-1";

    fn id() -> IdArg {
        IdArg::new(ID.as_bytes())
    }

    #[rstest]
    #[case(&["RG.DUMPREGISTRATIONS"], Request::DumpRegistrations)]
    #[case(&["RG.DUMPREGISTRATIONS", "x"], Request::DumpRegistrations)]
    #[case(&["RG.UNREGISTER", ID], Request::Unregister { id: id(), abort_pending: false })]
    #[case(&["RG.UNREGISTER", ID, "AbortPending"], Request::Unregister { id: id(), abort_pending: true })]
    #[case(&["RG.UNREGISTER", ID, "whatever"], Request::Unregister { id: id(), abort_pending: false })]
    #[case(&["RG.PAUSEREGISTRATIONS", ID], Request::PauseRegistrations(PauseRegistrations { abort_pending: false, ids: vec![id()] }))]
    #[case(&["RG.UNPAUSEREGISTRATIONS", ID], Request::UnpauseRegistrations(PauseRegistrations { abort_pending: false, ids: vec![id()] }))]
    #[case(&["RG.UNPAUSEREGISTRATIONS", "abortpending"], Request::UnpauseRegistrations(PauseRegistrations { abort_pending: false, ids: vec![IdArg::new(b"abortpending")] }))]
    #[case(&["RG.CLEARREGISTRATIONSSTATS"], Request::ClearRegistrationsStats)]
    fn valid_forms(#[case] words: &[&str], #[case] expected: Request) {
        assert_eq!(parse_words(words), Ok(expected));
    }

    #[rstest]
    #[case(&["RG.PAUSEREGISTRATIONS", "ABORTPENDING"], "ERR no registration to pause")]
    #[case(&["RG.PAUSEREGISTRATIONS", "abortPending"], "ERR no registration to pause")]
    #[case(&["RG.PAUSEREGISTRATIONS"], "ERR wrong number of arguments for 'rg.pauseregistrations' command")]
    #[case(&["RG.PAUSEREGISTRATIONS", "ABORTPENDING", ID], "ERR wrong number of arguments for 'rg.pauseregistrations' command")]
    #[case(&["RG.UNPAUSEREGISTRATIONS", ID, ID], "ERR wrong number of arguments for 'rg.unpauseregistrations' command")]
    #[case(&["RG.UNREGISTER"], "ERR wrong number of arguments for 'rg.unregister' command")]
    #[case(&["RG.UNREGISTER", ID, "abortpending", "x"], "ERR wrong number of arguments for 'rg.unregister' command")]
    #[case(&["RG.CLEARREGISTRATIONSSTATS", "x"], "ERR wrong number of arguments for 'rg.clearregistrationsstats' command")]
    fn malformed_calls(#[case] words: &[&str], #[case] expected: &str) {
        assert_eq!(error_text(words), expected);
    }
}
