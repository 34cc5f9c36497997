#!/usr/bin/env bash
# Builds hmac-watchdog and runs every test: unit, integration (the real static binary over
# loopback), the fuzz corpora, the templates, the static binary in an empty chroot and a
# 2-minute soak; then the whole suite again under ASan+UBSan and under TSan, a bounded
# libFuzzer run per target (FUZZ_SECONDS, 20), and the podman image and template builds.
# Installs what it needs with apt-get (run as root on a fresh Debian machine).
#
#   ./test.sh           everything (what CI runs)
#   ./test.sh --quick   release build and its tests only (the short local loop)
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
quick=0
fuzz_seconds=${FUZZ_SECONDS:-20}
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) echo "usage: ./test.sh [--quick]" >&2; exit 2 ;;
  esac
done
jobs=$(nproc)
started=$(date +%s)
step() { printf '\n=== %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "dependencies"
if [ "$quick" = 1 ]; then .ci/deps; else .ci/deps --fuzz; fi
.ci/fetch-httplib "$root/build/deps/httplib"

failed=()
failed_tests=()
# clang-format (.clang-format) and shellcheck: lists what differs; `.ci/lint --format` applies.
step "style: clang-format and shellcheck"
.ci/lint || failed+=("style (.ci/lint)")

run_suite() {  # name build-dir ctest-label-exclusion cmake-args...
  local name=$1 dir=$2 exclude=$3; shift 3
  step "$name: configure and build"
  .ci/build "$dir" -DHW_WERROR=ON "$@"
  step "$name: tests"
  if ! (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 600 -LE "$exclude"); then
    failed+=("$name")
    # CI shows only the end of the output: name the failed tests there too.
    while IFS= read -r line; do
      failed_tests+=("$name: ${line#*:}")
    done < <(cat "$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null || true)
  fi
  if [ "$exclude" = "none" ]; then
    # The soak prints its figures: show them even when it passed.
    grep -h "^soak: " "$dir/Testing/Temporary/LastTest.log" 2>/dev/null || true
  fi
}

mkdir -p build
# The soak (label soak, HW_SOAK_SECONDS long) runs once, against the release binary.
export HW_SOAK_SECONDS=${HW_SOAK_SECONDS:-120}
if [ "$quick" = 1 ]; then release_exclude=soak; else release_exclude=none; fi
run_suite "release (static binary)" build/release "$release_exclude" \
  -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON

# --- interop (tests/interop/): the real faas-cli with the templates and the documents' commands
# Each test prints "skipped: no faas-cli" when ../shared/peers/faas-cli-0.18.12 is not there.
step "interop: faas-cli and the commands printed in the READMEs"
for t in faas_cli_test docs_test; do
  python3 tests/interop/$t.py "$root/build/release/hmac-watchdog" || failed+=("interop $t")
done
# --- end of interop ---------------------------------------------------------------------------
if [ "$quick" = 0 ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite "asan+ubsan" build/asan soak -DCMAKE_BUILD_TYPE=Debug -DHW_SANITIZE=address,undefined
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    run_suite "tsan" build/tsan soak -DCMAKE_BUILD_TYPE=Debug -DHW_SANITIZE=thread

  step "fuzz: build (clang, libFuzzer)"
  # -DHW_WERROR=ON: the fuzz build goes through the warnings of every other build, as errors.
  CXX=clang++ cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHW_FUZZ=ON \
    -DHW_TESTS=ON -DHW_WERROR=ON >build/fuzz.configure.log 2>&1 || { cat build/fuzz.configure.log; exit 1; }
  targets=$(cd build/fuzz && cmake --build . --target help | sed -n 's/^\.\.\. \(fuzz_[a-z0-9_]*\).*/\1/p')
  # shellcheck disable=SC2086
  cmake --build build/fuzz -j"$jobs" --target $targets
  # The targets run $jobs at a time (each is single-threaded), each for the full fuzz_seconds.
  fuzz_one() {  # target: its log in build/fuzz/NAME.log, its status in build/fuzz/NAME.rc
    local name=${1#fuzz_}
    mkdir -p "build/fuzz/corpus-$name"
    local rc=0
    "build/fuzz/tests/$1" -max_total_time="$fuzz_seconds" -print_final_stats=1 -artifact_prefix=build/fuzz/ \
      "build/fuzz/corpus-$name" "tests/fuzz/corpus/$name" >"build/fuzz/$name.log" 2>&1 || rc=$?
    echo "$rc" >"build/fuzz/$name.rc"
  }
  step "fuzz: each target for ${fuzz_seconds}s, $jobs at a time"
  running=0
  for t in $targets; do
    rm -f "build/fuzz/${t#fuzz_}.rc"
    fuzz_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
  done
  wait
  for t in $targets; do
    name=${t#fuzz_}
    echo "fuzz $name:"
    if [ "$(cat "build/fuzz/$name.rc" 2>/dev/null)" != 0 ]; then
      tail -n 40 "build/fuzz/$name.log"
      failed+=("fuzz $name")
    else
      grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "build/fuzz/$name.log" | tail -n 2 || true
    fi
  done
fi

# --- containers (tests/container/): podman images, templates, examples ------------------------
# The top-level Dockerfile's FROM scratch image (packing the release binary tested above), each
# faas-cli template and example image built on it, run and sent signed and forged requests.
# Skipped with --quick and with HW_SKIP_CONTAINERS=1; podman's storage is kept in build/podman.
if [ "$quick" = 0 ] && [ "${HW_SKIP_CONTAINERS:-0}" != 1 ]; then
  step "containers: base image, templates and examples (podman)"
  if ! tests/container/run.sh "$root/build/release/hmac-watchdog"; then
    failed+=("containers")
  fi
fi
# --- end of containers ------------------------------------------------------------------------

step "done"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  if [ ${#failed_tests[@]} -gt 0 ]; then printf 'failed test: %s\n' "${failed_tests[@]}"; fi
  exit 1
fi
echo "all test suites passed"
