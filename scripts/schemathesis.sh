#!/usr/bin/env bash
# The API contract against the running code: validates docs/openapi.yaml, starts the local
# stack (its own emulator, every port chosen by the OS, as local/tests/it/stack.rs does), and
# runs schemathesis on the document the stack serves (GET /openapi.yaml), stateless
# (examples, coverage, fuzzing) and stateful, with the checks not_a_server_error,
# response_schema_conformance, status_code_conformance and content_type_conformance. Exits
# non-zero on any failure; prints schemathesis's summary, the number of requests and the time.
#
# Usage: scripts/schemathesis.sh [VENV]   (make test runs it; VENV defaults to .venv)
# SCHEMATHESIS_MAX_EXAMPLES (default 40) bounds the generated cases per operation and phase,
# SCHEMATHESIS_SEED (default 1) makes the run reproducible, SCHEMATHESIS_CHECKS replaces the
# checks (e.g. `all`, to explore), MIN_REQUESTS (default 500) is the fewest cases that pass.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
VENV="$(cd "$VENV" && pwd)"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-40}"
CARGO="${CARGO:-cargo}"
started=$SECONDS

"$VENV/bin/openapi-spec-validator" docs/openapi.yaml

"$CARGO" build --quiet --bin local-stack
target_dir="$("$CARGO" metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
dir="$(mktemp -d)"
stack_pid=""
stop() {
  local status=$?
  if [ -n "$stack_pid" ] && kill -0 "$stack_pid" 2>/dev/null; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$stack_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ]; then
    echo "--- local stack log (last 60 lines)"
    tail -n 60 "$dir/stack.log" 2>/dev/null || true
  fi
  rm -rf "$dir"
  exit "$status"
}
trap stop EXIT

# The rate limit is the stack's own business, not the contract's: generous here, so the run
# tests every route (a 429 would still be checked against the document).
API_PORT=0 RECEIVER_PORT=0 PROVIDER_PORT=0 MOTO_PORT=0 LOCAL_DIR="$dir" VENV="$VENV" \
  SIM_CALL_SECONDS=300ms RUST_LOG=warn NO_COLOR=1 API_RATE_LIMIT_PER_MINUTE=1000000 SETTINGS_RATE_LIMIT_PER_MINUTE=1000000 COSTLY_RATE_LIMIT_PER_MINUTE=1000000 \
  "$target_dir/debug/local-stack" >"$dir/stack.log" 2>&1 </dev/null &
stack_pid=$!

for _ in $(seq 1 1200); do
  [ -s "$dir/stack.json" ] && break
  kill -0 "$stack_pid" 2>/dev/null || { echo "error: the local stack exited before it was ready" >&2; exit 1; }
  sleep 0.1
done
[ -s "$dir/stack.json" ] || { echo "error: the local stack was not ready within 120 s" >&2; exit 1; }
field() { "$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$dir/stack.json" "$1"; }
api="$(field api_base_url)"

echo "::: schemathesis against $api (max $MAX_EXAMPLES examples per operation and phase)"
export BVAI_API_KEY="$(field api_key)" BVAI_RECEIVER_URL="$(field receiver_url)" \
  BVAI_PROVIDER_KEY="$(field provider_api_key)"
# Run from the temporary directory: schemathesis keeps a cache of past failures in its working
# directory, and each run must start from nothing, as CI does.
scripts="$PWD/scripts"
(cd "$dir" && PYTHONPATH="$scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  "$VENV/bin/schemathesis" run "$api/openapi.yaml" \
  --url "$api" \
  --phases examples,coverage,fuzzing,stateful \
  --checks "${SCHEMATHESIS_CHECKS:-not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance}" \
  --max-examples "$MAX_EXAMPLES" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --workers 2 \
  --request-timeout 30 \
  --output-sanitize true \
  --no-color </dev/null) | tee "$dir/schemathesis.log"

# "Test cases:" is followed by "N generated, N passed" (and failures, if any: then schemathesis
# has already exited non-zero). At least MIN_REQUESTS cases must have run.
counts="$(grep -A1 '^Test cases:' "$dir/schemathesis.log" | tail -n 1)"
generated="$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' <<<"$counts")"
passed="$(sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p' <<<"$counts")"
if [ -z "$generated" ] || [ "$generated" -lt "${MIN_REQUESTS:-500}" ]; then
  echo "error: schemathesis generated ${generated:-no} test cases; at least ${MIN_REQUESTS:-500} are required" >&2
  exit 1
fi
echo "::: schemathesis took $((SECONDS - started))s"
echo "schemathesis: ${passed:-0} passed, 0 failed"
