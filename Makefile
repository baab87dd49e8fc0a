# Everything a newcomer needs: `make test` and `make run`. Tools come from the package
# registries only (crates.io, PyPI) and land in .venv/ and target/.
SHELL := bash
PYTHON ?= python3
VENV ?= .venv
CARGO ?= cargo

.PHONY: all toolchain test api-test unit check openapi fmt lint-rust venv browser clients receivers kit-node clean help run bench bench-reconciler bench-scale bench-scale-profiles bench-cold bloat build lint sam-build deploy deploy-tools rust-target smoke publish-page

all: test

help:
	@echo "make test   - every test (starts a local AWS emulator on 127.0.0.1), then make api-test"
	@echo "make api-test - docs/openapi.yaml validated, then schemathesis against the local stack"
	@echo "make check  - fmt check + clippy + docs/openapi.yaml is the generated document; cargo deny (licences, bans, sources: deny.toml); unused dependencies (cargo-machete)"
	@echo "make openapi - write docs/openapi.yaml from the API's types, route tables and tools/openapi/prose.yaml"
	@echo "make toolchain - the Rust release pinned in rust-toolchain.toml, linked without a download (every cargo target runs it)"
	@echo "make browser - chromium + chromedriver (apt-get, as root), Selenium and axe-core (npm) for the page's browser test"
	@echo "make run    - the whole stack on 127.0.0.1: emulator, API, provider sim, webhook receiver"
	@echo "make clients - the typed clients (TypeScript, Python) generated from docs/openapi.yaml into clients/"
	@echo "make receivers - the example webhook receivers' packages (Flask into .venv, npm ci for Node)"
	@echo "make bench  - hot paths and the delivery pipeline's throughput on one core (docs/benchmarks.md)"
	@echo "make bench-scale - capacity model: capture the functions' AWS requests, model the target load (docs/benchmarks.md)"
	@echo "make bench-scale-profiles - re-capture bench/scale/profiles.json alone (the golden make test compares)"
	@echo "make bench-reconciler - the reconciler's throughput on the in-memory adapters (docs/benchmarks.md)"
	@echo "make bench-cold - cold starts of every function against two anchors (release build; docs/benchmarks.md)"
	@echo "make lint   - cfn-lint + sam validate (+ --lint) + checkov on template.yaml; openapi-spec-validator"
	@echo "make build  - release bootstrap of every function (ARCH=arm64|x86_64, default arm64)"
	@echo "make sam-build / make deploy - sam build / sam deploy (STAGE=dev, guided the first time)"
	@echo "make smoke URL=... KEY=... [TOKEN=...] - the post-deploy smoke test (docs/deploy.md)"
	@echo "make publish-page STACK=... [REGION=...] - upload page/ to a stack deployed with IntegrationPage=Enabled"

## The Rust release pinned in rust-toolchain.toml. The project's machines reach only the package
## registries, not rustup's servers, and have that release installed as `stable`:
## scripts/toolchain.sh links the pinned name to it, so rustup never tries a download. Every
## target that runs cargo (or rustc) depends on it; it does nothing once the name is there.
toolchain:
	@scripts/toolchain.sh

$(VENV)/.emulator: tools/requirements-emulator.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-emulator.txt
	touch $@

venv: $(VENV)/.emulator $(VENV)/.webhooks $(VENV)/.model

# The API contract's tools (openapi-spec-validator, schemathesis), same virtualenv.
$(VENV)/.apitest: tools/requirements-apitest.txt $(VENV)/.emulator
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-apitest.txt
	touch $@

# The official Standard Webhooks library, for the verification example's test
# (docs/examples/verify_standardwebhooks.py, tests/it/verify_example.rs), same virtualenv.
$(VENV)/.webhooks: tools/requirements-webhooks.txt $(VENV)/.emulator
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-webhooks.txt
	touch $@

# PyYAML for the capacity model (tools/capacity_model.py reads template.yaml), same virtualenv.
$(VENV)/.model: tools/requirements-model.txt $(VENV)/.emulator
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-model.txt
	touch $@

## Every test: unit tests and integration tests against moto on 127.0.0.1.
## The emulator is started by the one launcher (crate `emulator`, local/emulator), built alone
## first: it has no dependencies, so it never changes how the workspace's crates are built.
WITH_EMULATOR = VENV=$(VENV) $(CARGO) run --quiet -p emulator --bin with-emulator --

## Then the API contract: docs/openapi.yaml validated and run by schemathesis against the local
## stack (scripts/schemathesis.sh; SCHEMATHESIS_MAX_EXAMPLES bounds the cases per operation).
## The cold-start anchors (bench/) are left out: the slim anchor asks the SDK for its own HTTP
## client (`default-https-client`), which the functions are built without, and in one cargo
## run that feature would reach every crate; without it, an SDK client built anywhere without
## our transport (`aws_adapters::http_client::SdkHttpClient`) fails in the tests as it would in Lambda.
## The customer's kit (docs/clients-and-receivers.md) is tested in the same run
## (local/tests/it/kit.rs): `clients` and `receivers` install and generate what it runs first.
test: toolchain $(VENV)/.emulator $(VENV)/.apitest $(VENV)/.webhooks $(VENV)/.model browser clients receivers
	$(WITH_EMULATOR) $(CARGO) test --workspace --exclude anchor-hello --exclude anchor-slim-sdk --no-fail-fast --lib --bins --tests
	CARGO=$(CARGO) scripts/schemathesis.sh $(VENV)

api-test: toolchain $(VENV)/.emulator $(VENV)/.apitest
	CARGO=$(CARGO) scripts/schemathesis.sh $(VENV)

## The integration page's browser test (local/tests/it/page.rs): Debian's chromium and
## chromedriver, installed with apt-get when make runs as root, and Selenium from PyPI in the
## virtualenv. Without the browser the test fails (it never skips); this says why up front.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver

$(VENV)/.browser: tools/requirements-browser.txt $(VENV)/.emulator
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-browser.txt
	touch $@

## axe-core (pinned in local/tests/browser/package-lock.json), injected by the browser test
## into the page for its accessibility check.
local/tests/browser/node_modules/.package-lock.json: local/tests/browser/package-lock.json
	cd local/tests/browser && npm ci --no-audit --no-fund --silent

browser: $(VENV)/.browser local/tests/browser/node_modules/.package-lock.json
	@if [ ! -x "$(CHROMIUM)" ] || [ ! -x "$(CHROMEDRIVER)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium and chromium-driver (Debian packages) for the page's browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "ERROR: make test runs the integration page's browser test, which needs $(CHROMIUM) and $(CHROMEDRIVER)." >&2; \
	    echo "       They are not installed, and make can install them only as root (apt-get)." >&2; \
	    echo "       Install them: sudo apt-get install chromium chromium-driver (Debian/Ubuntu packages)," >&2; \
	    echo "       or run make as root, or point CHROMIUM= and CHROMEDRIVER= at your own." >&2; \
	    exit 1; \
	  fi; \
	fi

## ---------------------------------------------------------------- the customer's kit
## docs/clients-and-receivers.md. Node.js (20 or later) and npm are required: without them
## make fails here, and the kit test (local/tests/it/kit.rs) fails too; it never skips.
NODE ?= node
NPM ?= npm
## The Python client's generator has its own virtualenv: its pins conflict with the emulator's.
CLIENTS_VENV ?= .venv-clients

kit-node:
	@if ! command -v $(NODE) >/dev/null || ! command -v $(NPM) >/dev/null; then \
	  echo "ERROR: the kit (make clients, make receivers, the kit test of make test) needs Node.js 20+ and npm." >&2; \
	  echo "       Install them (Debian/Ubuntu: apt-get install nodejs npm), or point NODE= and NPM= at yours." >&2; \
	  exit 1; \
	fi

$(CLIENTS_VENV)/.clients: tools/requirements-clients.txt
	$(PYTHON) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-clients.txt
	touch $@

clients/typescript/node_modules/.installed: clients/typescript/package-lock.json | kit-node
	cd clients/typescript && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

## The typed clients, generated from docs/openapi.yaml (never committed: .gitignore): the
## TypeScript types (openapi-typescript) compiled with the example that uses them (tsc,
## strict), and the Python package clients/python/bvai_client (openapi-python-client). The
## generators are pinned (clients/typescript/package-lock.json, tools/requirements-clients.txt).
clients: kit-node $(CLIENTS_VENV)/.clients clients/typescript/node_modules/.installed
	cd clients/typescript && $(NPM) run --silent generate && $(NPM) run --silent build
	rm -rf clients/python/bvai_client
	cd clients/python && PATH="$(abspath $(CLIENTS_VENV))/bin:$$PATH" openapi-python-client generate \
	  --path ../../docs/openapi.yaml --config config.yaml --meta none --output-path bvai_client

$(VENV)/.receivers: examples/receivers/python/requirements.txt $(VENV)/.emulator
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r examples/receivers/python/requirements.txt
	touch $@

examples/receivers/node/node_modules/.installed: examples/receivers/node/package-lock.json | kit-node
	cd examples/receivers/node && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

## The example receivers' packages: Flask and standardwebhooks into .venv (the Python one),
## standardwebhooks from npm (the Node one). The Rust one is a workspace member.
receivers: kit-node $(VENV)/.receivers examples/receivers/node/node_modules/.installed

## The whole product on 127.0.0.1 with a demo account (docs/local-stack.md). Ctrl-C stops it.
## Ports and settings come from the environment: API_PORT=3000, RECEIVER_PORT=3001, ...
run: toolchain $(VENV)/.emulator
	VENV=$(VENV) $(CARGO) run --bin local-stack

## Benchmarks (optimised build; figures are printed, never asserted). docs/benchmarks.md
bench: toolchain $(VENV)/.emulator
	$(WITH_EMULATOR) $(CARGO) bench --workspace --bench hot_paths
	$(MAKE) bench-reconciler

## The reconciler alone (tests/benches/reconciler.rs): 12,000 due completions and 10,000 held
## calls on the in-memory adapters, every store request delayed 5 ms; no emulator. Settings:
## BENCH_COMPLETIONS, BENCH_HELD_CALLS, BENCH_STORE_DELAY_MS, BENCH_PROVIDER_DELAY_MS,
## RECONCILER_CONCURRENCY, SCHEDULED_CALLS_PER_SECOND. Figures in docs/benchmarks.md.
bench-reconciler: toolchain
	$(CARGO) bench --workspace --exclude anchor-hello --exclude anchor-slim-sdk --bench reconciler

## The capacity model (docs/benchmarks.md, "Capacity model"): the functions' AWS requests
## captured on the emulator (tests/src/scale) into bench/scale/profiles.json, the golden that
## make test compares; then the model (tools/capacity_model.py) at the target load, its table
## written into docs/benchmarks.md between markers. MODEL_ARGS passes options to the model
## (e.g. MODEL_ARGS="--param Scale=large"; the "Sized for the fleet" figures use exactly that).
MODEL_ARGS ?=
bench-scale-profiles: toolchain $(VENV)/.emulator
	$(WITH_EMULATOR) $(CARGO) run --quiet -p integration-tests --bin capture-profiles -- bench/scale/profiles.json

bench-scale: bench-scale-profiles $(VENV)/.model
	$(VENV)/bin/python tools/capacity_model.py --profiles bench/scale/profiles.json --write-docs \
	  --label "$$(date -u +%F), commit $$(git rev-parse --short HEAD)$$(git diff --quiet HEAD -- . ':!bench/scale' ':!docs/benchmarks.md' || echo ' (with uncommitted changes)'), $$(nproc) vCPU $$(uname -m)" $(MODEL_ARGS)

## Cold starts (docs/benchmarks.md): the release build (the Lambda profile: fat LTO, stripped)
## of every function and of the two anchors (bench/: a hello world with only lambda_runtime, and
## the slim SDK with the SDK's default-https-client, as the issue defines it), in two cargo
## runs so that neither's features reach the other (as `make build` builds the functions alone);
## then each binary started BENCH_COLD_RUNS times against a Runtime API stub and the emulator. Not part of make test or CI; figures are printed, never asserted.
BENCH_COLD_RUNS ?= 15
bench-cold: toolchain $(VENV)/.emulator
	$(CARGO) build --release $(addprefix -p ,$(FUNCTIONS))
	$(CARGO) build --release -p anchor-hello -p anchor-slim-sdk
	VENV=$(VENV) $(CARGO) run --quiet -p local-stack --bin bench-cold -- --runs $(BENCH_COLD_RUNS)

## What takes the room in a function's binary (docs/benchmarks.md): cargo-bloat, pinned, from
## crates.io into .tools/. The release profile, unstripped (cargo-bloat needs the symbols).
BLOAT_VERSION := 0.12.1
BLOAT_FUNCTION ?= trigger-call
.tools/bin/cargo-bloat: | toolchain
	$(CARGO) install --locked cargo-bloat --version $(BLOAT_VERSION) --root .tools

bloat: toolchain .tools/bin/cargo-bloat
	CARGO_PROFILE_RELEASE_STRIP=false .tools/bin/cargo-bloat bloat --release -p $(BLOAT_FUNCTION) --crates -n 25

## The dependency checks' tools, pinned, from crates.io: each version into its own folder of
## .tools/, so a new pin installs afresh (built once per clone; timings in docs/architecture.md).
DENY_VERSION := 0.20.2
MACHETE_VERSION := 0.9.2
CARGO_DENY := .tools/cargo-deny-$(DENY_VERSION)/bin/cargo-deny
CARGO_MACHETE := .tools/cargo-machete-$(MACHETE_VERSION)/bin/cargo-machete

$(CARGO_DENY): | toolchain
	$(CARGO) install --locked cargo-deny --version $(DENY_VERSION) --root .tools/cargo-deny-$(DENY_VERSION)

$(CARGO_MACHETE): | toolchain
	$(CARGO) install --locked cargo-machete --version $(MACHETE_VERSION) --root .tools/cargo-machete-$(MACHETE_VERSION)

## Formatting and lints, as CI checks them; then the dependency graph against deny.toml
## (licences, banned crates and duplicate versions, sources: no advisories, so nothing is
## fetched) and unused dependencies (cargo-machete; a false positive is named in its crate's
## [package.metadata.cargo-machete] with the reason).
check: toolchain $(CARGO_DENY) $(CARGO_MACHETE)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) run --quiet -p openapi-gen --bin gen-openapi -- --check
	$(CARGO) run --quiet -p module-graph --bin module-cycles
	$(CARGO_DENY) --locked check bans licenses sources
	$(CARGO_MACHETE)

## docs/openapi.yaml is generated (tools/openapi): the answer and request body schemas from
## the types the handlers serialise and parse (schemars, behind the crates' `openapi` feature,
## which only this generator turns on: never a Lambda binary), the paths from the route
## tables, the prose from tools/openapi/prose.yaml. `make check` fails when the committed
## document differs.
openapi: toolchain
	$(CARGO) run --quiet -p openapi-gen --bin gen-openapi

fmt: toolchain
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(CLIENTS_VENV) target .local \
	  clients/typescript/node_modules clients/typescript/generated clients/typescript/dist \
	  clients/python/bvai_client examples/receivers/node/node_modules

## ---------------------------------------------------------------- build, lint, deploy
## Tools (cargo-lambda, zig, SAM CLI, cfn-lint) are pinned in tools/requirements-deploy.txt and
## installed into the same virtualenv as the emulator. See docs/deploy.md.
ARCH ?= arm64
STAGE ?= dev
RUSTC ?= rustc
FUNCTIONS := trigger-call settings call-completed webhook-delivery reconciler
# One directory per architecture, so an x86_64 build never overwrites an arm64 one.
LAMBDA_DIR := target/lambda/$(ARCH)
# sam build gets its own target directory: a `make build` of another architecture running at
# the same time would otherwise swap target/lambda/*/bootstrap under it before it copies them.
SAM_TARGET_DIR ?= target/sam
# cfn-lint and SAM need a region to validate against; no credentials are needed.
LINT_REGION := $(or $(AWS_DEFAULT_REGION),$(AWS_REGION),us-east-1)
TOOLS_PATH := PATH="$(abspath $(VENV))/bin:$$PATH"
export SAM_CLI_TELEMETRY := 0

ifeq ($(ARCH),arm64)
RUST_TARGET := aarch64-unknown-linux-gnu
CARGO_LAMBDA_ARCH := --arm64
ELF_MACHINE := 183
else ifeq ($(ARCH),x86_64)
RUST_TARGET := x86_64-unknown-linux-gnu
CARGO_LAMBDA_ARCH := --x86-64
ELF_MACHINE := 62
endif

$(VENV)/.deploy: tools/requirements-deploy.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-deploy.txt
	touch $@

deploy-tools: $(VENV)/.deploy

## The Rust standard library for the target architecture. x86_64's ships with the toolchain;
## arm64's (aarch64-unknown-linux-gnu) comes from rustup's servers, outside the package
## registries, so say so plainly instead of letting cargo fail deep in a build.
rust-target: toolchain
	@if [ -z "$(RUST_TARGET)" ]; then echo "error: ARCH must be arm64 or x86_64, not '$(ARCH)'" >&2; exit 1; fi
	@sysroot="$$($(RUSTC) --print sysroot)"; \
	if [ ! -d "$$sysroot/lib/rustlib/$(RUST_TARGET)/lib" ]; then \
	  echo "error: ARCH=$(ARCH) needs the Rust standard library for $(RUST_TARGET)," >&2; \
	  echo "       which is not installed in $$sysroot." >&2; \
	  echo "  It is downloaded by rustup from the internet (not from crates.io or PyPI):" >&2; \
	  echo "      rustup target add $(RUST_TARGET)" >&2; \
	  echo "  Or build and deploy for x86_64, which needs nothing extra:" >&2; \
	  echo "      make build ARCH=x86_64    make deploy ARCH=x86_64" >&2; \
	  echo "  See docs/deploy.md." >&2; \
	  exit 1; \
	fi

## Release build of every function: target/lambda/$(ARCH)/<function>/bootstrap. Only the
## function binaries: the workspace's other binaries (local-stack, bvai-admin) are not deployed.
## `-p` for each function: the features are resolved for the functions alone, so what the
## tests, the local stack or the admin CLI ask of a dependency never reaches a Lambda binary.
build: $(VENV)/.deploy rust-target
	$(TOOLS_PATH) $(CARGO) lambda build --release $(CARGO_LAMBDA_ARCH) --lambda-dir $(LAMBDA_DIR) \
	  $(addprefix -p ,$(FUNCTIONS)) $(addprefix --bin ,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do \
	  b=$(LAMBDA_DIR)/$$f/bootstrap; \
	  if [ ! -s "$$b" ]; then echo "error: $$b was not built" >&2; exit 1; fi; \
	  m=$$(od -An -tu2 -j18 -N2 "$$b" | tr -d ' '); \
	  if [ "$$m" != "$(ELF_MACHINE)" ]; then echo "error: $$b is not an $(ARCH) binary (ELF machine $$m)" >&2; exit 1; fi; \
	  printf '%-18s %9s bytes  %s\n' "$$f" "$$(stat -c %s "$$b")" "$$b"; \
	done

## cfn-lint, SAM's own validation (the SAM transform, then its cfn-lint pass) and checkov (a
## second opinion on security settings; its skips are in template.yaml, each with its reason).
## checkov lives in its own virtualenv (.venv-checkov): its pins conflict with SAM CLI's.
CHECKOV_VENV ?= .venv-checkov

$(CHECKOV_VENV)/.checkov: tools/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-checkov.txt
	touch $@

## checkov leaves out the resources whose condition is false with the parameters' defaults, so
## it runs a second time on a copy with the optional edge switched on and the large capacity
## profile (Scale=large) chosen (EDGE_LINT_TEMPLATE, written by scripts/template_variant.py;
## docs/deploy.md, "checkov"); cfn-lint and SAM check that copy too.
EDGE_LINT_TEMPLATE ?= target/lint/template-edge.yaml

## Also openapi-spec-validator on docs/openapi.yaml (the API contract).
lint: $(VENV)/.deploy $(VENV)/.apitest $(CHECKOV_VENV)/.checkov
	$(VENV)/bin/openapi-spec-validator docs/openapi.yaml
	AWS_DEFAULT_REGION=$(LINT_REGION) $(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=$(LINT_REGION) $(VENV)/bin/sam validate --template-file template.yaml
	AWS_DEFAULT_REGION=$(LINT_REGION) $(VENV)/bin/sam validate --lint --template-file template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml
	@mkdir -p $(dir $(EDGE_LINT_TEMPLATE))
	$(PYTHON) scripts/template_variant.py template.yaml $(EDGE_LINT_TEMPLATE) EdgeProtection=Enabled ProviderSourceCidrs=203.0.113.10/32 Scale=large
	AWS_DEFAULT_REGION=$(LINT_REGION) $(VENV)/bin/cfn-lint $(EDGE_LINT_TEMPLATE)
	AWS_DEFAULT_REGION=$(LINT_REGION) $(VENV)/bin/sam validate --lint --template-file $(EDGE_LINT_TEMPLATE)
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file $(EDGE_LINT_TEMPLATE)

## The post-deploy smoke test (scripts/smoke.sh): the README quickstart's checks against a
## running stack, ending in a delivered webhook. TOKEN (a dashboard ID token) is needed for a
## deployed stack's delivery log; PHONE and WAIT are optional.
smoke:
	@if [ -z "$(URL)" ] || [ -z "$(KEY)" ]; then \
	  echo "usage: make smoke URL=<ApiUrl> KEY=<API key> [TOKEN=<ID token>] [PHONE=+1...] [WAIT=300]" >&2; exit 2; fi
	@TOKEN="$(TOKEN)" PHONE="$(PHONE)" WAIT="$(WAIT)" scripts/smoke.sh "$(URL)" "$(KEY)"

## sam build for the template's Architecture parameter = ARCH (artifacts in .aws-sam/).
sam-build: $(VENV)/.deploy rust-target
	$(TOOLS_PATH) CARGO_TARGET_DIR="$(abspath $(SAM_TARGET_DIR))" sam build \
	  --template-file template.yaml --parameter-overrides Architecture=$(ARCH)

## sam build + sam deploy of STAGE: guided the first time (answers saved to samconfig.toml as
## [$(STAGE).deploy.parameters]), from samconfig.toml after that. Needs AWS credentials.
deploy: $(VENV)/.deploy rust-target
	$(TOOLS_PATH) scripts/deploy.sh --check "$(STAGE)" "$(ARCH)"
	$(MAKE) sam-build ARCH="$(ARCH)"
	$(TOOLS_PATH) scripts/deploy.sh "$(STAGE)" "$(ARCH)"

## Upload the integration page (page/) to a stack deployed with IntegrationPage=Enabled, with
## a config.json written from the stack's outputs (docs/deploy.md). Needs AWS credentials.
publish-page: $(VENV)/.deploy
	@if [ -z "$(STACK)" ]; then echo "usage: make publish-page STACK=<stack name> [REGION=<region>]" >&2; exit 2; fi
	$(VENV)/bin/python scripts/publish_page.py --stack "$(STACK)" $(if $(REGION),--region "$(REGION)")
