//! `strait tail`: prints a stream's records, from every shard, in lineage order.

use std::io::{BufWriter, ErrorKind, Write};
use std::process::ExitCode;

use futures::{FutureExt, StreamExt};
use strait_client::{ConsumedRecord, Consumer, ConsumerConfig};

use crate::cli::{GlobalArgs, OutputFormat, TailArgs};
use crate::commands::client;
use crate::output::{record_json_line, record_text_line};

pub async fn run(global: &GlobalArgs, args: TailArgs) -> anyhow::Result<ExitCode> {
    let consumer = Consumer::new(
        client(global)?,
        args.name.clone(),
        ConsumerConfig {
            start: args.from,
            follow: !args.no_follow,
            ..ConsumerConfig::default()
        },
    );
    let mut records = std::pin::pin!(consumer.records());
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    loop {
        // Flush only when no record is waiting, so bursts are written in large blocks and a
        // quiet stream still shows each record at once.
        let next = match records.next().now_or_never() {
            Some(next) => next,
            None => {
                if let Err(error) = out.flush() {
                    return write_failed(error);
                }
                records.next().await
            }
        };
        let record = match next {
            None => break,
            Some(Ok(record)) => record,
            Some(Err(error)) => {
                // What was read so far is still worth printing.
                let _ = out.flush();
                return Err(error.into());
            }
        };
        if let Err(error) = writeln!(out, "{}", render(&record, args.format)) {
            return write_failed(error);
        }
    }
    if let Err(error) = out.flush() {
        return write_failed(error);
    }
    Ok(ExitCode::SUCCESS)
}

fn render(consumed: &ConsumedRecord, format: OutputFormat) -> String {
    match format {
        OutputFormat::Text => record_text_line(&consumed.record),
        OutputFormat::Json => record_json_line(consumed.shard_id, &consumed.record),
    }
}

/// A reader that went away (`strait tail ... | head`) ends the command quietly.
fn write_failed(error: std::io::Error) -> anyhow::Result<ExitCode> {
    if error.kind() == ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(anyhow::anyhow!("cannot write to standard output: {error}"))
    }
}
