#!/usr/bin/env python3
"""An auth plugin for the integration tests, speaking the OpenFaaS gateway's protocol: it
answers the GET the watchdog sends with the original request's headers (and body).

The client's own request chooses the answer through its X-Test-Plugin header (which the
watchdog forwards like every other header): "allow" -> 200, "deny" -> 403 with its own
header and body, "slow" -> 200 after 3 s. GET /_last (sent directly, not via the watchdog)
returns the last request it was asked about as JSON: method, path, headers, body.

Usage: plugin_server.py PORT
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

last = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/_last":
            with lock:
                data = json.dumps(last).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with lock:
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


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("plugin listening", flush=True)
server.serve_forever()
