#!/usr/bin/env bash
# Container tests: builds the top-level Dockerfile's FROM scratch image and every template and
# example image on it with podman, runs them, and sends signed and forged requests.
#   tests/container/run.sh [WATCHDOG_BINARY]   (default build/release/hmac-watchdog)
# Installs podman and friends first (.ci/deps --container). podman's storage and the imported
# debian:bookworm image are kept in build/podman (HW_PODMAN_STATE), so a rerun is quick.
# HW_PODMAN_STORAGE_DRIVER=vfs where overlay mounts are not possible. The watchdog image packs
# the binary given here (the Dockerfile's BUILD_FROM=binary: the bytes the suite tested);
# HW_CONTAINER_FROM_SOURCE=1 compiles it from source in the Dockerfile's build stage instead
# (as users build it; about 8 minutes more on 2 cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$root/build/release/hmac-watchdog}
state=${HW_PODMAN_STATE:-$root/build/podman}
"$root/.ci/deps" --container
if [ ! -x "$binary" ]; then
  echo "container tests: no watchdog binary at $binary (build it first: ./test.sh --quick)" >&2
  exit 1
fi
exec timeout --kill-after=30 "${HW_CONTAINER_TIMEOUT:-1500}" \
  python3 "$root/tests/container/container_test.py" --watchdog "$binary" --state "$state"
