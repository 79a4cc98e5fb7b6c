//! The command table: every `RG.*` command with the name, flags and key positions
//! RedisGears 1.2 registers it with (behaviour.md §8).
//!
//! All commands are `readonly` with no keys, except RG.TRIGGERONKEY (its key is
//! argument 2, for cluster routing), RG.CLUSTERSET / RG.CLUSTERSETFROMSHARD (step
//! -1, as upstream) and RG.INNERHOOK / RG.TRIGGER (`getkeys-api`, so hooked commands
//! keep their keys).

/// Every command, public and internal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandName {
    /// RG.PYEXECUTE
    PyExecute,
    /// RG.GETRESULTS
    GetResults,
    /// RG.GETRESULTSBLOCKING
    GetResultsBlocking,
    /// RG.GETEXECUTION
    GetExecution,
    /// RG.DUMPEXECUTIONS
    DumpExecutions,
    /// RG.DROPEXECUTION
    DropExecution,
    /// RG.ABORTEXECUTION
    AbortExecution,
    /// RG.DUMPREGISTRATIONS
    DumpRegistrations,
    /// RG.UNREGISTER
    Unregister,
    /// RG.PAUSEREGISTRATIONS
    PauseRegistrations,
    /// RG.UNPAUSEREGISTRATIONS
    UnpauseRegistrations,
    /// RG.CLEARREGISTRATIONSSTATS
    ClearRegistrationsStats,
    /// RG.TRIGGER
    Trigger,
    /// RG.TRIGGERONKEY
    TriggerOnKey,
    /// RG.CONFIGGET
    ConfigGet,
    /// RG.CONFIGSET
    ConfigSet,
    /// RG.INFOCLUSTER
    InfoCluster,
    /// RG.REFRESHCLUSTER
    RefreshCluster,
    /// RG.CLUSTERSET
    ClusterSet,
    /// RG.CLUSTERSETFROMSHARD
    ClusterSetFromShard,
    /// RG.HELLO
    Hello,
    /// RG.INNERMSGCOMMAND
    InnerMsgCommand,
    /// RG.NETWORKTEST
    NetworkTest,
    /// RG.DUMPPLUGINS
    DumpPlugins,
    /// RG.PYSTATS
    PyStats,
    /// RG.PYDUMPREQS
    PyDumpReqs,
    /// RG.PYEXPORTREQ
    PyExportReq,
    /// RG.PYIMPORTREQ
    PyImportReq,
    /// RG.PYIMPORTRETINTERNAL
    PyImportReqInternal,
    /// RG.PYPROFILE
    PyProfile,
    /// RG.PYFREEINTERPRETER
    PyFreeInterpreter,
    /// RG.PYEXECUTEREMOTE
    PyExecuteRemote,
    /// RG.PYDUMPSESSIONS
    PyDumpSessions,
    /// RG.INNERREGISTER
    InnerRegister,
    /// RG.INNERUNREGISTER
    InnerUnregister,
    /// RG.INNERHOOK
    InnerHook,
}

/// How a command is registered with Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Which command.
    pub command: CommandName,
    /// The name it is registered under (Redis matches names case-insensitively).
    pub name: &'static str,
    /// The command flags string for `RedisModule_CreateCommand`.
    pub flags: &'static str,
    /// First key position (0: no keys).
    pub first_key: i32,
    /// Last key position.
    pub last_key: i32,
    /// Key step.
    pub key_step: i32,
    /// True for commands only the module itself, the replication stream or other
    /// shards send.
    pub internal: bool,
}

const fn spec(command: CommandName, name: &'static str, internal: bool) -> CommandSpec {
    CommandSpec {
        command,
        name,
        flags: "readonly",
        first_key: 0,
        last_key: 0,
        key_step: 0,
        internal,
    }
}

/// Every command of RedisGears 1.2, in registration order.
pub const COMMANDS: &[CommandSpec] = &[
    spec(CommandName::ConfigGet, "rg.configget", false),
    spec(CommandName::ConfigSet, "rg.configset", false),
    CommandSpec {
        flags: "getkeys-api readonly",
        ..spec(CommandName::InnerHook, "RG.INNERHOOK", true)
    },
    CommandSpec {
        flags: "getkeys-api readonly",
        ..spec(CommandName::Trigger, "rg.trigger", false)
    },
    CommandSpec {
        first_key: 2,
        last_key: 2,
        key_step: 1,
        ..spec(CommandName::TriggerOnKey, "rg.triggeronkey", false)
    },
    spec(CommandName::RefreshCluster, "rg.refreshcluster", false),
    CommandSpec {
        key_step: -1,
        ..spec(CommandName::ClusterSet, "rg.clusterset", true)
    },
    CommandSpec {
        key_step: -1,
        ..spec(
            CommandName::ClusterSetFromShard,
            "RG.CLUSTERSETFROMSHARD",
            true,
        )
    },
    spec(CommandName::InfoCluster, "rg.infocluster", false),
    spec(CommandName::Hello, "rg.hello", true),
    spec(CommandName::InnerMsgCommand, "RG.INNERMSGCOMMAND", true),
    spec(CommandName::InnerRegister, "RG.INNERREGISTER", true),
    spec(CommandName::DumpExecutions, "rg.dumpexecutions", false),
    spec(
        CommandName::DumpRegistrations,
        "rg.dumpregistrations",
        false,
    ),
    spec(CommandName::InnerUnregister, "RG.INNERUNREGISTER", true),
    spec(CommandName::Unregister, "rg.unregister", false),
    spec(CommandName::GetExecution, "rg.getexecution", false),
    spec(CommandName::GetResults, "rg.getresults", false),
    spec(
        CommandName::GetResultsBlocking,
        "rg.getresultsblocking",
        false,
    ),
    spec(CommandName::DropExecution, "rg.dropexecution", false),
    spec(CommandName::AbortExecution, "rg.abortexecution", false),
    spec(
        CommandName::PauseRegistrations,
        "rg.pauseregistrations",
        false,
    ),
    spec(
        CommandName::UnpauseRegistrations,
        "rg.unpauseregistrations",
        false,
    ),
    spec(
        CommandName::ClearRegistrationsStats,
        "rg.clearregistrationsstats",
        false,
    ),
    spec(CommandName::NetworkTest, "rg.networktest", true),
    spec(CommandName::DumpPlugins, "rg.dumpplugins", false),
    spec(CommandName::PyExecute, "rg.pyexecute", false),
    spec(CommandName::PyExecuteRemote, "rg.pyexecuteremote", false),
    spec(
        CommandName::PyFreeInterpreter,
        "rg.pyfreeinterpreter",
        false,
    ),
    spec(CommandName::PyStats, "rg.pystats", false),
    spec(CommandName::PyExportReq, "rg.pyexportreq", false),
    spec(CommandName::PyImportReq, "rg.pyimportreq", false),
    spec(CommandName::PyDumpReqs, "rg.pydumpreqs", false),
    spec(CommandName::PyProfile, "rg.pyprofile", false),
    spec(CommandName::PyDumpSessions, "rg.pydumpsessions", false),
    spec(
        CommandName::PyImportReqInternal,
        "RG.PYIMPORTRETINTERNAL",
        true,
    ),
];

impl CommandName {
    /// The command for a name as a client typed it (case-insensitive).
    pub fn from_bytes(name: &[u8]) -> Option<CommandName> {
        COMMANDS
            .iter()
            .find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
            .map(|spec| spec.command)
    }

    /// How the command is registered.
    pub fn spec(self) -> &'static CommandSpec {
        // Every variant has exactly one row (checked by a unit test); the first row
        // is only a fallback that is never taken.
        COMMANDS
            .iter()
            .find(|spec| spec.command == self)
            .unwrap_or(&COMMANDS[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_command_has_one_row_and_a_unique_name() {
        let names: HashSet<String> = COMMANDS
            .iter()
            .map(|s| s.name.to_ascii_lowercase())
            .collect();
        assert_eq!(names.len(), COMMANDS.len());
        let commands: HashSet<CommandName> = COMMANDS.iter().map(|s| s.command).collect();
        assert_eq!(commands.len(), COMMANDS.len());
        assert_eq!(COMMANDS.len(), 36);
        for spec in COMMANDS {
            assert_eq!(spec.command.spec(), spec);
            assert_eq!(
                CommandName::from_bytes(spec.name.as_bytes()),
                Some(spec.command)
            );
            assert!(spec.name.to_ascii_uppercase().starts_with("RG."));
        }
    }

    #[test]
    fn key_positions_match_redisgears() {
        let on_key = CommandName::TriggerOnKey.spec();
        assert_eq!(
            (on_key.first_key, on_key.last_key, on_key.key_step),
            (2, 2, 1)
        );
        assert!(COMMANDS.iter().all(|s| s.flags.contains("readonly")));
    }
}
