#!/usr/bin/env bash
# Builds hmac-watchdog and runs it in the foreground on a demo function (tests/demo/hello.sh)
# with a demo secret and hmac_scheme=github, then prints a signed curl to try and a forged one
# that is refused. Ctrl-C runs the SIGTERM sequence. Port: PORT (default 8080).
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
port=${PORT:-8080}
.ci/deps
.ci/fetch-httplib "$root/build/deps/httplib"
.ci/build build/demo -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON -DHW_TESTS=OFF
bin=$root/build/demo/hmac-watchdog

demo=$(mktemp -d /tmp/hmac-watchdog-demo.XXXXXX)
mkdir -p "$demo/secrets"
printf 'demo-secret-%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$demo/secrets/webhook-secret"
chmod 600 "$demo/secrets/webhook-secret"
body='{"zen":"Design for failure.","hook_id":1}'
printf '%s' "$body" >"$demo/body.json"
# `sign` prints one header per line (the signature, and GitHub's delivery id).
signed_headers=""
while IFS= read -r line; do
  signed_headers+=" -H '$line'"
done < <("$bin" sign --scheme github --secret-file "$demo/secrets/webhook-secret" <"$demo/body.json")

cat <<MSG

hmac-watchdog demo: mode=streaming, hmac_scheme=github, function tests/demo/hello.sh
secret: $demo/secrets/webhook-secret (made for this run)

A signed request (200, the function answers):
  curl -i http://127.0.0.1:$port/$signed_headers -H 'X-GitHub-Event: ping' -H 'Content-Type: application/json' \\
       --data-binary '$body'

A forged one (401, the function never runs):
  curl -i http://127.0.0.1:$port/ -H 'X-Hub-Signature-256: sha256=$(printf '0%.0s' $(seq 64))' \\
       --data-binary '$body'

Health: curl -i http://127.0.0.1:$port/_/health    Metrics: curl http://127.0.0.1:8081/metrics
Sign your own body: $bin sign --scheme github --secret-file $demo/secrets/webhook-secret < FILE

MSG
export fprocess="$root/tests/demo/hello.sh" mode=streaming hmac_scheme=github \
  secrets_path="$demo/secrets" port="$port" TMPDIR="$demo" healthcheck_interval=1s
exec "$bin"
