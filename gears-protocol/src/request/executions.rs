//! RG.GETRESULTS, RG.GETRESULTSBLOCKING, RG.GETEXECUTION, RG.DUMPEXECUTIONS,
//! RG.DROPEXECUTION and RG.ABORTEXECUTION.
//!
//! Arity follows RedisGears exactly: RG.GETRESULTS ignores extra arguments,
//! RG.DUMPEXECUTIONS ignores all of them, the others are strict. A malformed id is
//! not a parse error: the lookup simply finds nothing (see [`super::IdArg`]).

use super::{Argv, IdArg, ParseError, Request};
use crate::commands::CommandName;

/// Which view RG.GETEXECUTION asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetExecutionScope {
    /// `SHARD`: this shard's plan only.
    Shard,
    /// `CLUSTER`: every shard's plan.
    Cluster,
    /// Another word. RedisGears looks the id up first, so the handler answers
    /// `execution plan does not exist` before `unknown subcommand`.
    Unknown(Vec<u8>),
}

/// A parsed RG.GETEXECUTION.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetExecution {
    /// The execution.
    pub id: IdArg,
    /// The view; `None` means CLUSTER in cluster mode and SHARD otherwise.
    pub scope: Option<GetExecutionScope>,
}

pub(super) fn parse(command: CommandName, argv: &Argv<'_>) -> Result<Request, ParseError> {
    match command {
        CommandName::GetResults => {
            if argv.argc() < 2 {
                return Err(argv.wrong_arity());
            }
            Ok(Request::GetResults(IdArg::new(argv.required(1)?)))
        }
        CommandName::GetResultsBlocking => {
            argv.expect_argc(2, 2)?;
            Ok(Request::GetResultsBlocking(IdArg::new(argv.required(1)?)))
        }
        CommandName::GetExecution => {
            argv.expect_argc(2, 3)?;
            let scope = argv.at(2).map(|word| {
                if word.eq_ignore_ascii_case(b"SHARD") {
                    GetExecutionScope::Shard
                } else if word.eq_ignore_ascii_case(b"CLUSTER") {
                    GetExecutionScope::Cluster
                } else {
                    GetExecutionScope::Unknown(word.to_vec())
                }
            });
            Ok(Request::GetExecution(GetExecution {
                id: IdArg::new(argv.required(1)?),
                scope,
            }))
        }
        CommandName::DumpExecutions => Ok(Request::DumpExecutions),
        CommandName::DropExecution => {
            argv.expect_argc(2, 2)?;
            Ok(Request::DropExecution(IdArg::new(argv.required(1)?)))
        }
        _ => {
            argv.expect_argc(2, 2)?;
            Ok(Request::AbortExecution(IdArg::new(argv.required(1)?)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::ids::{GearsId, ShardId};
    use rstest::rstest;

    const ID: &str = "0000000000000000000000000000000000000000-4";

    fn id4() -> Option<GearsId> {
        Some(GearsId::new(ShardId::STANDALONE, 4))
    }

    #[rstest]
    #[case(&["RG.GETRESULTS", ID], Request::GetResults(IdArg::new(ID.as_bytes())))]
    #[case(&["RG.GETRESULTS", ID, "ignored", "too"], Request::GetResults(IdArg::new(ID.as_bytes())))]
    #[case(&["RG.GETRESULTSBLOCKING", ID], Request::GetResultsBlocking(IdArg::new(ID.as_bytes())))]
    #[case(&["RG.DROPEXECUTION", ID], Request::DropExecution(IdArg::new(ID.as_bytes())))]
    #[case(&["RG.ABORTEXECUTION", ID], Request::AbortExecution(IdArg::new(ID.as_bytes())))]
    #[case(&["RG.DUMPEXECUTIONS"], Request::DumpExecutions)]
    #[case(&["RG.DUMPEXECUTIONS", "anything", "else"], Request::DumpExecutions)]
    fn valid_forms(#[case] words: &[&str], #[case] expected: Request) {
        assert_eq!(parse_words(words), Ok(expected));
    }

    #[rstest]
    #[case(None, None)]
    #[case(Some("shard"), Some(GetExecutionScope::Shard))]
    #[case(Some("SHARD"), Some(GetExecutionScope::Shard))]
    #[case(Some("Cluster"), Some(GetExecutionScope::Cluster))]
    #[case(Some("bogus"), Some(GetExecutionScope::Unknown(b"bogus".to_vec())))]
    fn getexecution_scopes(#[case] word: Option<&str>, #[case] scope: Option<GetExecutionScope>) {
        let mut words = vec!["RG.GETEXECUTION", ID];
        words.extend(word);
        assert_eq!(
            parse_words(&words),
            Ok(Request::GetExecution(GetExecution {
                id: IdArg::new(ID.as_bytes()),
                scope
            }))
        );
    }

    #[test]
    fn ids_carry_what_a_lookup_finds() {
        assert_eq!(IdArg::new(ID.as_bytes()).id, id4());
        assert_eq!(IdArg::new(b"not-an-id").id, None);
        assert_eq!(IdArg::new(b"").id, None);
        assert_eq!(IdArg::new(&[0xff; 64]).id, None);
    }

    #[rstest]
    #[case(&["RG.GETRESULTS"])]
    #[case(&["RG.GETRESULTSBLOCKING"])]
    #[case(&["RG.GETRESULTSBLOCKING", ID, "x"])]
    #[case(&["RG.GETEXECUTION"])]
    #[case(&["RG.GETEXECUTION", ID, "SHARD", "x"])]
    #[case(&["RG.DROPEXECUTION"])]
    #[case(&["RG.DROPEXECUTION", ID, ID])]
    #[case(&["RG.ABORTEXECUTION"])]
    #[case(&["rg.abortexecution", ID, "x"])]
    fn wrong_arity(#[case] words: &[&str]) {
        assert_eq!(error_text(words), arity(words[0]));
    }
}
