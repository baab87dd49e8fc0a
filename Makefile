# Everything a newcomer needs: `make test` and `make run`. Tools come from the package
# registries only (crates.io, PyPI) and land in .venv/ and target/.
SHELL := bash
PYTHON ?= python3
VENV ?= .venv
CARGO ?= cargo

.PHONY: all test unit check fmt lint-rust venv clean help run

all: test

help:
	@echo "make test   - every test (starts a local AWS emulator on 127.0.0.1)"
	@echo "make check  - fmt check + clippy"
	@echo "make run    - the whole stack on 127.0.0.1: emulator, API, provider sim, webhook receiver"

$(VENV)/.emulator: tools/requirements-emulator.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-emulator.txt
	touch $@

venv: $(VENV)/.emulator

## Every test: unit tests and integration tests against moto on 127.0.0.1.
test: $(VENV)/.emulator
	VENV=$(VENV) scripts/with-emulator.sh $(CARGO) test --workspace --all-targets

## The whole product on 127.0.0.1 with a demo account (docs/local-stack.md). Ctrl-C stops it.
## Ports and settings come from the environment: API_PORT=3000, RECEIVER_PORT=3001, ...
run: $(VENV)/.emulator
	VENV=$(VENV) $(CARGO) run --bin local-stack

## Formatting and lints, as CI checks them.
check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) target .local
