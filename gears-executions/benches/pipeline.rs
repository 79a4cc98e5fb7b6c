//! The step pipeline with native records: how fast records go through map, filter,
//! extractkey + accumulatebykey and limit, without any language runtime.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gears_executions::pipeline::Pipeline;
use gears_executions::plan::{Callback, Step, StepKind, StepResult};
use gears_executions::record::Record;
use std::hint::black_box;
use std::sync::Arc;

/// Doubles longs, keeps evens, keys by value modulo 100, counts.
#[derive(Debug)]
struct Arithmetic;

fn long(record: &Record) -> i64 {
    match record {
        Record::Long(value) => *value,
        _ => 0,
    }
}

impl Callback for Arithmetic {
    fn map(&self, record: Record) -> StepResult<Record> {
        Ok(Record::Long(long(&record) * 2))
    }
    fn filter(&self, record: &Record) -> StepResult<bool> {
        Ok(long(record) % 4 == 0)
    }
    fn foreach(&self, _record: &Record) -> StepResult<()> {
        Ok(())
    }
    fn accumulate(&self, accumulator: Option<Record>, record: Record) -> StepResult<Record> {
        Ok(Record::Long(
            accumulator.as_ref().map_or(0, long) + long(&record),
        ))
    }
    fn extract_key(&self, record: &Record) -> StepResult<Vec<u8>> {
        Ok((long(record) % 100).to_string().into_bytes())
    }
    fn accumulate_by_key(
        &self,
        _key: &[u8],
        accumulator: Option<Record>,
        _record: Record,
    ) -> StepResult<Record> {
        Ok(Record::Long(accumulator.as_ref().map_or(0, long) + 1))
    }
    fn reduce(&self, _key: &[u8], records: Vec<Record>) -> StepResult<Record> {
        Ok(Record::Long(records.len() as i64))
    }
    fn describe(&self) -> String {
        "arithmetic".to_owned()
    }
}

fn steps(kinds: &[StepKind]) -> Arc<[Step]> {
    let callback: Arc<dyn Callback> = Arc::new(Arithmetic);
    kinds
        .iter()
        .map(|kind| {
            if kind.needs_callback() {
                Step::with_callback(*kind, "native", callback.clone())
            } else {
                Step::plain(*kind, "plain")
            }
        })
        .collect::<Vec<_>>()
        .into()
}

fn bench(c: &mut Criterion) {
    const RECORDS: u64 = 100_000;
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(RECORDS));
    let cases: [(&str, Vec<StepKind>); 3] = [
        ("map+filter", vec![StepKind::Map, StepKind::Filter]),
        (
            "countby",
            vec![
                StepKind::ExtractKey,
                StepKind::Repartition,
                StepKind::AccumulateByKey,
            ],
        ),
        (
            "aggregate+limit",
            vec![
                StepKind::Map,
                StepKind::Accumulate,
                StepKind::Collect,
                StepKind::Accumulate,
                StepKind::Limit { offset: 0, len: 1 },
            ],
        ),
    ];
    for (name, kinds) in cases {
        let steps = steps(&kinds);
        group.bench_function(name, |b| {
            b.iter_batched(
                || (0..RECORDS as i64).map(Record::Long).collect::<Vec<_>>(),
                |records| {
                    let mut pipeline = Pipeline::new(&steps, false);
                    for record in records {
                        pipeline.push(record);
                    }
                    pipeline.finish();
                    black_box(pipeline.into_outcome())
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
