//! RG.TRIGGER `<name> [args...]` and RG.TRIGGERONKEY `<name> <key> [args...]`.
//!
//! Both share one handler in RedisGears: the record a CommandReader sees is the argv
//! after the command word (the trigger name first, and for RG.TRIGGERONKEY the key
//! second). Trigger names match case-sensitively.

use super::{Argv, ParseError};
use crate::commands::CommandName;

/// A parsed RG.TRIGGER or RG.TRIGGERONKEY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    /// True for RG.TRIGGERONKEY (argument 2 is a key, for cluster routing).
    pub on_key: bool,
    /// The trigger name (case-sensitive).
    pub name: Vec<u8>,
    /// Everything after the name (for RG.TRIGGERONKEY, the key first).
    pub args: Vec<Vec<u8>>,
}

impl Trigger {
    /// The record the registration receives: `[name, args...]`.
    pub fn record(&self) -> Vec<Vec<u8>> {
        std::iter::once(self.name.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

pub(super) fn parse(command: CommandName, argv: &Argv<'_>) -> Result<Trigger, ParseError> {
    if argv.argc() < 2 {
        return Err(argv.wrong_arity());
    }
    Ok(Trigger {
        on_key: command == CommandName::TriggerOnKey,
        name: argv.required(1)?.to_vec(),
        args: argv.from(2).iter().map(|a| a.to_vec()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::Request;
    use super::*;

    fn trigger(words: &[&str]) -> Trigger {
        match parse_words(words) {
            Ok(Request::Trigger(trigger)) => trigger,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_record_is_the_argv_after_the_command() {
        let t = trigger(&["RG.TRIGGER", "mytrigger", "foo", "bar"]);
        assert!(!t.on_key);
        assert_eq!(
            t.record(),
            vec![b"mytrigger".to_vec(), b"foo".to_vec(), b"bar".to_vec()]
        );
        let t = trigger(&["RG.TRIGGERONKEY", "my_set", "foo", "bar"]);
        assert!(t.on_key);
        assert_eq!(
            t.record(),
            vec![b"my_set".to_vec(), b"foo".to_vec(), b"bar".to_vec()]
        );
        assert_eq!(
            trigger(&["RG.TRIGGER", "Noop"]).record(),
            vec![b"Noop".to_vec()]
        );
    }

    #[test]
    fn wrong_arity() {
        assert_eq!(error_text(&["RG.TRIGGER"]), arity("RG.TRIGGER"));
        assert_eq!(error_text(&["rg.triggeronkey"]), arity("rg.triggeronkey"));
    }

    #[test]
    fn binary_arguments_are_kept() {
        let request = Request::parse(&[b"RG.TRIGGER".as_slice(), b"t", b"\x00\xff"]);
        match request {
            Ok(Request::Trigger(t)) => assert_eq!(t.args, vec![b"\x00\xff".to_vec()]),
            other => panic!("{other:?}"),
        }
    }
}
