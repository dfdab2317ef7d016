#!/usr/bin/env bash
# Checks the deployment files offline, with no cluster, engine or network:
#   * yamllint over every YAML file in deploy/;
#   * the Kubernetes base rendered by kustomize (`kubectl kustomize`, or `kustomize build`;
#     when neither is installed, each manifest is checked on its own), then validated against
#     the Kubernetes schemas with `kubernetes-validate --strict` for the oldest supported and
#     the newest bundled version;
#   * rules the schemas cannot express (deploy/check_manifests.py);
#   * the compose file (`docker-compose config -q`, when installed) and the dashboard's JSON.
# The Python tools are pinned in deploy/requirements.txt; pass a virtualenv's bin directory as
# TOOLS=... or have them on PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tools=${TOOLS:+$TOOLS/}
py=${tools}python3
[[ -x ${tools}python3 ]] || py=python3
k8s=$here/kubernetes
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "-- yamllint"
"${tools}yamllint" --strict -c "$here/.yamllint.yaml" "$here"

echo "-- kustomize"
if command -v kubectl >/dev/null; then
    kubectl kustomize "$k8s" > "$tmp/rendered.yaml"
elif command -v kustomize >/dev/null; then
    kustomize build "$k8s" > "$tmp/rendered.yaml"
else
    echo "no kubectl or kustomize: validating each manifest unrendered"
    for f in "$k8s"/*.yaml; do
        [[ $(basename "$f") == kustomization.yaml ]] && continue
        printf -- '---\n' >> "$tmp/rendered.yaml"
        cat "$f" >> "$tmp/rendered.yaml"
    done
fi

echo "-- kubernetes-validate --strict"
for version in 1.30.0 1.37.0; do
    "${tools}kubernetes-validate" --strict --quiet -k "$version" "$tmp/rendered.yaml"
done

echo "-- manifest rules"
"$py" "$here/check_manifests.py" "$tmp/rendered.yaml"

echo "-- compose"
if command -v docker-compose >/dev/null; then
    docker-compose -f "$here/docker-compose.yml" config -q
elif docker compose version >/dev/null 2>&1; then
    docker compose -f "$here/docker-compose.yml" config -q
else
    echo "no compose installed: skipped"
fi

echo "-- dashboard"
"$py" "$here/grafana/generate_dashboard.py" --check
echo "deploy files valid"
