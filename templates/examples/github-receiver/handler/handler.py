"""A GitHub webhook receiver. hmac-watchdog has verified X-Hub-Signature-256 against the
webhook-secret before this runs: a forged delivery never gets here, so the payload can be
trusted as GitHub's."""
import json
import sys


def handle(event, context):
    kind = event.headers.get("X-GitHub-Event", "")
    delivery = event.headers.get("X-GitHub-Delivery", "")
    payload = json.loads(event.body or b"{}")
    print("github-receiver: %s delivery=%s verified=%s" % (kind, delivery, event.verified_by),
          file=sys.stderr, flush=True)

    if kind == "ping":
        return "pong: %s\n" % payload.get("zen", "")
    if kind == "push":
        repo = payload.get("repository", {}).get("full_name", "?")
        pusher = payload.get("pusher", {}).get("name", "?")
        commits = len(payload.get("commits", []))
        return "push to %s by %s: %d commit(s)\n" % (repo, pusher, commits)
    # Answer 2xx to events this receiver does not handle, or GitHub marks the delivery failed.
    return {"statusCode": 202, "body": "ignored event %s\n" % (kind or "(none)")}
