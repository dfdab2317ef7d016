#!/usr/bin/env bash
# Renders the JSON lines of scripts/bench-compare.sh (and bench-failover.sh) as the
# Markdown tables of docs/benchmarks.md.
#
#   scripts/bench-table.sh [/var/tmp/strait-bench/results.jsonl]
set -euo pipefail
RESULTS="${1:-/var/tmp/strait-bench/results.jsonl}"

echo "| system | record | batch | conc. | records/s | MB/s | p50 ms | p99 ms | p999 ms | server CPU µs/record | disk bytes/payload byte/replica |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
jq -r 'select(.mode == "produce") |
    "| \(.system)\(if .rate then " (rate \(.rate))" else "" end)\(if (.warm_up_s // 0) > 0 then " (after \(.warm_up_s) s warm-up)" else "" end) | \(.record_size) B | \(.batch_size) | \(.concurrency) | \(.records_per_s) | \(.mb_per_s) | \(.latency_us.p50 / 1000 | . * 10 | round / 10) | \(.latency_us.p99 / 1000 | . * 10 | round / 10) | \(.latency_us.p999 / 1000 | . * 10 | round / 10) | \(.server_cpu_us_per_record // "-") | \(.disk_bytes_per_payload_byte_per_replica // "-") |"' \
    "$RESULTS"
echo
echo "| system | mode | records | records/s | MB/s | latency p50 ms | p99 ms | p999 ms |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
jq -r 'def ms: . / 1000 | . * 10 | round / 10;
    select(.mode == "consume") |
    "| \(.system) | consume (catch-up, GetRecords) | \(.records) | \(.records_per_s) | \(.mb_per_s) | \(.get_records_latency_us.p50 | ms) | \(.get_records_latency_us.p99 | ms) | \(.get_records_latency_us.p999 | ms) |"' "$RESULTS"
jq -r 'def ms: . / 1000 | . * 10 | round / 10;
    select(.mode == "e2e") |
    "| \(.system) | e2e put (PutRecord at \(.rate)/s) | \(.records) | - | - | \(.put_latency_us.p50 | ms) | \(.put_latency_us.p99 | ms) | \(.put_latency_us.p999 | ms) |",
    (if .poll then "| \(.system) | e2e put → GetRecords poll | \(.poll.received) | - | - | \(.poll.latency_us.p50 | ms) | \(.poll.latency_us.p99 | ms) | \(.poll.latency_us.p999 | ms) |" else empty end),
    (if .subscribe then "| \(.system) | e2e put → Subscribe | \(.subscribe.received) | - | - | \(.subscribe.latency_us.p50 | ms) | \(.subscribe.latency_us.p99 | ms) | \(.subscribe.latency_us.p999 | ms) |" else empty end)' "$RESULTS"
echo
echo "| system | shards | idle CPU per node (% of one core) | RSS per node (MiB) |"
echo "|---|---:|---:|---|"
jq -r 'select(.mode == "idle") | "| \(.system) | \(.shards) | \(.cpu_percent_of_one_core_per_node) | \(.rss_mib_per_node | map(tostring) | join(", ")) |"' "$RESULTS"
echo
echo "| system | rate (rec/s) | producer errors | failed records | slowest request ms | p999 ms | changes (ms) |"
echo "|---|---:|---:|---:|---:|---:|---|"
jq -r 'select(.mode == "reshard") | "| \(.system) | \(.rate) | \(.errors) | \(.failed) | \(.slowest_request_ms) | \(.p999_ms) | \(.changes | map("\(.change | split(" ") | .[0]) \(.ms)") | join(", ")) |"' "$RESULTS"
