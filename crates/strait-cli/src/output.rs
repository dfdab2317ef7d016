//! How results are printed: records as text or JSON lines, and aligned tables.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use strait_core::ShardId;
use strait_core::StoredRecord;
use strait_core::time::CivilDateTime;

/// A record as `strait tail --format json` prints it: one object per line.
#[derive(Debug, Serialize)]
pub struct RecordJson<'a> {
    pub shard_id: String,
    /// A string: sequence numbers have 56 digits, more than JSON numbers keep.
    pub sequence_number: String,
    pub partition_key: &'a str,
    /// The data as text, when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a str>,
    /// The data in base64, when it is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub arrival_timestamp: u64,
}

impl<'a> RecordJson<'a> {
    pub fn new(shard_id: ShardId, record: &'a StoredRecord) -> Self {
        let text = std::str::from_utf8(&record.data).ok();
        RecordJson {
            shard_id: shard_id.to_string(),
            sequence_number: record.sequence_number.to_string(),
            partition_key: &record.partition_key,
            data: text,
            data_base64: text.is_none().then(|| BASE64.encode(&record.data)),
            arrival_timestamp: record.arrival_ms,
        }
    }
}

/// Renders a record as one JSON line, without the newline.
pub fn record_json_line(shard_id: ShardId, record: &StoredRecord) -> String {
    serde_json::to_string(&RecordJson::new(shard_id, record))
        .expect("infallible: the record holds only strings and integers")
}

/// Renders a record's data as one line of text: the data itself when it is UTF-8, its
/// base64 otherwise.
pub fn record_text_line(record: &StoredRecord) -> String {
    match std::str::from_utf8(&record.data) {
        Ok(text) => text.to_owned(),
        Err(_) => BASE64.encode(&record.data),
    }
}

/// Renders milliseconds since the Unix epoch as RFC 3339 in UTC.
pub fn rfc3339(ms: u64) -> String {
    let time = CivilDateTime::from_unix_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        time.year, time.month, time.day, time.hour, time.minute, time.second, time.millisecond
    )
}

/// A table whose columns are padded to their widest cell.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Table {
        Table {
            header: header.iter().map(|cell| (*cell).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// Renders the table, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|cell| cell.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let line = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Renders a list of node ids as `1,2,3`, or `-` when empty.
pub fn node_list(ids: &[u64]) -> String {
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    }
}

/// Renders an optional value, or `-`.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use strait_core::{RecordPosition, SequenceNumber, StreamIncarnation};

    fn record(data: &'static [u8]) -> StoredRecord {
        StoredRecord {
            sequence_number: SequenceNumber::new(
                StreamIncarnation::MIN,
                ShardId(1),
                RecordPosition::new(7, 0),
            )
            .expect("offset in range"),
            partition_key: "user-1".to_owned(),
            data: Bytes::from_static(data),
            arrival_ms: 1_714_564_800_250,
        }
    }

    #[test]
    fn utf8_data_is_printed_as_text() {
        let stored = record("héllo \"world\"".as_bytes());
        let line = record_json_line(ShardId(1), &stored);
        let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["shard_id"], "shardId-000000000001");
        assert_eq!(
            value["sequence_number"],
            stored.sequence_number.to_string().as_str()
        );
        assert_eq!(value["partition_key"], "user-1");
        assert_eq!(value["data"], "héllo \"world\"");
        assert!(value.get("data_base64").is_none());
        assert_eq!(value["arrival_timestamp"], 1_714_564_800_250u64);
        assert_eq!(record_text_line(&record(b"plain")), "plain");
    }

    #[test]
    fn binary_data_is_printed_as_base64() {
        let line = record_json_line(ShardId(1), &record(&[0xff, 0x00, 0xfe]));
        let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert!(value.get("data").is_none());
        assert_eq!(value["data_base64"], "/wD+");
        assert_eq!(record_text_line(&record(&[0xff, 0x00, 0xfe])), "/wD+");
    }

    #[test]
    fn json_fields_come_in_a_fixed_order() {
        let line = record_json_line(ShardId(0), &record(b"x"));
        let keys: Vec<&str> = ["shard_id", "sequence_number", "partition_key", "data", "arrival"]
            .into_iter()
            .collect();
        let positions: Vec<usize> = keys
            .iter()
            .map(|key| line.find(key).expect("field present"))
            .collect();
        assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{line}");
    }

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(["ID", "NAME"]);
        table.row(vec!["1".into(), "a".into()]);
        table.row(vec!["100".into(), "bb".into()]);
        assert_eq!(table.render(), "ID   NAME\n1    a\n100  bb\n");
    }

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(rfc3339(1_714_564_800_250), "2024-05-01T12:00:00.250Z");
    }
}
