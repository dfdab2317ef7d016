#!/usr/bin/env bash
# Failover time under load: how long after `kill -9` of a shard's leader a new write is
# acknowledged, over KILLS kills (default 10) on a 3-node `strait dev` cluster.
#
#   scripts/bench-failover.sh
#
# A background `strait bench produce` keeps the shard busy. For each kill the script
# finds the leader of the stream's one shard, kills that node with SIGKILL, and times a
# `strait put` (which fails over between nodes and retries until a new leader answers)
# from the kill to its acknowledgement. The killed node is then restarted with its own
# command line, and the cluster is given time to catch up before the next kill.
#
# Environment: KILLS, OUT (default /var/tmp/strait-failover), STRAIT (the strait binary).
# Everything listens on 127.0.0.1; every wait is bounded.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
TARGET="${CARGO_TARGET_DIR:-$HERE/../target}"
STRAIT="${STRAIT:-$TARGET/release/strait}"
KILLS="${KILLS:-10}"
OUT="${OUT:-/var/tmp/strait-failover}"
ENDPOINTS="http://127.0.0.1:7201,http://127.0.0.1:7202,http://127.0.0.1:7203"
DEV_PID=""
LOAD_PID=""
RESTARTED=()

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
cli() { "$STRAIT" --endpoint "$ENDPOINTS" --timeout 2s "$@"; }
now_ms() { date +%s%3N; }

cleanup() {
    [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
    local pid
    for pid in "${RESTARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    [ -n "$DEV_PID" ] && kill -TERM "$DEV_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$OUT"
mkdir -p "$OUT"
"$STRAIT" dev --nodes 3 --data-dir "$OUT/data" --base-port 7201 --kinesis-base-port 4701 \
    --log-level warn >"$OUT/dev.log" 2>&1 &
DEV_PID=$!
for _ in $(seq 1 120); do
    cli cluster status >/dev/null 2>&1 && break
    sleep 0.5
done
cli stream create failover --shards 1 >/dev/null

# Keeps writing for as long as the kills can take, and no longer.
"$STRAIT" --endpoint "$ENDPOINTS" bench produce --stream failover --batch-size 10 --concurrency 4 \
    --rate 2000 --duration "$((KILLS * 20 + 30))s" --progress 0s >"$OUT/load.json" 2>"$OUT/load.log" &
LOAD_PID=$!
sleep 3

# The pid of the process serving node N of this script's cluster: only children of the
# dev supervisor and nodes this script restarted are candidates, and the command line must
# name this cluster's data directory, so no other process on the machine is ever touched.
node_pid() {
    local id=$1 pid cmd
    for pid in $(pgrep -P "$DEV_PID") "${RESTARTED[@]}"; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
        case "$cmd" in
            *" serve "*"--node-id $id "*"--data-dir $OUT/data/"*) echo "$pid"; return 0 ;;
        esac
    done
    return 1
}

times=()
for kill in $(seq 1 "$KILLS"); do
    leader=$(cli stream describe failover --format json | jq -r '.shards[0].leader // empty')
    if [ -z "$leader" ]; then
        log "kill $kill: no leader known; waiting"
        sleep 2
        continue
    fi
    pid=$(node_pid "$leader") || { log "kill $kill: no process for node $leader"; continue; }
    mapfile -d '' cmdline <"/proc/$pid/cmdline"
    start=$(now_ms)
    kill -9 "$pid"
    if cli put failover "after kill $kill" --partition-key k --deadline 20s >/dev/null 2>>"$OUT/put.log"; then
        took=$(($(now_ms) - start))
        times+=("$took")
        log "kill $kill: node $leader killed; a write was acknowledged after ${took} ms"
    else
        log "kill $kill: node $leader killed; no write acknowledged within 20 s"
        times+=(20000)
    fi
    # Restart the node exactly as it was started.
    "${cmdline[@]}" >>"$OUT/restarted-$leader.log" 2>&1 &
    RESTARTED+=($!)
    for _ in $(seq 1 60); do
        cli cluster status >/dev/null 2>&1 && break
        sleep 0.5
    done
    sleep 5
done

printf '%s\n' "${times[@]}" | sort -n | jq -s -c '{
    mode: "failover", kills: length,
    resume_ms: { min: min, p50: .[(length * 0.5 | floor)], p99: .[((length - 1) * 0.99 | ceil)],
                 max: max, all: . } }' | tee "$OUT/failover.json"
