#!/usr/bin/env bash
# Time to re-replicate a large shard after a node dies: a 4-node cluster (replication
# factor 3, `--down-after DOWN_AFTER`) gets one stream with one shard filled with SIZE_MB
# megabytes, then one follower of that shard is killed with SIGKILL. The script reports how
# long it takes until the control plane places the replica elsewhere, and until the shard's
# leader has three voters again, none of them the dead node (`strait cluster status` shows
# the new replica under CATCHING UP until then).
#
#   scripts/bench-rereplicate.sh
#
# Environment: SIZE_MB (default 1024), DOWN_AFTER (default 5s), LOG_LEVEL (the nodes' --log-level), OUT (default
# /var/tmp/strait-rereplicate), STRAIT (the strait binary). Everything listens on 127.0.0.1;
# every wait is bounded.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
TARGET="${CARGO_TARGET_DIR:-$HERE/../target}"
STRAIT="${STRAIT:-$TARGET/release/strait}"
SIZE_MB="${SIZE_MB:-1024}"
DOWN_AFTER="${DOWN_AFTER:-5s}"
OUT="${OUT:-/var/tmp/strait-rereplicate}"
PORTS=(7401 7402 7403 7404)
ENDPOINT="http://127.0.0.1:${PORTS[0]},http://127.0.0.1:${PORTS[1]},http://127.0.0.1:${PORTS[2]},http://127.0.0.1:${PORTS[3]}"
PIDS=()

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
cli() { "$STRAIT" --endpoint "$ENDPOINT" --timeout 3s "$@"; }
now_ms() { date +%s%3N; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$OUT"
mkdir -p "$OUT"
initial=""
for i in 1 2 3 4; do initial+="${initial:+,}$i=127.0.0.1:${PORTS[$((i - 1))]}"; done
for i in 1 2 3 4; do
    addr="127.0.0.1:${PORTS[$((i - 1))]}"
    "$STRAIT" serve --node-id "$i" --listen "$addr" --advertise "$addr" --kinesis-listen off \
        --data-dir "$OUT/n$i" --initial-cluster "$initial" --down-after "$DOWN_AFTER" \
        --log-level "${LOG_LEVEL:-warn,openraft=error}" >"$OUT/n$i.log" 2>&1 &
    PIDS+=($!)
done
for _ in $(seq 1 120); do
    [ "$(cli cluster status --format json 2>/dev/null | jq -r .ready)" = true ] && break
    sleep 0.5
done
cli stream create big --shards 1 >/dev/null

log "filling the shard with $SIZE_MB MB"
fill_start=$(now_ms)
"$STRAIT" --endpoint "$ENDPOINT" bench produce --stream big --record-size 1024 --batch-size 500 \
    --concurrency 8 --count "$((SIZE_MB * 1024))" --progress 0s >"$OUT/fill.json" 2>"$OUT/fill.log"
log "filled in $(( $(now_ms) - fill_start )) ms: $(jq -c '{records, mb_per_s, errors}' "$OUT/fill.json")"

group() { cli cluster status --format json 2>/dev/null | jq -c '.groups[0]'; }
state=$(group)
leader=$(jq -r .leader <<<"$state")
victim=$(jq -r --argjson l "$leader" '[.replicas[] | select(. != $l)][0]' <<<"$state")
log "shard replicas $(jq -c .replicas <<<"$state"), leader $leader; killing follower $victim"
du -sh "$OUT"/n? >&2 2>/dev/null || true
kill -KILL "${PIDS[$((victim - 1))]}"
killed=$(now_ms)

placed=""
settled=""
for _ in $(seq 1 1200); do
    state=$(group) || state=""
    if [ -n "$state" ]; then
        replaced=$(jq --argjson v "$victim" '(.replicas | index($v)) == null' <<<"$state")
        if [ -z "$placed" ] && [ "$replaced" = true ]; then
            placed=$(( $(now_ms) - killed ))
            log "placed on $(jq -c .replicas <<<"$state") after $placed ms"
        fi
        if [ -n "$placed" ] && [ "$(jq '(.catching_up | length) == 0 and (.retiring | length) == 0 and .leader != null' <<<"$state")" = true ]; then
            settled=$(( $(now_ms) - killed ))
            break
        fi
    fi
    sleep 0.5
done
[ -n "$settled" ] || { log "the shard did not return to three voters within 10 minutes"; exit 1; }
log "three voters again after $settled ms"
du -sh "$OUT"/n? >&2 2>/dev/null || true
jq -n --argjson size_mb "$SIZE_MB" --arg down_after "$DOWN_AFTER" --argjson placed_ms "$placed" \
    --argjson settled_ms "$settled" \
    '{size_mb: $size_mb, down_after: $down_after, placed_ms: $placed_ms, three_voters_ms: $settled_ms,
      catch_up_ms: ($settled_ms - $placed_ms)}'
