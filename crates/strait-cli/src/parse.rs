//! Parsers for flag values: addresses, the initial cluster, durations, `--from` and times.
//!
//! Each returns a `String` error phrased for a person, which clap prints after the flag's
//! name. They are plain functions so that the config file can use the same rules as the
//! flags.

use std::collections::BTreeMap;
use std::time::Duration;

use strait_core::{IteratorType, SequenceNumber, StreamName};

/// Checks a `host:port` address and returns it unchanged.
/// Parses a `host:port` address, or the word `off`.
pub fn host_port_or_off(text: &str) -> Result<String, String> {
    if text.eq_ignore_ascii_case("off") {
        Ok("off".to_owned())
    } else {
        host_port(text)
    }
}

pub fn host_port(text: &str) -> Result<String, String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} is not host:port"));
    };
    if host.is_empty() {
        return Err(format!("{text:?} has no host before the port"));
    }
    if host.contains("://") {
        return Err(format!("{text:?} must be host:port, without a scheme"));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(text.to_owned()),
        _ => Err(format!("{text:?} has no valid port (1-65535) after the colon")),
    }
}

/// The initial members of a cluster, node id to `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialCluster(pub BTreeMap<u64, String>);

/// Parses `1=host:port,2=host:port`.
pub fn initial_cluster(text: &str) -> Result<InitialCluster, String> {
    let mut members = BTreeMap::new();
    for member in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let Some((id, address)) = member.split_once('=') else {
            return Err(format!("{member:?} is not id=host:port"));
        };
        let id: u64 = id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| format!("{member:?} does not start with a node id of at least 1"))?;
        let address = host_port(address.trim())?;
        if members.insert(id, address).is_some() {
            return Err(format!("node {id} is listed twice"));
        }
    }
    if members.is_empty() {
        return Err("no members were given; expected id=host:port,...".to_owned());
    }
    Ok(InitialCluster(members))
}

/// Parses a duration: a number followed by `ms`, `s`, `m` or `h`; a bare number is seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 500ms, 30s, 2m or 1h"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("{other:?} is not a unit; use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is out of range"))
}

/// Parses a stream name with Kinesis's rules.
pub fn stream_name(text: &str) -> Result<StreamName, String> {
    StreamName::new(text).map_err(|error| error.message().to_owned())
}

/// Parses `--from`: `trim-horizon`, `latest`, `at-sequence:N`, `after-sequence:N` or
/// `at-timestamp:T`, with T in milliseconds since the Unix epoch or in RFC 3339.
pub fn starting_point(text: &str) -> Result<IteratorType, String> {
    let (kind, argument) = match text.split_once(':') {
        Some((kind, argument)) => (kind, Some(argument)),
        None => (text, None),
    };
    let sequence = |argument: Option<&str>| -> Result<SequenceNumber, String> {
        let argument = argument.ok_or_else(|| format!("{kind} needs a sequence number: {kind}:N"))?;
        SequenceNumber::parse(argument.trim())
            .map_err(|_| format!("{argument:?} is not a Strait sequence number"))
    };
    match (kind.to_ascii_lowercase().replace('_', "-").as_str(), argument) {
        ("trim-horizon", None) => Ok(IteratorType::TrimHorizon),
        ("latest", None) => Ok(IteratorType::Latest),
        ("at-sequence", argument) => sequence(argument).map(IteratorType::AtSequenceNumber),
        ("after-sequence", argument) => sequence(argument).map(IteratorType::AfterSequenceNumber),
        ("at-timestamp", Some(argument)) => timestamp_ms(argument).map(IteratorType::AtTimestamp),
        ("at-timestamp", None) => Err("at-timestamp needs a time: at-timestamp:T".to_owned()),
        _ => Err(format!(
            "{text:?} is not a starting point; use trim-horizon, latest, at-sequence:N, \
             after-sequence:N or at-timestamp:T"
        )),
    }
}

/// Parses a time as milliseconds since the Unix epoch, or as RFC 3339
/// (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.250+02:00`).
pub fn timestamp_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("{text:?} is too large for a timestamp"));
    }
    rfc3339_ms(text).ok_or_else(|| {
        format!(
            "{text:?} is neither milliseconds since the epoch nor an RFC 3339 time such as \
             2024-05-01T12:00:00Z"
        )
    })
}

/// Parses `YYYY-MM-DD(T| )HH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` to milliseconds since the
/// Unix epoch. Times before 1970 are rejected.
fn rfc3339_ms(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let offset = &rest[1..];
            if offset.len() != 5 || offset.as_bytes()[2] != b':' {
                return None;
            }
            let hours: i64 = offset[..2].parse().ok()?;
            let minutes: i64 = offset[3..].parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 60 + minutes)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    u64::try_from(seconds * 1000 + millis).ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Hinnant's `days_from_civil`: days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_core::{RecordPosition, ShardId, StreamIncarnation};

    #[test]
    fn initial_cluster_lists_members_by_id() {
        let parsed = initial_cluster("2=10.0.0.2:7001, 1=node-1:7001").expect("valid");
        assert_eq!(
            parsed.0,
            BTreeMap::from([(1, "node-1:7001".into()), (2, "10.0.0.2:7001".into())])
        );
    }

    #[test]
    fn initial_cluster_rejects_malformed_members() {
        for bad in [
            "",
            "1",
            "1=host",
            "0=host:1",
            "x=host:1",
            "1=host:1,1=other:2",
            "1=:7001",
            "1=host:99999",
            "1=http://host:1",
        ] {
            assert!(initial_cluster(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(duration("soon").is_err());
        assert!(duration("3 days").is_err());
    }

    #[test]
    fn from_accepts_every_starting_point() {
        assert_eq!(starting_point("trim-horizon"), Ok(IteratorType::TrimHorizon));
        assert_eq!(starting_point("TRIM_HORIZON"), Ok(IteratorType::TrimHorizon));
        assert_eq!(starting_point("latest"), Ok(IteratorType::Latest));
        let number = SequenceNumber::new(StreamIncarnation::MIN, ShardId(2), RecordPosition::new(17, 3))
            .expect("offset in range");
        assert_eq!(
            starting_point(&format!("at-sequence:{number}")),
            Ok(IteratorType::AtSequenceNumber(number))
        );
        assert_eq!(
            starting_point(&format!("after-sequence:{number}")),
            Ok(IteratorType::AfterSequenceNumber(number))
        );
        assert_eq!(
            starting_point("at-timestamp:1714564800000"),
            Ok(IteratorType::AtTimestamp(1_714_564_800_000))
        );
        assert_eq!(
            starting_point("at-timestamp:2024-05-01T12:00:00Z"),
            Ok(IteratorType::AtTimestamp(1_714_564_800_000))
        );
    }

    #[test]
    fn from_rejects_nonsense() {
        for bad in [
            "",
            "oldest",
            "latest:5",
            "at-sequence",
            "at-sequence:12",
            "at-timestamp",
            "at-timestamp:yesterday",
        ] {
            assert!(starting_point(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_handles_fractions_and_offsets() {
        assert_eq!(timestamp_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(timestamp_ms("1970-01-01T00:00:01.5Z"), Ok(1500));
        assert_eq!(timestamp_ms("1970-01-01 00:00:01.123456z"), Ok(1123));
        assert_eq!(
            timestamp_ms("2024-05-01T14:00:00.250+02:00"),
            Ok(1_714_564_800_250)
        );
        assert_eq!(timestamp_ms("2024-02-29T00:00:00-00:30"), Ok(1_709_166_600_000));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00+0200",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(timestamp_ms(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_port_needs_both_parts() {
        assert_eq!(host_port("127.0.0.1:7001"), Ok("127.0.0.1:7001".into()));
        assert_eq!(host_port("[::1]:7001"), Ok("[::1]:7001".into()));
        assert!(host_port("7001").is_err());
        assert!(host_port("host:").is_err());
        assert!(host_port("host:0").is_err());
    }
}
