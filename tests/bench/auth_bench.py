#!/usr/bin/env python3
"""What authentication costs, in http mode (no fork: the auth work is what differs): one
watchdog in front of tests/bench/bench_upstream.cc with auth_routes
/webhook=hmac;/admin=jwt;/open=none, a real oidc-provider token (RS256) for /admin, the same
1 KiB body everywhere. Same run, rounds interleaved:
- wrk, 8 connections on 2 threads, SECONDS per round: requests/s, p50 and the watchdog's CPU
  time per request (utime+stime from /proc, so a busy machine skews it less than requests/s);
- one keep-alive connection, sequential requests: the unloaded p50.
Medians over ROUNDS rounds; jwt and hmac are also given as the difference from none.

    python3 tests/bench/auth_bench.py BUILD/hmac-watchdog [SECONDS] [ROUNDS]

Needs wrk, g++, node and tests/auth/node_modules (npm ci in tests/auth). Figures, not a test:
nothing fails on speed.
"""
import base64, hashlib, hmac, http.client, json, os, re, socket, statistics, subprocess, sys
import tempfile, time, urllib.request

here = os.path.dirname(os.path.abspath(__file__))
watchdog = sys.argv[1]
seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
SEQUENTIAL = 1000
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait(url):
    for _ in range(300):
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200: return
        except Exception: time.sleep(0.05)
    raise SystemExit("not up: " + url)


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


tmp = tempfile.mkdtemp(prefix="auth-bench-")
upstream_bin = os.path.join(tmp, "bench_upstream")
subprocess.check_call(["g++", "-std=c++20", "-O2", os.path.join(here, "bench_upstream.cc"),
                       "-o", upstream_bin, "-lpthread"])
os.makedirs(tmp + "/secrets")
open(tmp + "/secrets/webhook-secret", "w").write("s3cret")
body = b"a" * 1024
open(tmp + "/body", "wb").write(body)
op, up, port = free_port(), free_port(), free_port()
oidc = subprocess.Popen(["node", os.path.join(here, "../auth/oidc_server.mjs"), str(op), "k1"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
env = {"PATH": os.environ["PATH"], "mode": "http", "fprocess": f"{upstream_bin} {up} 2",
       "upstream_url": f"http://127.0.0.1:{up}", "hmac_scheme": "github",
       "secrets_path": tmp + "/secrets", "TMPDIR": tmp, "port": str(port), "metrics_port": "0",
       "auth_routes": "/webhook=hmac;/admin=jwt;/open=none",
       "jwt_issuer": f"http://127.0.0.1:{op}", "jwt_audience": "fn", "suppress_lock": "true"}
w = None
try:
    wait(f"http://127.0.0.1:{op}/.well-known/openid-configuration")
    w = subprocess.Popen([watchdog], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait(f"http://127.0.0.1:{port}/_/health")
    req = urllib.request.Request(f"http://127.0.0.1:{op}/token",
                                 data=b"grant_type=client_credentials&scope=read",
                                 headers={"Authorization": "Basic " + base64.b64encode(b"fn-client:fn-secret").decode()})
    token = json.load(urllib.request.urlopen(req))["access_token"]
    sig = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    cases = {"none": ("/open", "", ""),
             "hmac": ("/webhook", "X-Hub-Signature-256", sig),
             "jwt": ("/admin", "Authorization", "Bearer " + token)}

    def run_wrk(path, header, value, secs):
        e = dict(os.environ, BENCH_BODY_FILE=tmp + "/body", BENCH_SIG_HEADER=header,
                 BENCH_SIG_VALUE=value)
        before = cpu_ticks(w.pid)
        out = subprocess.run(["wrk", "-t2", "-c8", f"-d{secs}s", "--timeout", "5s", "-s",
                              os.path.join(here, "signed_post.lua"),
                              f"http://127.0.0.1:{port}{path}"],
                             env=e, capture_output=True, text=True, check=True).stdout
        after = cpu_ticks(w.pid)
        m = re.search(r"RESULT requests (\d+) seconds \S+ rps (\S+) p50_us (\d+) p99_us \d+ "
                      r"errors (\d+) non2xx (\d+)", out)
        n, rps, p50, err, non2xx = int(m[1]), float(m[2]), int(m[3]), int(m[4]), int(m[5])
        if err or non2xx: raise SystemExit(f"{path}: {err} errors, {non2xx} non-2xx")
        return rps, p50, (after - before) * 1e6 / CLK_TCK / n

    def sequential(path, header, value):
        c = http.client.HTTPConnection("127.0.0.1", port)
        headers = {header: value} if header else {}
        lat = []
        for _ in range(SEQUENTIAL):
            t = time.perf_counter()
            c.request("POST", path, body, headers)
            r = c.getresponse(); r.read()
            if r.status != 200: raise SystemExit(f"{path}: status {r.status}")
            lat.append(time.perf_counter() - t)
        c.close()
        return statistics.median(lat) * 1e6

    for path, header, value in cases.values():  # warm-up
        run_wrk(path, header, value, 1)
    res = {name: {"rps": [], "p50": [], "cpu": [], "seq": []} for name in cases}
    for _ in range(rounds):
        for name, (path, header, value) in cases.items():
            rps, p50, cpu = run_wrk(path, header, value, seconds)
            res[name]["rps"].append(rps); res[name]["p50"].append(p50)
            res[name]["cpu"].append(cpu)
            res[name]["seq"].append(sequential(path, header, value))
    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in res.items()}
    print(f"http mode, bench_upstream, 1 KiB POST; wrk -c8 -t2 {seconds}s x {rounds} rounds "
          f"(medians); sequential p50 over {SEQUENTIAL} requests on one connection")
    for name, m in med.items():
        print(f"{name + '-admitted:':15} {m['rps']:8.0f} requests/s  p50 {m['p50']:5.0f} us  "
              f"watchdog CPU {m['cpu']:5.1f} us/request  sequential p50 {m['seq']:5.0f} us")
    for name in ("hmac", "jwt"):
        m, b = med[name], med["none"]
        print(f"{name} vs none: {m['rps'] / b['rps']:.2f}x requests/s, "
              f"{m['cpu'] - b['cpu']:+.1f} us CPU/request, "
              f"{m['seq'] - b['seq']:+.0f} us sequential p50")
    j, h = med["jwt"], med["hmac"]
    print(f"jwt vs hmac: {j['rps'] / h['rps']:.2f}x requests/s, p50 {j['p50'] - h['p50']:+.0f} us "
          f"(loaded), {j['seq'] - h['seq']:+.0f} us (sequential), "
          f"{j['cpu'] - h['cpu']:+.1f} us CPU/request")
finally:
    if w: w.terminate(); w.wait()
    oidc.terminate(); oidc.wait()
