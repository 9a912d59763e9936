# ws-bridge: the two commands a new machine needs are `make run` and `make test`.
# Everything they need is checked here; what is missing is named with how to install it.

CARGO ?= cargo
GATEWAY_ARGS ?=

.PHONY: help run test fmt-check clippy unit-and-e2e check-rust fmt

help:
	@echo "make run    start the local gateway on the embedded in-memory store (ws://127.0.0.1:3001/dev)"
	@echo "make test   formatting, lints and every test"

## Start the local gateway on the in-memory store. Extra flags: make run GATEWAY_ARGS="--port 4000"
run: check-rust
	$(CARGO) run -p local-gateway -- $(GATEWAY_ARGS)

## Formatting, clippy with warnings as errors, then every test of the workspace.
test: check-rust fmt-check clippy unit-and-e2e

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit-and-e2e:
	$(CARGO) test --workspace

fmt:
	$(CARGO) fmt --all

check-rust:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || { echo "rustfmt missing: run 'rustup component add rustfmt'"; exit 1; }
	@$(CARGO) clippy --version >/dev/null 2>&1 || { echo "clippy missing: run 'rustup component add clippy'"; exit 1; }
