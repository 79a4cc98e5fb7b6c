//! RG.CONFIGGET `<key> [...]` and RG.CONFIGSET `<key> <value> [...]`.
//!
//! Neither checks its argument count: no keys gives an empty array, and a key without
//! a value at the end of RG.CONFIGSET gets its own error element. What each key
//! answers is decided by [`crate::config::GearsConfig`].

use super::{Argv, ParseError, Request};
use crate::commands::CommandName;

/// A parsed RG.CONFIGGET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigGet {
    /// The names asked for, in order.
    pub keys: Vec<Vec<u8>>,
}

/// A parsed RG.CONFIGSET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigSet {
    /// `(name, value)` pairs in order; only the last value can be missing.
    pub assignments: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl ConfigSet {
    /// The assignments as a flat `k v k v [k]` list, as
    /// [`crate::config::GearsConfig::config_set`] takes them.
    pub fn flat_args(&self) -> Vec<Vec<u8>> {
        let mut args = Vec::with_capacity(self.assignments.len() * 2);
        for (key, value) in &self.assignments {
            args.push(key.clone());
            args.extend(value.iter().cloned());
        }
        args
    }
}

pub(super) fn parse(command: CommandName, argv: &Argv<'_>) -> Result<Request, ParseError> {
    let rest = argv.from(1);
    if command == CommandName::ConfigGet {
        return Ok(Request::ConfigGet(ConfigGet {
            keys: rest.iter().map(|k| k.to_vec()).collect(),
        }));
    }
    Ok(Request::ConfigSet(ConfigSet {
        assignments: rest
            .chunks(2)
            .map(|pair| (pair[0].to_vec(), pair.get(1).map(|v| v.to_vec())))
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn configget_keeps_every_key_in_order() {
        assert_eq!(
            parse_words(&["RG.CONFIGGET", "b", "a", "b"]),
            Ok(Request::ConfigGet(ConfigGet {
                keys: vec![b"b".to_vec(), b"a".to_vec(), b"b".to_vec()]
            }))
        );
        assert_eq!(
            parse_words(&["RG.CONFIGGET"]),
            Ok(Request::ConfigGet(ConfigGet { keys: vec![] }))
        );
    }

    #[test]
    fn configset_pairs_and_a_dangling_key() {
        let request = parse_words(&["RG.CONFIGSET", "a", "1", "b"]);
        let expected = ConfigSet {
            assignments: vec![(b"a".to_vec(), Some(b"1".to_vec())), (b"b".to_vec(), None)],
        };
        assert_eq!(
            expected.flat_args(),
            vec![b"a".to_vec(), b"1".to_vec(), b"b".to_vec()]
        );
        assert_eq!(request, Ok(Request::ConfigSet(expected)));
        assert_eq!(
            parse_words(&["RG.CONFIGSET"]),
            Ok(Request::ConfigSet(ConfigSet {
                assignments: vec![]
            }))
        );
    }
}
