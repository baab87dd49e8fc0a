#!/usr/bin/env bash
# `make deploy`: deploys what `sam build` left in .aws-sam/ as the stack of one stage.
#   scripts/deploy.sh [--check] STAGE ARCH
# The first deploy of a stage is `sam deploy --guided`, which asks for the stack name, region
# and parameters and saves them to samconfig.toml as [STAGE.deploy.parameters]. Later deploys
# of that stage read them from there, after checking that the saved Architecture parameter is
# the ARCH that was just built (a mismatch deploys binaries Lambda cannot execute).
# --check only does that check (make runs it before the long sam build).
set -euo pipefail
check_only=false
if [ "${1:-}" = "--check" ]; then check_only=true; shift; fi
stage="${1:?usage: scripts/deploy.sh STAGE ARCH}"
arch="${2:?usage: scripts/deploy.sh STAGE ARCH}"
config="${SAM_CONFIG:-samconfig.toml}"
cd "$(dirname "$0")/.."

# Prints the saved Architecture of the stage ("" when the stage has no saved deploy settings,
# the template's default arm64 when they do not override it).
saved_arch="$(python3 - "$config" "$stage" <<'PY'
import shlex, sys, tomllib
path, stage = sys.argv[1], sys.argv[2]
try:
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
except FileNotFoundError:
    cfg = {}
params = cfg.get(stage, {}).get("deploy", {}).get("parameters")
if not params or "stack_name" not in params:
    print("")
    sys.exit(0)
overrides = params.get("parameter_overrides", "")
if isinstance(overrides, list):
    overrides = " ".join(overrides)
arch = "arm64"
for token in shlex.split(overrides):
    key, _, value = token.partition("=")
    if key == "Architecture":
        arch = value
print(arch)
PY
)"

if [ -n "$saved_arch" ] && [ "$saved_arch" != "$arch" ]; then
  echo "error: stage '$stage' is deployed with Architecture=$saved_arch ($config)," >&2
  echo "       but this build is ARCH=$arch. Run: make deploy STAGE=$stage ARCH=$saved_arch" >&2
  echo "       (or change Architecture in [$stage.deploy.parameters] parameter_overrides)." >&2
  exit 1
fi
if $check_only; then exit 0; fi

if [ -z "$saved_arch" ]; then
  echo "No saved settings for stage '$stage' in $config: running sam deploy --guided." >&2
  echo "Keep Architecture=$arch (what was built) and answer Y to 'Save arguments'." >&2
  exec sam deploy --guided --config-file "$config" --config-env "$stage" \
    --stack-name "buildvoiceai-api-$stage" --capabilities CAPABILITY_IAM \
    --parameter-overrides "Stage=$stage" "Architecture=$arch"
fi
exec sam deploy --config-file "$config" --config-env "$stage"
