//! `strait put`: one record from the command line, or one per line of standard input.
//!
//! Standard input is read by a task of its own that turns lines into records and hands them
//! to the [`Producer`] through a bounded channel, so reading stops while the batches in
//! flight are full and memory holds only those batches, however long the input is. Each
//! record is tagged with its line number, which is how failures are reported.

use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use strait_client::{Producer, ProducerConfig, RecordFailure};
use strait_core::{PartitionKey, Record};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::cli::{GlobalArgs, PutArgs};
use crate::commands::{client, usage};

/// How many parsed records may wait for a batch slot.
const READ_AHEAD: usize = 1000;
/// How many failed records are listed with their error; the rest are listed by number only.
const DETAILED_FAILURES: usize = 20;

/// Where each record's partition key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The same key for every record (`--partition-key`).
    Fixed(PartitionKey),
    /// The N-th whitespace-separated field of the line, counting from 1 (`--key-field`).
    Field(usize),
    /// A random key per record.
    Random,
}

impl KeySource {
    fn from_args(args: &PutArgs) -> anyhow::Result<KeySource> {
        match (&args.partition_key, args.key_field) {
            (Some(key), _) => PartitionKey::new(key.clone())
                .map(KeySource::Fixed)
                .map_err(|error| usage(format!("--partition-key: {}", error.message()))),
            (None, Some(field)) => usize::try_from(field)
                .map(KeySource::Field)
                .map_err(|_| usage("--key-field is too large")),
            (None, None) => Ok(KeySource::Random),
        }
    }
}

/// Removes one trailing `\n` or `\r\n`.
pub fn strip_line_ending(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n")
        .map_or(line, |line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// Turns one line (with or without its line ending) into a record. Returns `None` for an
/// empty line, and an error for a line that has no usable key field.
pub fn parse_line(line: &[u8], keys: &KeySource) -> Result<Option<Record>, String> {
    let line = strip_line_ending(line);
    if line.is_empty() {
        return Ok(None);
    }
    let key = match keys {
        KeySource::Fixed(key) => key.clone(),
        KeySource::Random => random_key(),
        KeySource::Field(n) => {
            let field = line
                .split(u8::is_ascii_whitespace)
                .filter(|field| !field.is_empty())
                .nth(n.saturating_sub(1))
                .ok_or_else(|| format!("the line has no field {n} to take the partition key from"))?;
            let text = std::str::from_utf8(field)
                .map_err(|_| format!("field {n} is not valid UTF-8, so it cannot be a partition key"))?;
            PartitionKey::new(text).map_err(|error| error.message().to_owned())?
        }
    };
    Ok(Some(Record::new(key, Bytes::copy_from_slice(line))))
}

/// Returns a random partition key, 32 hexadecimal digits.
fn random_key() -> PartitionKey {
    let value: u128 = rand::rng().random();
    PartitionKey::new(format!("{value:032x}")).expect("infallible: 32 hex digits are a valid key")
}

pub async fn run(global: &GlobalArgs, args: PutArgs) -> anyhow::Result<ExitCode> {
    let keys = KeySource::from_args(&args)?;
    let client = client(global)?.with_retry_deadline(args.deadline);
    if let Some(data) = &args.data {
        let record = match parse_line(data.as_bytes(), &keys) {
            Ok(Some(record)) => record,
            Ok(None) => return Err(usage("DATA is empty; a record needs at least one byte")),
            Err(reason) => return Err(usage(format!("DATA: {reason}"))),
        };
        let stored = client.put_record(&args.name, &record).await?;
        println!("{} {}", stored.shard_id, stored.sequence_number);
        return Ok(ExitCode::SUCCESS);
    }

    let started = Instant::now();
    let (records, receiver) = mpsc::channel::<(u64, Record)>(READ_AHEAD);
    let reader = tokio::spawn(read_stdin(keys, records));
    let producer = Producer::new(
        client,
        args.name.clone(),
        ProducerConfig {
            max_in_flight: args.max_in_flight,
            deadline: args.deadline,
            ..ProducerConfig::default()
        },
    );
    let mut stored = 0u64;
    let mut failures: Vec<(u64, RecordFailure)> = Vec::new();
    let mut outcomes = std::pin::pin!(producer.send(ReceiverStream::new(receiver)));
    while let Some((line, outcome)) = outcomes.next().await {
        match outcome {
            Ok(_) => stored += 1,
            Err(failure) => failures.push((line, failure)),
        }
    }
    let (unparsed, read_error) = reader.await?;
    failures.extend(unparsed);
    failures.sort_by_key(|(line, _)| *line);

    report_failures(&failures);
    let elapsed = started.elapsed().as_secs_f64();
    let rate = if elapsed > 0.0 {
        stored as f64 / elapsed
    } else {
        0.0
    };
    eprintln!(
        "stored {stored} record(s), {} failed, in {elapsed:.2}s ({rate:.0} records/s)",
        failures.len()
    );
    if let Some(error) = read_error {
        eprintln!("error: reading standard input stopped early: {error}");
        return Ok(ExitCode::FAILURE);
    }
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else if stored == 0
        && failures
            .iter()
            .all(|(_, failure)| failure.error_code == strait_client::ClientError::UNREACHABLE)
    {
        Ok(ExitCode::from(2))
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// Reads standard input line by line, sending records to the producer. Returns the lines
/// that could not become records, and the read error that stopped it, if any.
async fn read_stdin(
    keys: KeySource,
    records: mpsc::Sender<(u64, Record)>,
) -> (Vec<(u64, RecordFailure)>, Option<std::io::Error>) {
    let mut input = BufReader::with_capacity(1 << 16, tokio::io::stdin());
    let mut failures = Vec::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) => return (failures, None),
            Ok(_) => number += 1,
            Err(error) => return (failures, Some(error)),
        }
        match parse_line(&line, &keys) {
            Ok(Some(record)) => {
                if records.send((number, record)).await.is_err() {
                    return (failures, None);
                }
            }
            Ok(None) => {}
            Err(reason) => {
                failures.push((
                    number,
                    RecordFailure {
                        error_code: "ValidationException".to_owned(),
                        message: reason,
                    },
                ));
            }
        }
    }
}

/// Prints the first failures with their errors, then every failed line number as ranges.
fn report_failures(failures: &[(u64, RecordFailure)]) {
    if failures.is_empty() {
        return;
    }
    for (line, failure) in failures.iter().take(DETAILED_FAILURES) {
        eprintln!("line {line}: not stored: {failure}");
    }
    if failures.len() > DETAILED_FAILURES {
        eprintln!("... and {} more", failures.len() - DETAILED_FAILURES);
    }
    let lines: Vec<u64> = failures.iter().map(|(line, _)| *line).collect();
    eprintln!("lines not stored: {}", line_ranges(&lines));
}

/// Renders sorted line numbers compactly: `3, 7-12, 15`.
pub fn line_ranges(lines: &[u64]) -> String {
    let mut ranges: Vec<String> = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let start = lines[index];
        let mut end = start;
        while index + 1 < lines.len() && lines[index + 1] == end + 1 {
            index += 1;
            end = lines[index];
        }
        ranges.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        index += 1;
    }
    ranges.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> PartitionKey {
        PartitionKey::new(text).expect("valid key")
    }

    #[test]
    fn line_endings_are_stripped_once() {
        assert_eq!(strip_line_ending(b"abc\n"), b"abc");
        assert_eq!(strip_line_ending(b"abc\r\n"), b"abc");
        assert_eq!(strip_line_ending(b"abc"), b"abc");
        assert_eq!(strip_line_ending(b"abc\n\n"), b"abc\n");
        // A carriage return that does not end the line is data.
        assert_eq!(strip_line_ending(b"abc\r"), b"abc\r");
    }

    #[test]
    fn empty_lines_are_skipped() {
        let keys = KeySource::Fixed(key("k"));
        assert_eq!(parse_line(b"\n", &keys), Ok(None));
        assert_eq!(parse_line(b"\r\n", &keys), Ok(None));
        assert_eq!(parse_line(b"", &keys), Ok(None));
    }

    #[test]
    fn a_fixed_key_keeps_the_whole_line_as_data() {
        let record = parse_line(b"hello world\r\n", &KeySource::Fixed(key("k")))
            .expect("valid")
            .expect("not empty");
        assert_eq!(record.partition_key, key("k"));
        assert_eq!(&record.data[..], b"hello world");
    }

    #[test]
    fn key_fields_count_from_one_and_skip_runs_of_whitespace() {
        let line = b"  2024-05-01\t user-7   clicked\n";
        let record = parse_line(line, &KeySource::Field(2))
            .expect("valid")
            .expect("not empty");
        assert_eq!(record.partition_key, key("user-7"));
        assert_eq!(&record.data[..], b"  2024-05-01\t user-7   clicked");
        let first = parse_line(line, &KeySource::Field(1))
            .expect("valid")
            .expect("not empty");
        assert_eq!(first.partition_key, key("2024-05-01"));
    }

    #[test]
    fn a_missing_key_field_is_an_error() {
        let error = parse_line(b"only two\n", &KeySource::Field(3)).expect_err("no field 3");
        assert!(error.contains("no field 3"), "{error}");
        let error = parse_line(b"a \xff\xfe b\n", &KeySource::Field(2)).expect_err("not UTF-8");
        assert!(error.contains("UTF-8"), "{error}");
    }

    #[test]
    fn random_keys_differ() {
        let a = parse_line(b"x", &KeySource::Random)
            .expect("valid")
            .expect("not empty");
        let b = parse_line(b"x", &KeySource::Random)
            .expect("valid")
            .expect("not empty");
        assert_ne!(a.partition_key, b.partition_key);
        assert_eq!(a.partition_key.as_str().len(), 32);
    }

    #[test]
    fn non_utf8_data_is_kept_byte_for_byte() {
        let record = parse_line(b"\xff\x00\xfe\n", &KeySource::Fixed(key("k")))
            .expect("valid")
            .expect("not empty");
        assert_eq!(&record.data[..], b"\xff\x00\xfe");
    }

    #[test]
    fn failed_lines_are_listed_as_ranges() {
        assert_eq!(line_ranges(&[3, 7, 8, 9, 10, 11, 12, 15]), "3, 7-12, 15");
        assert_eq!(line_ranges(&[1]), "1");
        assert_eq!(line_ranges(&[]), "");
    }
}
