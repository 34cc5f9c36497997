#!/usr/bin/env bash
# Measures the performance targets P1-P9 of the spec (../shared/spec/performance.md from the
# repository root): builds the static release binary in
# build/bench, the benchmark programs beside it, starts upstream, watchdogs and wrk on
# 127.0.0.1 only, alternates baseline and watchdog runs, and writes a Markdown table to
# tests/bench/results.md and stdout. Not a test: it never fails on speed.
#
# Usage: tests/bench/run.sh [--quick] [--rounds N] [--seconds S] [--no-build] [--keep]
#   --quick     1 round of 2 s runs (a smoke run of about 1-2 minutes)
#   --rounds N  alternating rounds per figure (default 3)
#   --seconds S length of each load run (default 5)
#   --no-build  use build/bench as it is
#   --keep      keep the work folder (logs, bodies) for inspection
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=$ROOT/build/bench
TOOLS=$BUILD/bench-tools
ROUNDS=3
SECONDS_PER_RUN=5
BUILD_IT=1
KEEP=0
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; ROUNDS=1; SECONDS_PER_RUN=2 ;;
    --rounds) ROUNDS=$2; shift ;;
    --seconds) SECONDS_PER_RUN=$2; shift ;;
    --no-build) BUILD_IT=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
T0=$(date +%s)
log() { printf '[bench %3ds] %s\n' $(( $(date +%s) - T0 )) "$*" >&2; }

# --- What the benchmark needs, beyond the README's set-up ---------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v strip >/dev/null || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "run.sh: missing ${need[*]}; install them as root" >&2; exit 1; fi
  log "installing ${need[*]}"
  [ -x .ci/deps ] && .ci/deps
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi

# --- Build ----------------------------------------------------------------------------------
if [ $BUILD_IT = 1 ]; then
  log "building $BUILD (Release, static; output in $BUILD/build.log)"
  mkdir -p "$BUILD"  # the log goes inside it before .ci/build creates it (a fresh clone)
  .ci/build "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON -DHW_TESTS=OFF >"$BUILD/build.log" 2>&1 \
    || { tail -30 "$BUILD/build.log" >&2; echo "run.sh: build failed" >&2; exit 1; }
fi
WD=$BUILD/hmac-watchdog
[ -x "$WD" ] || { echo "run.sh: $WD missing (run without --no-build)" >&2; exit 1; }
mkdir -p "$TOOLS"
CXXFLAGS=(-std=c++20 -O2 -Wall -Wextra -Wpedantic)
for prog in bench_upstream spawn_baseline startup_probe flood_probe; do
  if [ ! -x "$TOOLS/$prog" ] || [ "tests/bench/$prog.cc" -nt "$TOOLS/$prog" ]; then
    g++ "${CXXFLAGS[@]}" "tests/bench/$prog.cc" -o "$TOOLS/$prog" -lpthread
  fi
done
if [ ! -x "$TOOLS/verify_bench" ] || [ tests/bench/verify_bench.cc -nt "$TOOLS/verify_bench" ] \
   || [ "$BUILD/libwatchdog_core.a" -nt "$TOOLS/verify_bench" ]; then
  g++ "${CXXFLAGS[@]}" -Iwatchdog -DFMT_HEADER_ONLY tests/bench/verify_bench.cc \
    "$BUILD/libwatchdog_core.a" -lcrypto -lpthread -o "$TOOLS/verify_bench"
fi

# --- Work folder, processes, clean-up ---------------------------------------------------------
WORK=$(mktemp -d /tmp/hw-bench.XXXXXX)
mkdir -p "$WORK/secrets" "$WORK/tmp"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    pkill -KILL -P "$pid" 2>/dev/null || true  # its function first, while it is still the parent
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ $KEEP = 1 ]; then echo "work folder kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)
LUA=$ROOT/tests/bench/signed_post.lua

# A port nobody listens on, below the ephemeral range (wrk's own client ports live there).
EPHEMERAL_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p
  for _ in $(seq 100); do
    p=$(( 10000 + RANDOM % (EPHEMERAL_LOW - 10000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
calc() { awk "BEGIN {printf \"%.${2:-2}f\", $1}"; }
metric() {  # metric PORT NAME: the value of an unlabelled metric
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'
}

# start_watchdog NAME VAR=VALUE...: starts the watchdog with exactly these variables (plus
# PATH, TMPDIR, the secret), waits for its "ready:" line; sets WD_PID, WD_PORT.
start_watchdog() {
  local name=$1; shift
  local logf=$WORK/$name.log
  : >"$logf"
  env -i PATH="$PATH" TMPDIR="$WORK/tmp" port=0 hmac_scheme=github secrets_path="$WORK/secrets" \
    healthcheck_interval=0s suppress_lock=true "$@" "$WD" 2>>"$logf" >/dev/null &
  WD_PID=$!
  PIDS+=("$WD_PID")
  local deadline=$(( $(date +%s) + 15 ))
  until grep -q "ready:" "$logf"; do
    if ! kill -0 "$WD_PID" 2>/dev/null || [ "$(date +%s)" -gt "$deadline" ]; then
      cat "$logf" >&2; echo "run.sh: watchdog $name did not become ready" >&2; exit 1
    fi
    sleep 0.02
  done
  WD_PORT=$(grep -o 'listening on port [0-9]*' "$logf" | head -1 | awk '{print $4}')
}
stop_watchdog() {  # stop_watchdog PID: SIGTERM twice (the second skips the health interval)
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  sleep 0.1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then pkill -KILL -P "$pid" || true; kill -KILL "$pid" || true; fi
  wait "$pid" 2>/dev/null || true
}

# run_wrk CONNS URL BODY SIG [PID]: one bounded wrk run; sets R_RPS R_P50 R_P99 R_ERR R_NON2XX
# R_REQ, and R_CPU_US (CPU per request of PID in µs) when PID is given.
run_wrk() {
  local conns=$1 url=$2 body=$3 sig=$4 pid=${5:-} threads=2 before=0 after=0 out
  [ "$conns" -lt 2 ] && threads=1
  [ -n "$pid" ] && before=$(cpu_ticks "$pid")
  out=$(BENCH_BODY_FILE=$body BENCH_SIG_HEADER=X-Hub-Signature-256 BENCH_SIG_VALUE=$sig \
        timeout $(( SECONDS_PER_RUN + 20 )) wrk -t"$threads" -c"$conns" -d"${SECONDS_PER_RUN}s" \
        --timeout 5s -s "$LUA" "$url" | grep '^RESULT') || { echo "run.sh: wrk failed on $url" >&2; exit 1; }
  [ -n "$pid" ] && after=$(cpu_ticks "$pid")
  set -- $out
  R_REQ=$3; R_RPS=$7; R_P50=$9; R_P99=${11}; R_ERR=${13}; R_NON2XX=${15}
  R_CPU_US=nan
  if [ -n "$pid" ] && [ "$R_REQ" -gt 0 ]; then
    R_CPU_US=$(calc "($after - $before) * 1e6 / $CLK_TCK / $R_REQ" 1)
  fi
}

# --- Inputs: secret, bodies, signatures -------------------------------------------------------
printf 'bench-secret-%s' "$RANDOM$RANDOM" >"$WORK/secrets/webhook-secret"
SECRET_FILE=$WORK/secrets/webhook-secret
make_body() { head -c "$2" /dev/zero | tr '\0' 'a' >"$1"; }  # JSON-ish bytes, exact size
make_body "$WORK/body1k" 1024
make_body "$WORK/body256k" $(( 256 * 1024 ))
sign() {
  local out
  out=$("$WD" sign --scheme github --secret-file "$SECRET_FILE" <"$1" 2>/dev/null \
        | awk -F': ' '$1 == "X-Hub-Signature-256" {print $2}') || true
  if [ -z "$out" ]; then
    out="sha256=$(openssl dgst -sha256 -hmac "$(cat "$SECRET_FILE")" <"$1" | awk '{print $NF}')"
  fi
  echo "$out"
}
SIG1K=$(sign "$WORK/body1k")
SIG256K=$(sign "$WORK/body256k")
FORGED="sha256=$(printf '0%.0s' $(seq 64))"
[ "$SIG1K" = "sha256=$(openssl dgst -sha256 -hmac "$(cat "$SECRET_FILE")" <"$WORK/body1k" | awk '{print $NF}')" ] \
  || { echo "run.sh: hmac-watchdog sign disagrees with openssl" >&2; exit 1; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
CORES=$(nproc)
log "machine: $CORES cores, $CPU_MODEL, load $LOAD_START; $ROUNDS rounds of ${SECONDS_PER_RUN}s"

# --- P7 idle, P1/P2: http mode in front of the upstream vs the upstream directly ------------
UP_PORT=$(free_port)
HTTP_METRICS=$(free_port)
start_watchdog http mode=http fprocess="$TOOLS/bench_upstream $UP_PORT 2" \
  upstream_url="http://127.0.0.1:$UP_PORT" metrics_port="$HTTP_METRICS"
HTTP_PID=$WD_PID; HTTP_PORT=$WD_PORT
sleep 0.5
IDLE_RSS_HTTP=$(status_kib "$HTTP_PID" VmRSS)
DIRECT=http://127.0.0.1:$UP_PORT/hook
THROUGH=http://127.0.0.1:$HTTP_PORT/hook
log "P1/P2: upstream :$UP_PORT, watchdog :$HTTP_PORT (pid $HTTP_PID)"
# Warm-up (connections, thread pool, page cache).
SAVE=$SECONDS_PER_RUN; SECONDS_PER_RUN=1
run_wrk 16 "$DIRECT" "$WORK/body1k" "$SIG1K"; run_wrk 16 "$THROUGH" "$WORK/body1k" "$SIG1K"
SECONDS_PER_RUN=$SAVE
declare -A V
for r in $(seq "$ROUNDS"); do
  run_wrk 16 "$DIRECT" "$WORK/body1k" "$SIG1K"
  V[d16_rps]+=" $R_RPS"; V[d16_p50]+=" $R_P50"; V[d16_p99]+=" $R_P99"
  run_wrk 16 "$THROUGH" "$WORK/body1k" "$SIG1K" "$HTTP_PID"
  [ "$R_NON2XX" = 0 ] && [ "$R_ERR" = 0 ] || { echo "run.sh: watchdog answered non-2xx ($R_NON2XX) or errors ($R_ERR)" >&2; tail -5 "$WORK/http.log" >&2; exit 1; }
  V[w16_rps]+=" $R_RPS"; V[w16_p50]+=" $R_P50"; V[w16_p99]+=" $R_P99"; V[w16_cpu]+=" $R_CPU_US"
  run_wrk 1 "$DIRECT" "$WORK/body1k" "$SIG1K"
  V[d1_rps]+=" $R_RPS"; V[d1_p50]+=" $R_P50"; V[d1_p99]+=" $R_P99"
  run_wrk 1 "$THROUGH" "$WORK/body1k" "$SIG1K" "$HTTP_PID"
  V[w1_rps]+=" $R_RPS"; V[w1_p50]+=" $R_P50"; V[w1_p99]+=" $R_P99"; V[w1_cpu]+=" $R_CPU_US"
  : >"$WORK/http.log"  # the access log grows by a line per request
  log "round $r: direct16 $(echo ${V[d16_rps]} | awk '{print $NF}') rps, watchdog16 $(echo ${V[w16_rps]} | awk '{print $NF}') rps"
done
PEAK_RSS_P1=$(status_kib "$HTTP_PID" VmHWM)

# P4's second half: forged requests in http mode never reach the upstream.
up_stats() { curl -s --max-time 5 "http://127.0.0.1:$UP_PORT/__bench/stats"; }
UP_BEFORE=$(up_stats); UPREQ_BEFORE=$(metric "$HTTP_METRICS" hmac_upstream_requests_total)
SAVE=$SECONDS_PER_RUN; SECONDS_PER_RUN=2
run_wrk 16 "$THROUGH" "$WORK/body1k" "$FORGED"
SECONDS_PER_RUN=$SAVE
HTTP_FORGED_NON2XX=$R_NON2XX; HTTP_FORGED_REQ=$R_REQ
UP_AFTER=$(up_stats); UPREQ_AFTER=$(metric "$HTTP_METRICS" hmac_upstream_requests_total)
# The second stats query's own connection is the one expected new connection.
UP_CONN_DELTA=$(( $(echo "$UP_AFTER" | awk '{print $2}') - $(echo "$UP_BEFORE" | awk '{print $2}') - 1 ))
UP_REQ_DELTA=$(( $(echo "$UP_AFTER" | awk '{print $4}') - $(echo "$UP_BEFORE" | awk '{print $4}') ))
UPREQ_METRIC_DELTA=$(( ${UPREQ_AFTER:-0} - ${UPREQ_BEFORE:-0} ))
stop_watchdog "$HTTP_PID"

# --- P3: fork modes with cat vs posix_spawn + pipes ---------------------------------------
STREAM_METRICS=$(free_port)
start_watchdog streaming mode=streaming fprocess=cat metrics_port="$STREAM_METRICS"
STREAM_PID=$WD_PID; STREAM_PORT=$WD_PORT
sleep 0.5
IDLE_RSS_STREAM=$(status_kib "$STREAM_PID" VmRSS)
start_watchdog serializing mode=serializing fprocess=cat metrics_port=0
SER_PID=$WD_PID; SER_PORT=$WD_PORT
log "P3: streaming :$STREAM_PORT, serializing :$SER_PORT"
SAVE=$SECONDS_PER_RUN; SECONDS_PER_RUN=1
run_wrk 16 "http://127.0.0.1:$STREAM_PORT/" "$WORK/body1k" "$SIG1K"
SECONDS_PER_RUN=$SAVE
for r in $(seq "$ROUNDS"); do
  base=$(timeout $(( SECONDS_PER_RUN + 20 )) "$TOOLS/spawn_baseline" 2 "$SECONDS_PER_RUN" 1024 cat \
         | awk '$1 == "spawns_per_second" {print $2}')
  V[spawn]+=" $base"
  base16=$(timeout $(( SECONDS_PER_RUN + 20 )) "$TOOLS/spawn_baseline" 16 "$SECONDS_PER_RUN" 1024 cat \
           | awk '$1 == "spawns_per_second" {print $2}')
  V[spawn16]+=" $base16"
  run_wrk 16 "http://127.0.0.1:$STREAM_PORT/" "$WORK/body1k" "$SIG1K" "$STREAM_PID"
  [ "$R_NON2XX" = 0 ] || { echo "run.sh: streaming answered non-2xx" >&2; tail -5 "$WORK/streaming.log" >&2; exit 1; }
  V[st_rps]+=" $R_RPS"; V[st_p50]+=" $R_P50"; V[st_p99]+=" $R_P99"; V[st_cpu]+=" $R_CPU_US"
  run_wrk 16 "http://127.0.0.1:$SER_PORT/" "$WORK/body1k" "$SIG1K" "$SER_PID"
  [ "$R_NON2XX" = 0 ] || { echo "run.sh: serializing answered non-2xx" >&2; tail -5 "$WORK/serializing.log" >&2; exit 1; }
  V[se_rps]+=" $R_RPS"; V[se_p50]+=" $R_P50"; V[se_p99]+=" $R_P99"; V[se_cpu]+=" $R_CPU_US"
  : >"$WORK/streaming.log"; : >"$WORK/serializing.log"
  log "round $r: posix_spawn $base/s, streaming $(echo ${V[st_rps]} | awk '{print $NF}')/s, serializing $(echo ${V[se_rps]} | awk '{print $NF}')/s"
done
stop_watchdog "$SER_PID"

# --- P4/P5: forged signatures against streaming mode ----------------------------------------
SPAWNS_BEFORE=$(metric "$STREAM_METRICS" hmac_function_spawns_total)
FORGED_NON401=0
for r in $(seq "$ROUNDS"); do
  run_wrk 16 "http://127.0.0.1:$STREAM_PORT/" "$WORK/body1k" "$FORGED" "$STREAM_PID"
  V[f1_rps]+=" $R_RPS"; V[f1_p50]+=" $R_P50"; V[f1_p99]+=" $R_P99"; V[f1_cpu]+=" $R_CPU_US"
  FORGED_NON401=$(( FORGED_NON401 + R_REQ - R_NON2XX ))
  run_wrk 16 "http://127.0.0.1:$STREAM_PORT/" "$WORK/body256k" "$FORGED" "$STREAM_PID"
  V[f256_rps]+=" $R_RPS"; V[f256_p50]+=" $R_P50"; V[f256_p99]+=" $R_P99"; V[f256_cpu]+=" $R_CPU_US"
  FORGED_NON401=$(( FORGED_NON401 + R_REQ - R_NON2XX ))
  : >"$WORK/streaming.log"
  log "round $r: forged 1 KiB $(echo ${V[f1_rps]} | awk '{print $NF}')/s, 256 KiB $(echo ${V[f256_rps]} | awk '{print $NF}')/s"
done
SPAWNS_AFTER=$(metric "$STREAM_METRICS" hmac_function_spawns_total)
SPAWN_DELTA=$(( ${SPAWNS_AFTER:-0} - ${SPAWNS_BEFORE:-0} ))
R401=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Hub-Signature-256: $FORGED" \
       --data-binary @"$WORK/body1k" "http://127.0.0.1:$STREAM_PORT/")
stop_watchdog "$STREAM_PID"

# --- P6: verification in process vs OpenSSL -------------------------------------------------
log "P6: in-process verification"
P6_MS=300; [ $QUICK = 1 ] && P6_MS=100
P6_OUT=$("$TOOLS/verify_bench" "$SECRET_FILE" "$P6_MS")
read -r _ _ _ V1K _ D1K _ O1K _ R1K <<<"$(echo "$P6_OUT" | awk '$2 == 1024')"
read -r _ _ _ V1M _ D1M _ O1M _ R1M <<<"$(echo "$P6_OUT" | awk '$2 == 1048576')"

# --- P7: 100 MiB signed body through http mode ------------------------------------------------
log "P7: 100 MiB signed body"
make_body "$WORK/body100m" $(( 100 * 1024 * 1024 ))
SIG100M=$(sign "$WORK/body100m")
UP_PORT2=$(free_port)
start_watchdog big mode=http fprocess="$TOOLS/bench_upstream $UP_PORT2 2" \
  upstream_url="http://127.0.0.1:$UP_PORT2" metrics_port=0 max_body_bytes=200MiB \
  read_timeout=60s write_timeout=60s exec_timeout=60s
BIG_PID=$WD_PID
BIG_CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -H "X-Hub-Signature-256: $SIG100M" \
           -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/body100m" \
           "http://127.0.0.1:$WD_PORT/big")
PEAK_RSS_BIG=$(status_kib "$BIG_PID" VmHWM)
stop_watchdog "$BIG_PID"
rm -f "$WORK/body100m"

# --- Flood: idle and half-open connections against http mode ------------------------------------
# 10,000 connections that never send a byte and 1,000 whose head never ends, held FLOOD_S
# seconds, while /_/health is probed every 100 ms and signed requests keep going.
FLOOD_S=60; FLOOD_IDLE=10000; FLOOD_HALF=1000
[ $QUICK = 1 ] && { FLOOD_S=10; FLOOD_IDLE=3000; FLOOD_HALF=500; }
log "flood: $FLOOD_IDLE idle + $FLOOD_HALF half-open connections for ${FLOOD_S}s"
FLOOD_UP=$(free_port)
start_watchdog flood mode=http fprocess="$TOOLS/bench_upstream $FLOOD_UP 1" \
  upstream_url="http://127.0.0.1:$FLOOD_UP" metrics_port=0
FLOOD_PID=$WD_PID
FLOOD_OUT=$("$TOOLS/flood_probe" "$WD_PORT" "$FLOOD_PID" "$FLOOD_IDLE" "$FLOOD_HALF" "$FLOOD_S" \
  "$WORK/body1k" "X-Hub-Signature-256: $SIG1K")
stop_watchdog "$FLOOD_PID"
fv() { echo "$FLOOD_OUT" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }

# --- P8: exec to first 200 on /_/health --------------------------------------------------------
log "P8: startup"
P8_PORT=$(free_port)
P8_OUT=$(env -i PATH="$PATH" TMPDIR="$WORK/tmp" mode=streaming fprocess=cat port="$P8_PORT" \
         metrics_port=0 hmac_scheme=github secrets_path="$WORK/secrets" \
         timeout 120 "$TOOLS/startup_probe" "$P8_PORT" 20 "$WD" 2>/dev/null)
P8_MS=$(echo "$P8_OUT" | awk '$1 == "median_ms" {print $2}')
P8_MIN=$(echo "$P8_OUT" | awk '$1 == "min_ms" {print $2}')

# --- P9: static stripped size ------------------------------------------------------------------
cp "$WD" "$WORK/stripped"; strip "$WORK/stripped"
P9_BYTES=$(stat -c %s "$WORK/stripped")
STATIC=$(file -b "$WD" 2>/dev/null | grep -o 'static[a-z -]*linked' || echo "see ldd")

# --- Table -------------------------------------------------------------------------------------
m() { echo "${V[$1]}" | median; }
met() { awk "BEGIN {exit !($1)}" && echo "**met**" || echo "not met"; }
# Reference figures of performance.md (2 cores, loopback): of-watchdog http 16 conns 9,100/s,
# 133 µs CPU, p99 7.1 ms, vs a Go upstream at 69,100/s; adnanh/webhook forged 28,000/s (1 KiB),
# 330/s (256 KiB). Neither is installable here: targets that need them use these figures, and
# P1's throughput target is also expressed as a ratio of the direct upstream in this run
# (2.5 x 9,100 / 69,100 = 0.329).
D16=$(m d16_rps); W16=$(m w16_rps); W16CPU=$(m w16_cpu); W16P99=$(m w16_p99); D16P99=$(m d16_p99)
D1P50=$(m d1_p50); W1P50=$(m w1_p50); W1CPU=$(m w1_cpu)
SPAWN=$(m spawn); ST=$(m st_rps); SE=$(m se_rps)
F1=$(m f1_rps); F256=$(m f256_rps)
ADDED=$(calc "$W1P50 - $D1P50" 0)
P1_RATIO=$(calc "$W16 / $D16" 3)
RES=tests/bench/results.md
{
  echo "# hmac-watchdog benchmark results"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $CORES cores, $CPU_MODEL; load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- $ROUNDS alternating rounds of ${SECONDS_PER_RUN} s per figure, medians; wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), 1 KiB POST signed with \`hmac_scheme=github\`, 127.0.0.1 only; binary \`build/bench/hmac-watchdog\` (Release, $STATIC; sources at $(git rev-parse --short HEAD 2>/dev/null || echo '?') with $(git status --porcelain watchdog 2>/dev/null | wc -l) uncommitted paths under watchdog/)"
  echo "- baseline upstream: \`tests/bench/bench_upstream.cc\` (epoll, 2 threads), run by the watchdog as its http-mode function and also called directly. of-watchdog, Go and adnanh/webhook are not installable here: targets that need them use performance.md's reference figures (marked *ref*)."
  echo
  echo "| # | figure | measured | target | |"
  echo "|---|---|---|---|---|"
  echo "| P1 | http mode, 16 conns: requests/s (direct upstream $(calc "$D16" 0)/s) | $(calc "$W16" 0)/s = $P1_RATIO× direct | ≥ 0.329× direct (2.5× of-watchdog's 0.13×, *ref*); ≥ 22,750/s absolute (*ref*) | $(met "$P1_RATIO >= 0.329") / $(met "$W16 >= 22750") |"
  echo "| P1 | http mode, 16 conns: watchdog CPU per request | $W16CPU µs | ≤ 53 µs (0.4× of-watchdog's 133 µs, *ref*) | $(met "$W16CPU <= 53.2") |"
  echo "| P1 | http mode, 16 conns: p50 / p99 (direct $(m d16_p50) / $D16P99 µs) | $(m w16_p50) / $W16P99 µs | p99 ≤ 7,100 µs (of-watchdog, *ref*) | $(met "$W16P99 <= 7100") |"
  echo "| P2 | http mode, 1 conn: p50 added (direct $D1P50 µs, through $W1P50 µs; $(calc "$(m d1_rps)" 0) vs $(calc "$(m w1_rps)" 0) req/s; CPU $W1CPU µs/req; p99 $(m d1_p99) vs $(m w1_p99) µs) | $ADDED µs | ≤ 60 µs | $(met "$ADDED <= 60") |"
  echo "| P3 | streaming, cat, 16 conns (posix_spawn limit $(calc "$SPAWN" 0)/s on 2 threads; $(calc "$(m spawn16)" 0)/s on 16, for information) | $(calc "$ST" 0)/s = $(calc "$ST / $SPAWN" 2)× (p50 $(m st_p50) µs, p99 $(m st_p99) µs, CPU $(m st_cpu) µs/req) | ≥ 0.90× | $(met "$ST / $SPAWN >= 0.9") |"
  echo "| P3 | serializing, cat, 16 conns | $(calc "$SE" 0)/s = $(calc "$SE / $SPAWN" 2)× (p50 $(m se_p50) µs, p99 $(m se_p99) µs, CPU $(m se_cpu) µs/req) | ≥ 0.90× | $(met "$SE / $SPAWN >= 0.9") |"
  echo "| P4 | forged 1 KiB, 16 conns, streaming mode | $(calc "$F1" 0)/s = $(calc "$F1 / $D16" 2)× direct upstream (p99 $(m f1_p99) µs, CPU $(m f1_cpu) µs/req) | ≥ 56,000/s (2× adnanh's 28,000, *ref*); ≥ 0.81× direct (scaled) | $(met "$F1 >= 56000") / $(met "$F1 / $D16 >= 0.81") |"
  echo "| P4 | never forks, never connects | spawns +$SPAWN_DELTA over all forged runs (every answer 401: $([ "$FORGED_NON401" = 0 ] && [ "$R401" = 401 ] && echo yes || echo "NO, $FORGED_NON401 not rejected")); http mode: $HTTP_FORGED_REQ forged → upstream connections (besides the stats query) +$UP_CONN_DELTA, requests +$UP_REQ_DELTA, hmac_upstream_requests_total +$UPREQ_METRIC_DELTA | 0 | $(met "$SPAWN_DELTA == 0 && $UP_CONN_DELTA == 0 && $UP_REQ_DELTA == 0 && $UPREQ_METRIC_DELTA == 0 && $FORGED_NON401 == 0") |"
  echo "| P5 | forged 256 KiB, 16 conns | $(calc "$F256" 0)/s (p50 $(m f256_p50) µs, p99 $(m f256_p99) µs, CPU $(m f256_cpu) µs/req) | ≥ 3,300/s (10× adnanh's 330, *ref*) | $(met "$F256 >= 3300") |"
  echo "| P6 | verification, 1 KiB (OpenSSL pre-keyed context dup $(calc "$D1K / 1000" 2) µs; one-shot HMAC() $(calc "$O1K / 1000" 2) µs; one context re-initialised $(calc "$R1K / 1000" 2) µs) | $(calc "$V1K / 1000" 2) µs = $(calc "$V1K / $D1K" 2)× | ≤ 1.2× | $(met "$V1K / $D1K <= 1.2") |"
  echo "| P6 | verification, 1 MiB (OpenSSL pre-keyed context dup $(calc "$D1M / 1000" 0) µs; one-shot $(calc "$O1M / 1000" 0) µs; re-initialised $(calc "$R1M / 1000" 0) µs) | $(calc "$V1M / 1000" 0) µs = $(calc "$V1M / $D1M" 2)× | ≤ 1.2× | $(met "$V1M / $D1M <= 1.2") |"
  echo "| P7 | idle VmRSS (streaming; http mode $(calc "$IDLE_RSS_HTTP / 1024" 1) MiB) | $(calc "$IDLE_RSS_STREAM / 1024" 1) MiB | ≤ 3 MiB | $(met "$IDLE_RSS_STREAM <= 3072") |"
  echo "| P7 | VmHWM under P1's load (http mode) | $(calc "$PEAK_RSS_P1 / 1024" 1) MiB | ≤ 8 MiB | $(met "$PEAK_RSS_P1 <= 8192") |"
  echo "| P7 | VmHWM, 100 MiB signed body through http mode (status $BIG_CODE) | $(calc "$PEAK_RSS_BIG / 1024" 1) MiB | ≤ 16 MiB | $(met "$PEAK_RSS_BIG <= 16384 && $BIG_CODE == 200") |"
  echo "| flood | $FLOOD_IDLE idle + $FLOOD_HALF half-open connections for ${FLOOD_S} s (opened $(fv connections_opened)): /_/health probes every 100 ms answered 200 | $(fv probes_ok) of $(fv probes), $(fv probes_within_50ms) within 50 ms (p50 $(fv probe_p50_ms) ms, p99 $(fv probe_p99_ms) ms, max $(fv probe_max_ms) ms) | all, within 50 ms | $(met "$(fv probes_within_50ms) == $(fv probes)") |"
  echo "| flood | signed requests during the flood vs before it ($(fv unloaded_signed_per_s)/s on one connection) | $(fv flood_signed_per_s)/s = $(fv signed_ratio)× | ≥ 0.5× | $(met "$(fv signed_ratio) >= 0.5") |"
  echo "| flood | watchdog VmRSS during the flood (idle before: $(calc "$(fv idle_rss_kb) / 1024" 1) MiB) | $(calc "$(fv max_rss_kb) / 1024" 1) MiB | ≤ 48 MiB | $(met "$(fv max_rss_kb) <= 49152") |"
  echo "| P8 | exec to first 200 on /_/health, streaming, median of 20 (min $P8_MIN ms) | $P8_MS ms | ≤ 1.5 ms | $(met "$P8_MS <= 1.5") |"
  echo "| P9 | static stripped binary | $(calc "$P9_BYTES / 1048576" 2) MiB | ≤ 6 MiB | $(met "$P9_BYTES <= 6291456") |"
  echo
  echo "Run time $(( $(date +%s) - T0 )) s (\`tests/bench/run.sh$([ $QUICK = 1 ] && echo ' --quick')\`)."
} >"$RES"
cat "$RES"
