#!/usr/bin/env bash
# Runs once per verified request. hmac-watchdog has already checked the signature: this script
# is never started for a forged or unsigned request.
#   stdin                     the request body, byte for byte as the sender signed it
#   Http_X_Webhook_Verified   the scheme that verified it (github, patreon, ...)
#   Http_<Header>             every request header (X-GitHub-Event -> Http_X_Github_Event)
#   Http_Method, Http_Path, Http_Query
# What it writes on stdout is the response body (streamed); a failure before any output is a 500.
set -euo pipefail

body=$(cat)
event=${Http_X_Github_Event:-${Http_X_Patreon_Event:-unknown}}
verified=${Http_X_Webhook_Verified:-}

# stderr goes to the function's log.
echo "handler: event=${event} verified=${verified} bytes=$(printf '%s' "$body" | wc -c)" >&2

printf 'event=%s verified=%s\n' "$event" "$verified"
printf '%s\n' "$body"
