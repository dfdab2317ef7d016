//! Plain HTTP to a node's Kinesis port, and its `/metrics` exposition parsed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP/1.1 exchange on the node's Kinesis port: (status, body).
pub async fn http(address: &str, request: String) -> Result<(u16, String)> {
    let mut stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(address))
        .await
        .context("connect timed out")??;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .context("response timed out")??;
    let text = String::from_utf8(response).context("a text response")?;
    let (head, body) = text.split_once("\r\n\r\n").context("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status")?;
    Ok((status, body.to_owned()))
}

pub async fn get(address: &str, path: &str) -> Result<(u16, String)> {
    http(
        address,
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// One sample line: metric name, labels, value.
pub type Sample = (String, BTreeMap<String, String>, f64);

/// Parses an exposition, checking that every sample belongs to a family announced
/// with `# TYPE` before it, and that no family is announced twice.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>> {
    let mut families: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest
                .split_whitespace()
                .next()
                .context("a TYPE line names a family")?;
            if families.iter().any(|f| f == name) {
                bail!("family {name} announced twice");
            }
            families.push(name.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').context("a sample has a value")?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().with_context(|| format!("value of {line}"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').context("labels end with }")?;
                let mut labels = BTreeMap::new();
                // The values this test looks at contain no commas or quotes.
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once("=\"").context("label=\"value\"")?;
                    labels.insert(key.to_owned(), value.trim_end_matches('"').to_owned());
                }
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        let family = families.last().context("a sample before any TYPE")?;
        let belongs = name == family
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|suffix| name.strip_suffix(suffix) == Some(family.as_str()));
        if !belongs {
            bail!("sample {name} is not in the family {family} announced before it");
        }
        samples.push((name.to_owned(), labels, value));
    }
    Ok(samples)
}

pub fn sum(samples: &[Sample], name: &str, filter: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name
                && filter
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, value)| value)
        .sum()
}

/// The value of an unlabelled gauge on a node's `/metrics`.
pub async fn gauge(address: &str, name: &str) -> Result<f64> {
    let (status, text) = get(address, "/metrics").await?;
    if status != 200 {
        bail!("/metrics answered {status}");
    }
    Ok(sum(&parse_exposition(&text)?, name, &[]))
}
