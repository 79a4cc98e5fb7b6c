//! The embedded CPython of gears-rs.
//!
//! This crate owns everything Python in the module, and nothing Redis: it never calls
//! the Redis module API (the Redis-facing runtime functions such as `execute`,
//! `atomic` or `log` will reach Redis through a host trait that `gears-module`
//! implements). What it owns so far:
//!
//! - [`interpreter`]: starting the one CPython of the process ([`start`]), the way a
//!   module loaded `RTLD_LOCAL` by Redis needs it (libpython promoted to
//!   `RTLD_GLOBAL`, `PyConfig` isolated start-up, no signal handlers, GIL released
//!   for every thread afterwards);
//! - [`gears_module`]: the native `redisgears` module with RedisGears' exception
//!   classes (`gears.error`, `gears.flat_error`, `gears.forcestopped`) and `flatError`;
//! - [`session`]: the base globals built from the Python prelude, and [`Session`]s,
//!   one globals dict per `RG.PYEXECUTE`, in which scripts run;
//! - [`errors`]: the text of a Python exception exactly as RedisGears writes it;
//! - [`convert`]: Python values to [`Reply`](gears_protocol::Reply)s (behaviour.md §6.7).
//!
//! Every function that touches Python objects takes a [`Python`](pyo3::Python) token,
//! so callers decide where they attach to the interpreter (and must respect the lock
//! order of the architecture: the Redis lock first, then the GIL). [`pyo3`] is
//! re-exported so that dependent crates use the very same version.
//!
//! # Example
//!
//! ```
//! use gears_python::pyo3::Python;
//! use gears_python::{start, Session, StartOptions};
//!
//! start(&StartOptions::default()).expect("python starts");
//! Python::attach(|py| {
//!     let session = Session::new(py).expect("session");
//!     session.run_script(py, b"x = 6 * 7", true).expect("script runs");
//!     let error = session
//!         .run_script(py, b"flat_error('no such thing')", true)
//!         .expect_err("the script raises");
//!     assert_eq!(error.text, "no such thing");
//! });
//! ```

pub mod aggregates;
pub mod builder;
pub mod callback;
pub mod convert;
pub mod dict_order;
pub mod errors;
pub mod event_run;
pub mod gears_module;
pub mod host;
pub mod interpreter;
pub mod parked_gil;
pub mod pickling;
pub mod readers;
pub mod record_use;
pub mod records;
pub mod register;
pub mod runtime_functions;
pub mod session;
pub mod to_str;

pub use convert::to_reply;
pub use errors::error_text;
pub use interpreter::{is_started, start, StartError, StartOptions};
pub use session::{ScriptError, Session};

/// The pyo3 this crate is built with; use it to get a [`Python`](pyo3::Python) token.
pub use pyo3;

#[cfg(test)]
pub(crate) mod test_support {
    //! One interpreter per test binary, started by whichever test needs it first.

    use crate::{start, StartOptions};

    /// Starts the interpreter if it is not running yet; every test calls this first.
    pub(crate) fn python() {
        start(&StartOptions::default()).expect("the interpreter starts");
    }
}
