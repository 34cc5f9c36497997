#!/usr/bin/env python3
"""An auth plugin for the integration tests, speaking the OpenFaaS gateway's protocol: it
answers the GET the watchdog sends with the original request's headers (and body).

The client's own request chooses the answer through its X-Test-Plugin header (which the
watchdog forwards like every other header): "allow" -> 200, "deny" -> 403 with its own
header and body, "slow" -> 200 after 3 s. GET /_last (sent directly, not via the watchdog)
returns the last request it was asked about as JSON: method, path, headers, body; GET
/_count the number of requests it was asked to decide (the decision cache tests).

With TLS_PORT CERT KEY it also answers the same protocol over https on TLS_PORT, with that
certificate (the PEM files of tests/integration/auth_tls_test.cc); /_last and /_count stay on
the plain PORT for the tests.

Usage: plugin_server.py PORT [TLS_PORT CERT KEY]
"""
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

last = {}
count = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        global count
        if self.path in ("/_last", "/_count"):
            with lock:
                data = (json.dumps(last) if self.path == "/_last" else str(count)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with lock:
            count += 1
            last.clear()
            last.update(method=self.command, path=self.path,
                        headers=[[k, v] for k, v in self.headers.items()],
                        body=body.decode("latin-1"))
        mode = self.headers.get("X-Test-Plugin", "allow")
        if mode == "slow":
            time.sleep(3)
        if mode == "deny":
            out = b"denied by plugin\n"
            self.send_response(403)
            self.send_header("X-Plugin-Reason", "not-on-the-list")
        else:
            out = b"OK"
            self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


# The tests open several connections at once; the TLS listener also does its handshakes in
# the accepting thread, so keep a longer queue than socketserver's 5.
ThreadingHTTPServer.request_queue_size = 64
if len(sys.argv) >= 5:
    tls = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("plugin listening", flush=True)
server.serve_forever()
