#!/usr/bin/env bash
# Reproduces the tables of docs/benchmarks.md: Strait (3 nodes, RF3, and 1 node) and a
# 3-node NATS JetStream cluster (R3, file storage) under the same loads, one run per row,
# with each system's server CPU per record (/proc/<pid>/stat, summed over its nodes) and
# disk bytes written per acknowledged payload byte (/proc/<pid>/io).
#
#   scripts/bench-compare.sh [all|compare|strait3|strait1|nats|idle|reshard]   (default: all)
#
# `compare` runs Strait 3-node and NATS row by row, alternating, with both clusters up.
# `reshard` splits and merges shards under a steady load and reports what producers saw.
#
# Environment: DURATION (seconds per row, default 10), OUT (results directory, default
# /var/tmp/strait-bench), STRAIT (the strait binary, default the release build in
# $CARGO_TARGET_DIR), NATS_BENCH (the load generator of scripts/nats-bench).
#
# Needs: a release build of strait (cargo build --release -p strait-cli), nats-server 2.9
# (apt-get install -y nats-server), the nats-bench binary (cargo build --release in
# scripts/nats-bench), jq. Everything listens on 127.0.0.1 only. Every run is bounded by
# DURATION; every wait is bounded too.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
TARGET="${CARGO_TARGET_DIR:-$HERE/../target}"
STRAIT="${STRAIT:-$TARGET/release/strait}"
NATS_BENCH="${NATS_BENCH:-$TARGET/release/nats-bench}"
DURATION="${DURATION:-10}"
OUT="${OUT:-/var/tmp/strait-bench}"
WHAT="${1:-all}"
TICKS=$(getconf CLK_TCK)
SIZES=(100 1024)
BATCHES=(100 500)
CONCURRENCIES=(1 8 32)
SHARDS="${SHARDS:-4}"

mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
DEV_PID=""
# Extra arguments for `strait dev` (the idle rows set them).
DEV_ARGS=()
NATS_PIDS=()

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

cleanup() {
    stop_strait
    stop_nats
}
trap cleanup EXIT

# --- process accounting -------------------------------------------------------------

# Sums utime+stime (clock ticks) of the given pids.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        # Fields 14 and 15, counted after the ")" that ends the command name.
        local fields
        fields=$(sed 's/.*) //' "/proc/$pid/stat")
        set -- $fields
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

# Sums write_bytes (bytes sent to the block layer) of the given pids.
written_bytes() {
    local total=0 pid
    for pid in "$@"; do
        total=$((total + $(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")))
    done
    echo "$total"
}

# Resident memory of one pid, in MiB.
rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# Runs a load command against the server pids and appends one JSON line to RESULTS:
# the command's summary plus server CPU per record and disk bytes per payload byte.
#   measure SYSTEM REPLICAS "PIDS" command...
measure() {
    local system=$1 replicas=$2 pids=$3
    shift 3
    sync
    local cpu0 io0 summary cpu1 io1
    # shellcheck disable=SC2086
    cpu0=$(cpu_ticks $pids)
    # shellcheck disable=SC2086
    io0=$(written_bytes $pids)
    summary=$("$@" 2>>"$OUT/stderr.log" | tail -n 1)
    # Background flushes of the last writes belong to this row.
    sleep 1
    # shellcheck disable=SC2086
    cpu1=$(cpu_ticks $pids)
    # shellcheck disable=SC2086
    io1=$(written_bytes $pids)
    if [ -z "$summary" ]; then
        log "no summary from: $*"
        return 0
    fi
    echo "$summary" | jq -c --arg system "$system" --argjson replicas "$replicas" \
        --argjson cpu "$(((cpu1 - cpu0) * 1000000 / TICKS))" --argjson io "$((io1 - io0))" '
        . + {system: $system, server_cpu_us_total: $cpu, disk_bytes_written: $io}
          + (if .records > 0 then {
               server_cpu_us_per_record: (($cpu / .records) * 10 | round / 10),
               disk_bytes_per_payload_byte_per_replica:
                 (($io / (.records * .record_size) / $replicas) * 100 | round / 100)
             } else {} end)' | tee -a "$RESULTS"
}

# --- Strait ---------------------------------------------------------------------------

start_strait() {
    local nodes=$1 dir="$OUT/strait-$1"
    rm -rf "$dir"
    log "starting strait dev --nodes $nodes"
    "$STRAIT" dev --nodes "$nodes" --data-dir "$dir" --base-port 7101 --kinesis-base-port 4601 \
        --log-level warn "${DEV_ARGS[@]}" >"$OUT/strait-$nodes.log" 2>&1 &
    DEV_PID=$!
    local i
    for i in $(seq 1 120); do
        if "$STRAIT" --endpoint http://127.0.0.1:7101 cluster status >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    log "strait did not become ready"; return 1
}

strait_pids() { pgrep -P "$DEV_PID" | tr '\n' ' '; }

stop_strait() {
    if [ -n "$DEV_PID" ]; then
        kill -TERM "$DEV_PID" 2>/dev/null || true
        wait "$DEV_PID" 2>/dev/null || true
        DEV_PID=""
    fi
}

strait_cli() { "$STRAIT" --endpoint http://127.0.0.1:7101 "$@"; }

# One produce row against Strait, on a fresh stream that is deleted afterwards. With
# WARM_UP set, the same load runs that long first, unmeasured.
strait_row() {
    local label=$1 replicas=$2 size=$3 batch=$4 conc=$5
    shift 5
    local stream="b$RANDOM$RANDOM"
    strait_cli stream create "$stream" --shards "$SHARDS" >/dev/null
    if [ -n "${WARM_UP:-}" ]; then
        "$STRAIT" --endpoint http://127.0.0.1:7101 bench produce --stream "$stream" \
            --record-size "$size" --batch-size "$batch" --concurrency "$conc" \
            --duration "$WARM_UP" --progress 0s "$@" >/dev/null
    fi
    measure "$label" "$replicas" "$(strait_pids)" \
        "$STRAIT" --endpoint http://127.0.0.1:7101 bench produce --stream "$stream" \
        --record-size "$size" --batch-size "$batch" --concurrency "$conc" \
        --duration "${DURATION}s" --progress 0s "$@"
    strait_cli stream delete "$stream" >/dev/null || true
}

strait_matrix() {
    local label=$1 replicas=$2 size batch conc
    for size in "${SIZES[@]}"; do
        for batch in "${BATCHES[@]}"; do
            for conc in "${CONCURRENCIES[@]}"; do
                strait_row "$label" "$replicas" "$size" "$batch" "$conc"
            done
        done
        # Single PutRecord calls.
        strait_row "$label" "$replicas" "$size" 1 32
    done
}

# Put-to-read latency, catch-up reads and p99 at half the peak (1 KiB, batch 500, c8).
strait_extras() {
    local label=$1 replicas=$2 peak stream
    peak=$(jq -s --arg l "$label" \
        'map(select(.system == $l and .record_size == 1024 and .batch_size == 500 and .concurrency == 8)) | last | .records_per_s // 0' \
        "$RESULTS")
    if [ "${peak%.*}" -gt 0 ]; then
        strait_row "$label" "$replicas" 1024 500 8 --rate "$(echo "$peak / 2" | bc)"
        # The same on a stream that has just taken the same load for 3 s, unmeasured: the
        # first second of traffic after a quiet spell is slower than what follows.
        WARM_UP=3s strait_row "$label-warm" "$replicas" 1024 500 8 --rate "$(echo "$peak / 2" | bc)"
    fi
    stream="e2e$RANDOM"
    strait_cli stream create "$stream" --shards "$SHARDS" >/dev/null
    measure "$label" "$replicas" "$(strait_pids)" \
        "$STRAIT" --endpoint http://127.0.0.1:7101 bench e2e --stream "$stream" --rate 100 \
        --record-size 1024 --duration "${DURATION}s" --progress 0s
    strait_cli stream delete "$stream" >/dev/null || true
    stream="read$RANDOM"
    strait_cli stream create "$stream" --shards "$SHARDS" >/dev/null
    # The fill is written before the read is timed; its CPU counts in this row's server
    # CPU, so that column is not meaningful for consume rows.
    measure "$label" "$replicas" "$(strait_pids)" \
        "$STRAIT" --endpoint http://127.0.0.1:7101 bench consume --stream "$stream" --fill 500000 \
        --record-size 1024 --duration 120s --progress 0s
    strait_cli stream delete "$stream" >/dev/null || true
}

# Idle CPU and memory per node with many shards. With IDLE_ALWAYS_TICKING=1 the groups
# never go quiet (--raft-quiet-after-ms 0), and the rows say so.
strait_idle() {
    local shards pid system="strait-3"
    if [ "${IDLE_ALWAYS_TICKING:-0}" = 1 ]; then
        system="strait-3-always-ticking"
        DEV_ARGS=(--raft-quiet-after-ms 0)
    fi
    for shards in 100 1000; do
        start_strait 3
        strait_cli stream create "idle" --shards "$shards" --wait-timeout 600s >/dev/null
        sleep 10
        local pids cpu0 cpu1
        pids=$(strait_pids)
        # shellcheck disable=SC2086
        cpu0=$(cpu_ticks $pids)
        sleep 30
        # shellcheck disable=SC2086
        cpu1=$(cpu_ticks $pids)
        local rss=""
        for pid in $pids; do rss="$rss$(rss_mib "$pid") "; done
        jq -cn --argjson shards "$shards" --argjson cpu "$(((cpu1 - cpu0) * 100 / TICKS))" \
            --arg rss "$rss" --arg system "$system" \
            '{mode: "idle", system: $system, shards: $shards,
              cpu_percent_of_one_core_per_node: (($cpu / 30 / 3) * 10 | round / 10),
              rss_mib_per_node: ($rss | split(" ") | map(select(. != "") | tonumber))}' | tee -a "$RESULTS"
        stop_strait
    done
}

# --- NATS JetStream ---------------------------------------------------------------

start_nats() {
    local dir="$OUT/nats" i
    rm -rf "$dir"
    mkdir -p "$dir"
    NATS_PIDS=()
    for i in 1 2 3; do
        mkdir -p "$dir/n$i"
        cat >"$dir/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$((4221 + i))
jetstream { store_dir: "$dir/n$i" }
cluster {
  name: bench
  listen: 127.0.0.1:$((6221 + i))
  routes: [nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6223, nats-route://127.0.0.1:6224]
}
EOF
        nats-server -c "$dir/n$i.conf" >"$dir/n$i.log" 2>&1 &
        NATS_PIDS+=($!)
    done
    # JetStream needs its meta leader before streams can be created.
    sleep 5
}

stop_nats() {
    local pid
    for pid in "${NATS_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    NATS_PIDS=()
}

nats_row() {
    local size=$1 batch=$2 conc=$3 stream="b$RANDOM$RANDOM"
    measure nats-js-3 3 "${NATS_PIDS[*]}" \
        "$NATS_BENCH" --url nats://127.0.0.1:4222 --stream "$stream" --replicas 3 \
        --record-size "$size" --batch-size "$batch" --concurrency "$conc" --duration "$DURATION" \
        --max-bytes 2147483648
}

nats_matrix() {
    local size batch conc
    for size in "${SIZES[@]}"; do
        for batch in "${BATCHES[@]}"; do
            for conc in "${CONCURRENCIES[@]}"; do
                nats_row "$size" "$batch" "$conc"
            done
        done
        nats_row "$size" 1 32
    done
}

# --- main ---------------------------------------------------------------------------

# Splits and merges under load: producers write 1 KiB records in batches of 100 at
# RESHARD_RATE records/s while two shards are split and their children merged back, one
# change every few seconds. One JSON line: the producers' summary (errors, failed records,
# slowest request) and how long each change took from request to the new shards taking
# writes.
strait_reshard() {
    local stream="split$RANDOM" rate="${RESHARD_RATE:-5000}" bench_pid changes=() t0 t1
    start_strait 3
    strait_cli stream create "$stream" --shards 2 >/dev/null
    "$STRAIT" --endpoint http://127.0.0.1:7101 bench produce --stream "$stream" --record-size 1024 \
        --batch-size 100 --concurrency 8 --rate "$rate" --duration 32s --progress 0s \
        >"$OUT/reshard-bench.json" 2>>"$OUT/stderr.log" &
    bench_pid=$!
    # Shards 0 and 1 split into 2+3 and 4+5; the pairs merge into 6 and 7.
    local change
    for change in "split $stream 0" "split $stream 1" "merge $stream 2 3" "merge $stream 4 5"; do
        sleep 5
        t0=$(date +%s%N)
        # shellcheck disable=SC2086
        strait_cli stream $change >/dev/null
        t1=$(date +%s%N)
        changes+=("$(jq -cn --arg c "$change" --argjson ms "$(((t1 - t0) / 1000000))" '{change: $c, ms: $ms}')")
    done
    wait "$bench_pid"
    tail -n 1 "$OUT/reshard-bench.json" | jq -c --argjson changes "$(printf '%s\n' "${changes[@]}" | jq -s .)" \
        '{system: "strait-3", mode: "reshard", rate, records, records_per_s, errors, failed,
          slowest_request_ms: (.latency_us.max / 1000), p999_ms: (.latency_us.p999 / 1000),
          changes: $changes}' | tee -a "$RESULTS"
    stop_strait
}

# Strait 3-node and NATS run side by side, row by row, so that both see the same machine.
compare_matrix() {
    local size batch conc
    for size in "${SIZES[@]}"; do
        for batch in "${BATCHES[@]}" 1; do
            for conc in "${CONCURRENCIES[@]}"; do
                # Single puts (batch 1) only at concurrency 32.
                if [ "$batch" = 1 ] && [ "$conc" != 32 ]; then continue; fi
                strait_row strait-3 3 "$size" "$batch" "$conc"
                nats_row "$size" "$batch" "$conc"
            done
        done
    done
}

case "$WHAT" in
    all | compare)
        start_strait 3; start_nats; compare_matrix; stop_nats; strait_extras strait-3 3; stop_strait ;;&
    strait3)
        start_strait 3; strait_matrix strait-3 3; strait_extras strait-3 3; stop_strait ;;&
    nats)
        start_nats; nats_matrix; stop_nats ;;&
    all | strait1)
        start_strait 1; strait_matrix strait-1 1; strait_extras strait-1 1; stop_strait ;;&
    all | idle)
        strait_idle ;;&
    all | reshard)
        strait_reshard ;;&
    all | compare | strait3 | strait1 | nats | idle | reshard) ;;
    *) echo "usage: $0 [all|compare|strait3|strait1|nats|idle|reshard]" >&2; exit 2 ;;
esac
log "results in $RESULTS"
