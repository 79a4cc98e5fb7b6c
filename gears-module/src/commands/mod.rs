//! Command handlers, one file per command family.
//!
//! Each public function here is what `redis_module!` registers; it only routes
//! through [`crate::entry`], which parses the argv, contains panics and sends the
//! reply. Families that land in later issues add their file here.

pub mod config;
#[cfg(feature = "debug-commands")]
pub mod debug;
pub mod executions;
pub mod pyexecute;
pub mod registrations;
pub mod trigger;
