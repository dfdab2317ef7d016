#!/usr/bin/env bash
# Starts deploy/docker-compose.yml, waits for every node to be healthy, runs a boto3 round trip
# through the Kinesis port (deploy/smoke_kinesis.py), and takes the cluster down with its
# volumes, also when something fails. Needs the image (deploy/build-image.sh) and boto3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if docker compose version >/dev/null 2>&1; then dc=(docker compose); else dc=(docker-compose); fi
project=strait-smoke-$$
compose=("${dc[@]}" --project-name "$project" --file "$here/docker-compose.yml")
down() { "${compose[@]}" down --volumes --timeout 20 >/dev/null 2>&1 || true; }
trap down EXIT

"${compose[@]}" up --detach
deadline=$((SECONDS + 120))
for n in 1 2 3; do
    container=$("${compose[@]}" ps -q "strait-$n")
    until [[ $(docker inspect -f '{{.State.Health.Status}}' "$container") == healthy ]]; do
        if ((SECONDS > deadline)); then
            echo "strait-$n not healthy after 120s" >&2
            "${compose[@]}" logs --tail 50 >&2
            exit 1
        fi
        sleep 1
    done
done
echo "compose cluster healthy after ${SECONDS}s"
python3 "$here/smoke_kinesis.py" http://127.0.0.1:4567 http://127.0.0.1:4569
