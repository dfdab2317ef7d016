#!/usr/bin/env bash
# The deployment checks of CI, run by .ci/run after the tests (which built the binaries):
# the manifests and other deployment files validated offline, the image built from the
# tested binary without any registry, the compose cluster started with a boto3 round trip,
# and one short round of the chaos test on network namespaces and on containers.
# Every step is bounded in time and cleans up after itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

echo "-- deployment files"
venv=${STRAIT_DEPLOY_VENV:-/var/tmp/strait-deploy-venv}
[[ -x $venv/bin/pip ]] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements.txt
TOOLS=$venv/bin deploy/validate.sh

# Nothing to compile when the tests already ran: the same debug profile. The chaos runs
# below use these binaries as they are.
cargo build --locked --quiet -p strait-cli -p strait-tests --bins
export STRAIT_CHAOS_PREBUILT=1
echo "(${SECONDS}s)"

# One short round of the chaos test; its run directory is kept only when it fails.
chaos() {
    local mode=$1 dir
    dir=$(mktemp -d /var/tmp/strait-chaos-ci-"$mode".XXXXXX)
    echo "-- chaos test, $mode (short)"
    if timeout 240 deploy/chaos/run.sh --mode "$mode" --duration 0 --hold 2 --dir "$dir"; then
        rm -rf "$dir"
    else
        echo "chaos test ($mode) failed: see $dir" >&2
        return 1
    fi
}

if [[ $(id -u) == 0 ]]; then
    chaos netns
else
    echo "-- chaos test on network namespaces SKIPPED: it needs root"
fi
echo "(${SECONDS}s)"

if ! docker info >/dev/null 2>&1; then
    echo "-- image, compose and container chaos test SKIPPED: no Docker engine reachable"
    exit 0
fi
echo "-- image"
deploy/build-image.sh strait:dev
echo "-- compose cluster and a boto3 round trip"
timeout 240 deploy/compose-smoke.sh
echo "(${SECONDS}s)"
if [[ $(id -u) == 0 ]]; then
    chaos docker
fi
echo "deployment checks passed in ${SECONDS}s"
