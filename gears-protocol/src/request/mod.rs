//! Typed requests: the argv of every `RG.*` command, parsed.
//!
//! [`Request::parse`] takes the argv as the server received it (argv\[0] is the
//! command name as the client typed it) and returns the typed request, or a
//! [`ParseError`] whose [`ParseError::reply`] is the exact error RedisGears 1.2 sends
//! for that malformed call. Checks that need server state (an id that does not exist,
//! a session that already exists, MULTI) belong to the handlers; ids are therefore
//! carried as [`IdArg`], which keeps the text as typed and what a lookup would find.
//!
//! One file per command family: [`pyexecute`], [`executions`], [`registrations`],
//! [`triggers`], [`config`], [`python`], [`cluster`], [`internal`].
//!
//! ```
//! use gears_protocol::request::{Request, ParseError};
//!
//! let request = Request::parse(&[b"RG.CONFIGGET".as_slice(), b"MaxExecutions"]).unwrap();
//! assert!(matches!(request, Request::ConfigGet(_)));
//!
//! let error = Request::parse(&[b"RG.GETRESULTSBLOCKING".as_slice()]).unwrap_err();
//! assert_eq!(
//!     error.reply().to_string(),
//!     "-ERR wrong number of arguments for 'rg.getresultsblocking' command"
//! );
//! ```

pub mod cluster;
pub mod config;
pub mod executions;
pub mod internal;
pub mod pyexecute;
pub mod python;
pub mod registrations;
pub mod triggers;

use crate::commands::CommandName;
use crate::errors;
use crate::ids::GearsId;
use crate::reply::Reply;

pub use cluster::{ClusterRange, ClusterSet, InnerMessage};
pub use config::{ConfigGet, ConfigSet};
pub use executions::{GetExecution, GetExecutionScope};
pub use pyexecute::PyExecute;
pub use python::{PyDumpSessions, PyProfile};
pub use registrations::PauseRegistrations;
pub use triggers::Trigger;

/// An execution or registration id as the client typed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdArg {
    /// The bytes as typed (echoed in some error texts).
    pub raw: Vec<u8>,
    /// What a lookup finds with it; `None` when no id can match (malformed).
    pub id: Option<GearsId>,
}

impl IdArg {
    /// Wraps one argument.
    pub fn new(raw: &[u8]) -> IdArg {
        IdArg {
            raw: raw.to_vec(),
            id: GearsId::lookup(raw),
        }
    }
}

/// Every `RG.*` command of RedisGears 1.2, public and internal, parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `RG.PYEXECUTE <script> [options]`
    PyExecute(PyExecute),
    /// `RG.GETRESULTS <id>` (extra arguments are ignored, as in RedisGears).
    GetResults(IdArg),
    /// `RG.GETRESULTSBLOCKING <id>`
    GetResultsBlocking(IdArg),
    /// `RG.GETEXECUTION <id> [SHARD|CLUSTER]`
    GetExecution(GetExecution),
    /// `RG.DUMPEXECUTIONS`
    DumpExecutions,
    /// `RG.DROPEXECUTION <id>`
    DropExecution(IdArg),
    /// `RG.ABORTEXECUTION <id>`
    AbortExecution(IdArg),
    /// `RG.DUMPREGISTRATIONS`
    DumpRegistrations,
    /// `RG.UNREGISTER <id> [abortpending]`
    Unregister {
        /// The registration.
        id: IdArg,
        /// Abort its pending local executions too.
        abort_pending: bool,
    },
    /// `RG.PAUSEREGISTRATIONS <id>`
    PauseRegistrations(PauseRegistrations),
    /// `RG.UNPAUSEREGISTRATIONS <id>`
    UnpauseRegistrations(PauseRegistrations),
    /// `RG.CLEARREGISTRATIONSSTATS`
    ClearRegistrationsStats,
    /// `RG.TRIGGER <name> [args...]` and `RG.TRIGGERONKEY <name> <key> [args...]`
    Trigger(Trigger),
    /// `RG.CONFIGGET <key> [...]`
    ConfigGet(ConfigGet),
    /// `RG.CONFIGSET <key> <value> [...]`
    ConfigSet(ConfigSet),
    /// `RG.INFOCLUSTER`
    InfoCluster,
    /// `RG.REFRESHCLUSTER`
    RefreshCluster,
    /// `RG.CLUSTERSET ...` (always applied)
    ClusterSet(ClusterSet),
    /// `RG.CLUSTERSETFROMSHARD ...` (applied only when no topology is known)
    ClusterSetFromShard(ClusterSet),
    /// `RG.HELLO`
    Hello,
    /// `RG.INNERMSGCOMMAND <sender> <run id> <function> <payload> <msg id>`
    InnerMsgCommand(InnerMessage),
    /// `RG.NETWORKTEST`
    NetworkTest,
    /// `RG.DUMPPLUGINS`
    DumpPlugins,
    /// `RG.PYSTATS`
    PyStats,
    /// `RG.PYDUMPREQS`
    PyDumpReqs,
    /// `RG.PYEXPORTREQ <name>`
    PyExportReq {
        /// The requirement name, exact.
        name: Vec<u8>,
    },
    /// `RG.PYIMPORTREQ <chunk> [chunk ...]` (chunks are concatenated)
    PyImportReq {
        /// The serialized requirement, in pieces.
        chunks: Vec<Vec<u8>>,
    },
    /// `RG.PYIMPORTRETINTERNAL <blob>` (replication and AOF only)
    PyImportReqInternal {
        /// The serialized requirement.
        blob: Vec<u8>,
    },
    /// `RG.PYPROFILE STATS|RESET <session> [order]`
    PyProfile(PyProfile),
    /// `RG.PYFREEINTERPRETER` (no longer supported; answers a notice)
    PyFreeInterpreter,
    /// `RG.PYEXECUTEREMOTE` (no longer supported; answers a notice)
    PyExecuteRemote,
    /// `RG.PYDUMPSESSIONS [VERBOSE] [DEAD|TS] [SESSIONS s ...]`
    PyDumpSessions(PyDumpSessions),
    /// `RG.INNERREGISTER <blob>` (replication and AOF only)
    InnerRegister {
        /// The serialized session and its registrations.
        blob: Vec<u8>,
    },
    /// `RG.INNERUNREGISTER <id> [abortpending]` (replication and AOF only)
    InnerUnregister {
        /// The registration.
        id: IdArg,
        /// Abort its pending local executions too.
        abort_pending: bool,
    },
    /// `RG.INNERHOOK <command> [args...]` (inserted by the command filter)
    InnerHook {
        /// The hooked command's argv, command name first.
        argv: Vec<Vec<u8>>,
    },
}

/// A malformed call, and the exact reply RedisGears sends for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Wrong number of arguments; carries the command name as registered.
    WrongArity(Vec<u8>),
    /// argv\[0] is not an `RG.*` command.
    UnknownCommand(Vec<u8>),
    /// RG.PYEXECUTE: a word that is neither an option nor REQUIREMENTS.
    UnknownArguments(Vec<u8>),
    /// RG.PYEXECUTE: `ID` without a value.
    IdIsMissing,
    /// RG.PYEXECUTE: `DESCRIPTION` without a value.
    DescriptionIsMissing,
    /// RG.PYEXECUTE: `REPLACE_WITH` without a value.
    ReplaceWithIsMissing,
    /// RG.PYEXECUTE: a session id outside `[A-Za-z0-9_-]`.
    IdBadCharacters,
    /// RG.PAUSEREGISTRATIONS / RG.UNPAUSEREGISTRATIONS without an id.
    NoRegistrationToPause,
    /// RG.PYPROFILE with a subcommand other than STATS or RESET.
    PyProfileWrongSubcommand,
    /// RG.PYDUMPSESSIONS with a word that is not an option.
    UnknownOption(Vec<u8>),
    /// RG.PYIMPORTRETINTERNAL with other than one argument.
    ImportRequirementInternalBadArguments,
    /// RG.CLUSTERSET / RG.CLUSTERSETFROMSHARD arguments that do not parse.
    CouldNotParseClusterSet,
}

impl ParseError {
    /// The error reply for this malformed call.
    pub fn reply(&self) -> Reply {
        match self {
            ParseError::WrongArity(command) => errors::wrong_arity(command),
            ParseError::UnknownCommand(command) => errors::unknown_command(command),
            ParseError::UnknownArguments(word) => errors::unknown_arguments(word),
            ParseError::IdIsMissing => errors::id_is_missing(),
            ParseError::DescriptionIsMissing => errors::description_is_missing(),
            ParseError::ReplaceWithIsMissing => errors::replace_with_is_missing(),
            ParseError::IdBadCharacters => errors::id_bad_characters(),
            ParseError::NoRegistrationToPause => errors::no_registration_to_pause(),
            ParseError::PyProfileWrongSubcommand => errors::pyprofile_wrong_subcommand(),
            ParseError::UnknownOption(word) => errors::unknown_option(word),
            ParseError::ImportRequirementInternalBadArguments => {
                errors::import_requirement_internal_bad_arguments()
            }
            ParseError::CouldNotParseClusterSet => errors::could_not_parse_cluster_set(),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reply() {
            Reply::Error(text) => f.write_str(&text),
            other => write!(f, "{other}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The argv of one command: argv\[0] is the name as typed.
pub(crate) struct Argv<'a> {
    args: Vec<&'a [u8]>,
    command: Option<CommandName>,
}

impl<'a> Argv<'a> {
    fn new<A: AsRef<[u8]>>(argv: &'a [A]) -> Argv<'a> {
        let args: Vec<&[u8]> = argv.iter().map(AsRef::as_ref).collect();
        let command = args.first().and_then(|name| CommandName::from_bytes(name));
        Argv { args, command }
    }

    /// Number of arguments including the command name (Redis' argc).
    pub(crate) fn argc(&self) -> usize {
        self.args.len()
    }

    /// The argument at `index` (argv\[0] is the command name).
    pub(crate) fn at(&self, index: usize) -> Option<&'a [u8]> {
        self.args.get(index).copied()
    }

    /// The arguments from `index` on.
    pub(crate) fn from(&self, index: usize) -> &[&'a [u8]] {
        self.args.get(index..).unwrap_or_default()
    }

    /// The wrong-arity error for this command. Redis 7 names the command as it was
    /// registered (`rg.getresults`), whatever case the client typed.
    pub(crate) fn wrong_arity(&self) -> ParseError {
        let name = match self.command {
            Some(command) => command.spec().name.as_bytes(),
            None => self.at(0).unwrap_or_default(),
        };
        ParseError::WrongArity(name.to_vec())
    }

    /// Fails with wrong arity unless `min <= argc <= max`.
    pub(crate) fn expect_argc(&self, min: usize, max: usize) -> Result<(), ParseError> {
        if self.argc() < min || self.argc() > max {
            Err(self.wrong_arity())
        } else {
            Ok(())
        }
    }

    /// The argument at `index`, which [`Argv::expect_argc`] made sure exists.
    pub(crate) fn required(&self, index: usize) -> Result<&'a [u8], ParseError> {
        self.at(index).ok_or_else(|| self.wrong_arity())
    }
}

impl Request {
    /// Parses the argv of one `RG.*` command.
    pub fn parse<A: AsRef<[u8]>>(argv: &[A]) -> Result<Request, ParseError> {
        let argv = Argv::new(argv);
        let Some(command) = argv.command else {
            return Err(ParseError::UnknownCommand(
                argv.at(0).unwrap_or_default().to_vec(),
            ));
        };
        use CommandName as C;
        match command {
            C::PyExecute => pyexecute::parse(&argv).map(Request::PyExecute),
            C::GetResults
            | C::GetResultsBlocking
            | C::GetExecution
            | C::DumpExecutions
            | C::DropExecution
            | C::AbortExecution => executions::parse(command, &argv),
            C::DumpRegistrations
            | C::Unregister
            | C::PauseRegistrations
            | C::UnpauseRegistrations
            | C::ClearRegistrationsStats => registrations::parse(command, &argv),
            C::Trigger | C::TriggerOnKey => triggers::parse(command, &argv).map(Request::Trigger),
            C::ConfigGet | C::ConfigSet => config::parse(command, &argv),
            C::InfoCluster
            | C::RefreshCluster
            | C::ClusterSet
            | C::ClusterSetFromShard
            | C::Hello
            | C::InnerMsgCommand
            | C::NetworkTest => cluster::parse(command, &argv),
            C::PyStats
            | C::PyDumpReqs
            | C::PyExportReq
            | C::PyImportReq
            | C::PyProfile
            | C::PyFreeInterpreter
            | C::PyExecuteRemote
            | C::PyDumpSessions => python::parse(command, &argv),
            C::InnerRegister
            | C::InnerUnregister
            | C::PyImportReqInternal
            | C::InnerHook
            | C::DumpPlugins => internal::parse(command, &argv),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers for the per-family parser tests.
    use super::*;

    /// Parses a command given as words.
    pub fn parse_words(words: &[&str]) -> Result<Request, ParseError> {
        Request::parse(words)
    }

    /// The error text a malformed call gets.
    pub fn error_text(words: &[&str]) -> String {
        match parse_words(words) {
            Ok(request) => panic!("{words:?} parsed as {request:?}"),
            Err(error) => error.to_string(),
        }
    }

    /// The wrong-arity text for a command, whatever case it was typed in.
    pub fn arity(command: &str) -> String {
        let name = CommandName::from_bytes(command.as_bytes()).map_or(command, |c| c.spec().name);
        format!("ERR wrong number of arguments for '{name}' command")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn unknown_commands_are_refused() {
        assert_eq!(
            error_text(&["RG.NOSUCH"]),
            "ERR unknown command 'RG.NOSUCH'"
        );
        assert_eq!(
            Request::parse::<&[u8]>(&[]),
            Err(ParseError::UnknownCommand(Vec::new()))
        );
    }

    #[test]
    fn command_names_are_case_insensitive_and_errors_echo_them_as_typed() {
        assert_eq!(
            parse_words(&["rG.dUmPeXeCuTiOnS"]),
            Ok(Request::DumpExecutions)
        );
        assert_eq!(
            error_text(&["Rg.DropExecution"]),
            "ERR wrong number of arguments for 'rg.dropexecution' command"
        );
    }

    /// Every command, with every argument count up to 12 and odd argument bytes,
    /// parses to a request or to an error reply; nothing panics.
    #[test]
    fn every_command_survives_odd_arguments() {
        let odd: [&[u8]; 6] = [
            b"",
            b"\xff\xfe",
            b"\x00",
            b"-1",
            b"99999999999999999999999",
            b"SESSIONS",
        ];
        for spec in crate::commands::COMMANDS {
            for argc in 0..12 {
                for filler in odd {
                    let mut argv: Vec<&[u8]> = vec![spec.name.as_bytes()];
                    argv.extend(std::iter::repeat_n(filler, argc));
                    match Request::parse(&argv) {
                        Ok(_) => {}
                        Err(error) => assert!(error.reply().is_error(), "{}: {error:?}", spec.name),
                    }
                }
            }
            let huge: Vec<Vec<u8>> = std::iter::once(spec.name.as_bytes().to_vec())
                .chain((0..100_000).map(|i| i.to_string().into_bytes()))
                .collect();
            let _ = Request::parse(&huge);
        }
    }

    #[test]
    fn non_utf8_command_names_do_not_panic() {
        assert!(matches!(
            Request::parse(&[b"RG.\xff".as_slice()]),
            Err(ParseError::UnknownCommand(_))
        ));
    }
}
