//! Readers: where an execution's records come from, a batch at a time.
//!
//! A reader works in batches so that the Redis lock (for KeysReader) or the
//! runtime's lock (for a Python generator) is held for one batch at a time, and the
//! server keeps serving between batches. Within a batch it hands records to the
//! pipeline one by one, and stops as soon as the pipeline says so (an error, an
//! abort): like RedisGears, a reader is never asked for a record after the first
//! error, which matters when reading has side effects (a Python generator). The
//! keyspace itself is reached through the [`KeySpace`] trait, which the module
//! implements on top of Redis.

use crate::record::{KeyEntry, Record};
use crate::runner::Runtime;
use std::sync::Arc;

/// Receives records; returns false when the reader must stop.
pub type Push<'a> = &'a mut dyn FnMut(Record) -> bool;

/// A source of records.
pub trait Reader: Send {
    /// Reads one batch, handing each record to `push` (inside the runtime's scope
    /// when the records are runtime values) until it returns false. Returns whether
    /// there may be more. An error becomes one error of the execution and ends the
    /// reading.
    fn read(&mut self, runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String>;
}

/// Records given up front, for internal plans and tests.
pub struct VecReader {
    records: Option<Vec<Record>>,
}

impl VecReader {
    /// A reader that yields `records` as one batch.
    pub fn new(records: Vec<Record>) -> VecReader {
        VecReader {
            records: Some(records),
        }
    }
}

impl Reader for VecReader {
    fn read(&mut self, runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
        if let Some(records) = self.records.take() {
            push_all(runtime, records.into_iter(), push);
        }
        Ok(false)
    }
}

/// The keyspace as KeysReader sees it; the module implements it over Redis.
pub trait KeySpace: Send + Sync {
    /// A scan over the keys matching the glob `pattern`, reading their values when
    /// `read_value`.
    fn scanner(&self, pattern: &[u8], read_value: bool) -> Box<dyn KeyScanner>;
    /// One key by name, whether it exists or not (a missing key has type `empty`).
    fn read_key(&self, key: &[u8], read_value: bool) -> Result<KeyEntry, String>;
}

/// A scan in progress.
pub trait KeyScanner: Send {
    /// The next step, under the Redis lock: about `count` keys (possibly none), or
    /// `None` once the scan is complete.
    fn next(&mut self, count: usize) -> Result<Option<Vec<KeyEntry>>, String>;
}

/// How long the scan thread pauses between two steps, so that the main thread can
/// take the Redis lock in between.
const LOCK_HANDOFF_PAUSE: std::time::Duration = std::time::Duration::from_micros(20);

/// How much scanning may go on between two such pauses (a client waits at most
/// about this long for the lock).
const LOCK_HANDOFF_EVERY: std::time::Duration = std::time::Duration::from_millis(1);

/// A scanner run one step ahead on its own thread.
///
/// Walking the keyspace (under the Redis lock) and running the steps (under the
/// runtime's lock) then overlap: while the execution thread pushes one batch through
/// the steps, the next batch is read. Two batches at most wait in between, and the
/// thread ends as soon as the reader stops asking.
pub struct Prefetched {
    receiver: crossbeam_channel::Receiver<Result<Option<Vec<KeyEntry>>, String>>,
}

impl Prefetched {
    /// Starts `scanner` on a thread, `count` keys a step; if no thread can be started
    /// the scanner is used directly.
    pub fn start(scanner: Box<dyn KeyScanner>, count: usize) -> Box<dyn KeyScanner> {
        let (sender, receiver) = crossbeam_channel::bounded(2);
        // Shared so that the scanner can be taken back if the thread does not start.
        let shared = std::sync::Arc::new(std::sync::Mutex::new(Some(scanner)));
        let thread_scanner = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("rg-keys-read".to_owned())
            .spawn(move || {
                let Some(mut scanner) = thread_scanner.lock().ok().and_then(|mut s| s.take())
                else {
                    return;
                };
                // Sleep as long as asked, not the default 50 µs of timer slack more:
                // the pause between steps is short on purpose.
                // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
                unsafe {
                    libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
                }
                let mut last_pause = std::time::Instant::now();
                loop {
                    let step = scanner.next(count);
                    let last = !matches!(step, Ok(Some(_)));
                    if sender.send(step).is_err() || last {
                        return;
                    }
                    // The Redis lock is not fair: taking it again at once would keep
                    // the main thread (and every client) waiting for the whole scan.
                    // A short pause once a millisecond of steps lets a waiting main
                    // thread in.
                    if last_pause.elapsed() >= LOCK_HANDOFF_EVERY {
                        std::thread::sleep(LOCK_HANDOFF_PAUSE);
                        last_pause = std::time::Instant::now();
                    }
                }
            });
        match spawned {
            Ok(_) => Box::new(Prefetched { receiver }),
            // No thread: read in place.
            Err(_) => match shared.lock().ok().and_then(|mut s| s.take()) {
                Some(scanner) => scanner,
                None => Box::new(Prefetched { receiver }),
            },
        }
    }
}

impl KeyScanner for Prefetched {
    fn next(&mut self, _count: usize) -> Result<Option<Vec<KeyEntry>>, String> {
        // A closed channel means the scan thread has finished.
        self.receiver.recv().unwrap_or(Ok(None))
    }
}

/// KeysReader in batch mode: every key matching a glob, or one exact key (`noScan`).
pub struct KeysReader {
    keyspace: Arc<dyn KeySpace>,
    pattern: Vec<u8>,
    no_scan: bool,
    read_value: bool,
    batch: usize,
    scanner: Option<Box<dyn KeyScanner>>,
    done: bool,
}

impl KeysReader {
    /// How many keys one SCAN step asks for: enough to amortize the lock, small
    /// enough that the server stalls for well under a millisecond per step.
    pub const DEFAULT_BATCH: usize = 1000;

    /// A reader over `pattern` (`noScan`: the pattern is one key name).
    pub fn new(
        keyspace: Arc<dyn KeySpace>,
        pattern: Vec<u8>,
        no_scan: bool,
        read_value: bool,
    ) -> KeysReader {
        KeysReader {
            keyspace,
            pattern,
            no_scan,
            read_value,
            batch: KeysReader::DEFAULT_BATCH,
            scanner: None,
            done: false,
        }
    }

    /// Changes the SCAN COUNT of each step.
    pub fn with_batch(mut self, batch: usize) -> KeysReader {
        self.batch = batch.max(1);
        self
    }
}

impl Reader for KeysReader {
    fn read(&mut self, runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        // The keys are read under the Redis lock; the lock is released before
        // they go through the steps.
        let entries = if self.no_scan {
            self.done = true;
            vec![self.keyspace.read_key(&self.pattern, self.read_value)?]
        } else {
            let (keyspace, pattern, read_value, batch) =
                (&self.keyspace, &self.pattern, self.read_value, self.batch);
            let scanner = self.scanner.get_or_insert_with(|| {
                Prefetched::start(keyspace.scanner(pattern, read_value), batch)
            });
            match scanner.next(self.batch)? {
                Some(entries) => entries,
                None => {
                    self.done = true;
                    Vec::new()
                }
            }
        };
        let stopped = push_all(runtime, entries.into_iter().map(Record::Key), push);
        Ok(!stopped && !self.done)
    }
}

/// Pushes records in the runtime's scope; true when the pipeline said stop.
fn push_all(runtime: &dyn Runtime, records: impl Iterator<Item = Record>, push: Push<'_>) -> bool {
    let mut records = records;
    let mut stopped = false;
    runtime.batch_scope(&mut || {
        for record in records.by_ref() {
            if !push(record) {
                stopped = true;
                break;
            }
        }
    });
    stopped
}

/// KeysReader in event mode: the one key an event names (a deleted key reads as
/// type `empty`), with the event's name.
pub struct KeyEventReader {
    entry: Option<KeyEntry>,
}

impl KeyEventReader {
    /// A reader of the one key an event named, read when the event fired (the
    /// event's callback holds the Redis lock, so the value is the one the event
    /// left, and the execution needs no lock round trip to read it).
    pub fn new(entry: KeyEntry) -> KeyEventReader {
        KeyEventReader { entry: Some(entry) }
    }
}

impl Reader for KeyEventReader {
    fn read(&mut self, runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
        if let Some(entry) = self.entry.take() {
            push_all(runtime, std::iter::once(Record::Key(entry)), push);
        }
        Ok(false)
    }
}

/// KeysOnlyReader: the names of the keys matching a glob (or the one key named,
/// when it exists, with `noScan`), as string records.
pub struct KeyNamesReader {
    keyspace: Arc<dyn KeySpace>,
    pattern: Vec<u8>,
    no_scan: bool,
    count: usize,
    scanner: Option<Box<dyn KeyScanner>>,
    done: bool,
}

impl KeyNamesReader {
    /// A reader over `pattern`, `count` keys per scan step.
    pub fn new(
        keyspace: Arc<dyn KeySpace>,
        pattern: Vec<u8>,
        no_scan: bool,
        count: usize,
    ) -> KeyNamesReader {
        KeyNamesReader {
            keyspace,
            pattern,
            no_scan,
            count: count.max(1),
            scanner: None,
            done: false,
        }
    }
}

impl Reader for KeyNamesReader {
    fn read(&mut self, runtime: &dyn Runtime, push: Push<'_>) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        let names: Vec<Vec<u8>> = if self.no_scan {
            self.done = true;
            let entry = self.keyspace.read_key(&self.pattern, true)?;
            match entry.value {
                Some((crate::record::KeyType::Empty, _)) | None => Vec::new(),
                Some(_) => vec![entry.key],
            }
        } else {
            let (keyspace, pattern, count) = (&self.keyspace, &self.pattern, self.count);
            let scanner = self
                .scanner
                .get_or_insert_with(|| Prefetched::start(keyspace.scanner(pattern, false), count));
            match scanner.next(self.count)? {
                Some(entries) => entries.into_iter().map(|entry| entry.key).collect(),
                None => {
                    self.done = true;
                    Vec::new()
                }
            }
        };
        let stopped = push_all(runtime, names.into_iter().map(Record::Text), push);
        Ok(!stopped && !self.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{KeyType, KeyValue};
    use std::sync::Mutex;

    /// A keyspace of `n` string keys `k0..`, scanned `count` at a time.
    struct Keys {
        keys: Vec<Vec<u8>>,
        calls: Arc<Mutex<Vec<usize>>>,
    }

    struct KeysScan {
        keys: Vec<Vec<u8>>,
        position: usize,
        calls: Arc<Mutex<Vec<usize>>>,
    }

    impl KeyScanner for KeysScan {
        fn next(&mut self, count: usize) -> Result<Option<Vec<KeyEntry>>, String> {
            self.calls.lock().map_err(|e| e.to_string())?.push(count);
            if self.position >= self.keys.len() {
                return Ok(None);
            }
            let end = (self.position + count).min(self.keys.len());
            let entries = self.keys[self.position..end]
                .iter()
                .map(|k| KeyEntry {
                    key: k.clone(),
                    event: None,
                    value: Some((KeyType::String, KeyValue::String(b"v".to_vec()))),
                })
                .collect();
            self.position = end;
            Ok(Some(entries))
        }
    }

    impl KeySpace for Keys {
        fn scanner(&self, _pattern: &[u8], _read_value: bool) -> Box<dyn KeyScanner> {
            Box::new(KeysScan {
                keys: self.keys.clone(),
                position: 0,
                calls: self.calls.clone(),
            })
        }

        fn read_key(&self, key: &[u8], _read_value: bool) -> Result<KeyEntry, String> {
            Ok(KeyEntry {
                key: key.to_vec(),
                event: None,
                value: Some((KeyType::Empty, KeyValue::None)),
            })
        }
    }

    fn drain(reader: &mut dyn Reader) -> Vec<Record> {
        let mut all = Vec::new();
        while reader
            .read(&crate::runner::NativeRuntime, &mut |record| {
                all.push(record);
                true
            })
            .expect("no error")
        {}
        all
    }

    #[test]
    fn scans_in_batches_until_the_cursor_returns_to_zero() {
        let keyspace = Arc::new(Keys {
            keys: (0..2500).map(|i| format!("k{i}").into_bytes()).collect(),
            calls: Arc::new(Mutex::new(Vec::new())),
        });
        let mut reader = KeysReader::new(keyspace.clone(), b"*".to_vec(), false, true);
        assert_eq!(drain(&mut reader).len(), 2500);
        let calls = keyspace.calls.lock().expect("lock").clone();
        assert_eq!(calls, vec![1000, 1000, 1000, 1000]);
    }

    #[test]
    fn scanning_runs_on_its_own_thread() {
        struct Named(Arc<Mutex<Vec<String>>>);
        impl KeyScanner for Named {
            fn next(&mut self, _count: usize) -> Result<Option<Vec<KeyEntry>>, String> {
                let name = std::thread::current().name().unwrap_or_default().to_owned();
                self.0.lock().map_err(|e| e.to_string())?.push(name);
                Ok(None)
            }
        }
        let names = Arc::new(Mutex::new(Vec::new()));
        let mut scanner = Prefetched::start(Box::new(Named(names.clone())), 10);
        assert_eq!(scanner.next(10), Ok(None));
        assert_eq!(
            *names.lock().expect("lock"),
            vec!["rg-keys-read".to_owned()]
        );
    }

    #[test]
    fn key_names_are_scanned_in_steps_of_count() {
        let keyspace = Arc::new(Keys {
            keys: (0..25).map(|i| format!("k{i}").into_bytes()).collect(),
            calls: Arc::new(Mutex::new(Vec::new())),
        });
        let mut reader = KeyNamesReader::new(keyspace.clone(), b"*".to_vec(), false, 10);
        let names = drain(&mut reader);
        assert_eq!(names.len(), 25);
        assert!(matches!(&names[0], Record::Text(name) if name == b"k0"));
        assert_eq!(keyspace.calls.lock().expect("lock").len(), 4);
        // noScan yields the name only if the key exists.
        let mut missing = KeyNamesReader::new(keyspace, b"nope".to_vec(), true, 10);
        assert!(drain(&mut missing).is_empty());
    }

    #[test]
    fn no_scan_reads_exactly_one_key_even_if_missing() {
        let keyspace = Arc::new(Keys {
            keys: vec![],
            calls: Arc::new(Mutex::new(Vec::new())),
        });
        let mut reader = KeysReader::new(keyspace.clone(), b"x*".to_vec(), true, true);
        let records = drain(&mut reader);
        assert_eq!(records.len(), 1);
        assert!(
            matches!(&records[0], Record::Key(entry) if entry.key == b"x*" && entry.value == Some((KeyType::Empty, KeyValue::None)))
        );
        assert!(keyspace.calls.lock().expect("lock").is_empty());
    }
}
