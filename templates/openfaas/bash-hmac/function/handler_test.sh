#!/usr/bin/env bash
# Runs at image build time (and in tests/templates): feeds handler.sh one event the way the
# watchdog would and checks its answer.
set -euo pipefail
here=$(dirname "$0")
out=$(printf '{"zen":"Keep it logically awesome."}' |
  Http_X_Github_Event=ping Http_X_Webhook_Verified=github bash "$here/handler.sh" 2>/dev/null)
expected='event=ping verified=github
{"zen":"Keep it logically awesome."}'
if [ "$out" != "$expected" ]; then
  printf 'handler_test: FAIL\nexpected:\n%s\ngot:\n%s\n' "$expected" "$out" >&2
  exit 1
fi
echo "handler_test: ok"
