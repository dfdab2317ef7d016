#!/usr/bin/env bash
# Builds the Strait image (default tag strait:dev) from the `strait` binary cargo has already
# built on this machine, with no registry access: Dockerfile.prebuilt FROM scratch plus the
# binary and the shared libraries `ldd` lists. Uses the debug profile the tests use, so the
# image runs exactly the binary the tests ran.
#
#   cargo build -p strait-cli && deploy/build-image.sh [TAG]
#
# Environment: STRAIT_BIN (the binary; default $CARGO_TARGET_DIR/debug/strait, or
# target/debug/strait), STRAIT_IMAGE (the tag, when TAG is not given).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tag=${1:-${STRAIT_IMAGE:-strait:dev}}
bin=${STRAIT_BIN:-${CARGO_TARGET_DIR:-$here/../target}/debug/strait}
if [[ ! -x $bin ]]; then
    echo "build-image.sh: $bin not found; run \`cargo build -p strait-cli\` first" >&2
    exit 1
fi

# A small context of its own: the legacy builder uploads the whole context, and the
# repository root holds gigabytes of build output.
ctx=$(mktemp -d "${TMPDIR:-/tmp}/strait-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/data"
cp "$bin" "$ctx/rootfs/usr/local/bin/strait"
# The debug profile keeps line tables for backtraces; the image does without them (the
# binary itself is unchanged otherwise).
if command -v strip >/dev/null; then
    strip --strip-debug "$ctx/rootfs/usr/local/bin/strait"
fi
# Every library the dynamic binary loads, the loader included, at the same path. A static
# binary lists none, and the image works the same.
for lib in $(ldd "$bin" | grep -o '/[^ ]*' || true); do
    cp --parents -L "$lib" "$ctx/rootfs/"
done
# Name resolution: glibc's files and dns back ends are built in; these files make the
# lookups of /etc/hosts and DNS (mounted by Docker and Kubernetes) explicit.
mkdir -p "$ctx/rootfs/etc"
printf 'hosts: files dns\n' > "$ctx/rootfs/etc/nsswitch.conf"
cp "$here/Dockerfile.prebuilt" "$ctx/Dockerfile"

# The legacy builder warns that it is deprecated on every build: show its output only when
# the build fails.
if ! output=$(docker build --tag "$tag" "$ctx" 2>&1); then
    echo "$output" >&2
    exit 1
fi
docker run --pull=never --rm "$tag" --version
echo "built $tag from $bin"
