"""The Python side of the python3-http-hmac template: an HTTP server (standard library only)
that hmac-watchdog forwards verified requests to, calling function/handler.py's
handle(event, context) for each one.

It listens on 127.0.0.1 only, at the port of `upstream_url` (default 5000), so the function
cannot be reached from outside the container without going through the watchdog's check."""
import http.server
import json
import os
import sys
import traceback
import urllib.parse

from function import handler


class Event:
    """One verified request, as handle() sees it."""

    def __init__(self, request, body):
        parsed = urllib.parse.urlsplit(request.path)
        self.body = body  # bytes, exactly as signed by the sender
        self.headers = request.headers  # case-insensitive: event.headers["X-GitHub-Event"]
        self.method = request.command
        self.path = parsed.path
        self.query = urllib.parse.parse_qs(parsed.query)
        # The scheme that verified the signature (github, patreon, ...), set by the watchdog.
        self.verified_by = request.headers.get("X-Webhook-Verified", "")

    def json(self):
        return json.loads(self.body or b"null")


class Context:
    """What the handler may want besides the request: the environment it runs in."""

    def __init__(self):
        self.env = os.environ


def _to_bytes(value):
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


class Server(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with the watchdog

    def log_message(self, fmt, *args):  # access logs are the watchdog's job
        pass

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers = 200, {}
        try:
            result = handler.handle(Event(self, body), Context())
            if isinstance(result, dict) and ("statusCode" in result or "body" in result):
                status = int(result.get("statusCode", 200))
                headers = dict(result.get("headers") or {})
                out = _to_bytes(result.get("body"))
            else:
                out = _to_bytes(result)
        except Exception:  # the handler's bug: a 500 for this request, the server stays up
            traceback.print_exc()
            status, headers, out = 500, {"Content-Type": "text/plain"}, b"handler failed\n"
        self.send_response(status)
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        for name, value in headers.items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer


def main():
    upstream = urllib.parse.urlsplit(os.environ.get("upstream_url", "http://127.0.0.1:5000"))
    port = upstream.port or 5000
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Server)
    server.daemon_threads = True
    print("index.py: listening on 127.0.0.1:%d" % port, file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
