#!/usr/bin/env bash
# Starts moto's server on 127.0.0.1 on a free port, runs the given command with the AWS SDK
# pointed at it (endpoint URL, dummy credentials, region), and stops it afterwards.
# Fails loudly when the emulator cannot start.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$here/.venv}"
moto="$venv/bin/moto_server"
if [ ! -x "$moto" ]; then
  echo "error: $moto not found; run 'make venv' (make test does this for you)" >&2
  exit 1
fi
port="${MOTO_PORT:-$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
log="$(mktemp -t moto.XXXXXX.log)"
"$moto" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do
  if "$venv/bin/python" - "$port" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
PY
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "error: the AWS emulator (moto_server) exited during startup:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 0.2
done
if ! "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=2)" 2>/dev/null; then
  echo "error: the AWS emulator did not answer on 127.0.0.1:$port within 20 s:" >&2; cat "$log" >&2; exit 1
fi
echo "AWS emulator (moto) ready on http://127.0.0.1:$port" >&2
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
"$@"
