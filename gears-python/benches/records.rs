//! Record conversion, both ways: KeysReader records into Python dicts (what every
//! Python plan does first) and Python results into replies (what every run does
//! last).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gears_executions::record::{KeyEntry, KeyType, KeyValue, Record};
use gears_python::pyo3::prelude::*;
use gears_python::pyo3::types::PyString;
use gears_python::records::{py_to_record, record_to_py};
use gears_python::{start, StartOptions};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    start(&StartOptions::default()).expect("python starts");
    const RECORDS: u64 = 10_000;
    let mut group = c.benchmark_group("records");
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function("key record to dict", |b| {
        b.iter(|| {
            Python::attach(|py| {
                for n in 0..RECORDS {
                    let entry = KeyEntry {
                        key: format!("user:{n}").into_bytes(),
                        event: None,
                        value: Some((KeyType::String, KeyValue::String(b"some value".to_vec()))),
                    };
                    black_box(record_to_py(py, Record::Key(entry)).expect("converts"));
                }
            })
        })
    });
    group.bench_function("python str to reply", |b| {
        let records: Vec<Record> = Python::attach(|py| {
            (0..RECORDS)
                .map(|n| py_to_record(PyString::new(py, &format!("result {n}")).into_any()))
                .collect()
        });
        b.iter(|| {
            Python::attach(|_| {
                for record in &records {
                    black_box(record.to_reply());
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
