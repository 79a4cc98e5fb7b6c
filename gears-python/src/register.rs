//! `register()`'s keyword arguments (behaviour.md §2.4): what each reader accepts,
//! checked in RedisGears' order and with its error texts.
//!
//! The order matters because a script with two bad keywords sees only the first
//! error: mode, then `onRegistered`, then the reader's own keywords (CommandReader:
//! trigger, inorder, keyprefix, hook; the others: prefix first). Unknown keywords are
//! ignored, as upstream.

use crate::gears_module::GearsError;
use gears_registrations::registration::{
    CommandTrigger, KeysArgs, Mode, ReaderArgs, StreamArgs, KEY_TYPES,
};
use gears_registrations::stream::{check_mode_policy, OnFailedPolicy, StreamConfigError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyFunction, PyInt, PyString};

/// What `register()`'s keywords asked for.
#[derive(Debug)]
pub struct RegisterArgs {
    /// The execution mode.
    pub mode: Mode,
    /// `onRegistered`, if given.
    pub on_registered: Option<Py<PyAny>>,
    /// The reader's arguments.
    pub reader: ReaderArgs,
}

fn error(message: &str) -> PyErr {
    GearsError::new_err(message.to_owned())
}

fn item<'py>(
    kwargs: Option<&Bound<'py, PyDict>>,
    name: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match kwargs {
        Some(kwargs) => kwargs.get_item(name),
        None => Ok(None),
    }
}

fn string(value: &Bound<'_, PyAny>, message: &str) -> PyResult<String> {
    Ok(value
        .cast::<PyString>()
        .map_err(|_| error(message))?
        .to_string_lossy()
        .into_owned())
}

fn boolean(value: &Bound<'_, PyAny>, message: &str) -> PyResult<bool> {
    Ok(value
        .cast::<PyBool>()
        .map_err(|_| error(message))?
        .is_true())
}

/// A number as RedisGears' `PyNumber_Check` + `PyNumber_AsSsize_t` reads it: ints
/// and bools as they are, floats truncated; anything else is `message`.
fn number(value: &Bound<'_, PyAny>, message: &str) -> PyResult<i64> {
    if value.cast::<PyInt>().is_ok() {
        return Ok(value.extract::<i64>().unwrap_or(i64::MAX));
    }
    if let Ok(float) = value.cast::<PyFloat>() {
        // `as` saturates; NaN becomes 0.
        return Ok(float.value() as i64);
    }
    Err(error(message))
}

/// The strings of an iterable argument; `None` for a missing or None argument.
fn strings(
    value: Option<Bound<'_, PyAny>>,
    not_iterable: &str,
    not_string: &str,
) -> PyResult<Option<Vec<String>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let iterator = value.try_iter().map_err(|_| error(not_iterable))?;
    let mut items = Vec::new();
    for item in iterator {
        items.push(string(&item?, not_string)?);
    }
    Ok(Some(items))
}

/// Checks `register()`'s keywords for a builder of `reader`.
pub fn register_args(reader: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<RegisterArgs> {
    let mode = match item(kwargs, "mode")? {
        None => Mode::Async,
        Some(mode) => {
            let mode = string(&mode, "execution mode must be a string")?;
            Mode::parse(&mode).map_err(error)?
        }
    };
    let on_registered = match item(kwargs, "onRegistered")? {
        Some(function) if !function.is_none() => {
            if function.cast::<PyFunction>().is_err() {
                return Err(error("OnRegistered argument must be a function"));
            }
            Some(function.unbind())
        }
        _ => None,
    };
    let reader = if reader == "CommandReader" {
        command_args(kwargs)?
    } else {
        let prefix = match item(kwargs, "prefix")? {
            None => "*".to_owned(),
            Some(prefix) => string(&prefix, "regex argument must be a string")?,
        };
        match reader {
            "KeysReader" => keys_args(kwargs, prefix)?,
            "StreamReader" => stream_args(kwargs, prefix, mode)?,
            _ => {
                return Err(error(
                    "given reader does not exists or does not support register",
                ))
            }
        }
    };
    Ok(RegisterArgs {
        mode,
        on_registered,
        reader,
    })
}

fn keys_args(kwargs: Option<&Bound<'_, PyDict>>, prefix: String) -> PyResult<ReaderArgs> {
    let event_types = strings(
        item(kwargs, "eventTypes")?,
        "given eventTypes is not iterable",
        "given event type is not string",
    )?;
    let key_types = strings(
        item(kwargs, "keyTypes")?,
        "given keyTypes is not iterable",
        "given key type is not string",
    )?;
    if let Some(types) = &key_types {
        if types.iter().any(|t| !KEY_TYPES.contains(&t.as_str())) {
            return Err(error("unknown key type"));
        }
    }
    let read_value = match item(kwargs, "readValue")? {
        None => true,
        Some(value) => boolean(&value, "readValue is not boolean")?,
    };
    let commands = strings(
        item(kwargs, "commands")?,
        "given commands is not iterable",
        "given command type is not string",
    )?
    .filter(|commands| !commands.is_empty());
    Ok(ReaderArgs::Keys(KeysArgs {
        prefix: prefix.into_bytes(),
        event_types,
        key_types,
        read_value,
        commands,
    }))
}

fn stream_args(
    kwargs: Option<&Bound<'_, PyDict>>,
    prefix: String,
    mode: Mode,
) -> PyResult<ReaderArgs> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let batch = match item(kwargs, "batch")? {
        None => 1,
        Some(value) => count(number(&value, "batch argument must be a number")?),
    };
    let duration_ms = match item(kwargs, "duration")? {
        None => 0,
        Some(value) => count(number(&value, "duration argument must be a number")?),
    };
    let policy = match item(kwargs, "onFailedPolicy")? {
        None => OnFailedPolicy::Continue,
        Some(value) => {
            let text = value
                .cast::<PyString>()
                .map_err(|_| error(StreamConfigError::PolicyNotString.message()))?
                .to_string_lossy()
                .into_owned();
            let policy = OnFailedPolicy::parse(&text).map_err(|e| error(e.message()))?;
            check_mode_policy(mode.name(), policy).map_err(|e| error(e.message()))?;
            policy
        }
    };
    let retry_interval_secs = match item(kwargs, "onFailedRetryInterval")? {
        None => 1,
        Some(value) => count(number(&value, "retryInterval argument must be a number")?),
    };
    let trim = match item(kwargs, "trimStream")? {
        None => true,
        Some(value) => boolean(&value, "pyTrimmStream argument must be a boolean")?,
    };
    Ok(ReaderArgs::Stream(StreamArgs {
        prefix: prefix.into_bytes(),
        batch,
        duration_ms,
        on_failed: policy,
        retry_interval_secs,
        trim,
    }))
}

fn command_args(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<ReaderArgs> {
    let trigger = item(kwargs, "trigger")?
        .map(|v| string(&v, "trigger argument is not string"))
        .transpose()?;
    let in_order = item(kwargs, "inorder")?
        .map(|v| boolean(&v, "inorder argument is be boolean"))
        .transpose()?
        .unwrap_or(false);
    let key_prefix = item(kwargs, "keyprefix")?
        .map(|v| string(&v, "keyprefix argument is not string"))
        .transpose()?;
    let hook = item(kwargs, "hook")?
        .map(|v| string(&v, "hook argument is not string"))
        .transpose()?;
    let trigger = match (trigger, hook) {
        (Some(_), _) if key_prefix.is_some() => {
            return Err(error(
                "trigger argument can not be given with keyprefix or hook",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(error(
                "trigger argument can not be given with keyprefix or hook",
            ))
        }
        (Some(name), None) => CommandTrigger::Trigger(name),
        (None, Some(command)) => CommandTrigger::Hook {
            command,
            key_prefix: key_prefix.map(String::into_bytes),
        },
        (None, None) => return Err(error("no trigger or hook argument was given")),
    };
    Ok(ReaderArgs::Command { trigger, in_order })
}
