//! The Kinesis wire work of the two hot operations, in both body formats: decoding a
//! PutRecords request into records, and rendering and encoding a GetRecords answer.
//!
//! Sizes follow the comparison in docs/benchmarks.md: 500 records of 100 B and of 1 KiB.

use std::collections::BTreeMap;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use strait_core::{RecordPosition, SequenceNumber, ShardId, StoredRecord, StreamIncarnation};
use strait_kinesis::action::common::{self, Checks};
use strait_kinesis::action::put_record::RecordMembers;
use strait_kinesis::codec::{Format, Input, Value};

const RECORDS: usize = 500;
const SIZES: [usize; 2] = [100, 1024];

fn partition_key(i: usize) -> String {
    format!(
        "{:032x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    )
}

fn data(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// A PutRecords request body as an SDK sends it.
fn put_records_body(format: Format, size: usize) -> Vec<u8> {
    let records = (0..RECORDS)
        .map(|i| {
            Value::Map(BTreeMap::from([
                ("Data".to_owned(), Value::Blob(data(size))),
                ("PartitionKey".to_owned(), Value::string(partition_key(i))),
            ]))
        })
        .collect();
    let request = Value::Map(BTreeMap::from([
        ("StreamName".to_owned(), Value::string("bench")),
        ("Records".to_owned(), Value::List(records)),
    ]));
    format.encode(&request)
}

/// What the PutRecords action does with a body before it calls the node: decode, read each
/// entry's members, build the records.
fn decode_put_records(format: Format, body: &[u8]) -> usize {
    let input = Input::new(format, format.decode(body).expect("a valid body")).expect("a structure");
    let entries = input.structure_list("Records").expect("a list").expect("present");
    let mut checks = Checks::new();
    let mut bytes = 0;
    for (i, entry) in entries.iter().enumerate() {
        let members =
            RecordMembers::read(entry, &format!("records.{}.member.", i + 1), &mut checks).expect("valid");
        bytes += members.build().expect("a valid record").data.len();
    }
    bytes
}

/// The records of a GetRecords page.
fn stored_records(size: usize) -> Vec<StoredRecord> {
    let incarnation = StreamIncarnation::new(1).expect("a valid incarnation");
    (0..RECORDS)
        .map(|i| StoredRecord {
            sequence_number: SequenceNumber::new(
                incarnation,
                ShardId::new(0),
                RecordPosition::new(7, i as u32),
            )
            .expect("a valid position"),
            partition_key: partition_key(i),
            data: Bytes::from(data(size)),
            arrival_ms: 1_700_000_000_000 + i as u64,
        })
        .collect()
}

/// What the GetRecords action and the server do with a page: render it, then encode it.
fn encode_get_records(format: Format, records: &[StoredRecord]) -> Vec<u8> {
    let answer = Value::structure([
        (
            "Records",
            Value::List(records.iter().map(common::record).collect()),
        ),
        (
            "NextShardIterator",
            Value::string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        ("MillisBehindLatest", Value::Integer(0)),
    ]);
    format.encode(&answer)
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("kinesis_codec");
    group.throughput(Throughput::Elements(RECORDS as u64));
    for (name, format) in [("json", Format::Json), ("cbor", Format::Cbor)] {
        for size in SIZES {
            let body = put_records_body(format, size);
            group.bench_with_input(
                BenchmarkId::new(format!("put_records_decode_{name}"), size),
                &body,
                |b, body| b.iter(|| black_box(decode_put_records(format, black_box(body)))),
            );
            let records = stored_records(size);
            group.bench_with_input(
                BenchmarkId::new(format!("get_records_encode_{name}"), size),
                &records,
                |b, records| b.iter(|| black_box(encode_get_records(format, black_box(records)))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
