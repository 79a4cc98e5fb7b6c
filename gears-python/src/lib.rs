//! # gears-python
//!
//! The embedded CPython of gears-rs: interpreter, sessions, the GearsBuilder API,
//! conversions between Python values, engine records and replies, and error texts.
//! Being filled by the Python engine issue.
