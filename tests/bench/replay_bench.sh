#!/usr/bin/env bash
# Replay store benchmark (issue 16): the same signed delivery POSTed over and over with wrk
# (16 connections) to a watchdog with the memory store and to one with the Redis store
# (a redis-server of its own on loopback), alternating, same run. After the first request
# every one is a duplicate: the function does not run, so the figures are the verification
# plus one claim (memory: a map lookup; Redis: SET NX + GET). Prints p50 and requests/s of
# each and the difference. Not a test: never fails on speed.
#
# Usage: tests/bench/replay_bench.sh [BUILD_DIR (default build/hE)] [SECONDS (default 5)] [ROUNDS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/hE}
SECS=${2:-5}
ROUNDS=${3:-3}
BIN=$BUILD/hmac-watchdog
for tool in wrk redis-server redis-cli; do
  command -v $tool >/dev/null || { echo "replay_bench: $tool is missing (apt-get install wrk redis-server)" >&2; exit 1; }
done
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$WORK/secrets" "$WORK/redis"
printf 's3cret' > "$WORK/secrets/webhook-secret"
head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/body"
SIG=$("$BIN" sign --scheme github --secret-file "$WORK/secrets/webhook-secret" < "$WORK/body" | sed -n 's/^X-Hub-Signature-256: //p')

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$WORK/redis" --save "" --appendonly no \
  --logfile "$WORK/redis/log" &
pids+=($!)
until redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG; do sleep 0.05; done

start_watchdog() {  # NAME EXTRA_ENV... ; prints the port
  local name=$1; shift
  local port; port=$(free_port)
  env -i PATH="$PATH" port="$port" metrics_port=0 mode=serializing fprocess=cat hmac_scheme=github \
    secrets_path="$WORK/secrets" "$@" "$BIN" > "$WORK/$name.log" 2>&1 &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$port/_/health" >/dev/null 2>&1; do sleep 0.05; done
  echo "$port"
}
MEM=$(start_watchdog memory hmac_replay_cache=100000)
RED=$(start_watchdog redis hmac_replay_store="redis://127.0.0.1:$RPORT/0" hmac_replay_store_connections="${CONNS:-8}")

export BENCH_BODY_FILE=$WORK/body BENCH_SIG_HEADER=X-Hub-Signature-256 BENCH_SIG_VALUE=$SIG
LUA=tests/bench/signed_post.lua
run() {  # PORT -> "rps p50_us"
  curl -s -o /dev/null -X POST -H "X-Hub-Signature-256: $SIG" --data-binary @"$WORK/body" "http://127.0.0.1:$1/" || true
  wrk -t2 -c16 -d"${SECS}s" --timeout 5s -s "$LUA" "http://127.0.0.1:$1/" | awk '/^RESULT/ {print $7, $9, $15}'
}
printf '%-8s %-6s %10s %8s %7s\n' store round rps p50_us non2xx
for r in $(seq 1 "$ROUNDS"); do
  read -r m_rps m_p50 m_bad < <(run "$MEM"); printf '%-8s %-6s %10s %8s %7s\n' memory "$r" "$m_rps" "$m_p50" "$m_bad"
  read -r r_rps r_p50 r_bad < <(run "$RED"); printf '%-8s %-6s %10s %8s %7s\n' redis "$r" "$r_rps" "$r_p50" "$r_bad"
  echo "$m_rps $m_p50 $r_rps $r_p50" >> "$WORK/figures"
done
awk '{mr+=$1; mp+=$2; rr+=$3; rp+=$4; n++} END {
  printf "mean: memory %.0f req/s p50 %.0f us; redis %.0f req/s p50 %.0f us; added p50 %.3f ms; redis rate %.0f%% of memory\n",
    mr/n, mp/n, rr/n, rp/n, (rp-mp)/n/1000, 100*rr/mr }' "$WORK/figures"
