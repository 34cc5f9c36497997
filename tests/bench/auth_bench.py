#!/usr/bin/env python3
"""jwt-admitted against HMAC-admitted requests, same watchdog, same run: requests/s and p50
over one keep-alive connection each (sequential), with a real oidc-provider token.

    python3 tests/bench/auth_bench.py BUILD/hmac-watchdog BUILD/tests/test_fn [N]

Prints one line per method and the added p50 of jwt. Needs node and tests/auth/node_modules
(npm ci in tests/auth). Figures, not a test: nothing fails on speed.
"""
import base64, hashlib, hmac, http.client, json, os, socket, statistics, subprocess, sys
import tempfile, time, urllib.request

here = os.path.dirname(os.path.abspath(__file__))
watchdog, fn = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def wait(url):
    for _ in range(300):
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200: return
        except Exception: time.sleep(0.05)
    raise SystemExit("not up: " + url)

op = free_port()
oidc = subprocess.Popen(["node", os.path.join(here, "../auth/oidc_server.mjs"), str(op), "k1"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
tmp = tempfile.mkdtemp()
os.makedirs(tmp + "/secrets")
open(tmp + "/secrets/webhook-secret", "w").write("s3cret")
port = free_port()
env = {"PATH": os.environ["PATH"], "fprocess": fn + " echo", "mode": "serializing",
       "hmac_scheme": "github", "secrets_path": tmp + "/secrets", "TMPDIR": tmp, "port": str(port),
       "metrics_port": "0", "auth_routes": "/webhook=hmac;/admin=jwt",
       "jwt_issuer": f"http://127.0.0.1:{op}", "jwt_audience": "fn", "suppress_lock": "true"}
try:
    wait(f"http://127.0.0.1:{op}/.well-known/openid-configuration")
    w = subprocess.Popen([watchdog], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait(f"http://127.0.0.1:{port}/_/health")
    req = urllib.request.Request(f"http://127.0.0.1:{op}/token",
                                 data=b"grant_type=client_credentials&scope=read",
                                 headers={"Authorization": "Basic " + base64.b64encode(b"fn-client:fn-secret").decode()})
    token = json.load(urllib.request.urlopen(req))["access_token"]
    body = b'{"action":"opened"}'
    sig = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    cases = {"hmac": ("/webhook", {"X-Hub-Signature-256": sig}),
             "jwt": ("/admin", {"Authorization": "Bearer " + token})}
    p50 = {}
    for name, (path, headers) in cases.items():
        c = http.client.HTTPConnection("127.0.0.1", port)
        lat = []
        start = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            c.request("POST", path, body, headers)
            r = c.getresponse(); r.read()
            if r.status != 200: raise SystemExit(f"{name}: status {r.status}")
            lat.append(time.perf_counter() - t)
        total = time.perf_counter() - start
        p50[name] = statistics.median(lat) * 1e6
        print(f"{name}-admitted: {n / total:.0f} requests/s, p50 {p50[name]:.0f} us ({n} sequential, serializing mode, fn echo)")
    print(f"jwt adds {p50['jwt'] - p50['hmac']:.0f} us at p50 over hmac")
    w.terminate(); w.wait()
finally:
    oidc.terminate(); oidc.wait()
