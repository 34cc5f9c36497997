#!/usr/bin/env bash
# Proves, on a Debian bookworm amd64 machine, that hmac-watchdog builds and works for
# linux/arm64 (aarch64): cross-compiles the fully static release binary and the unit tests,
# then runs them under qemu user-mode emulation.
#
#   tests/arm64/run.sh        (as root; rerunnable; everything it makes is under build/arm64/)
#
# 1. install   apt-get: .ci/deps, g++-aarch64-linux-gnu (aarch64 glibc and libstdc++ with their
#              static archives), qemu-user-static, file. Only missing packages are fetched.
# 2. sysroot   libssl-dev:arm64 (libcrypto.a, headers) fetched with `apt-get download` through a
#              private apt configuration in build/arm64/apt (own sources list, state and cache,
#              APT::Architecture=arm64) and unpacked with dpkg -x into build/arm64/sysroot; the
#              arch-independent spdlog/fmt/CLI11 headers are copied in from /usr/include;
#              catch2:arm64 is unpacked too (its CMake package imports an aarch64 .a).
#              The system's apt settings are never touched (no dpkg --add-architecture).
# 3. build     cmake with tests/arm64/aarch64.cmake, Release, HW_STATIC=ON, in build/arm64/build:
#              targets hmac-watchdog and unit_tests (nice 19; -j1 while another CI run is
#              going, else -j$(nproc); HW_ARM64_JOBS=N overrides).
# 4. check     `file` (ELF aarch64, statically linked, no interpreter), stripped size, unit tests
#              under qemu, the binary's `sign` against python3's HMAC, and a live server under
#              qemu: /_/health 200, signed POST 200 echoed by cat, forged 401, unsigned 401,
#              SIGTERM exit 0.
# One "ok"/"FAIL" line per check, the time of each step, exit 1 on any failure.
#
# Time on a 2-core amd64 VM: install ~1 min, sysroot ~15 s, build ~10-25 min (-j1 under a
# concurrent CI run; about half at -j2), unit tests under qemu ~1 min, server checks ~10 s.
# Reruns reuse the installed packages, the apt lists and the build folder (incremental).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
arm=$root/build/arm64
sysroot=$arm/sysroot
aptdir=$arm/apt
bdir=$arm/build
mkdir -p "$arm"

failures=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; failures=$((failures + 1)); }
timings=()
step_start=$SECONDS
step() { step_name=$1; step_start=$SECONDS; echo; echo "=== $step_name"; }
step_done() {
  local s=$((SECONDS - step_start))
  timings+=("$(printf '%-9s %4d s' "$step_name" "$s")")
  echo "--- $step_name: ${s} s"
}

server_pid=
smoke_dir=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$smoke_dir" ]; then rm -rf "$smoke_dir"; fi
}
trap cleanup EXIT

# 1. Packages -------------------------------------------------------------------------------
step install
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root (apt-get installs the cross toolchain and qemu)" >&2
  exit 1
fi
.ci/deps
cross_pkgs=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static file
            debian-archive-keyring ca-certificates python3 curl)
missing=()
for p in "${cross_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq
  timeout 1200 apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[ -n "$qemu" ] || { echo "no qemu-aarch64 after installing qemu-user-static" >&2; exit 1; }
echo "$(aarch64-linux-gnu-g++ --version | head -n1); $("$qemu" --version | head -n1)"
.ci/fetch-httplib build/deps/httplib
step_done

# 2. arm64 sysroot through a private apt configuration ----------------------------------------
step sysroot
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/none" "$aptdir/debs"
: >"$aptdir/status"   # empty dpkg status: apt must not weigh the amd64 packages installed here
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=${HW_ARM64_MIRROR:-http://deb.debian.org/debian}
security=${HW_ARM64_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cat >"$aptdir/sources.list" <<SRC
deb [arch=arm64 signed-by=$keyring] $mirror bookworm main
deb [arch=arm64 signed-by=$keyring] $mirror bookworm-updates main
deb [arch=arm64 signed-by=$keyring] $security bookworm-security main
SRC
cat >"$aptdir/apt.conf" <<CONF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::Etc::SourceList "$aptdir/sources.list";
Dir::Etc::SourceParts "$aptdir/none";
Dir::Etc::Preferences "$aptdir/none/preferences";
Dir::Etc::PreferencesParts "$aptdir/none";
Dir::State::Lists "$aptdir/lists";
Dir::State::status "$aptdir/status";
Dir::Cache "$aptdir/cache";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
CONF
export APT_CONFIG="$aptdir/apt.conf"
echo "reading Debian's arm64 index (bookworm, -updates, -security) through $aptdir/apt.conf"
timeout 600 apt-get update -qq >"$aptdir/update.log" 2>&1 || { cat "$aptdir/update.log" >&2; exit 1; }
# libssl-dev: libcrypto.a and its headers. catch2: its CMake package imports a static
# libCatch2WithMain.a, which must be the aarch64 one (its headers are the same everywhere).
sysroot_pkgs=(libssl-dev catch2)
rm -f "$aptdir/debs"/*.deb
(cd "$aptdir/debs" && timeout 600 apt-get download -qq "${sysroot_pkgs[@]}") \
  >"$aptdir/download.log" 2>&1 || { cat "$aptdir/download.log" >&2; exit 1; }
unset APT_CONFIG
rm -rf "$sysroot"
mkdir -p "$sysroot/usr/include"
for deb in "$aptdir/debs"/*.deb; do
  arch=$(dpkg-deb -f "$deb" Architecture)
  [ "$arch" = arm64 ] || { echo "$(basename "$deb") is $arch, not arm64" >&2; exit 1; }
  dpkg -x "$deb" "$sysroot"
  echo "unpacked $(basename "$deb")"
done
# spdlog, fmt and CLI11 are header-only here and identical for every architecture: copies of
# the native ones (from .ci/deps), so only these folders, not /usr/include, reach the cross
# compiler.
for d in spdlog fmt CLI; do
  [ -d "/usr/include/$d" ] || { echo "/usr/include/$d missing (.ci/deps should install it)" >&2; exit 1; }
  cp -a "/usr/include/$d" "$sysroot/usr/include/"
done
for f in usr/lib/aarch64-linux-gnu/libcrypto.a usr/include/openssl/evp.h \
         usr/include/aarch64-linux-gnu/openssl/configuration.h usr/include/catch2/catch.hpp \
         usr/lib/cmake/Catch2/Catch2Config.cmake; do
  [ -f "$sysroot/$f" ] || { echo "sysroot lacks $f" >&2; exit 1; }
done
echo "sysroot: $(du -sh "$sysroot" | cut -f1) in $sysroot"
step_done

# 3. Cross build ---------------------------------------------------------------------------------
step build
if [ -n "${HW_ARM64_JOBS:-}" ]; then
  jobs=$HW_ARM64_JOBS
elif pgrep -f "ci-clone" >/dev/null; then
  jobs=1; echo "another CI run is going (ci-clone): -j1"
else
  jobs=$(nproc)
fi
mkdir -p "$bdir"
if ! cmake -S . -B "$bdir" -DCMAKE_TOOLCHAIN_FILE="$root/tests/arm64/aarch64.cmake" \
     -DHW_ARM64_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON \
     ${HW_ARM64_CMAKE_ARGS:-} >"$bdir/configure.log" 2>&1; then
  cat "$bdir/configure.log"; exit 1
fi
grep -E "cpp-httplib|Found OpenSSL|Found Catch2" "$bdir/configure.log" || true
grep -q "OPENSSL_CRYPTO_LIBRARY:FILEPATH=$sysroot/usr/lib/aarch64-linux-gnu/libcrypto.a" \
  "$bdir/CMakeCache.txt" || { echo "OpenSSL was not taken from the arm64 sysroot:" >&2;
                              grep OPENSSL_ "$bdir/CMakeCache.txt" >&2; exit 1; }
echo "compiling hmac-watchdog and unit_tests: nice -n 19, -j$jobs (log: $bdir/build.log)"
if ! timeout 5400 nice -n 19 cmake --build "$bdir" --target hmac-watchdog unit_tests -j"$jobs" \
     >"$bdir/build.log" 2>&1; then
  tail -n 60 "$bdir/build.log"; exit 1
fi
echo "compiler warnings: $(grep -c 'warning:' "$bdir/build.log" || true)"
step_done

# 4. Checks ---------------------------------------------------------------------------------------
step tests
bin=$bdir/hmac-watchdog
desc=$(file -b "$bin")
echo "file: $desc"
if [[ $desc == *"ELF 64-bit"*"ARM aarch64"* && $desc == *"statically linked"* ]]; then
  ok "file: ELF 64-bit ARM aarch64, statically linked"
else
  bad "file: expected ELF 64-bit ARM aarch64, statically linked"
fi
if aarch64-linux-gnu-readelf -lW "$bin" | grep -q INTERP ||
   aarch64-linux-gnu-readelf -dW "$bin" | grep -q NEEDED; then
  bad "readelf: the binary has a program interpreter or needs shared libraries"
else
  ok "readelf: no program interpreter, no shared library needed"
fi
aarch64-linux-gnu-strip -o "$arm/hmac-watchdog.stripped" "$bin"
size=$(stat -c %s "$arm/hmac-watchdog.stripped")
ok "size: $(stat -c %s "$bin") bytes unstripped, $size bytes stripped ($(( (size + 524288) / 1048576 )) MiB; $arm/hmac-watchdog.stripped)"

if version=$(timeout 60 "$qemu" "$bin" --version 2>&1); then
  ok "qemu: hmac-watchdog --version: $version"
else
  bad "qemu: hmac-watchdog --version failed: $version"
fi

unit_start=$SECONDS
if timeout 1800 "$qemu" "$bdir/tests/unit_tests" >"$arm/unit_tests.log" 2>&1; then
  ok "unit tests under qemu: $(grep -E '^All tests passed' "$arm/unit_tests.log" | tail -n1) ($((SECONDS - unit_start)) s)"
else
  tail -n 80 "$arm/unit_tests.log"
  bad "unit tests under qemu (log: $arm/unit_tests.log)"
fi

# A live server under qemu: fprocess=cat echoes the verified body.
smoke_dir=$(mktemp -d /tmp/hw-arm64.XXXXXX)
mkdir -p "$smoke_dir/secrets" "$smoke_dir/tmp"
printf 'arm64-%s\n' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$smoke_dir/secrets/webhook"
printf 'not-the-secret\n' >"$smoke_dir/wrong"
printf '{"zen":"Design for failure.","arch":"aarch64","n":%d}' "$RANDOM" >"$smoke_dir/body.json"
hmac_of() { # secret file, body file -> hex HMAC-SHA256 (the secret's trailing whitespace trimmed)
  python3 - "$1" "$2" <<'PY'
import hashlib, hmac, sys
key = open(sys.argv[1], 'rb').read().rstrip(b' \t\r\n')
print(hmac.new(key, open(sys.argv[2], 'rb').read(), hashlib.sha256).hexdigest())
PY
}
good_sig=sha256=$(hmac_of "$smoke_dir/secrets/webhook" "$smoke_dir/body.json")
forged_sig=sha256=$(hmac_of "$smoke_dir/wrong" "$smoke_dir/body.json")

# The signed request's headers: from a native build's `sign` when there is one (checked against
# python3's HMAC), else python3's HMAC alone.
native=$root/build/release/hmac-watchdog
sign_headers=()
if [ -x "$native" ] && timeout 10 "$native" --version >/dev/null 2>&1; then
  if mapfile -t sign_headers < <(timeout 10 "$native" sign --scheme github \
       --secret-file "$smoke_dir/secrets/webhook" <"$smoke_dir/body.json") &&
     printf '%s\n' "${sign_headers[@]}" | grep -qxF "X-Hub-Signature-256: $good_sig"; then
    ok "native sign: $native agrees with python3's HMAC-SHA256"
  else
    bad "native sign: $native disagrees with python3's HMAC-SHA256"
    sign_headers=()
  fi
fi
[ ${#sign_headers[@]} -gt 0 ] || sign_headers=("X-Hub-Signature-256: $good_sig")
if arm_sign=$(timeout 60 "$qemu" "$bin" sign --scheme github --secret-file "$smoke_dir/secrets/webhook" \
     <"$smoke_dir/body.json" 2>&1) && grep -qxF "X-Hub-Signature-256: $good_sig" <<<"$arm_sign"; then
  ok "arm64 sign under qemu agrees with python3's HMAC-SHA256"
else
  bad "arm64 sign under qemu: got '$arm_sign', expected X-Hub-Signature-256: $good_sig"
fi

env -i PATH=/usr/local/bin:/usr/bin:/bin mode=streaming fprocess=cat hmac_scheme=github \
  secrets_path="$smoke_dir/secrets" hmac_secret=webhook port=0 metrics_port=0 \
  TMPDIR="$smoke_dir/tmp" healthcheck_interval=1s write_timeout=10s \
  "$qemu" "$bin" >"$smoke_dir/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 300); do   # 30 s
  port=$(sed -n 's/.*listening on port \([0-9][0-9]*\).*/\1/p' "$smoke_dir/server.log" | head -n1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
health=000
if [ -n "$port" ]; then
  for _ in $(seq 1 60); do  # 30 s
    health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/_/health" || true)
    [ "$health" = 200 ] && break
    sleep 0.5
  done
fi
if [ "$health" = 200 ]; then
  ok "server under qemu: listening on 127.0.0.1:$port, GET /_/health 200"
  curl_post() { # expected status, name, header args...
    local want=$1 name=$2; shift 2
    local code
    code=$(curl -s -o "$smoke_dir/out" -w '%{http_code}' --max-time 20 -X POST \
           -H 'Content-Type: application/json' "$@" --data-binary "@$smoke_dir/body.json" \
           "http://127.0.0.1:$port/" || true)
    if [ "$code" != "$want" ]; then
      bad "$name: HTTP $code, expected $want"; return
    fi
    if [ "$want" = 200 ] && ! cmp -s "$smoke_dir/out" "$smoke_dir/body.json"; then
      bad "$name: HTTP 200 but the body was not echoed: $(head -c 200 "$smoke_dir/out")"; return
    fi
    local note=
    if [ "$want" = 200 ]; then note=", body echoed by cat"; fi
    ok "$name: HTTP $code$note"
  }
  hdr_args=()
  for h in "${sign_headers[@]}"; do hdr_args+=(-H "$h"); done
  curl_post 200 "signed POST" "${hdr_args[@]}"
  curl_post 401 "forged POST (signed with another secret)" -H "X-Hub-Signature-256: $forged_sig"
  curl_post 401 "unsigned POST"
else
  bad "server under qemu: no GET /_/health 200 within 60 s (port '${port}', last status $health)"
fi
if kill -0 "$server_pid" 2>/dev/null; then
  kill -TERM "$server_pid"
  for _ in $(seq 1 200); do  # 20 s
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    bad "SIGTERM: still running after 20 s"
  else
    rc=0; wait "$server_pid" || rc=$?
    server_pid=
    if [ "$rc" = 0 ]; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $rc"; fi
  fi
else
  rc=0; wait "$server_pid" || rc=$?
  server_pid=
  bad "server under qemu exited early (exit $rc)"
fi
if [ "$failures" -gt 0 ]; then
  echo "server log:"; sed 's/^/  /' "$smoke_dir/server.log"
fi
step_done

echo
echo "=== timings"
printf '%s\n' "${timings[@]}"
if [ "$failures" -gt 0 ]; then
  echo "FAIL: $failures check(s) failed"
  exit 1
fi
echo "ok: hmac-watchdog builds and runs for linux/arm64 (aarch64)"
