#!/usr/bin/env bash
# Where the CPU of one http-mode request goes (P1's path): hmac-watchdog in http mode in front
# of tests/bench/bench_upstream.cc, loaded by wrk (1 KiB signed POST, 16 connections), and
# three views of the watchdog process only:
#   1. perf stat: task-clock, context switches, migrations and page faults per request;
#   2. strace -c -f: system calls per request, by name (strace slows the process down; the
#      counts per request stay meaningful, the times do not);
#   3. perf record (cpu-clock samples, DWARF call graphs): the top functions, kernel and user,
#      flat (self), and the kernel's call paths with children (perf does not unwind the static
#      binary's user stacks here);
#   4. valgrind --tool=callgrind (when installed), on a second watchdog under a light load:
#      user-space instructions per request, inclusive, by function (the part perf cannot split).
# For the issue note "profile before and after" of a server-core change. Not a test. Uses the
# binaries of tests/bench/run.sh (build/bench; run it once first). As root it runs in a network
# namespace of its own (the watchdog listens on every interface).
#
# Usage: tests/bench/profile_http.sh [SECONDS (default 5)] [OUT_DIR (default build/bench/profile)]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECS=${1:-5}
OUT=${2:-$ROOT/build/bench/profile}
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || { echo "profile_http: SECONDS must be a positive whole number" >&2; exit 2; }
BUILD=$ROOT/build/bench
WD=$BUILD/hmac-watchdog
UPSTREAM=$BUILD/bench-tools/bench_upstream
for f in "$WD" "$UPSTREAM"; do
  [ -x "$f" ] || { echo "profile_http: $f missing: run tests/bench/run.sh --quick once" >&2; exit 1; }
done
for tool in wrk perf strace; do
  command -v $tool >/dev/null || { echo "profile_http: $tool is missing (apt-get install wrk linux-perf strace)" >&2; exit 1; }
done
if [ "${HW_PROFILE_IN_NETNS:-0}" != 1 ] && [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  HW_PROFILE_IN_NETNS=1 exec unshare -n -- bash "$0" "$SECS" "$OUT"
fi
[ "${HW_PROFILE_IN_NETNS:-0}" = 1 ] && ip link set lo up
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/hw-profile.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    { wait "$pid"; } 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/secrets"
printf 'profile-secret-%s' "$RANDOM" >"$WORK/secrets/webhook-secret"
{ printf '{"data":"'; head -c 1013 /dev/zero | tr '\0' a; printf '"}'; } >"$WORK/body"
SIG="sha256=$(openssl dgst -sha256 -hmac "$(cat "$WORK/secrets/webhook-secret")" <"$WORK/body" | awk '{print $NF}')"
UP_PORT=18437
"$UPSTREAM" "$UP_PORT" 2 2>/dev/null &
PIDS+=($!)
env -i PATH="$PATH" TMPDIR="$WORK" port=0 metrics_port=0 mode=http fprocess="sleep 100000" \
  upstream_url="http://127.0.0.1:$UP_PORT" hmac_scheme=github secrets_path="$WORK/secrets" \
  suppress_lock=true "$WD" 2>"$WORK/wd.log" >/dev/null &
WD_PID=$!
PIDS+=("$WD_PID")
for _ in $(seq 500); do grep -q "ready:" "$WORK/wd.log" && break; sleep 0.02; done
PORT=$(grep -o 'listening on port [0-9]*' "$WORK/wd.log" | head -1 | awk '{print $4}')
[ -n "$PORT" ] || { cat "$WORK/wd.log" >&2; exit 1; }
URL=http://127.0.0.1:$PORT/hook

load() {  # load SECONDS: wrk at 16 connections; prints the request count
  BENCH_BODY_FILE=$WORK/body BENCH_SIG_HEADER=X-Hub-Signature-256 BENCH_SIG_VALUE=$SIG \
    timeout $(( $1 + 20 )) wrk -t2 -c16 -d"${1}s" --timeout 5s -s "$ROOT/tests/bench/signed_post.lua" "$URL" \
    | awk '/^RESULT/ {print $3; if ($13 + $15 > 0) print "profile_http: errors or non-2xx" > "/dev/stderr"}'
}
load 1 >/dev/null  # warm-up
: >"$WORK/wd.log"
THREADS=$(find "/proc/$WD_PID/task" -mindepth 1 -maxdepth 1 | wc -l)

# 1. perf stat
perf stat -e task-clock,context-switches,cpu-migrations,page-faults -x, -o "$OUT/stat.csv" -p "$WD_PID" &
STAT=$!
REQ=$(load "$SECS")
kill -INT $STAT; wait $STAT 2>/dev/null || true
: >"$WORK/wd.log"

# 2. strace
strace -c -f -q -o "$OUT/strace.txt" -p "$WD_PID" &
ST=$!
sleep 0.5
SREQ=$(load 3)
kill -INT $ST; wait $ST 2>/dev/null || true
: >"$WORK/wd.log"

# 3. perf record
perf record -q -e cpu-clock -F 999 --call-graph dwarf,16384 -o "$OUT/perf.data" -p "$WD_PID" 2>/dev/null &
REC=$!
RREQ=$(load "$SECS")
kill -INT $REC; wait $REC 2>/dev/null || true
perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none --percent-limit 0.7 2>/dev/null \
  | grep -v '^#' | grep -v '^$' >"$OUT/self.txt"
perf report -i "$OUT/perf.data" --children --sort sym --stdio -g none --percent-limit 3 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | grep '\[k\]' >"$OUT/children.txt"
perf report -i "$OUT/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' >"$OUT/threads.txt"
KERNEL=$(perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null \
  | awk '/\[k\]/ {gsub("%", "", $1); k += $1} END {printf "%.1f", k}')

{
  echo "# http mode profile: 1 KiB signed POST, wrk 16 connections, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; watchdog threads: $THREADS"
  echo
  echo "## perf stat ($REQ requests in $SECS s = $(( REQ / SECS ))/s)"
  awk -F, -v n="$REQ" '$1 ~ /^[0-9.]+$/ {
      if ($3 == "task-clock") printf "  CPU per request: %.1f us\n", $1 * 1000 / n;
      else printf "  %s per request: %.2f\n", $3, $1 / n }' "$OUT/stat.csv"
  echo
  echo "## system calls per request (strace -c -f, $SREQ requests; times under strace are inflated)"
  awk -v n="$SREQ" '$1 ~ /^[0-9.]+$/ && NF >= 5 {name = $NF; calls = $4;
      printf "  %-16s %6.2f per request  (%s%% of syscall time)\n", name, calls / n, $1}' "$OUT/strace.txt" | head -20
  echo
  echo "## perf record: $RREQ requests; kernel share of samples ${KERNEL}%"
  echo "### by thread"
  head -12 "$OUT/threads.txt"
  echo "### self (flat)"
  head -30 "$OUT/self.txt" | cut -c1-140
  echo "### kernel, with children"
  head -30 "$OUT/children.txt"
} | tee "$OUT/summary.txt"
stop() { pkill -KILL -P "$1" 2>/dev/null || true; kill -KILL "$1" 2>/dev/null || true; { wait "$1"; } 2>/dev/null || true; }
stop "$WD_PID"

# 4. callgrind: a second watchdog under valgrind, counters zeroed after a warm-up and dumped
# after a load of 4 connections (valgrind runs one thread at a time).
command -v valgrind >/dev/null || { echo "(valgrind not installed: no user-space breakdown)"; exit 0; }
: >"$WORK/vg.log"
rm -f "$OUT"/callgrind.out*
# (TMPDIR stays /tmp: callgrind_control finds valgrind through FIFOs there.)
env -i PATH="$PATH" port=0 metrics_port=0 mode=http fprocess="sleep 100000" \
  upstream_url="http://127.0.0.1:$UP_PORT" hmac_scheme=github secrets_path="$WORK/secrets" \
  suppress_lock=true valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
  "$WD" 2>"$WORK/vg.log" >/dev/null &
VG_PID=$!
PIDS+=("$VG_PID")
for _ in $(seq 1500); do grep -q "ready:" "$WORK/vg.log" && break; sleep 0.02; done
PORT=$(grep -o 'listening on port [0-9]*' "$WORK/vg.log" | head -1 | awk '{print $4}')
[ -n "$PORT" ] || { tail "$WORK/vg.log" >&2; exit 1; }
URL=http://127.0.0.1:$PORT/hook
BENCH_BODY_FILE=$WORK/body BENCH_SIG_HEADER=X-Hub-Signature-256 BENCH_SIG_VALUE=$SIG \
  timeout 30 wrk -t1 -c4 -d2s --timeout 10s -s "$ROOT/tests/bench/signed_post.lua" "$URL" >/dev/null
callgrind_control -z "$VG_PID" >/dev/null
VREQ=$(BENCH_BODY_FILE=$WORK/body BENCH_SIG_HEADER=X-Hub-Signature-256 BENCH_SIG_VALUE=$SIG \
  timeout 60 wrk -t1 -c4 -d"${SECS}s" --timeout 10s -s "$ROOT/tests/bench/signed_post.lua" "$URL" \
  | awk '/^RESULT/ {print $3}')
callgrind_control -d "$VG_PID" >/dev/null
DUMP=
for _ in $(seq 100); do
  DUMP=$(find "$OUT" -name 'callgrind.out.*' -size +0 | sort | tail -1)
  [ -n "$DUMP" ] && break
  sleep 0.1
done
[ -n "$DUMP" ] || { echo "profile_http: callgrind wrote no dump" >&2; exit 1; }
sleep 0.5
{
  echo
  echo "## callgrind: user-space instructions per request ($VREQ requests at 4 connections)"
  callgrind_annotate --inclusive=yes "$DUMP" 2>/dev/null \
    | awk -v n="$VREQ" '/^ *[0-9,]+ / && n > 0 { ir = $1; gsub(",", "", ir); $1 = "";
        sub(/^ +/, ""); if (++k <= 45) printf "  %8.0f  %s\n", ir / n, substr($0, 1, 150) }'
} | tee -a "$OUT/summary.txt"
