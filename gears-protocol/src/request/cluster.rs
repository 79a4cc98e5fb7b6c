//! Cluster commands: RG.INFOCLUSTER, RG.REFRESHCLUSTER, RG.CLUSTERSET,
//! RG.CLUSTERSETFROMSHARD, RG.HELLO, RG.INNERMSGCOMMAND and RG.NETWORKTEST.
//!
//! RG.CLUSTERSET uses the Redis Enterprise layout (behaviour.md §9): argv\[6] is this
//! shard's id, argv\[8] the number of ranges, and each range starts at index 9 + 8k
//! with its shard id at +1, slots at +3/+4, `password@host:port` at +6 and an
//! optional `UNIXADDR <path>` at +7/+8 (not for the last range). RedisGears asserts
//! (crashes) on a bad number there; gears-rs answers
//! `Could not parse cluster set arguments` for anything that does not fit.

use super::{Argv, ParseError, Request};
use crate::commands::CommandName;
use crate::ids::ShardId;
use crate::numbers::parse_redis_integer;

/// The number of hash slots of a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// One shard of an RG.CLUSTERSET topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterRange {
    /// The shard id, left-padded with `'0'` to 40 characters.
    pub shard_id: ShardId,
    /// First slot it owns.
    pub min_slot: u16,
    /// Last slot it owns.
    pub max_slot: u16,
    /// The password to AUTH with, when one was given before the `@`.
    pub password: Option<Vec<u8>>,
    /// Host name or address (IPv6 without its brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Unix socket path, when given with `UNIXADDR`.
    pub unix_socket: Option<Vec<u8>>,
}

/// A parsed RG.CLUSTERSET or RG.CLUSTERSETFROMSHARD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSet {
    /// The whole argv, kept to forward it to shards that need the topology.
    pub argv: Vec<Vec<u8>>,
    /// This shard's id, left-padded to 40 characters.
    pub my_id: ShardId,
    /// Every shard with its slots.
    pub ranges: Vec<ClusterRange>,
}

impl ClusterSet {
    /// More than one range means cluster mode; one range behaves as standalone.
    pub fn is_cluster_mode(&self) -> bool {
        self.ranges.len() > 1
    }
}

/// A parsed RG.INNERMSGCOMMAND.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerMessage {
    /// The sender's 40-character shard id, as sent.
    pub sender_id: Vec<u8>,
    /// The sender's run id.
    pub sender_run_id: Vec<u8>,
    /// The message type (the receiving callback's name).
    pub function: Vec<u8>,
    /// The message body.
    pub payload: Vec<u8>,
    /// The per-destination message id; `None` when it is not a number, which the
    /// handler answers with `bad msg id given` after checking the cluster state.
    pub msg_id: Option<i64>,
}

pub(super) fn parse(command: CommandName, argv: &Argv<'_>) -> Result<Request, ParseError> {
    match command {
        CommandName::InfoCluster => Ok(Request::InfoCluster),
        CommandName::RefreshCluster => Ok(Request::RefreshCluster),
        CommandName::Hello => Ok(Request::Hello),
        CommandName::NetworkTest => Ok(Request::NetworkTest),
        CommandName::InnerMsgCommand => {
            argv.expect_argc(6, 6)?;
            Ok(Request::InnerMsgCommand(InnerMessage {
                sender_id: argv.required(1)?.to_vec(),
                sender_run_id: argv.required(2)?.to_vec(),
                function: argv.required(3)?.to_vec(),
                payload: argv.required(4)?.to_vec(),
                msg_id: parse_redis_integer(argv.required(5)?),
            }))
        }
        CommandName::ClusterSet => parse_cluster_set(argv).map(Request::ClusterSet),
        _ => parse_cluster_set(argv).map(Request::ClusterSetFromShard),
    }
}

fn parse_cluster_set(argv: &Argv<'_>) -> Result<ClusterSet, ParseError> {
    const BAD: ParseError = ParseError::CouldNotParseClusterSet;
    if argv.argc() < 10 {
        return Err(BAD);
    }
    let arg = |index: usize| argv.at(index).ok_or(BAD);
    let my_id = ShardId::padded(arg(6)?).map_err(|_| BAD)?;
    let count = parse_redis_integer(arg(8)?)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(BAD)?;
    let mut ranges = Vec::new();
    let mut index = 9;
    for number in 0..count {
        let slot = |i: usize| -> Result<u16, ParseError> {
            parse_redis_integer(arg(i)?)
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n < SLOT_COUNT)
                .ok_or(BAD)
        };
        let shard_id = ShardId::padded(arg(index + 1)?).map_err(|_| BAD)?;
        let (min_slot, max_slot) = (slot(index + 3)?, slot(index + 4)?);
        if min_slot > max_slot {
            return Err(BAD);
        }
        let (password, host, port) = parse_address(arg(index + 6)?).ok_or(BAD)?;
        let mut unix_socket = None;
        if number + 1 < count && argv.at(index + 7) == Some(b"UNIXADDR".as_slice()) {
            unix_socket = Some(arg(index + 8)?.to_vec());
            index += 2;
        }
        ranges.push(ClusterRange {
            shard_id,
            min_slot,
            max_slot,
            password,
            host,
            port,
            unix_socket,
        });
        index += 8;
    }
    Ok(ClusterSet {
        argv: argv.from(0).iter().map(|a| a.to_vec()).collect(),
        my_id,
        ranges,
    })
}

/// `password@host:port` (the password may be empty; IPv6 hosts may be bracketed).
fn parse_address(text: &[u8]) -> Option<(Option<Vec<u8>>, String, u16)> {
    let at = text.iter().rposition(|b| *b == b'@')?;
    let (password, address) = (&text[..at], &text[at + 1..]);
    let address = std::str::from_utf8(address).ok()?;
    let (host, port) = address.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = parse_redis_integer(port.as_bytes()).and_then(|p| u16::try_from(p).ok())?;
    if host.is_empty() {
        return None;
    }
    let password = (!password.is_empty()).then(|| password.to_vec());
    Some((password, host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use rstest::rstest;

    /// An Enterprise-style CLUSTERSET with the given ranges
    /// (`(id, min, max, address, unix socket)`).
    fn cluster_set(my_id: &str, ranges: &[(&str, &str, &str, &str, Option<&str>)]) -> Vec<String> {
        let mut argv: Vec<String> = [
            "RG.CLUSTERSET",
            "NO-USED",
            "NO-USED",
            "NO-USED",
            "NO-USED",
            "MYID",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        argv.push(my_id.to_owned());
        argv.push("RANGES".to_owned());
        argv.push(ranges.len().to_string());
        for (id, min, max, address, unix) in ranges {
            for word in ["SHARD", id, "SLOTRANGE", min, max, "ADDR", address] {
                argv.push(word.to_owned());
            }
            if let Some(path) = unix {
                argv.push("UNIXADDR".to_owned());
                argv.push((*path).to_owned());
            }
            argv.push("MASTER".to_owned());
        }
        argv
    }

    fn parse_set(argv: &[String]) -> Result<ClusterSet, ParseError> {
        match Request::parse(argv)? {
            Request::ClusterSet(set) => Ok(set),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_two_ranges_with_passwords_ipv6_and_unix_sockets() {
        let argv = cluster_set(
            "1",
            &[
                ("1", "0", "8191", "pass@127.0.0.1:6379", Some("/tmp/a.sock")),
                ("2", "8192", "16383", "@[::1]:6380", None),
            ],
        );
        let set = parse_set(&argv).expect("valid");
        assert!(set.is_cluster_mode());
        assert_eq!(set.my_id.as_str(), format!("{}1", "0".repeat(39)));
        assert_eq!(set.ranges.len(), 2);
        assert_eq!(set.ranges[0].password.as_deref(), Some(b"pass".as_slice()));
        assert_eq!(
            set.ranges[0].unix_socket.as_deref(),
            Some(b"/tmp/a.sock".as_slice())
        );
        assert_eq!(
            (set.ranges[0].host.as_str(), set.ranges[0].port),
            ("127.0.0.1", 6379)
        );
        assert_eq!(
            (set.ranges[1].host.as_str(), set.ranges[1].port),
            ("::1", 6380)
        );
        assert_eq!(set.ranges[1].password, None);
        assert_eq!(
            (set.ranges[1].min_slot, set.ranges[1].max_slot),
            (8192, 16383)
        );
        assert_eq!(set.argv.len(), argv.len());
    }

    #[test]
    fn one_range_is_not_cluster_mode() {
        let set = parse_set(&cluster_set(
            "1",
            &[("1", "0", "16383", "@localhost:6379", None)],
        ))
        .expect("valid");
        assert!(!set.is_cluster_mode());
    }

    #[rstest]
    #[case(cluster_set("1", &[("1", "0", "x", "@h:1", None)]))]
    #[case(cluster_set("1", &[("1", "0", "16384", "@h:1", None)]))]
    #[case(cluster_set("1", &[("1", "9", "3", "@h:1", None)]))]
    #[case(cluster_set("1", &[("1", "0", "1", "h:1", None)]))]
    #[case(cluster_set("1", &[("1", "0", "1", "@h:99999", None)]))]
    #[case(cluster_set("1", &[("1", "0", "1", "@h", None)]))]
    #[case(cluster_set(&"9".repeat(41), &[("1", "0", "1", "@h:1", None)]))]
    #[case(vec!["RG.CLUSTERSET".to_owned(); 9])]
    fn refuses_what_does_not_fit(#[case] argv: Vec<String>) {
        assert_eq!(parse_set(&argv), Err(ParseError::CouldNotParseClusterSet));
    }

    #[test]
    fn a_range_count_beyond_the_arguments_is_refused() {
        let mut argv = cluster_set("1", &[("1", "0", "1", "@h:1", None)]);
        argv[8] = "1000000000".to_owned();
        assert_eq!(parse_set(&argv), Err(ParseError::CouldNotParseClusterSet));
        argv[8] = "-1".to_owned();
        assert_eq!(parse_set(&argv), Err(ParseError::CouldNotParseClusterSet));
    }

    #[test]
    fn from_shard_form() {
        let mut argv = cluster_set("1", &[("1", "0", "16383", "@h:1", None)]);
        argv[0] = "RG.CLUSTERSETFROMSHARD".to_owned();
        assert!(matches!(
            Request::parse(&argv),
            Ok(Request::ClusterSetFromShard(_))
        ));
    }

    #[rstest]
    #[case(&["RG.INFOCLUSTER", "x"], Request::InfoCluster)]
    #[case(&["RG.REFRESHCLUSTER"], Request::RefreshCluster)]
    #[case(&["RG.HELLO"], Request::Hello)]
    #[case(&["RG.NETWORKTEST"], Request::NetworkTest)]
    fn no_argument_commands(#[case] words: &[&str], #[case] expected: Request) {
        assert_eq!(parse_words(words), Ok(expected));
    }

    #[test]
    fn inner_messages() {
        let words = [
            "RG.INNERMSGCOMMAND",
            "sender",
            "run",
            "NotifyRun",
            "payload",
            "7",
        ];
        match parse_words(&words) {
            Ok(Request::InnerMsgCommand(message)) => {
                assert_eq!(message.msg_id, Some(7));
                assert_eq!(message.function, b"NotifyRun".to_vec());
            }
            other => panic!("{other:?}"),
        }
        let words = ["RG.INNERMSGCOMMAND", "sender", "run", "f", "p", "x7"];
        match parse_words(&words) {
            Ok(Request::InnerMsgCommand(message)) => assert_eq!(message.msg_id, None),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            error_text(&["RG.INNERMSGCOMMAND", "a", "b", "c", "d"]),
            arity("RG.INNERMSGCOMMAND")
        );
    }
}
