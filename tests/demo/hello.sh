#!/bin/sh
# The demo function: a GitHub webhook receiver in three lines. It only ever runs for requests
# whose X-Hub-Signature-256 the watchdog has verified (Http_X_Webhook_Verified says which scheme).
body=$(cat)
echo "verified by: ${Http_X_Webhook_Verified:-nobody}; event: ${Http_X_Github_Event:-none}"
echo "payload: $body"
