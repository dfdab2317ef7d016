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

# Nothing to compile when the tests already ran: the same debug profile.
cargo build --locked --quiet -p strait-cli -p strait-tests --bins

if [[ $(id -u) == 0 ]]; then
    echo "-- chaos test, network namespaces (short)"
    timeout 240 deploy/chaos/run.sh --mode netns --duration 0 --hold 2
else
    echo "-- chaos test on network namespaces SKIPPED: it needs root"
fi

if ! docker info >/dev/null 2>&1; then
    echo "-- image, compose and container chaos test SKIPPED: no Docker engine reachable"
    exit 0
fi
echo "-- image"
deploy/build-image.sh strait:dev
echo "-- compose cluster and a boto3 round trip"
timeout 240 deploy/compose-smoke.sh
if [[ $(id -u) == 0 ]]; then
    echo "-- chaos test, containers (short)"
    timeout 240 deploy/chaos/run.sh --mode docker --duration 0 --hold 2
fi
