//! A value that changes rarely and is read on every command or keyspace event,
//! read through a per-thread copy.
//!
//! What the keyspace callback and the command filter look at (the KeysReader
//! registrations, the intercepted command names) changes only when registrations
//! do, but is read once per event or command, on the main thread and on the
//! execution threads alike (their own commands fire events too). A shared `Arc`
//! would have its reference count and its lock touched from both sides each time,
//! moving one cache line between cores per read. A generation number that rarely
//! changes stays in every core's cache: each thread keeps its own copy and takes a
//! new one only when the generation has moved.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::LocalKey;

/// One thread's copy of a [`Published`] value and the generation it was taken at.
pub type LocalCopy<T> = RefCell<Option<(u64, Rc<T>)>>;

/// The current value, and a generation bumped after every change.
pub struct Published<T> {
    current: Mutex<Option<Arc<T>>>,
    generation: AtomicU64,
}

impl<T: Clone> Default for Published<T> {
    fn default() -> Published<T> {
        Published::new()
    }
}

impl<T: Clone> Published<T> {
    /// Nothing published yet.
    pub const fn new() -> Published<T> {
        Published {
            current: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Replaces the value; every thread sees the new one at its next read.
    pub fn publish(&self, value: T) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(value));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The current value, through this thread's copy in `local` (a thread-local
    /// kept for this value only). `None` before anything was published. A copy
    /// keeps a replaced value alive until the thread's next read.
    pub fn read(&self, local: &'static LocalKey<LocalCopy<T>>) -> Option<Rc<T>> {
        let generation = self.generation.load(Ordering::Acquire);
        local.with(|copy| {
            if let Some((taken, value)) = &*copy.borrow() {
                if *taken == generation {
                    return Some(value.clone());
                }
            }
            let fresh = self
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(|value| Rc::new(T::clone(value)));
            *copy.borrow_mut() = fresh.clone().map(|value| (generation, value));
            fresh
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static NAMES: Published<Vec<&'static str>> = Published::new();

    thread_local! {
        static LOCAL_NAMES: LocalCopy<Vec<&'static str>> = const { RefCell::new(None) };
    }

    #[test]
    fn a_thread_sees_each_new_value_and_keeps_its_copy_in_between() {
        assert!(NAMES.read(&LOCAL_NAMES).is_none());
        NAMES.publish(vec!["hset"]);
        let first = NAMES.read(&LOCAL_NAMES).expect("published");
        assert_eq!(*first, vec!["hset"]);
        // Unchanged: the same copy.
        assert!(Rc::ptr_eq(
            &first,
            &NAMES.read(&LOCAL_NAMES).expect("published")
        ));
        NAMES.publish(vec!["hset", "set"]);
        assert_eq!(
            *NAMES.read(&LOCAL_NAMES).expect("published"),
            vec!["hset", "set"]
        );
        // Another thread takes its own copy of the current value.
        let other = std::thread::spawn(|| NAMES.read(&LOCAL_NAMES).map(|names| names.len()))
            .join()
            .expect("thread");
        assert_eq!(other, Some(2));
    }
}
