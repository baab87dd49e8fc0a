#!/usr/bin/env bash
# Post-deploy smoke test: the README quickstart's checks against a running stack, ending in a
# delivered webhook. `make smoke URL=... KEY=...` runs it (docs/deploy.md, "Smoke test").
#
#   scripts/smoke.sh URL KEY
#
# URL    the API's base URL (the stack's ApiUrl output; `make run` prints the local one)
# KEY    an API key of an account whose webhook URL is set and that has a default agent
#        with a phone number (bvai-admin generate-key; `make run` prints the demo key)
# Environment:
# TOKEN  a dashboard ID token of a user of that account (Cognito), to read the delivery log.
#        Required unless URL is on 127.0.0.1/localhost (the local stack injects the claims).
# PHONE  the number to call (default +14155550123, San Francisco). Against a real provider
#        the phone rings: use a number you can answer. With the default recipient-hours policy
#        a call is allowed 08:00-21:00 where the number is; outside those hours trigger-call
#        answers 422 outside_recipient_hours and this script says when to run it again (or
#        give a PHONE where it is daytime).
# WAIT   seconds to wait for the call to complete and its webhook to be delivered (default 300)
#
# Prints one line per check; exits 1 at the first failure, 2 on a usage error. Needs bash,
# curl and python3 (for JSON). Never prints the key or the token.
set -euo pipefail

usage() { echo "usage: $0 URL KEY   (env: TOKEN, PHONE, WAIT; see the header)" >&2; exit 2; }
[[ $# -eq 2 && -n "$1" && -n "$2" ]] || usage
url="${1%/}"
key="$2"
phone="${PHONE:-+14155550123}"
wait_s="${WAIT:-300}"
token="${TOKEN:-}"
[[ "$wait_s" =~ ^[0-9]+$ ]] || { echo "WAIT must be a number of seconds" >&2; exit 2; }
[[ "$url" =~ ^https?:// ]] || { echo "URL must start with http:// or https://" >&2; exit 2; }
local_stack=false
[[ "$url" =~ ^https?://(127\.0\.0\.1|localhost)(:[0-9]+)?$ ]] && local_stack=true
if [[ -z "$token" && "$local_stack" == false ]]; then
  echo "TOKEN (a dashboard ID token of the key's account) is needed to read the delivery log" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
checks=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; exit 1; }

# request METHOD PATH [curl args...]: the status code; the body is in $tmp/body.
request() {
  local method="$1" path="$2"; shift 2
  curl -sS -o "$tmp/body" -w '%{http_code}' -X "$method" --max-time 30 "$@" "$url$path" \
    || echo "000"
}
# json EXPR: a Python expression over `b` (the last body, parsed), printed ('' if absent).
json() {
  python3 -c '
import json, sys
try:
    b = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2], {"b": b})
except Exception:
    v = None
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list, bool)) else v))
' "$tmp/body" "$1"
}
body() { head -c 500 "$tmp/body"; }

# 1. trigger-call authenticates: no key, then a wrong key (403 with the spec's error codes).
body_json="{\"phone\": \"$phone\", \"name\": \"Smoke Test\", \"metadata\": {\"source\": \"smoke\"}}"
status=$(request POST /api/trigger-call -H "Content-Type: application/json" -d "$body_json")
[[ "$status" == 403 && "$(json 'b["error"]["code"]')" == missing_api_key ]] \
  || fail "trigger-call without a key: expected 403 missing_api_key, got $status: $(body)"
ok "trigger-call without a key is refused (403 missing_api_key)"
status=$(request POST /api/trigger-call -H "Authorization: Bearer bvai_live_not_a_key" \
  -H "Content-Type: application/json" -d "$body_json")
[[ "$status" == 403 && "$(json 'b["error"]["code"]')" == invalid_api_key ]] \
  || fail "trigger-call with a wrong key: expected 403 invalid_api_key, got $status: $(body)"
ok "trigger-call with a wrong key is refused (403 invalid_api_key)"

# 2. The provider callback refuses an unsigned request.
status=$(request POST /hooks/voice-provider -H "Content-Type: application/json" \
  -d '{"event": "call_started", "call": {"call_id": "smoke"}}')
[[ "$status" == 401 ]] || fail "unsigned provider callback: expected 401, got $status: $(body)"
ok "an unsigned provider callback is refused (401)"

# 3. The README's call.
status=$(request POST /api/trigger-call -H "Authorization: Bearer $key" \
  -H "Content-Type: application/json" -d "$body_json")
if [[ "$status" == 422 && "$(json 'b["error"]["code"]')" == outside_recipient_hours ]]; then
  fail "it is night where $phone is (422 outside_recipient_hours): run again after $(json 'b["error"]["next_allowed_at"]'), or set PHONE to a number where it is daytime"
fi
[[ "$status" == 200 && "$(json 'b["success"]')" == true ]] \
  || fail "trigger-call: expected 200 and success, got $status: $(body)"
call_id="$(json 'b["call_id"]')"
[[ -n "$call_id" ]] || fail "trigger-call answered no call_id: $(body)"
ok "trigger-call placed call $call_id"

status=$(request GET "/api/calls/$call_id" -H "Authorization: Bearer $key")
[[ "$status" == 200 && "$(json 'b["call_id"]')" == "$call_id" ]] \
  || fail "GET /api/calls/$call_id: expected 200, got $status: $(body)"
ok "GET /api/calls/$call_id answers ($(json 'b["status"]'))"

# 4. The provider calls back until the call is completed.
deadline=$((SECONDS + wait_s))
while :; do
  status=$(request GET "/api/calls/$call_id" -H "Authorization: Bearer $key")
  call_status="$(json 'b["status"]')"
  [[ "$status" == 200 ]] || fail "GET /api/calls/$call_id: $status: $(body)"
  [[ "$call_status" == completed ]] && break
  [[ "$call_status" == failed ]] && fail "call $call_id failed: $(json 'b["failure_reason"]')"
  ((SECONDS < deadline)) || fail "call $call_id still $call_status after ${wait_s}s"
  sleep 2
done
ok "call $call_id completed (the provider's signed callbacks were accepted)"

# 5. Its call.completed webhook is delivered (the delivery log of the account).
auth=()
[[ -n "$token" ]] && auth=(-H "Authorization: Bearer $token")
while :; do
  status=$(request GET "/api/integrations/api-webhooks/deliveries?limit=50" "${auth[@]}")
  [[ "$status" == 200 ]] || fail "delivery log: expected 200, got $status: $(body)"
  row="$(json "next((r for r in b['deliveries'] if r['call_id'] == '$call_id' and r['outcome'] == 'delivered'), None)")"
  [[ -n "$row" ]] && break
  ((SECONDS < deadline)) || fail "no delivered webhook for call $call_id after ${wait_s}s: $(body)"
  sleep 2
done
printf '%s' "$row" > "$tmp/body"
ok "call.completed for $call_id delivered: attempt $(json 'b["attempt"]'), HTTP $(json 'b["http_status"]')"
echo "smoke test passed: $checks checks against $url"
