//! The configuration table of RedisGears 1.2 and the RG.CONFIGGET / RG.CONFIGSET rules.
//!
//! There are three kinds of names:
//!
//! - **core configs** (`MaxExecutions`, `ExecutionThreads`, ..., `Plugin`): matched
//!   case-insensitively at load time and by RG.CONFIGSET, case-sensitively by
//!   RG.CONFIGGET;
//! - **Python configs** (`PythonAttemptTraceback`, `CreateVenv`, ...): in RedisGears
//!   they belong to the Python plugin, which reads them from the extra dictionary;
//!   matched case-sensitively everywhere, and a successful RG.CONFIGSET also stores
//!   the value in the extra dictionary;
//! - **anything else** goes into the *extra dictionary* (binary keys, case-sensitive),
//!   which Python's `configGet()` reads.
//!
//! Every reply text comes from [`crate::errors`].
//!
//! ```
//! use gears_protocol::config::GearsConfig;
//! use gears_protocol::Reply;
//!
//! let mut config = GearsConfig::from_module_args(&[b"executionThreads".as_slice(), b"5"]).unwrap();
//! assert_eq!(config.execution_threads(), 5);
//! assert_eq!(
//!     config.config_set(&[b"foo".as_slice(), b"bar"]),
//!     Reply::array([Reply::simple("OK - value was saved in extra config dictionary")])
//! );
//! assert_eq!(config.config_get(&[b"foo".as_slice()]), Reply::array([Reply::bulk("bar")]));
//! ```

use crate::errors;
use crate::numbers::parse_redis_integer;
use crate::reply::Reply;
use std::collections::BTreeMap;
use std::fmt;

/// Who owns a config: the core engine or the Python runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigFamily {
    /// Core engine config: case-insensitive at load and in RG.CONFIGSET.
    Core,
    /// Python runtime config: case-sensitive, mirrored in the extra dictionary.
    Python,
}

/// The type of a config value, which decides how RG.CONFIGGET shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    /// A 64-bit integer (shown as an integer reply).
    Integer,
    /// 0 or 1 (any integer is accepted; non-zero means 1; shown as an integer reply).
    Boolean,
    /// Free text (shown as a bulk string).
    Text,
    /// A list of paths; each load-time occurrence appends (shown as an array).
    PathList,
}

/// What a value must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigRule {
    /// Any integer `string2ll` accepts.
    AnyInteger,
    /// An integer greater than zero.
    Positive,
    /// An integer greater than or equal to zero.
    NonNegative,
    /// An integer from 1 to `i32::MAX` (RedisGears keeps it in a C `int`).
    PositiveInt32,
    /// Any text.
    AnyText,
}

/// One row of the configuration table.
#[derive(Clone, Copy, Debug)]
pub struct ConfigSpec {
    /// The canonical name.
    pub name: &'static str,
    /// Core or Python.
    pub family: ConfigFamily,
    /// How values are typed and shown.
    pub kind: ConfigType,
    /// The default, as text (an empty list for `Plugin`).
    pub default: &'static str,
    /// Whether RG.CONFIGSET may change it.
    pub runtime_settable: bool,
    /// What a value must satisfy.
    pub rule: ConfigRule,
    /// One line on what it does.
    pub meaning: &'static str,
}

/// Every config of RedisGears 1.2 (behaviour.md §7), in the order RedisGears logs them.
pub const CONFIG_TABLE: &[ConfigSpec] = &[
    ConfigSpec {
        name: "MaxExecutions",
        family: ConfigFamily::Core,
        kind: ConfigType::Integer,
        default: "1000",
        runtime_settable: true,
        rule: ConfigRule::AnyInteger,
        meaning:
            "how many executions are kept; the oldest is dropped beyond it (0 or less: no limit)",
    },
    ConfigSpec {
        name: "MaxExecutionsPerRegistration",
        family: ConfigFamily::Core,
        kind: ConfigType::Integer,
        default: "100",
        runtime_settable: true,
        rule: ConfigRule::AnyInteger,
        meaning: "how many finished executions each registration keeps",
    },
    ConfigSpec {
        name: "ProfileExecutions",
        family: ConfigFamily::Core,
        kind: ConfigType::Integer,
        default: "0",
        runtime_settable: true,
        rule: ConfigRule::AnyInteger,
        meaning: "non-zero: measure step durations and profile Python callbacks per session",
    },
    ConfigSpec {
        name: "ExecutionThreads",
        family: ConfigFamily::Core,
        kind: ConfigType::Integer,
        default: "3",
        runtime_settable: false,
        rule: ConfigRule::Positive,
        meaning: "threads of the pool that runs async executions",
    },
    ConfigSpec {
        name: "ExecutionMaxIdleTime",
        family: ConfigFamily::Core,
        kind: ConfigType::Integer,
        default: "5000",
        runtime_settable: true,
        rule: ConfigRule::Positive,
        meaning: "ms a distributed execution may wait for remote data before it is aborted",
    },
    ConfigSpec {
        name: "SendMsgRetries",
        family: ConfigFamily::Core,
        kind: ConfigType::Integer,
        default: "3",
        runtime_settable: true,
        rule: ConfigRule::NonNegative,
        meaning: "how often an inter-shard message is resent (0: forever)",
    },
    ConfigSpec {
        name: "Plugin",
        family: ConfigFamily::Core,
        kind: ConfigType::PathList,
        default: "",
        runtime_settable: false,
        rule: ConfigRule::AnyText,
        meaning: "RedisGears plugin paths; accepted and listed, never loaded (Python is built in)",
    },
    ConfigSpec {
        name: "CreateVenv",
        family: ConfigFamily::Python,
        kind: ConfigType::Boolean,
        default: "0",
        runtime_settable: false,
        rule: ConfigRule::AnyInteger,
        meaning: "1: install requirements into a fresh virtualenv under PythonInstallationDir",
    },
    ConfigSpec {
        name: "DownloadDeps",
        family: ConfigFamily::Python,
        kind: ConfigType::Boolean,
        default: "0",
        runtime_settable: false,
        rule: ConfigRule::AnyInteger,
        meaning:
            "accepted for compatibility; gears-rs links Debian's CPython and downloads nothing",
    },
    ConfigSpec {
        name: "ForeceDownloadDepsOnEnterprise",
        family: ConfigFamily::Python,
        kind: ConfigType::Boolean,
        default: "0",
        runtime_settable: false,
        rule: ConfigRule::AnyInteger,
        meaning: "accepted for compatibility (Redis Enterprise only; the spelling is RedisGears')",
    },
    ConfigSpec {
        name: "PythonAttemptTraceback",
        family: ConfigFamily::Python,
        kind: ConfigType::Boolean,
        default: "1",
        runtime_settable: true,
        rule: ConfigRule::AnyInteger,
        meaning: "1: Python errors carry the traceback; 0: `Error type: ..., Value: ...`",
    },
    ConfigSpec {
        name: "OverridePythonAllocators",
        family: ConfigFamily::Python,
        kind: ConfigType::Boolean,
        default: "1",
        runtime_settable: false,
        rule: ConfigRule::AnyInteger,
        meaning: "route Python's allocations through Redis' allocator (RG.PYSTATS, INFO)",
    },
    ConfigSpec {
        name: "PythonInstallReqMaxIdleTime",
        family: ConfigFamily::Python,
        kind: ConfigType::Integer,
        default: "30000",
        runtime_settable: true,
        rule: ConfigRule::PositiveInt32,
        meaning: "max idle ms of the executions that distribute requirements",
    },
    ConfigSpec {
        name: "DependenciesUrl",
        family: ConfigFamily::Python,
        kind: ConfigType::Text,
        default: "",
        runtime_settable: false,
        rule: ConfigRule::AnyText,
        meaning: "accepted for compatibility; nothing is downloaded",
    },
    ConfigSpec {
        name: "DependenciesSha256",
        family: ConfigFamily::Python,
        kind: ConfigType::Text,
        default: "",
        runtime_settable: false,
        rule: ConfigRule::AnyText,
        meaning: "accepted for compatibility; nothing is downloaded",
    },
    ConfigSpec {
        name: "PythonInstallationDir",
        family: ConfigFamily::Python,
        kind: ConfigType::Text,
        default: "/var/opt/redislabs/modules/rg",
        runtime_settable: false,
        rule: ConfigRule::AnyText,
        meaning: "directory that holds installed requirements and virtualenvs",
    },
];

/// A value held for a config of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ConfigValue {
    Integer(i64),
    Text(Vec<u8>),
    List(Vec<Vec<u8>>),
}

/// Why the module arguments cannot be used; the module load must fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigLoadError {
    /// The line RedisGears writes to the log (no `(error) ` prefix).
    pub message: String,
}

impl fmt::Display for ConfigLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigLoadError {}

/// The live configuration of one shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GearsConfig {
    /// One value per row of [`CONFIG_TABLE`], same order.
    values: Vec<ConfigValue>,
    /// Unknown names (and Python names, as RedisGears' plugin reads them from here).
    extra: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Default for GearsConfig {
    fn default() -> GearsConfig {
        let values = CONFIG_TABLE
            .iter()
            .map(|spec| match spec.kind {
                ConfigType::Integer | ConfigType::Boolean => {
                    ConfigValue::Integer(parse_redis_integer(spec.default.as_bytes()).unwrap_or(0))
                }
                ConfigType::Text => ConfigValue::Text(spec.default.as_bytes().to_vec()),
                ConfigType::PathList => ConfigValue::List(Vec::new()),
            })
            .collect();
        GearsConfig {
            values,
            extra: BTreeMap::new(),
        }
    }
}

/// Why a value was refused by [`ConfigRule`].
enum RuleViolation {
    NotANumber,
    NotPositive,
    Negative,
}

impl GearsConfig {
    /// Reads the module arguments (`loadmodule librg.so k v k v ...`).
    ///
    /// Core names match case-insensitively, `Plugin` may repeat, anything else is kept
    /// in the extra dictionary as typed; then the Python configs are read back from
    /// the extra dictionary by their exact names and validated.
    pub fn from_module_args<A: AsRef<[u8]>>(args: &[A]) -> Result<GearsConfig, ConfigLoadError> {
        let mut config = GearsConfig::default();
        let mut pairs = args.chunks(2);
        for pair in &mut pairs {
            let key = pair[0].as_ref();
            let Some(value) = pair.get(1).map(AsRef::as_ref) else {
                return Err(load_error(format!("Value was not given to {}", lossy(key))));
            };
            match core_index(key) {
                Some(index) if CONFIG_TABLE[index].kind == ConfigType::PathList => {
                    if let ConfigValue::List(paths) = &mut config.values[index] {
                        paths.push(value.to_vec());
                    }
                }
                Some(index) => {
                    if config.set_value(index, value).is_err() {
                        return Err(load_error(format!(
                            "Failed setting config value {}",
                            lossy(key)
                        )));
                    }
                }
                None => {
                    config.extra.insert(key.to_vec(), value.to_vec());
                }
            }
        }
        for (index, spec) in CONFIG_TABLE.iter().enumerate() {
            if spec.family != ConfigFamily::Python {
                continue;
            }
            let Some(value) = config.extra.get(spec.name.as_bytes()).cloned() else {
                continue;
            };
            if let Err(violation) = config.set_value(index, &value) {
                let message = match (spec.kind, violation) {
                    (ConfigType::Boolean, _) => {
                        format!("Failed parsing {} config value.", spec.name)
                    }
                    (_, RuleViolation::NotPositive) => {
                        format!(
                            "Failed parsing {} config, value must be greater then zero.",
                            spec.name
                        )
                    }
                    _ => format!(
                        "Failed parsing {} config, value must be a number.",
                        spec.name
                    ),
                };
                return Err(load_error(message));
            }
        }
        Ok(config)
    }

    /// The lines RedisGears logs after reading its configuration.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (spec, value) in CONFIG_TABLE.iter().zip(&self.values) {
            if spec.family == ConfigFamily::Python {
                continue;
            }
            lines.push(format!("{}:{}", spec.name, display_value(value)));
        }
        for (key, value) in &self.extra {
            lines.push(format!("{}:{}", lossy(key), lossy(value)));
        }
        lines.push("Python config:".to_owned());
        for (spec, value) in CONFIG_TABLE.iter().zip(&self.values) {
            if spec.family == ConfigFamily::Python {
                lines.push(format!("\t{} : {}", spec.name, display_value(value)));
            }
        }
        lines
    }

    /// RG.CONFIGGET: one element per name (names are case-sensitive here).
    pub fn config_get<A: AsRef<[u8]>>(&self, names: &[A]) -> Reply {
        Reply::array(names.iter().map(|name| self.get_one(name.as_ref())))
    }

    fn get_one(&self, name: &[u8]) -> Reply {
        if let Some(index) = CONFIG_TABLE
            .iter()
            .position(|spec| spec.name.as_bytes() == name)
        {
            return match &self.values[index] {
                ConfigValue::Integer(value) => Reply::Integer(*value),
                ConfigValue::Text(text) => Reply::bulk(text.clone()),
                ConfigValue::List(items) => Reply::array(items.iter().cloned().map(Reply::Bulk)),
            };
        }
        match self.extra.get(name) {
            Some(value) => Reply::bulk(value.clone()),
            None => errors::config_unsupported(name),
        }
    }

    /// RG.CONFIGSET `k v [k v ...]`: one element per name, applied left to right (an
    /// earlier success is kept when a later name fails).
    pub fn config_set<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let mut replies = Vec::new();
        for pair in args.chunks(2) {
            let key = pair[0].as_ref();
            let value = pair.get(1).map(AsRef::as_ref);
            replies.push(self.set_one(key, value));
        }
        Reply::Array(replies)
    }

    fn set_one(&mut self, key: &[u8], value: Option<&[u8]>) -> Reply {
        if let Some(index) = core_index(key) {
            if !CONFIG_TABLE[index].runtime_settable {
                return errors::config_not_modifiable(key);
            }
            return match value.map(|v| self.set_value(index, v)) {
                Some(Ok(())) => Reply::ok(),
                _ => errors::config_failed_setting(key),
            };
        }
        let Some(value) = value else {
            return errors::config_value_not_given(key);
        };
        if let Some(index) = python_index(key) {
            if !CONFIG_TABLE[index].runtime_settable {
                return errors::python_config_not_configurable(key);
            }
            if self.set_value(index, value).is_err() {
                return errors::python_config_failed_setting(key, value);
            }
        }
        self.extra.insert(key.to_vec(), value.to_vec());
        Reply::simple(errors::CONFIG_SAVED_IN_EXTRA)
    }

    /// A value of the extra dictionary (what Python's `configGet` returns).
    pub fn extra(&self, key: &[u8]) -> Option<&[u8]> {
        self.extra.get(key).map(Vec::as_slice)
    }

    fn set_value(&mut self, index: usize, text: &[u8]) -> Result<(), RuleViolation> {
        let spec = &CONFIG_TABLE[index];
        self.values[index] = match spec.kind {
            ConfigType::Text => ConfigValue::Text(text.to_vec()),
            ConfigType::PathList => ConfigValue::List(vec![text.to_vec()]),
            ConfigType::Integer | ConfigType::Boolean => {
                let value = parse_redis_integer(text).ok_or(RuleViolation::NotANumber)?;
                match spec.rule {
                    ConfigRule::Positive | ConfigRule::PositiveInt32 if value <= 0 => {
                        return Err(RuleViolation::NotPositive)
                    }
                    ConfigRule::PositiveInt32 if value > i64::from(i32::MAX) => {
                        return Err(RuleViolation::NotANumber)
                    }
                    ConfigRule::NonNegative if value < 0 => return Err(RuleViolation::Negative),
                    _ => {}
                }
                if spec.kind == ConfigType::Boolean {
                    ConfigValue::Integer(i64::from(value != 0))
                } else {
                    ConfigValue::Integer(value)
                }
            }
        };
        Ok(())
    }

    fn integer(&self, name: &str) -> i64 {
        CONFIG_TABLE
            .iter()
            .position(|spec| spec.name == name)
            .and_then(|index| match &self.values[index] {
                ConfigValue::Integer(value) => Some(*value),
                _ => None,
            })
            .unwrap_or(0)
    }

    fn text(&self, name: &str) -> String {
        CONFIG_TABLE
            .iter()
            .position(|spec| spec.name == name)
            .and_then(|index| match &self.values[index] {
                ConfigValue::Text(text) => Some(lossy(text)),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// `MaxExecutions`.
    pub fn max_executions(&self) -> i64 {
        self.integer("MaxExecutions")
    }
    /// `MaxExecutionsPerRegistration`.
    pub fn max_executions_per_registration(&self) -> i64 {
        self.integer("MaxExecutionsPerRegistration")
    }
    /// `ProfileExecutions` (non-zero means on).
    pub fn profile_executions(&self) -> bool {
        self.integer("ProfileExecutions") != 0
    }
    /// `ExecutionThreads`.
    pub fn execution_threads(&self) -> i64 {
        self.integer("ExecutionThreads")
    }
    /// `ExecutionMaxIdleTime`, in milliseconds.
    pub fn execution_max_idle_time(&self) -> i64 {
        self.integer("ExecutionMaxIdleTime")
    }
    /// `SendMsgRetries`.
    pub fn send_msg_retries(&self) -> i64 {
        self.integer("SendMsgRetries")
    }
    /// The `Plugin` paths given at load.
    pub fn plugins(&self) -> Vec<String> {
        CONFIG_TABLE
            .iter()
            .position(|spec| spec.name == "Plugin")
            .and_then(|index| match &self.values[index] {
                ConfigValue::List(items) => Some(items.iter().map(|i| lossy(i)).collect()),
                _ => None,
            })
            .unwrap_or_default()
    }
    /// `PythonAttemptTraceback`.
    pub fn python_attempt_traceback(&self) -> bool {
        self.integer("PythonAttemptTraceback") != 0
    }
    /// `PythonInstallReqMaxIdleTime`, in milliseconds.
    pub fn python_install_req_max_idle_time(&self) -> i64 {
        self.integer("PythonInstallReqMaxIdleTime")
    }
    /// `CreateVenv`.
    pub fn create_venv(&self) -> bool {
        self.integer("CreateVenv") != 0
    }
    /// `OverridePythonAllocators`.
    pub fn override_python_allocators(&self) -> bool {
        self.integer("OverridePythonAllocators") != 0
    }
    /// `PythonInstallationDir`.
    pub fn python_installation_dir(&self) -> String {
        self.text("PythonInstallationDir")
    }
}

/// The table row of a core name, matched case-insensitively.
fn core_index(name: &[u8]) -> Option<usize> {
    CONFIG_TABLE.iter().position(|spec| {
        spec.family == ConfigFamily::Core && spec.name.as_bytes().eq_ignore_ascii_case(name)
    })
}

/// The table row of a Python name, matched exactly.
fn python_index(name: &[u8]) -> Option<usize> {
    CONFIG_TABLE
        .iter()
        .position(|spec| spec.family == ConfigFamily::Python && spec.name.as_bytes() == name)
}

fn display_value(value: &ConfigValue) -> String {
    match value {
        ConfigValue::Integer(value) => value.to_string(),
        ConfigValue::Text(text) => lossy(text),
        ConfigValue::List(items) => {
            format!(
                "[{}]",
                items.iter().map(|i| lossy(i)).collect::<Vec<_>>().join(",")
            )
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn load_error(message: String) -> ConfigLoadError {
    ConfigLoadError { message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn saved() -> Reply {
        Reply::simple(errors::CONFIG_SAVED_IN_EXTRA)
    }

    fn get(config: &GearsConfig, name: &str) -> Reply {
        config.config_get(&[name])
    }

    fn set(config: &mut GearsConfig, args: &[&str]) -> Reply {
        config.config_set(args)
    }

    #[rstest]
    #[case("MaxExecutions", Reply::Integer(1000))]
    #[case("MaxExecutionsPerRegistration", Reply::Integer(100))]
    #[case("ProfileExecutions", Reply::Integer(0))]
    #[case("ExecutionThreads", Reply::Integer(3))]
    #[case("ExecutionMaxIdleTime", Reply::Integer(5000))]
    #[case("SendMsgRetries", Reply::Integer(3))]
    #[case("Plugin", Reply::array([]))]
    #[case("PythonAttemptTraceback", Reply::Integer(1))]
    #[case("PythonInstallReqMaxIdleTime", Reply::Integer(30000))]
    #[case("CreateVenv", Reply::Integer(0))]
    #[case("DownloadDeps", Reply::Integer(0))]
    #[case("ForeceDownloadDepsOnEnterprise", Reply::Integer(0))]
    #[case("OverridePythonAllocators", Reply::Integer(1))]
    #[case("PythonInstallationDir", Reply::bulk("/var/opt/redislabs/modules/rg"))]
    #[case("DependenciesUrl", Reply::bulk(""))]
    fn defaults(#[case] name: &str, #[case] expected: Reply) {
        assert_eq!(get(&GearsConfig::default(), name), Reply::array([expected]));
    }

    #[test]
    fn configget_is_case_sensitive_and_reports_unknown_names_as_error_elements() {
        let config = GearsConfig::default();
        assert_eq!(
            config.config_get(&["maxexecutions", "MaxExecutions", "nosuch"]),
            Reply::array([
                Reply::error("(error) Unsupported config parameter: maxexecutions"),
                Reply::Integer(1000),
                Reply::error("(error) Unsupported config parameter: nosuch"),
            ])
        );
        assert_eq!(config.config_get::<&str>(&[]), Reply::array([]));
    }

    #[test]
    fn documented_examples() {
        let mut config = GearsConfig::default();
        assert_eq!(
            set(&mut config, &["ProfileExecutions", "1"]),
            Reply::array([Reply::ok()])
        );
        assert!(config.profile_executions());
        assert_eq!(set(&mut config, &["foo", "bar"]), Reply::array([saved()]));
        assert_eq!(get(&config, "foo"), Reply::array([Reply::bulk("bar")]));
        assert_eq!(
            set(&mut config, &["ExecutionThreads", "5"]),
            Reply::array([Reply::error(
                "(error) Config value ExecutionThreads not modifiable at runtime"
            )])
        );
    }

    #[rstest]
    #[case(&["maxexecutions", "7"], Reply::ok())]
    #[case(&["MAXEXECUTIONS", "-1"], Reply::ok())]
    #[case(&["MaxExecutions", "x"], Reply::error("(error) Failed setting config value MaxExecutions"))]
    #[case(&["MaxExecutions", " 1"], Reply::error("(error) Failed setting config value MaxExecutions"))]
    #[case(&["maxExecutions"], Reply::error("(error) Failed setting config value maxExecutions"))]
    #[case(&["ExecutionMaxIdleTime", "0"], Reply::error("(error) Failed setting config value ExecutionMaxIdleTime"))]
    #[case(&["SendMsgRetries", "0"], Reply::ok())]
    #[case(&["SendMsgRetries", "-1"], Reply::error("(error) Failed setting config value SendMsgRetries"))]
    #[case(&["executionthreads"], Reply::error("(error) Config value executionthreads not modifiable at runtime"))]
    #[case(&["plugin", "/x.so"], Reply::error("(error) Config value plugin not modifiable at runtime"))]
    #[case(&["foo"], Reply::error("(error) Value was not given to foo"))]
    #[case(&["CreateVenv", "1"], Reply::error("(error) CreateVenv is not configurable at runtime"))]
    #[case(&["CreateVenv"], Reply::error("(error) Value was not given to CreateVenv"))]
    #[case(&["PythonAttemptTraceback", "0"], Reply::simple(errors::CONFIG_SAVED_IN_EXTRA))]
    #[case(&["PythonAttemptTraceback", "no"], Reply::error("Failed setting config value for key 'PythonAttemptTraceback' with value 'no'"))]
    #[case(&["PythonInstallReqMaxIdleTime", "0"], Reply::error("Failed setting config value for key 'PythonInstallReqMaxIdleTime' with value '0'"))]
    #[case(&["PythonInstallReqMaxIdleTime", "4294967296"], Reply::error("Failed setting config value for key 'PythonInstallReqMaxIdleTime' with value '4294967296'"))]
    #[case(&["createvenv", "1"], Reply::simple(errors::CONFIG_SAVED_IN_EXTRA))]
    fn configset_single(#[case] args: &[&str], #[case] expected: Reply) {
        let mut config = GearsConfig::default();
        assert_eq!(config.config_set(args), Reply::array([expected]));
    }

    #[test]
    fn configset_applies_left_to_right_without_rollback() {
        let mut config = GearsConfig::default();
        let reply = set(
            &mut config,
            &[
                "MaxExecutions",
                "10",
                "ExecutionThreads",
                "2",
                "a",
                "b",
                "c",
            ],
        );
        assert_eq!(
            reply,
            Reply::array([
                Reply::ok(),
                Reply::error("(error) Config value ExecutionThreads not modifiable at runtime"),
                saved(),
                Reply::error("(error) Value was not given to c"),
            ])
        );
        assert_eq!(config.max_executions(), 10);
        assert_eq!(config.extra(b"a"), Some(b"b".as_slice()));
    }

    #[test]
    fn python_configset_changes_the_live_value_and_the_extra_dictionary() {
        let mut config = GearsConfig::default();
        set(&mut config, &["PythonAttemptTraceback", "0"]);
        assert!(!config.python_attempt_traceback());
        assert_eq!(
            get(&config, "PythonAttemptTraceback"),
            Reply::array([Reply::Integer(0)])
        );
        assert_eq!(
            config.extra(b"PythonAttemptTraceback"),
            Some(b"0".as_slice())
        );
        // A lowercase name is not the Python config: it only lands in the dictionary.
        set(&mut config, &["pythonattempttraceback", "1"]);
        assert!(!config.python_attempt_traceback());
        assert_eq!(
            get(&config, "pythonattempttraceback"),
            Reply::array([Reply::bulk("1")])
        );
    }

    #[test]
    fn extra_dictionary_is_binary_safe_and_replaces_values() {
        let mut config = GearsConfig::default();
        config.config_set(&[b"\xffkey".as_slice(), b"\x00v"]);
        config.config_set(&[b"\xffkey".as_slice(), b"v2"]);
        assert_eq!(
            config.config_get(&[b"\xffkey".as_slice()]),
            Reply::array([Reply::bulk("v2")])
        );
        assert_eq!(
            config.config_get(&[b"\xfe".as_slice()]),
            Reply::array([Reply::error(
                "(error) Unsupported config parameter: \u{fffd}"
            )])
        );
    }

    #[test]
    fn huge_configset_gives_one_element_per_key() {
        let args: Vec<String> = (0..20_000).map(|i| format!("k{}", i / 2)).collect();
        let mut config = GearsConfig::default();
        match config.config_set(&args) {
            Reply::Array(items) => assert_eq!(items.len(), 10_000),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn module_args_are_read_case_insensitively_with_plugins_and_extras() {
        let config = GearsConfig::from_module_args(&[
            "executionThreads",
            "1",
            "Plugin",
            "/a/gears_python.so",
            "PLUGIN",
            "/b.so",
            "myKey",
            "myValue",
            "PythonAttemptTraceback",
            "0",
            "CreateVenv",
            "7",
        ])
        .expect("valid arguments");
        assert_eq!(config.execution_threads(), 1);
        assert_eq!(
            config.plugins(),
            vec!["/a/gears_python.so".to_owned(), "/b.so".to_owned()]
        );
        assert_eq!(
            get(&config, "myKey"),
            Reply::array([Reply::bulk("myValue")])
        );
        assert!(!config.python_attempt_traceback());
        assert!(config.create_venv());
        assert_eq!(
            get(&config, "CreateVenv"),
            Reply::array([Reply::Integer(1)])
        );
        assert_eq!(
            config.extra(b"PythonAttemptTraceback"),
            Some(b"0".as_slice())
        );
        let summary = config.summary();
        assert!(
            summary.contains(&"ExecutionThreads:1".to_owned()),
            "{summary:?}"
        );
        assert!(
            summary.contains(&"Plugin:[/a/gears_python.so,/b.so]".to_owned()),
            "{summary:?}"
        );
        assert!(
            summary.contains(&"\tCreateVenv : 1".to_owned()),
            "{summary:?}"
        );
    }

    #[rstest]
    #[case(&["ExecutionThreads", "0"], "Failed setting config value ExecutionThreads")]
    #[case(&["executionthreads", "two"], "Failed setting config value executionthreads")]
    #[case(&["MaxExecutions"], "Value was not given to MaxExecutions")]
    #[case(&["a", "b", "orphan"], "Value was not given to orphan")]
    #[case(&["PythonAttemptTraceback", "yes"], "Failed parsing PythonAttemptTraceback config value.")]
    #[case(&["PythonInstallReqMaxIdleTime", "abc"], "Failed parsing PythonInstallReqMaxIdleTime config, value must be a number.")]
    #[case(&["PythonInstallReqMaxIdleTime", "0"], "Failed parsing PythonInstallReqMaxIdleTime config, value must be greater then zero.")]
    fn invalid_module_args_fail_the_load(#[case] args: &[&str], #[case] message: &str) {
        assert_eq!(
            GearsConfig::from_module_args(args),
            Err(ConfigLoadError {
                message: message.to_owned()
            })
        );
    }

    #[test]
    fn the_table_names_every_config_once() {
        let mut names: Vec<&str> = CONFIG_TABLE.iter().map(|spec| spec.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CONFIG_TABLE.len());
        let config = GearsConfig::default();
        for spec in CONFIG_TABLE {
            assert!(
                !get(&config, spec.name).to_string().contains("Unsupported"),
                "{}",
                spec.name
            );
        }
    }
}
