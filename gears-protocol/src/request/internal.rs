//! Internal commands: RG.INNERREGISTER, RG.INNERUNREGISTER, RG.PYIMPORTRETINTERNAL
//! (sent by the replication stream and the AOF), RG.INNERHOOK (inserted by the
//! command filter) and RG.DUMPPLUGINS.
//!
//! RG.PYIMPORTRETINTERNAL answers a wrong argument count with its own text, not the
//! usual wrong-arity error, exactly as RedisGears does.

use super::registrations::parse_unregister;
use super::{Argv, ParseError, Request};
use crate::commands::CommandName;

pub(super) fn parse(command: CommandName, argv: &Argv<'_>) -> Result<Request, ParseError> {
    match command {
        CommandName::InnerRegister => {
            argv.expect_argc(2, 2)?;
            Ok(Request::InnerRegister {
                blob: argv.required(1)?.to_vec(),
            })
        }
        CommandName::InnerUnregister => {
            let (id, abort_pending) = parse_unregister(argv)?;
            Ok(Request::InnerUnregister { id, abort_pending })
        }
        CommandName::PyImportReqInternal => {
            if argv.argc() != 2 {
                return Err(ParseError::ImportRequirementInternalBadArguments);
            }
            Ok(Request::PyImportReqInternal {
                blob: argv.required(1)?.to_vec(),
            })
        }
        CommandName::InnerHook => {
            if argv.argc() < 2 {
                return Err(argv.wrong_arity());
            }
            Ok(Request::InnerHook {
                argv: argv.from(1).iter().map(|a| a.to_vec()).collect(),
            })
        }
        _ => Ok(Request::DumpPlugins),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::IdArg;
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(&["RG.INNERREGISTER", "blob"], Request::InnerRegister { blob: b"blob".to_vec() })]
    #[case(&["RG.INNERUNREGISTER", "x", "ABORTPENDING"], Request::InnerUnregister { id: IdArg::new(b"x"), abort_pending: true })]
    #[case(&["RG.PYIMPORTRETINTERNAL", "blob"], Request::PyImportReqInternal { blob: b"blob".to_vec() })]
    #[case(&["RG.INNERHOOK", "hset", "k", "f", "v"], Request::InnerHook { argv: vec![b"hset".to_vec(), b"k".to_vec(), b"f".to_vec(), b"v".to_vec()] })]
    #[case(&["RG.DUMPPLUGINS", "x"], Request::DumpPlugins)]
    fn valid_forms(#[case] words: &[&str], #[case] expected: Request) {
        assert_eq!(parse_words(words), Ok(expected));
    }

    #[rstest]
    #[case(&["RG.INNERREGISTER"], "ERR wrong number of arguments for 'RG.INNERREGISTER' command")]
    #[case(&["RG.INNERREGISTER", "a", "b"], "ERR wrong number of arguments for 'RG.INNERREGISTER' command")]
    #[case(&["RG.INNERUNREGISTER"], "ERR wrong number of arguments for 'RG.INNERUNREGISTER' command")]
    #[case(&["RG.INNERHOOK"], "ERR wrong number of arguments for 'RG.INNERHOOK' command")]
    #[case(&["RG.PYIMPORTRETINTERNAL"], "On RedisGearsPy_ImportRequirementInternal, got bad arguments")]
    #[case(&["RG.PYIMPORTRETINTERNAL", "a", "b"], "On RedisGearsPy_ImportRequirementInternal, got bad arguments")]
    fn malformed_calls(#[case] words: &[&str], #[case] expected: &str) {
        assert_eq!(error_text(words), expected);
    }
}
