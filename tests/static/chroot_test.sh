#!/usr/bin/env bash
# Proves the release binary needs no shared library: it must start and answer /_/health
# inside an empty chroot that holds nothing but the binary and /tmp.
set -euo pipefail
binary=$1
if file "$binary" | grep -q "dynamically linked"; then
  echo "FAIL: $binary is dynamically linked: $(file -b "$binary")"
  exit 1
fi
root=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$root"' EXIT
mkdir -p "$root/tmp"
cp "$binary" "$root/hmac-watchdog"
log=$root/../chroot-$$.log
chroot_cmd=(chroot "$root")
if [ "$(id -u)" -ne 0 ]; then chroot_cmd=(unshare -r chroot "$root"); fi
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin fprocess=/function mode=serializing hmac_scheme=none port=0 metrics_port=0 TMPDIR=/tmp \
  "${chroot_cmd[@]}" /hmac-watchdog >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  grep -q "ready:" "$log" 2>/dev/null && break
  sleep 0.05
done
cat "$log"
port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$log" | head -n1)
[ -n "$port" ] || { echo "FAIL: the watchdog did not start in the chroot"; exit 1; }
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/_/health")
[ "$status" = 200 ] || { echo "FAIL: /_/health answered $status"; exit 1; }
[ -e "$root/tmp/.lock" ] || { echo "FAIL: no lock file in the chroot's /tmp"; exit 1; }
kill -TERM "$pid"
rm -f "$log"
echo "static binary answered /_/health 200 in an empty chroot"
