#!/usr/bin/env bash
# Builds hmac-watchdog and runs every test: unit, integration (the real static binary over
# loopback), the fuzz corpora, the templates, the static binary in an empty chroot and a
# 2-minute soak; then the whole suite again under ASan+UBSan and under TSan, a bounded
# libFuzzer run per target (FUZZ_SECONDS, 20), and the podman image and template builds.
# Installs what it needs with apt-get (run as root on a fresh Debian machine). Each build after
# the first runs at nice 19 while the tests before it run (HW_CI_SERIAL=1: one after another).
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

# Each build after the first overlaps the tests before it: while one suite's tests run, the
# next suite's build runs in the background at the lowest CPU priority (nice 19), so the tests
# keep the CPU they ask for and the build takes what they leave idle (tests wait on sockets,
# timers and child processes much of the time). HW_CI_SERIAL=1 builds each in its turn.
declare -A bg_pid=() bg_cmd=()
# Every process of a tree, parents first, each stopped before its children are listed (so a
# make cannot start another compiler meanwhile).
# shellcheck disable=SC2317  # called by bg_stop, from the EXIT trap
stop_tree() {  # pid
  kill -STOP "$1" 2>/dev/null || return 0
  echo "$1"
  local child
  for child in $(pgrep -P "$1" || true); do stop_tree "$child"; done
}
# shellcheck disable=SC2317  # the EXIT trap calls it
bg_stop() {  # a run that ends early leaves no build behind (its compilers included)
  local p pids
  for p in "${bg_pid[@]}"; do
    pids=$(stop_tree "$p")
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    kill -CONT $pids 2>/dev/null || true
  done
}
trap bg_stop EXIT
bg_start() {  # log command...: runs the command in the background at nice 19, output to log
  local log=$1; shift
  if [ "${HW_CI_SERIAL:-0}" = 1 ]; then
    bg_cmd[$log]=$(printf '%q ' "$@")  # run by bg_wait, in its turn
    return
  fi
  # Idle I/O class too, where ionice is there (util-linux).
  (renice -n 19 -p "$BASHPID" >/dev/null && { ionice -c 3 -p "$BASHPID" 2>/dev/null || true; } &&
    "$@") >"$log" 2>&1 &
  bg_pid[$log]=$!
  echo "(building in the background: $log)"
}
bg_wait() {  # log: waits for what bg_start started; a failed build ends the run, with its log
  local log=$1 rc=0
  if [ -n "${bg_cmd[$log]:-}" ]; then
    eval "${bg_cmd[$log]}" >"$log" 2>&1 || rc=$?
    unset "bg_cmd[$log]"
  elif [ -n "${bg_pid[$log]:-}" ]; then
    wait "${bg_pid[$log]}" || rc=$?
    unset "bg_pid[$log]"
  fi
  if [ "$rc" != 0 ]; then
    tail -n 80 "$log"
    echo "test.sh: a build failed (exit $rc): $log" >&2
    failed+=("build: $log")
    finish
  fi
  grep -E "^-- cpp-httplib|httplib:" "$log" || true
}
# The end of every run: what failed (CI shows only the end of the output), and the status.
finish() {
  step "done"
  if [ ${#failed[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    if [ ${#failed_tests[@]} -gt 0 ]; then printf 'failed test: %s\n' "${failed_tests[@]}"; fi
    exit 1
  fi
  echo "all test suites passed"
  exit 0
}
suite_build() {  # build-dir cmake-args...
  local dir=$1; shift
  mkdir -p "$dir"
  .ci/build "$dir" -DHW_WERROR=ON "$@"
}
run_tests() {  # name build-dir ctest-label-exclusion
  local name=$1 dir=$2 exclude=$3
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
# The fuzz build (clang, libFuzzer): only the fuzz_* targets.
# shellcheck disable=SC2317  # bg_start runs it
fuzz_build() {
  # -DHW_WERROR=ON: the fuzz build goes through the warnings of every other build, as errors.
  CXX=clang++ cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHW_FUZZ=ON \
    -DHW_TESTS=ON -DHW_WERROR=ON >build/fuzz.configure.log 2>&1 || { cat build/fuzz.configure.log; return 1; }
  local targets
  targets=$(fuzz_targets)
  # shellcheck disable=SC2086
  cmake --build build/fuzz -j"$jobs" --target $targets
}
fuzz_targets() { (cd build/fuzz && cmake --build . --target help | sed -n 's/^\.\.\. \(fuzz_[a-z0-9_]*\).*/\1/p'); }

mkdir -p build
# The soak (label soak, HW_SOAK_SECONDS long) runs once, against the release binary.
export HW_SOAK_SECONDS=${HW_SOAK_SECONDS:-120}
if [ "$quick" = 1 ]; then release_exclude=soak; else release_exclude=none; fi
step "release (static binary): configure and build"
suite_build build/release -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON
asan_args=(-DCMAKE_BUILD_TYPE=Debug "-DHW_SANITIZE=address,undefined")
tsan_args=(-DCMAKE_BUILD_TYPE=Debug -DHW_SANITIZE=thread)
if [ "$quick" = 0 ]; then bg_start build/asan.build.log suite_build build/asan "${asan_args[@]}"; fi
run_tests "release (static binary)" build/release "$release_exclude"

# --- interop (tests/interop/): the real faas-cli with the templates and the documents' commands
# Each test prints "skipped: no faas-cli" when ../shared/peers/faas-cli-0.18.12 is not there.
step "interop: faas-cli and the commands printed in the READMEs"
for t in faas_cli_test docs_test; do
  python3 tests/interop/$t.py "$root/build/release/hmac-watchdog" || failed+=("interop $t")
done
# --- end of interop ---------------------------------------------------------------------------
if [ "$quick" = 0 ]; then
  step "asan+ubsan: configure and build"
  bg_wait build/asan.build.log
  bg_start build/tsan.build.log suite_build build/tsan "${tsan_args[@]}"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_tests "asan+ubsan" build/asan soak

  step "tsan: configure and build"
  bg_wait build/tsan.build.log
  bg_start build/fuzz.build.log fuzz_build
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run_tests "tsan" build/tsan soak

  step "fuzz: build (clang, libFuzzer)"
  bg_wait build/fuzz.build.log
  targets=$(fuzz_targets)
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

finish
