//! Golden scripts for the shard state machine.
//!
//! Each file in `tests/scripts/` is a series of blocks: commands, a line `---`, then the
//! expected output, ended by a blank line. Lines starting with `#` are comments. The runner
//! writes each command as the next log entry under the group's log keys (as the log store
//! does), applies it through `RaftStateMachine::apply`, renders its reply, and after every
//! block renders the shard: its tip, the records a reader returns and the facts applying
//! stored. With `UPDATE_GOLDENFILES=1` it rewrites the expected sections instead of
//! comparing them, so a change in behaviour shows up as a diff of the scripts.
//!
//! openraft hands replies to responders only it can build, so the runner reconstructs each
//! reply from what the state machine stored: where each producer batch landed (the dedup
//! table, as it was before the entry for a retry), the seal, the retained position.
//!
//! Commands (one log entry each, except `purge`, `restart`, `read` and `at-timestamp`):
//!
//! ```text
//! append arrival=MS P/S:RECORDS ...   producer P (`p1` or `1`), sequence S; RECORDS is a
//!                                     comma-separated list of `data` or `key=data`
//!                                     (key `k` by default), possibly empty
//! seal
//! trim before=MS
//! blank                               a blank entry, as a new leader commits
//! purge upto=N                        Raft purged its log up to entry N
//! restart                             reopens the state machine from the engine
//! read [from=I.O] [limit=N]           what a reader returns from a position
//! at-timestamp MS                     where an AT_TIMESTAMP iterator starts
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use openraft::alias::EntryPayloadOf;
use openraft::impls::leader_id_adv::LeaderId;
use openraft::storage::RaftStateMachine;
use openraft::{Entry, EntryPayload, LogId};
use serde::Deserialize;
use strait_core::RecordPosition;
use strait_raft::codec;
use strait_raft::shard::records::ReadRecord;
use strait_raft::shard::state_machine::EntryMeta;
use strait_raft::shard::{
    AppendBatch, ProducerBatch, ShardCommand, ShardRaftConfig, ShardReader, ShardRecord, ShardStateMachine,
};
use strait_raft::{AppliedFloor, GroupId};
use strait_storage::keys::{self, Family, StateKey};
use strait_storage::{Flusher, KvEngine, MemoryEngine, WriteBatch};

const GROUP: u64 = 1;

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_script(stringify!($name));
            }
        )*
    };
}

scripts!(group_commit, retry, arrival, seal, trim);

#[test]
fn every_script_is_run() {
    let mut found: Vec<String> = std::fs::read_dir(scripts_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut listed: Vec<String> = SCRIPTS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "add every script in tests/scripts to scripts!()");
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

fn run_script(name: &str) {
    let path = scripts_dir().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut shard = Shard::new();
    let actual = strait_golden::run(&text, |commands| {
        let mut out = String::new();
        for (line_no, command) in commands {
            match shard.command(command) {
                Ok(line) => out.push_str(&line),
                Err(error) => writeln!(out, "error: {error}").unwrap(),
            }
            shard.check_invariants(&format!("{name}.txt:{line_no}"));
        }
        out.push_str(&shard.render());
        out
    });
    strait_golden::compare_or_update(&path, &text, &actual);
}

/// Where a producer batch was committed, as the state machine stores it in its dedup
/// table (`[Producer][group][producer][sequence]`). Decoding it is how the runner learns
/// the reply an append gave each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
struct Landed {
    index: u64,
    first_offset: u32,
    arrival_ms: u64,
}

/// A shard on a memory engine, fed entries as the log store would write them.
struct Shard {
    /// Runs the flusher task and the state machine's async calls.
    runtime: tokio::runtime::Runtime,
    engine: Arc<dyn KvEngine>,
    sm: ShardStateMachine,
    next_index: u64,
    /// The last arrival time seen by a reader, to check it never goes backwards.
    last_read_arrival: u64,
}

impl Shard {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let engine: Arc<dyn KvEngine> = Arc::new(MemoryEngine::new());
        let sm = Self::open(&runtime, &engine);
        Self {
            runtime,
            engine,
            sm,
            next_index: 1,
            last_read_arrival: 0,
        }
    }

    fn open(runtime: &tokio::runtime::Runtime, engine: &Arc<dyn KvEngine>) -> ShardStateMachine {
        let flusher = {
            let _entered = runtime.enter();
            Flusher::start(engine.clone(), false)
        };
        ShardStateMachine::open(
            engine.clone(),
            flusher,
            GroupId(GROUP),
            Arc::new(AppliedFloor::default()),
        )
        .expect("the state machine opens")
    }

    fn reader(&self) -> ShardReader {
        ShardReader::new(self.engine.clone(), GroupId(GROUP), self.sm.subscribe_tip())
    }

    /// Writes `payload` as the next log entry and applies it.
    fn apply(&mut self, payload: EntryPayloadOf<ShardRaftConfig>) {
        let entry: Entry<LeaderId<u64, u64>, _> = Entry {
            log_id: LogId::new(LeaderId { term: 1, node_id: 1 }, self.next_index),
            payload,
        };
        self.next_index += 1;
        let mut batch = WriteBatch::new();
        batch.put(
            keys::log(GROUP, entry.log_id.index),
            codec::encode_stored(&entry).expect("the entry encodes"),
        );
        self.engine.write(batch).expect("the entry is written");
        let stream = futures::stream::iter(vec![Ok((entry, None))]);
        self.runtime
            .block_on(self.sm.apply(stream))
            .expect("the entry applies");
    }

    fn producers(&self) -> BTreeMap<(u64, u64), Landed> {
        let (start, end) = keys::group_range(Family::Producer, GROUP);
        self.engine
            .scan(&start, &end)
            .map(|pair| {
                let (k, v) = pair.unwrap();
                let id = keys::producer_parts(&k).expect("a producer key");
                (id, codec::decode_stored(&v).expect("a dedup entry"))
            })
            .collect()
    }

    /// Runs one script command and returns its output lines.
    fn command(&mut self, line: &str) -> Result<String, String> {
        let mut words = line.split_whitespace();
        let verb = words.next().ok_or("empty command")?;
        let mut positional = Vec::new();
        let mut args = BTreeMap::new();
        for word in words {
            match word.split_once('=').filter(|_| !word.contains(':')) {
                Some((k, v)) => {
                    args.insert(k.to_string(), v.to_string());
                }
                None => positional.push(word.to_string()),
            }
        }
        let number = |args: &mut BTreeMap<String, String>, name: &str| -> Result<Option<u64>, String> {
            args.remove(name)
                .map(|v| v.parse().map_err(|_| format!("{name}={v} is not a number")))
                .transpose()
        };
        let out = match verb {
            "append" => {
                let arrival_ms = number(&mut args, "arrival")?.ok_or("missing arrival=")?;
                let producers = positional
                    .iter()
                    .map(|p| parse_batch(p))
                    .collect::<Result<_, _>>()?;
                positional.clear();
                let batch = AppendBatch::new(arrival_ms, producers);
                let before = self.producers();
                let was_sealed = self.sm.subscribe_tip().borrow().sealed_at.is_some();
                let index = self.next_index;
                self.apply(EntryPayload::Normal(ShardCommand::append(batch.clone())));
                let after = self.producers();
                let mut outcomes = Vec::new();
                for (i, producer) in batch.producers.iter().enumerate() {
                    let id = (producer.producer, producer.sequence);
                    let name = format!("p{}/{}", id.0, id.1);
                    let earlier_in_entry = batch.producers[..i]
                        .iter()
                        .any(|p| (p.producer, p.sequence) == id);
                    let outcome = if was_sealed {
                        "sealed".to_string()
                    } else if let Some(landed) = before.get(&id) {
                        format!("{}.{} (retry)", landed.index, landed.first_offset)
                    } else {
                        match after.get(&id) {
                            Some(landed) if earlier_in_entry => {
                                format!("{}.{} (retry)", landed.index, landed.first_offset)
                            }
                            Some(landed) => format!("{}.{}", landed.index, landed.first_offset),
                            None => "? (not in the dedup table)".into(),
                        }
                    };
                    outcomes.push(format!("{name}→{outcome}"));
                }
                format!("{index} append: {}\n", outcomes.join(" "))
            }
            "seal" => {
                let index = self.next_index;
                self.apply(EntryPayload::Normal(ShardCommand::Seal));
                let tip = *self.sm.subscribe_tip().borrow();
                let seal = tip.sealed_at.ok_or("the seal did not stick")?;
                format!("{index} seal: sealed next_index={seal}\n")
            }
            "trim" => {
                let before_ms = number(&mut args, "before")?.ok_or("missing before=")?;
                let index = self.next_index;
                self.apply(EntryPayload::Normal(ShardCommand::Trim { before_ms }));
                let retained = self.sm.subscribe_tip().borrow().first_retained;
                format!("{index} trim: first_retained={retained}\n")
            }
            "blank" => {
                let index = self.next_index;
                self.apply(EntryPayload::Blank);
                format!("{index} blank\n")
            }
            "purge" => {
                let upto = number(&mut args, "upto")?.ok_or("missing upto=")?;
                let purged = LogId::new(LeaderId { term: 1, node_id: 1 }, upto);
                let mut batch = WriteBatch::new();
                batch.put(
                    keys::state(GROUP, StateKey::Purged),
                    codec::encode_stored(&purged).map_err(|e| e.to_string())?,
                );
                self.engine.write(batch).map_err(|e| e.to_string())?;
                format!("purge: log purged up to {upto}\n")
            }
            "restart" => {
                self.sm = Self::open(&self.runtime, &self.engine);
                "restart: reopened\n".into()
            }
            "read" => {
                let from = match args.remove("from") {
                    Some(p) => parse_position(&p)?,
                    None => RecordPosition::START,
                };
                let limit = number(&mut args, "limit")?.unwrap_or(1000) as usize;
                let records = self
                    .reader()
                    .read(from, limit, usize::MAX)
                    .map_err(|e| e.to_string())?;
                let mut out = format!("read from {from}: {} records\n", records.len());
                for r in records {
                    writeln!(out, "  {}", render_record(&r)).unwrap();
                }
                out
            }
            "at-timestamp" => {
                let at: u64 = positional
                    .pop()
                    .ok_or("missing time")?
                    .parse()
                    .map_err(|_| "not a time")?;
                let position = self.reader().find_timestamp(at).map_err(|e| e.to_string())?;
                format!("at-timestamp {at}: {position}\n")
            }
            other => return Err(format!("unknown command {other}")),
        };
        if let Some(unused) = args.keys().next().or(positional.first()) {
            return Err(format!("unused argument {unused}"));
        }
        Ok(out)
    }

    /// What holds after every command: readers see records in position order with
    /// arrival times that never go backwards, none before the retained position and none
    /// after the seal.
    fn check_invariants(&mut self, at: &str) {
        let tip = *self.sm.subscribe_tip().borrow();
        let records = self
            .reader()
            .read(RecordPosition::START, usize::MAX, usize::MAX)
            .unwrap();
        for pair in records.windows(2) {
            assert!(pair[0].position < pair[1].position, "{at}: records out of order");
            assert!(
                pair[0].arrival_ms <= pair[1].arrival_ms,
                "{at}: arrival goes backwards at {}",
                pair[1].position
            );
        }
        if let Some(first) = records.first() {
            assert!(
                first.position >= tip.first_retained,
                "{at}: an expired record is served"
            );
        }
        if let Some(last) = records.last() {
            assert_eq!(
                Some(last.position),
                tip.last_record,
                "{at}: the tip is not the last record"
            );
            if let Some(seal) = tip.sealed_at {
                assert!(
                    last.position.index < seal,
                    "{at}: a record after the seal is served"
                );
            }
            assert!(
                last.arrival_ms >= self.last_read_arrival,
                "{at}: the last arrival went back"
            );
            self.last_read_arrival = last.arrival_ms;
        }
    }

    fn render(&self) -> String {
        let tip = *self.sm.subscribe_tip().borrow();
        let mut out = String::new();
        writeln!(
            out,
            "tip applied={} last_record={} last_arrival={} sealed_at={} first_retained={} next={}",
            tip.applied_index,
            tip.last_record.map_or("-".into(), |p| p.to_string()),
            tip.last_arrival_ms,
            tip.sealed_at.map_or("-".into(), |s| s.to_string()),
            tip.first_retained,
            tip.next_position(),
        )
        .unwrap();
        let records = self
            .reader()
            .read(RecordPosition::START, usize::MAX, usize::MAX)
            .unwrap();
        if records.is_empty() {
            out.push_str("records: none\n");
        } else {
            out.push_str("records:\n");
            for r in &records {
                writeln!(out, "  {}", render_record(r)).unwrap();
            }
        }

        let (start, end) = keys::group_range(Family::Log, GROUP);
        let stored: Vec<u64> = self
            .engine
            .scan(&start, &end)
            .map(|pair| keys::log_index(&pair.unwrap().0).unwrap())
            .collect();
        writeln!(out, "log on disk: {}", render_indexes(&stored)).unwrap();

        let (start, end) = keys::group_range(Family::Arrival, GROUP);
        let arrivals: Vec<String> = self
            .engine
            .scan(&start, &end)
            .map(|pair| {
                let (ms, index) = keys::arrival_parts(&pair.unwrap().0).unwrap();
                format!("{ms}→{index}")
            })
            .collect();
        writeln!(out, "arrival index: {}", none_or_join(arrivals)).unwrap();

        let (start, end) = keys::group_range(Family::EntryMeta, GROUP);
        for pair in self.engine.scan(&start, &end) {
            let (k, v) = pair.unwrap();
            let index = keys::entry_meta_index(&k).unwrap();
            let meta: EntryMeta = codec::decode_stored(&v).unwrap();
            let mut line = format!("entry meta {index}:");
            if let Some(arrival) = meta.arrival_ms {
                write!(line, " arrival={arrival}").unwrap();
            }
            for (first, count) in meta.hidden {
                write!(line, " hidden={first}+{count}").unwrap();
            }
            writeln!(out, "{line}").unwrap();
        }

        let producers: Vec<String> = self
            .producers()
            .into_iter()
            .map(|((p, s), l)| format!("p{p}/{s}→{}.{}@{}", l.index, l.first_offset, l.arrival_ms))
            .collect();
        writeln!(out, "dedup: {}", none_or_join(producers)).unwrap();
        out
    }
}

fn render_record(r: &ReadRecord) -> String {
    format!(
        "{} {}={} @{}",
        r.position,
        r.partition_key,
        String::from_utf8_lossy(&r.data),
        r.arrival_ms
    )
}

/// `1-3,5`.
fn render_indexes(indexes: &[u64]) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &i in indexes {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    let parts: Vec<String> = runs
        .into_iter()
        .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
        .collect();
    none_or_join(parts)
}

fn none_or_join(parts: Vec<String>) -> String {
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}

/// `p1/2:a,b`, `1/2:key=a`, `p3/1:` (no records).
fn parse_batch(text: &str) -> Result<ProducerBatch, String> {
    let bad = || format!("{text} is not PRODUCER/SEQUENCE:RECORDS");
    let (id, records) = text.split_once(':').ok_or_else(bad)?;
    let (producer, sequence) = id.split_once('/').ok_or_else(bad)?;
    let producer = producer.strip_prefix('p').unwrap_or(producer);
    Ok(ProducerBatch {
        producer: producer.parse().map_err(|_| bad())?,
        sequence: sequence.parse().map_err(|_| bad())?,
        records: records
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let (key, data) = r.split_once('=').unwrap_or(("k", r));
                ShardRecord {
                    partition_key: key.to_string(),
                    data: Bytes::from(data.to_string()),
                }
            })
            .collect(),
    })
}

/// `INDEX.OFFSET`.
fn parse_position(text: &str) -> Result<RecordPosition, String> {
    let bad = || format!("{text} is not INDEX.OFFSET");
    let (index, offset) = text.split_once('.').ok_or_else(bad)?;
    Ok(RecordPosition::new(
        index.parse().map_err(|_| bad())?,
        offset.parse().map_err(|_| bad())?,
    ))
}
