#!/usr/bin/env python3
"""Writes watchdog/hot-symbols.txt: the functions the static watchdog runs to start, to idle and
to serve the common requests, in the order the link lays them out first (lld's
--symbol-ordering-file, CMakeLists.txt).

Why: the kernel maps a binary's page-cache pages around every page fault (fault-around, and
whole large folios on recent kernels), so an idle watchdog's VmRSS follows how far apart the
code it runs lies in a 5 MB text, not how much of it runs (about 330 KB). Laid out together,
the idle VmRSS went from 3.8 to 1.9 MiB (README "Performance", P7).

How: the binary runs under valgrind's callgrind (instructions, so the set does not depend on
the machine's load) in streaming mode and in http mode; each is started, made ready, asked
for /_/health, sent a signed and a forged request, left idle, then stopped with SIGTERM.
Every function callgrind saw is listed (mangled names), those of the streaming scenario first,
each scenario's sorted by name.
Names of a later build that are missing here are simply laid out as before (lld is told not to
warn), so the file only needs to be made again when the start-up or request path changes
much; the ctest `static: the start-up and request path's functions are laid out together`
fails when fewer than 80 % of its names are left in the binary.

Usage: tests/bench/hot_symbols.py BUILD/hmac-watchdog [OUTPUT]   (needs valgrind)
"""
import hashlib
import hmac
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

SECRET = b"hot-symbols-demo-secret"
BODY = b'{"action":"opened","number":1,"pad":"' + b"x" * 1000 + b'"}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def profile(binary, work, name, env):
    """Runs one scenario under callgrind; returns the function names it saw, in file order."""
    out = os.path.join(work, f"callgrind.{name}")
    log_path = os.path.join(work, f"{name}.log")
    port = free_port()
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TMPDIR": work,
        "port": str(port),
        "hmac_scheme": "github",
        "secrets_path": os.path.join(work, "secrets"),
        "healthcheck_interval": "0s",
        "suppress_lock": "true",
        "metrics_port": "0",
        **env,
    }
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}", binary],
            env=full_env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while "ready:" not in open(log_path).read():
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"hot_symbols: {name} did not become ready:\n{open(log_path).read()}")
            time.sleep(0.1)
        signature = "sha256=" + hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
        statuses = [
            request(port, "GET", "/_/health"),
            request(port, "POST", "/", BODY, {"X-Hub-Signature-256": signature,
                                              "Content-Type": "application/json"}),
            request(port, "POST", "/", BODY, {"X-Hub-Signature-256": "sha256=" + "0" * 64}),
        ]
        if statuses[0] != 200 or statuses[1] != 200 or statuses[2] != 401:
            sys.exit(f"hot_symbols: {name}: unexpected statuses {statuses}")
        time.sleep(1.5)  # idle: the loops' timers, the reaper
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    names = []
    definition = re.compile(r"^c?fn=\(\d+\) (.+)$")
    with open(out) as f:
        for line in f:
            m = definition.match(line)
            if m and not m.group(1).startswith(("0x", "(below main)")):
                # A recursive call is named "fn'2": the function is fn.
                names.append(re.sub(r"'\d+$", "", m.group(1)))
    return names


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    output = sys.argv[2] if len(sys.argv) == 3 else os.path.join(root, "watchdog", "hot-symbols.txt")
    with tempfile.TemporaryDirectory() as work:
        os.mkdir(os.path.join(work, "secrets"))
        with open(os.path.join(work, "secrets", "webhook-secret"), "wb") as f:
            f.write(SECRET)
        upstream = os.path.join(work, "upstream.py")
        with open(upstream, "w") as f:
            f.write(UPSTREAM)
        up_port = free_port()
        scenarios = [
            ("streaming", {"mode": "streaming", "fprocess": "cat"}),
            ("http", {"mode": "http", "fprocess": f"python3 {upstream} {up_port}",
                      "upstream_url": f"http://127.0.0.1:{up_port}"}),
        ]
        # Each scenario's new names sorted, so that remaking the file changes only the lines
        # whose functions changed (callgrind's own order differs from run to run).
        seen = set()
        ordered = []
        for name, env in scenarios:
            new = sorted(set(profile(binary, work, name, env)) - seen)
            seen.update(new)
            ordered.extend(new)
    with open(output, "w") as f:
        f.write("\n".join(ordered) + "\n")
    print(f"hot_symbols: {len(ordered)} functions written to {output}")


# The http-mode function: answers every request with its body, on the port given.
UPSTREAM = """
import http.server
import sys
class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""

if __name__ == "__main__":
    main()
