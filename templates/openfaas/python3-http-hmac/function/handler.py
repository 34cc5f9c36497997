"""Your function. hmac-watchdog has already verified the webhook signature when handle() is
called: a forged or unsigned request never gets here.

event.body         the raw body (bytes), exactly as the sender signed it; event.json() parses it
event.headers      the request headers, case-insensitive (event.headers["X-GitHub-Event"])
event.verified_by  the scheme that verified the signature (X-Webhook-Verified: github, ...)
event.method, event.path, event.query

Return a str/bytes/dict body, or {"statusCode": ..., "headers": {...}, "body": ...}."""
import sys


def handle(event, context):
    kind = event.headers.get("X-GitHub-Event") or event.headers.get("X-Patreon-Event") or "unknown"
    # stderr goes to the function's log.
    print("handler: event=%s verified=%s bytes=%d" % (kind, event.verified_by, len(event.body)),
          file=sys.stderr, flush=True)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "text/plain; charset=utf-8"},
        "body": b"event=%s verified=%s\n%s\n" % (kind.encode(), event.verified_by.encode(),
                                                  event.body),
    }
