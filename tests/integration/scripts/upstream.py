#!/usr/bin/env python3
"""A Python http.server upstream for http-mode tests: echoes method, path, one header and the
body; /stats reports how many connections it accepted. Usage: upstream.py PORT"""
import http.server
import socketserver
import sys
import threading

connections = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global connections
        with lock:
            connections += 1
        super().setup()

    def log_message(self, fmt, *args):
        sys.stderr.write("upstream.py: " + (fmt % args) + "\n")

    def answer(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if self.path == "/stats":
            out = ("connections=%d" % connections).encode()
        else:
            out = b"python method=%s path=%s verified=%s\n" % (
                self.command.encode(), self.path.encode(),
                (self.headers.get("X-Webhook-Verified") or "-").encode()) + body
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = answer


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
