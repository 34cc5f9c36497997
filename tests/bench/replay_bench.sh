#!/usr/bin/env bash
# Replay store benchmark (issue 16): requests/s, p50 and CPU per request of a watchdog with
# the memory store against the same watchdog with the Redis store (a redis-server of its own,
# over loopback TCP and over a Unix socket), wrk with 16 connections (the rate) and with 1
# (the added p50: one request at a time, no queueing), the stores alternating in every round,
# medians over the rounds. Not a test: never fails on speed.
#
# Two kinds of traffic:
#   duplicate  the same signed delivery over and over (serializing mode, cat): after the first
#              request every one is a duplicate, the function never runs, so a request is the
#              verification plus one claim (memory: a map lookup; Redis: one SET NX PX GET).
#   fresh      every request a new signed delivery (http mode, tests/bench/bench_upstream.cc as
#              the function): claim, function, keep (Redis: SET NX PX GET, then EVALSHA).
# CPU per request is read from /proc/PID/stat of the watchdog and of redis-server. It ends
# with redis-benchmark of the claim command itself (16 clients, without and with pipelining):
# what redis-server alone costs on this machine.
#
# Usage: tests/bench/replay_bench.sh [BUILD_DIR (default build/release)] [SECONDS (5)] [ROUNDS (5)]
# Environment: CONNS (hmac_replay_store_connections, default: the watchdog's default),
#   KINDS (default "duplicate fresh"), STORES (default "memory redis redis-unix"),
#   CLIENTS (wrk connections, default "16 1").
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build/release}
SECS=${2:-5}
ROUNDS=${3:-5}
KINDS=${KINDS:-duplicate fresh}
STORES=${STORES:-memory redis redis-unix}
CLIENTS=${CLIENTS:-16 1}
BIN=$BUILD/hmac-watchdog
for tool in wrk redis-server redis-cli redis-benchmark python3 g++; do
  command -v $tool >/dev/null || { echo "replay_bench: $tool is missing (apt-get install wrk redis-server python3 g++)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "replay_bench: $BIN missing (build it first)" >&2; exit 1; }
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

mkdir -p "$WORK/secrets" "$WORK/redis"
printf 's3cret' > "$WORK/secrets/webhook-secret"
head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/body"
SIG=$("$BIN" sign --scheme github --secret-file "$WORK/secrets/webhook-secret" < "$WORK/body" | sed -n 's/^X-Hub-Signature-256: //p')
g++ -std=c++20 -O2 tests/bench/bench_upstream.cc -o "$WORK/bench_upstream" -lpthread

RPORT=$(free_port)
RSOCK=$WORK/redis/redis.sock
redis-server --port "$RPORT" --bind 127.0.0.1 --unixsocket "$RSOCK" --unixsocketperm 700 \
  --dir "$WORK/redis" --save "" --appendonly no --logfile "$WORK/redis/log" &
RPID=$!
pids+=("$RPID")
until redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG; do sleep 0.05; done

declare -A PORT PID
start_watchdog() {  # NAME ENV... ; sets PORT[NAME] PID[NAME]
  local name=$1; shift
  local port; port=$(free_port)
  env -i PATH="$PATH" TMPDIR="$WORK" port="$port" metrics_port=0 hmac_scheme=github \
    secrets_path="$WORK/secrets" suppress_lock=true hmac_replay_namespace="$name" "$@" "$BIN" > "$WORK/$name.log" 2>&1 &
  pids+=($!)
  PORT[$name]=$port PID[$name]=$!
  until curl -sf "http://127.0.0.1:$port/_/health" >/dev/null 2>&1; do sleep 0.05; done
}
store_env() {  # STORE -> env assignments
  case $1 in
    memory) echo hmac_replay_cache=10000000 ;;
    redis) echo "hmac_replay_store=redis://127.0.0.1:$RPORT/0" ${CONNS:+"hmac_replay_store_connections=$CONNS"} ;;
    redis-unix) echo "hmac_replay_store=redis+unix://$RSOCK" ${CONNS:+"hmac_replay_store_connections=$CONNS"} ;;
  esac
}
for kind in $KINDS; do
  for store in $STORES; do
    # shellcheck disable=SC2046
    if [ "$kind" = duplicate ]; then
      start_watchdog "$kind-$store" mode=serializing fprocess=cat $(store_env "$store")
    else
      up=$(free_port)
      start_watchdog "$kind-$store" mode=http fprocess="$WORK/bench_upstream $up 1" \
        upstream_url="http://127.0.0.1:$up" $(store_env "$store")
    fi
  done
done

# fresh: N new deliveries (a run-unique prefix, so no run repeats another's), "sig<TAB>body" lines.
fresh_file() {  # TAG N
  python3 - "$1" "$2" "$WORK/fresh" <<'PY'
import hashlib, hmac, sys
tag, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "w") as f:
    for i in range(n):
        body = '{"run":"%s","n":%d,"pad":"%s"}' % (tag, i, "x" * 160)
        f.write("sha256=%s\t%s\n" % (hmac.new(b"s3cret", body.encode(), hashlib.sha256).hexdigest(), body))
PY
}
cat > "$WORK/fresh.lua" <<'LUA'
-- Each thread sends its own share of the lines of $BENCH_FRESH_FILE, each once (wrapping
-- round only if the run outlasts the file).
local threads = {}
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1; table.insert(threads, thread) end
function init(args)
  sigs, bodies = {}, {}
  local i = 0
  for line in io.lines(os.getenv("BENCH_FRESH_FILE")) do
    if i % 2 == id then
      local tab = line:find("\t", 1, true)
      table.insert(sigs, line:sub(1, tab - 1)); table.insert(bodies, line:sub(tab + 1))
    end
    i = i + 1
  end
  next_i = 0
end
function request()
  next_i = next_i % #sigs + 1
  return wrk.format("POST", "/", {["X-Hub-Signature-256"] = sigs[next_i],
                                  ["Content-Type"] = "application/json"}, bodies[next_i])
end
LUA
sed -n '/^done = function/,$p' tests/bench/signed_post.lua >> "$WORK/fresh.lua"

export BENCH_BODY_FILE=$WORK/body BENCH_SIG_HEADER=X-Hub-Signature-256 BENCH_SIG_VALUE=$SIG BENCH_FRESH_FILE=$WORK/fresh
run() {  # KIND STORE ROUND CONNECTIONS -> a line of figures in $WORK/figures
  local kind=$1 store=$2 round=$3 c=$4 name="$1-$2" t=2
  [ "$c" -ge 2 ] || t=1
  local port=${PORT[$name]} pid=${PID[$name]} lua=tests/bench/signed_post.lua
  if [ "$kind" = fresh ]; then fresh_file "$name-$round" $(( SECS * 30000 )); lua=$WORK/fresh.lua
  else curl -s -o /dev/null -X POST -H "X-Hub-Signature-256: $SIG" --data-binary @"$WORK/body" "http://127.0.0.1:$port/" || true
  fi
  local w0 r0 w1 r1 out
  for p in "$pid" "$RPID"; do
    kill -0 "$p" 2>/dev/null || { echo "replay_bench: process $p ($name or redis-server) is gone" >&2; tail -5 "$WORK/$name.log" "$WORK/redis/log" >&2; exit 1; }
  done
  w0=$(cpu_ticks "$pid"); r0=$(cpu_ticks "$RPID")
  out=$(wrk -t$t -c"$c" -d"${SECS}s" --timeout 5s -s "$lua" "http://127.0.0.1:$port/" | grep '^RESULT')
  w1=$(cpu_ticks "$pid"); r1=$(cpu_ticks "$RPID")
  # RESULT requests N seconds S rps R p50_us P p99_us P errors E non2xx N
  # shellcheck disable=SC2086  # the fields are split on purpose
  set -- $out
  local cpu_w cpu_r
  cpu_w=$(python3 -c "print(round(($w1 - $w0) * 1e6 / $CLK_TCK / max($3, 1), 1))")
  cpu_r=$(python3 -c "print(round(($r1 - $r0) * 1e6 / $CLK_TCK / max($3, 1), 1))")
  printf '%-9s %-10s %3s %5s %9s %7s %7s %10s %9s %7s\n' "$kind" "$store" "$c" "$round" "$7" "$9" "${11}" "$cpu_w" "$cpu_r" "$(( ${13} + ${15} ))"
  echo "$kind $store $round $7 $9 ${11} $cpu_w $cpu_r $c" >> "$WORK/figures"
}
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; ${SECS}s runs, $ROUNDS rounds, wrk connections: $CLIENTS"
printf '%-9s %-10s %3s %5s %9s %7s %7s %10s %9s %7s\n' kind store c round req/s p50_us p99_us wd_cpu_us redis_us errors
for r in $(seq 1 "$ROUNDS"); do
  for c in $CLIENTS; do
    for kind in $KINDS; do
      for store in $STORES; do run "$kind" "$store" "$r" "$c"; done
    done
  done
  echo "# round $r done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done

echo
echo "medians over $ROUNDS rounds (CPU: microseconds of CPU per request, watchdog / redis-server):"
python3 - "$WORK/figures" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for kind, c, store in dict.fromkeys((r[0], r[8], r[1]) for r in rows):
    sel = [r for r in rows if r[0] == kind and r[1] == store and r[8] == c]
    mem = {r[2]: r for r in rows if r[0] == kind and r[1] == "memory" and r[8] == c}
    rps, p50, p99, cw, cr = [statistics.median(float(r[i]) for r in sel) for i in range(3, 8)]
    extra = ""
    if store != "memory" and mem:
        # per-round figures against memory's of the same round, then their median
        ratios = [float(r[3]) / float(mem[r[2]][3]) for r in sel if r[2] in mem]
        added = [(float(r[4]) - float(mem[r[2]][4])) / 1000 for r in sel if r[2] in mem]
        extra = "  = %.2fx memory's rate (rounds %s), p50 %+.3f ms (rounds %s)" % (
            statistics.median(ratios), " ".join("%.2f" % x for x in ratios),
            statistics.median(added), " ".join("%+.2f" % x for x in added))
    print("%-9s c=%-3s %-10s %8.0f req/s  p50 %5.0f us  p99 %6.0f us  CPU %6.1f / %5.1f us%s" % (
        kind, c, store, rps, p50, p99, cw, cr, extra))
PY

echo
echo "redis-benchmark, the claim command alone, 16 clients (what redis-server costs here):"
for P in 1 16; do
  r0=$(cpu_ticks "$RPID")
  out=$(redis-benchmark -p "$RPORT" -c 16 -n 200000 -P $P -q \
    SET 'hw:replay:bench:github:__rand_int__' running:0123456789abcdef0123456789abcdef NX PX 100000 GET | tr '\r' '\n' | tail -1)
  r1=$(cpu_ticks "$RPID")
  echo "  pipeline $P: ${out##*: }; redis-server CPU $(python3 -c "print(round(($r1 - $r0) * 1e6 / $CLK_TCK / 200000, 1))") us per command"
done
