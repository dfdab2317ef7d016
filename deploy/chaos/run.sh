#!/usr/bin/env bash
# Runs the chaos test: a three-node cluster, producers writing and a reader following every
# shard while faults are injected one after another (kill -9 of the node leading the most
# groups, SIGSTOP/SIGCONT, a network partition, a rolling restart, a restart with the data
# kept, a full disk), then a check of every acknowledged record.
#
#   sudo deploy/chaos/run.sh --mode netns  --duration 60    # processes in network namespaces
#   sudo deploy/chaos/run.sh --mode docker --duration 60    # containers of the strait:dev image
#
# Options (passed to `chaos run`): --duration SECS of faults (the schedule repeats until used
# up; 0 runs it once), --hold SECS each fault lasts, --rate records per second, --dir DIR for
# the run's files (default /var/tmp/strait-chaos-PID: history, faults, report, node logs).
# Exits 0 when the check passes, 1 on an anomaly, 2 when the run itself failed.
# Needs root; --mode docker needs a Docker engine (the image is built here, no pull).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

if [[ $(id -u) != 0 ]]; then
    echo "run.sh: needs root (network namespaces, mounts, Docker)" >&2
    exit 2
fi
mode=netns
for ((i = 1; i <= $#; i++)); do
    case ${!i} in
        --mode) j=$((i + 1)); mode=${!j} ;;
        --mode=*) mode=${!i#--mode=} ;;
    esac
done

# The debug profile, as the tests build it: nothing is compiled twice. CI, having built
# and tested these binaries already, sets STRAIT_CHAOS_PREBUILT=1 to use them as they are.
if [[ -z ${STRAIT_CHAOS_PREBUILT:-} ]]; then
    cargo build --locked --quiet -p strait-cli -p strait-tests --bins
fi
bin=$CARGO_TARGET_DIR/debug
if [[ $mode == docker ]]; then
    STRAIT_BIN=$bin/strait "$root/deploy/build-image.sh" "${STRAIT_IMAGE:-strait:dev}"
fi

# `chaos` removes what it created when it exits or is interrupted. Should it be killed
# outright, the containers and network it labelled are removed here.
pid=
cleanup() {
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    if command -v docker >/dev/null && [[ $mode == docker ]]; then
        label=strait-chaos=strait-chaos-$pid
        ids=$(docker ps -aq --filter "label=$label" 2>/dev/null || true)
        [[ -z $ids ]] || docker rm -f $ids >/dev/null 2>&1 || true
        nets=$(docker network ls -q --filter "label=$label" 2>/dev/null || true)
        [[ -z $nets ]] || docker network rm $nets >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$bin/chaos" run --strait "$bin/strait" "$@" &
pid=$!
status=0
wait "$pid" || status=$?
exit "$status"
