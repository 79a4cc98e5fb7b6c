//! The GIL kept by the Redis main thread from its first inline run of an event-loop
//! pass until Redis is about to sleep.
//!
//! A `sync` registration runs inside the command that fired it, once per event.
//! Taking the GIL and giving it back around each run (`PyGILState_Ensure` and
//! `Release`: CPython's `take_gil` and `drop_gil`, with a mutex, a condition
//! variable and several atomic instructions each) costs about a twentieth of a
//! whole B1 event (benchmarks.md). Instead the main thread *parks* the GIL: it takes
//! it at the first run and keeps it, and later runs find it held (a nested
//! `PyGILState_Ensure` only counts). It gives it back when Redis fires the event
//! loop's `BEFORE_SLEEP`, which comes before Redis releases its own lock for
//! other threads.
//!
//! Why this cannot deadlock: the lock order is the Redis lock, then the GIL, and
//! while the GIL is parked the main thread holds the Redis lock. Another thread
//! that wants the GIL waits until the pass ends (at most one pass of the event
//! loop; a thread that wants Redis waits that long anyway), and nothing the main
//! thread does in between waits for another thread. CPython's switch interval
//! still applies whenever the main thread runs Python: a waiting thread gets the
//! GIL then, as it would without parking.
//!
//! The gears-module keeps the rules: parking is allowed only on the main thread,
//! from `AFTER_SLEEP` to `BEFORE_SLEEP` ([`allow`]); between `BEFORE_SLEEP` and
//! the sleep (expiries, unblocked clients) runs take and give back the GIL as
//! usual, so the GIL is never parked while Redis sleeps.

use std::cell::Cell;

thread_local! {
    /// Whether this thread may park the GIL now (only the main thread, between
    /// `AFTER_SLEEP` and `BEFORE_SLEEP`).
    static ALLOWED: Cell<bool> = const { Cell::new(false) };
    /// The state `PyGILState_Ensure` gave when this thread parked the GIL.
    static PARKED: Cell<Option<pyo3::ffi::PyGILState_STATE>> = const { Cell::new(None) };
}

/// Takes the GIL for the calling thread until [`release`], if parking is allowed on
/// it and it does not hold a parked GIL already. The caller holds the Redis lock.
pub fn park() {
    if !ALLOWED.with(Cell::get) || PARKED.with(Cell::get).is_some() {
        return;
    }
    // SAFETY: Python is initialized before any registration exists (they are made
    // by Python code); Ensure may be called on any thread, and is undone by the
    // Release in `release`, on the same thread (the state is thread-local).
    let state = unsafe { pyo3::ffi::PyGILState_Ensure() };
    PARKED.with(|parked| parked.set(Some(state)));
}

/// Gives back a GIL the calling thread parked, if it did.
pub fn release() {
    if let Some(state) = PARKED.with(Cell::take) {
        // SAFETY: the state `PyGILState_Ensure` gave on this thread in `park`,
        // released once (it was taken out of the cell).
        unsafe { pyo3::ffi::PyGILState_Release(state) };
    }
}

/// Allows or forbids parking on the calling thread; forbidding it gives back a
/// parked GIL.
pub fn allow(allowed: bool) {
    ALLOWED.with(|cell| cell.set(allowed));
    if !allowed {
        release();
    }
}

/// Whether the calling thread holds a parked GIL (for tests and tools).
pub fn parked() -> bool {
    PARKED.with(Cell::get).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;
    use pyo3::Python;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_parked_gil_is_held_between_runs_and_given_back_on_release() {
        python();
        park();
        assert!(!parked(), "parking is not allowed until allow(true)");
        allow(true);
        park();
        assert!(parked());
        // SAFETY: only reads whether this thread holds the GIL.
        assert_eq!(unsafe { pyo3::ffi::PyGILState_Check() }, 1);
        // A run inside finds it held, and leaves it held.
        Python::attach(|py| py.run(c"x = 1", None, None)).expect("runs");
        // SAFETY: as above.
        assert_eq!(unsafe { pyo3::ffi::PyGILState_Check() }, 1);
        // Another thread gets the GIL only once it is released.
        let (sender, receiver) = mpsc::channel();
        let other = std::thread::spawn(move || {
            Python::attach(|_| sender.send(()).expect("sends"));
        });
        assert!(receiver.recv_timeout(Duration::from_millis(100)).is_err());
        allow(false);
        assert!(!parked());
        receiver
            .recv_timeout(Duration::from_secs(5))
            .expect("the other thread got the GIL");
        other.join().expect("joins");
    }
}
