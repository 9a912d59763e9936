# ws-bridge: the two commands a new machine needs are `make run` and `make test`.
# Everything they need is checked here; what is missing is named with how to install it.

CARGO ?= cargo
GATEWAY_ARGS ?=
# `make run STORE=dynamodb` runs the gateway on DynamoDB Local (start it with `make dynamodb-local`).
STORE ?= memory
PYTHON ?= python3
VENV := .venv
PY_REQUIREMENTS := tests/python/requirements.txt
DYNAMODB_LOCAL_PORT ?= 8000
export DYNAMODB_LOCAL_PORT

.PHONY: help run test fmt-check clippy unit-and-e2e python-check check-rust fmt dynamodb-local dynamodb-local-stop

help:
	@echo "make run    start the local gateway on the embedded in-memory store (ws://127.0.0.1:3001/dev)"
	@echo "make test   formatting, lints and every test (starts and stops DynamoDB Local itself)"
	@echo "make dynamodb-local / dynamodb-local-stop   DynamoDB Local on 127.0.0.1:$(DYNAMODB_LOCAL_PORT), table created"
	@echo "make run STORE=dynamodb   the gateway on DynamoDB Local"

## Start the local gateway on the in-memory store. Extra flags: make run GATEWAY_ARGS="--port 4000"
run: check-rust
ifeq ($(STORE),dynamodb)
	$(CARGO) run -p local-gateway -- --store dynamodb --dynamodb-endpoint http://127.0.0.1:$(DYNAMODB_LOCAL_PORT) $(GATEWAY_ARGS)
else
	$(CARGO) run -p local-gateway -- --store $(STORE) $(GATEWAY_ARGS)
endif

## Formatting, clippy with warnings as errors, then every test of the workspace.
test: check-rust fmt-check clippy unit-and-e2e python-check

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Every test, on both stores: DynamoDB Local runs for the duration (and is stopped after, if
# this started it).
unit-and-e2e:
	infra/dynamodb-local.sh with $(CARGO) test --workspace

# The gateway seen by a second, independent client stack: Python websockets and boto3.
python-check: $(VENV)/.installed
	$(CARGO) build --quiet -p local-gateway --bin local-gateway
	$(VENV)/bin/python tests/python/check_gateway.py target/debug/local-gateway

# The virtualenv, reinstalled only when the pinned requirements change.
$(VENV)/.installed: $(PY_REQUIREMENTS)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "python3 not found: install Python 3 with venv (e.g. apt-get install python3 python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { echo "cannot create a virtualenv: install python3-venv"; exit 1; }
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(PY_REQUIREMENTS)
	touch $@

dynamodb-local: check-rust
	infra/dynamodb-local.sh start

dynamodb-local-stop:
	infra/dynamodb-local.sh stop

fmt:
	$(CARGO) fmt --all

check-rust:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || { echo "rustfmt missing: run 'rustup component add rustfmt'"; exit 1; }
	@$(CARGO) clippy --version >/dev/null 2>&1 || { echo "clippy missing: run 'rustup component add clippy'"; exit 1; }
