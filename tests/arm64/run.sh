#!/usr/bin/env bash
# Proves, on a Debian bookworm amd64 machine, that hmac-watchdog builds and works for
# linux/arm64 (aarch64): cross-compiles the fully static release binary and the unit tests,
# then runs them under qemu user-mode emulation.
#
#   tests/arm64/run.sh        (as root; rerunnable; everything it makes is under build/arm64/)
#
# 1. install  apt-get: .ci/deps, g++-aarch64-linux-gnu (aarch64 glibc and libstdc++ with their
#             static archives), binutils-aarch64-linux-gnu, file. Only missing packages.
# 2. sysroot  libssl-dev:arm64 (libcrypto.a, headers) and catch2:arm64 (its CMake package imports
#             an aarch64 .a) fetched with `apt-get download` through a private apt configuration
#             (build/arm64/apt: own sources list, state and cache, APT::Architecture arm64),
#             unpacked with dpkg -x into build/arm64/sysroot, plus copies of the arch-independent
#             spdlog/fmt/CLI11 headers from /usr/include. Also qemu-user (static) from
#             bookworm-backports, the same way (build/arm64/apt-qemu, amd64), unpacked into
#             build/arm64/qemu: bookworm's qemu 7.2 answers EINVAL to prctl(PR_SET_CHILD_SUBREAPER),
#             so the watchdog cannot start under it (HW_ARM64_QEMU=PATH uses another qemu).
#             The system's apt settings are never touched (no dpkg --add-architecture).
# 3. build    cmake with tests/arm64/aarch64.cmake, Release, HW_STATIC=ON, in build/arm64/build:
#             targets hmac-watchdog and unit_tests (nice 19; -j1 while another CI run is going,
#             else -j$(nproc); HW_ARM64_JOBS=N overrides; HW_ARM64_CMAKE_ARGS adds arguments).
# 4. unit     `file`/readelf (ELF aarch64, statically linked, no interpreter), stripped size,
#             `--version` and `sign` (against python3's HMAC) under qemu, then `ctest -L unit`
#             under qemu; the tests in tests/arm64/qemu-known-failures.txt fail because of the
#             emulator (listed there with the reason) and are reported, not counted.
# 5. server   the binary under qemu on a free loopback port with fprocess=cat: /_/health 200,
#             signed POST 200 echoed, forged 401, unsigned 401, SIGTERM exit 0.
# One "ok"/"FAIL" line per check, the time of each step, exit 1 on any failure.
#
# Time on a 2-core amd64 VM (measured from an empty build/arm64, beside a running CI): install
# 15 s (plus apt-get update on a fresh machine), sysroot 11 s (63 MB qemu-user .deb; 4 s on
# reruns), build 7.5 min at -j1 (one core), unit 50 s, server 2 s: about 9 minutes in all.
# Reruns reuse packages, apt lists, qemu and the build folder: under a minute.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
arm=$root/build/arm64
sysroot=$arm/sysroot
qemu_dir=$arm/qemu
bdir=$arm/build
mkdir -p "$arm"

failures=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; failures=$((failures + 1)); }
note() { echo "note - $*"; }
timings=()
step_name=
step_start=$SECONDS
step() { step_name=$1; step_start=$SECONDS; echo; echo "=== $step_name"; }
step_done() {
  local s=$((SECONDS - step_start))
  timings+=("$(printf '%-8s %5d s' "$step_name" "$s")")
  echo "--- $step_name: ${s} s"
}

server_pid=
smoke_dir=
alive() { # PID: running and not a zombie
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
cleanup() {
  if [ -n "$server_pid" ] && alive "$server_pid"; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$smoke_dir" ]; then rm -rf "$smoke_dir"; fi
}
trap cleanup EXIT

# A private apt configuration in DIR for ARCH with the given sources.list lines: its own
# lists, cache and (empty) dpkg status, no system sources or preferences.
private_apt() {
  local dir=$1 arch=$2; shift 2
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/none" "$dir/debs"
  : >"$dir/status"   # apt must not weigh the amd64 packages installed on this machine
  printf '%s\n' "$@" >"$dir/sources.list"
  cat >"$dir/apt.conf" <<CONF
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Dir::Etc::SourceList "$dir/sources.list";
Dir::Etc::SourceParts "$dir/none";
Dir::Etc::Preferences "$dir/none/preferences";
Dir::Etc::PreferencesParts "$dir/none";
Dir::State::Lists "$dir/lists";
Dir::State::status "$dir/status";
Dir::Cache "$dir/cache";
APT::Sandbox::User "root";
Acquire::Languages "none";
CONF
  APT_CONFIG="$dir/apt.conf" timeout 600 apt-get update -qq >"$dir/update.log" 2>&1 ||
    { cat "$dir/update.log" >&2; exit 1; }
}
# apt-get download PACKAGES... into DIR/debs (emptied first), with DIR's configuration.
private_download() {
  local dir=$1; shift
  rm -f "$dir/debs"/*.deb
  (cd "$dir/debs" && APT_CONFIG="$dir/apt.conf" timeout 900 apt-get download -qq "$@") \
    >"$dir/download.log" 2>&1 || { cat "$dir/download.log" >&2; exit 1; }
}

# 1. Packages -------------------------------------------------------------------------------------
step install
if [ "$(id -u)" -ne 0 ]; then
  echo "run as root (apt-get installs the cross toolchain)" >&2
  exit 1
fi
.ci/deps
cross_pkgs=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu file debian-archive-keyring
            ca-certificates python3 curl)
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
aarch64-linux-gnu-g++ --version | head -n1
.ci/fetch-httplib build/deps/httplib
step_done

# 2. arm64 sysroot and qemu, through private apt configurations ---------------------------------
step sysroot
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mirror=${HW_ARM64_MIRROR:-http://deb.debian.org/debian}
security=${HW_ARM64_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
echo "reading Debian's arm64 index (bookworm, -updates, -security) through $arm/apt/apt.conf"
private_apt "$arm/apt" arm64 \
  "deb [arch=arm64 signed-by=$keyring] $mirror bookworm main" \
  "deb [arch=arm64 signed-by=$keyring] $mirror bookworm-updates main" \
  "deb [arch=arm64 signed-by=$keyring] $security bookworm-security main"
private_download "$arm/apt" libssl-dev catch2
rm -rf "$sysroot"
mkdir -p "$sysroot/usr/include"
for deb in "$arm/apt/debs"/*.deb; do
  arch=$(dpkg-deb -f "$deb" Architecture)
  [ "$arch" = arm64 ] || { echo "$(basename "$deb") is $arch, not arm64" >&2; exit 1; }
  dpkg -x "$deb" "$sysroot"
  echo "unpacked $(basename "$deb")"
done
# spdlog, fmt and CLI11 are header-only here and identical for every architecture: copies of
# the native ones (from .ci/deps), so only these folders, not /usr/include, reach the cross
# compiler.
for d in spdlog fmt CLI; do
  [ -d "/usr/include/$d" ] || { echo "/usr/include/$d missing (.ci/deps installs it)" >&2; exit 1; }
  cp -a "/usr/include/$d" "$sysroot/usr/include/"
done
for f in usr/lib/aarch64-linux-gnu/libcrypto.a usr/include/openssl/evp.h \
         usr/include/aarch64-linux-gnu/openssl/configuration.h usr/include/catch2/catch.hpp \
         usr/lib/cmake/Catch2/Catch2Config.cmake usr/include/spdlog/spdlog.h \
         usr/include/fmt/format.h usr/include/CLI/CLI.hpp; do
  [ -f "$sysroot/$f" ] || { echo "sysroot lacks $f" >&2; exit 1; }
done
echo "sysroot: $(du -sh "$sysroot" | cut -f1) in $sysroot"

if [ -n "${HW_ARM64_QEMU:-}" ]; then
  qemu=$HW_ARM64_QEMU
  echo "qemu: $qemu (HW_ARM64_QEMU)"
else
  echo "reading bookworm-backports' amd64 index for qemu-user through $arm/apt-qemu/apt.conf"
  private_apt "$arm/apt-qemu" amd64 \
    "deb [arch=amd64 signed-by=$keyring] $mirror bookworm-backports main"
  qemu_version=$(APT_CONFIG="$arm/apt-qemu/apt.conf" apt-cache policy qemu-user |
                 sed -n 's/^ *Candidate: //p')
  if [ -z "$qemu_version" ] || [ "$qemu_version" = "(none)" ]; then
    echo "qemu-user is not in bookworm-backports" >&2; exit 1
  fi
  if [ "$(cat "$qemu_dir/VERSION" 2>/dev/null)" != "$qemu_version" ] ||
     [ ! -x "$qemu_dir/usr/bin/qemu-aarch64" ]; then
    private_download "$arm/apt-qemu" "qemu-user=$qemu_version"
    rm -rf "$qemu_dir"
    dpkg -x "$arm/apt-qemu/debs"/qemu-user_*.deb "$qemu_dir"
    echo "$qemu_version" >"$qemu_dir/VERSION"
    rm -f "$arm/apt-qemu/debs"/*.deb "$arm/apt-qemu/cache/"*.bin
    echo "unpacked qemu-user $qemu_version into $qemu_dir"
  fi
  qemu=$qemu_dir/usr/bin/qemu-aarch64
fi
"$qemu" --version | head -n1
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
# shellcheck disable=SC2086  # HW_ARM64_CMAKE_ARGS: extra arguments, split on spaces
if ! cmake -S . -B "$bdir" -DCMAKE_TOOLCHAIN_FILE="$root/tests/arm64/aarch64.cmake" \
     -DHW_ARM64_SYSROOT="$sysroot" -DHW_ARM64_QEMU="$qemu" \
     -DCMAKE_BUILD_TYPE=Release -DHW_STATIC=ON ${HW_ARM64_CMAKE_ARGS:-} \
     >"$bdir/configure.log" 2>&1; then
  cat "$bdir/configure.log"; exit 1
fi
grep -E "cpp-httplib|Found OpenSSL" "$bdir/configure.log" || true
grep -q "OPENSSL_CRYPTO_LIBRARY:FILEPATH=$sysroot/usr/lib/aarch64-linux-gnu/libcrypto.a" \
  "$bdir/CMakeCache.txt" || { echo "OpenSSL was not taken from the arm64 sysroot:" >&2;
                              grep OPENSSL_ "$bdir/CMakeCache.txt" >&2; exit 1; }
echo "compiling hmac-watchdog and unit_tests: nice -n 19, -j$jobs (log: $bdir/build.log)"
if ! timeout 5400 nice -n 19 cmake --build "$bdir" --target hmac-watchdog unit_tests -j"$jobs" \
     >"$bdir/build.log" 2>&1; then
  tail -n 60 "$bdir/build.log"; exit 1
fi
echo "compiler warnings: $(grep -c 'warning:' "$bdir/build.log" || true) (see $bdir/build.log)"
step_done

# 4. The binary and the unit tests -------------------------------------------------------------
step unit
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
ok "size: $(stat -c %s "$bin") bytes unstripped, $size bytes stripped ($arm/hmac-watchdog.stripped)"

if version=$(timeout 60 "$qemu" "$bin" --version 2>&1); then
  ok "qemu: hmac-watchdog --version: $version"
else
  bad "qemu: hmac-watchdog --version failed: $version"
fi

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
if arm_sign=$(timeout 60 "$qemu" "$bin" sign --scheme github --secret-file "$smoke_dir/secrets/webhook" \
     <"$smoke_dir/body.json" 2>&1) && grep -qxF "X-Hub-Signature-256: $good_sig" <<<"$arm_sign"; then
  ok "qemu: hmac-watchdog sign agrees with python3's HMAC-SHA256"
else
  bad "qemu: hmac-watchdog sign gave '$arm_sign', expected X-Hub-Signature-256: $good_sig"
fi

known=()
while IFS= read -r line; do
  [[ -z $line || $line == \#* ]] || known+=("$line")
done <"$root/tests/arm64/qemu-known-failures.txt"
discovered=$(ctest --test-dir "$bdir" -N -L unit | sed -n 's/^Total Tests: //p')
if [ "${discovered:-0}" -lt 50 ]; then
  bad "ctest: only ${discovered:-0} unit tests discovered (Catch2 discovery under qemu failed?)"
else
  echo "running $discovered unit tests under qemu: ctest -L unit -j$jobs (log: $arm/unit_tests.log)"
  unit_rc=0
  timeout 1800 nice -n 19 ctest --test-dir "$bdir" -L unit -j"$jobs" --timeout 120 \
    --output-on-failure >"$arm/unit_tests.log" 2>&1 || unit_rc=$?
  failed_file=$bdir/Testing/Temporary/LastTestsFailed.log
  unexpected=0 expected=0
  if [ "$unit_rc" -ne 0 ] && [ -s "$failed_file" ]; then
    while IFS= read -r line; do
      name=${line#*:}          # "NN:unit:NAME" (ctest drops the space of the "unit: " prefix)
      name=${name#unit:}; name=${name# }
      if printf '%s\n' "${known[@]}" | grep -qxF -- "$name"; then
        note "known qemu-user limitation: $name"
        expected=$((expected + 1))
      else
        bad "unit test under qemu: $name"
        unexpected=$((unexpected + 1))
      fi
    done <"$failed_file"
  elif [ "$unit_rc" -ne 0 ]; then
    tail -n 40 "$arm/unit_tests.log"
    bad "ctest exited $unit_rc with no failed-test list"
    unexpected=1
  fi
  if [ "$unexpected" -eq 0 ]; then
    ok "unit tests under qemu: $((discovered - expected)) of $discovered passed, the other $expected are known qemu-user limitations (tests/arm64/qemu-known-failures.txt)"
  else
    echo "unit test output: $arm/unit_tests.log"
  fi
fi
step_done

# 5. A live server under qemu ------------------------------------------------------------------
step server
failures_before_server=$failures
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
env -i PATH=/usr/local/bin:/usr/bin:/bin mode=streaming fprocess=cat hmac_scheme=github \
  secrets_path="$smoke_dir/secrets" hmac_secret=webhook port=0 metrics_port=0 \
  TMPDIR="$smoke_dir/tmp" healthcheck_interval=1s write_timeout=10s \
  "$qemu" "$bin" >"$smoke_dir/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 300); do   # 30 s
  port=$(sed -n 's/.*listening on port \([0-9][0-9]*\).*/\1/p' "$smoke_dir/server.log" | head -n1)
  [ -n "$port" ] && break
  alive "$server_pid" || break
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
if alive "$server_pid"; then
  kill -TERM "$server_pid"
  for _ in $(seq 1 200); do  # 20 s
    alive "$server_pid" || break
    sleep 0.1
  done
  if alive "$server_pid"; then
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
if [ "$failures" -gt "$failures_before_server" ]; then
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
