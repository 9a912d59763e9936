# ws-bridge: the two commands a new machine needs are `make run` and `make test`.
# Everything they need is checked here; what is missing is named with how to install it.

CARGO ?= cargo
GATEWAY_ARGS ?=
# `make run STORE=dynamodb` runs the gateway on DynamoDB Local (start it with `make dynamodb-local`).
STORE ?= memory
PYTHON ?= python3
VENV := .venv
# One virtualenv for every Python check: the gateway check's clients, the Python client's tools,
# and the example's server and tools (all pinned), with the Python client itself installed.
PY_REQUIREMENTS := tests/python/requirements.txt clients/python/requirements-dev.txt \
	examples/fastapi-comments/requirements.txt examples/fastapi-comments/requirements-test.txt \
	local-gateway/runtimes/python/requirements.txt clients/python/requirements-build.txt
PY_CLIENT_SOURCES := clients/python/pyproject.toml $(shell find clients/python/src -type f -name '*.py' 2>/dev/null)
# Deploy-side tools (cfn-lint, sam, cargo-lambda, zig), pinned, in their own virtualenv.
TOOLS_VENV := .tools/venv
TOOLS_REQUIREMENTS := infra/requirements-tools.txt
TOOLS_BIN := $(abspath $(TOOLS_VENV))/bin
# One crate per Lambda, each with a binary of the same name.
FUNCTIONS := $(notdir $(wildcard functions/*))
DYNAMODB_LOCAL_PORT ?= 8000
export DYNAMODB_LOCAL_PORT

# The gateway people run is the one we measure: `make run` and `make bench` both start the
# binary of this one command (the `fast` profile: optimised for speed). It also builds
# create-table, which `make dynamodb-local` runs, so that target reuses this build instead of
# compiling a debug build of its own.
GATEWAY_BUILD := $(CARGO) build --profile fast -p local-gateway --bin local-gateway --bin create-table
GATEWAY_BIN := target/fast/local-gateway
CREATE_TABLE_BIN := target/fast/create-table

# The tests of the clients and the examples start their own gateways as `make run` does, through
# infra/local-gateway.sh (make run's arguments, infra/run.args), with this binary.
TEST_GATEWAY := $(abspath infra/local-gateway.sh)
export LOCAL_GATEWAY_BIN := $(abspath target/debug/local-gateway)
VENV_BIN := $(abspath $(VENV))/bin

# The AWS SDK for JavaScript v3 that `--template` gives Node.js functions (pinned by its
# package-lock.json), into local-gateway's git-ignored node_modules.
NODE_RUNTIME := local-gateway/runtimes/node/node_modules

# The browser client's npm packages, and the browser its tests drive.
NODE_MODULES := clients/js/node_modules
CHROMIUM := /usr/bin/chromium

.PHONY: docs docs-check packages-check soak bench bench-broadcast help run test example example-nextjs nextjs-example-check chromium js-check inspector-check webhook-example-check python-client-check example-check fmt-check clippy module-cycles build-all unit-and-e2e python-check template-check build deploy check-rust fmt dynamodb-local dynamodb-local-stop

help:
	@echo "make run    start the local gateway on the embedded in-memory store (ws://127.0.0.1:3001/dev)"
	@echo "make example  the FastAPI comments example: the gateway and the app (http://127.0.0.1:8080/posts/42)"
	@echo "make example-nextjs  the Next.js example: the gateway, the app (http://127.0.0.1:3000/) and its FastAPI publisher"
	@echo "make test   formatting, lints, the docs and every test (starts and stops DynamoDB Local itself)"
	@echo "make docs   the book (docs/src) as HTML: docs/book/index.html"
	@echo "make packages-check   the versions agree; the Python wheel/sdist and the npm tarball install and import"
	@echo "make dynamodb-local / dynamodb-local-stop   DynamoDB Local on 127.0.0.1:$(DYNAMODB_LOCAL_PORT), table created"
	@echo "make run STORE=dynamodb   the gateway on DynamoDB Local"
	@echo "make soak   the reliability suite at full size (both stores, a few minutes; figures printed)"
	@echo "make bench  load generator: gateway vs a direct fan-out, in-memory and DynamoDB Local (table + bench-results/bench.json)"
	@echo "make bench BENCH_ARGS='--mode webhooks --sizes 1000'  handshakes and broadcasts with webhooks to a hanging receiver vs none"
	@echo "make bench-broadcast [SIM_ARGS='--sizes 1000000 --rate 2500']  simulated async broadcast vs the throttle's bound (part of make bench)"
	@echo "make build  cargo lambda build --release: target/lambda/<function>/bootstrap"
	@echo "make deploy sam build && sam deploy --guided"

# `make run` serves ws-bridge from template.yaml (its routes, stage and HTTP API) with the
# project's functions in-process, as infra/local-gateway.sh starts it (the arguments are in
# infra/run.args, the tests' launcher reads the same). Flags in GATEWAY_ARGS win over the
# template's values.
RUN := LOCAL_GATEWAY_BIN=$(GATEWAY_BIN) infra/local-gateway.sh

## Start the local gateway on the in-memory store. Extra flags: make run GATEWAY_ARGS="--port 4000"
run: check-rust
	$(GATEWAY_BUILD)
ifeq ($(STORE),dynamodb)
	$(RUN) --store dynamodb --dynamodb-endpoint http://127.0.0.1:$(DYNAMODB_LOCAL_PORT) $(GATEWAY_ARGS)
else
	$(RUN) --store $(STORE) $(GATEWAY_ARGS)
endif

## Formatting, clippy with warnings as errors, then every test of the workspace.
test: check-rust fmt-check clippy module-cycles packages-check template-check build-all unit-and-e2e \
	python-check python-client-check js-check example-check nextjs-example-check inspector-check webhook-example-check docs-check

fmt-check:
	$(CARGO) fmt --all -- --check

# No import cycles between the files, nor between the top-level modules, of our crates.
module-cycles:
	$(PYTHON) infra/check_module_cycles.py shared/src local-gateway/src tests/src

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# One build of everything (tests, and the binaries the runtime-API tests and the Python check
# run), with the same features as `cargo test --workspace`, so nothing is compiled twice.
build-all:
	$(CARGO) build --workspace --all-targets

# Every test, on both stores: DynamoDB Local runs for the duration (and is stopped after, if
# this started it). The `--template` tests run Node.js and Python functions (the SDK for
# JavaScript, the .venv's awslambdaric and boto3) and cross-check with SAM's translator (.tools).
unit-and-e2e: build-all $(NODE_RUNTIME)/.installed $(VENV)/.installed $(TOOLS_VENV)/.installed
	infra/dynamodb-local.sh with $(CARGO) test --workspace

$(NODE_RUNTIME)/.installed: local-gateway/runtimes/node/package.json local-gateway/runtimes/node/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "node and npm not found: install Node.js 20 or later with npm (e.g. apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix local-gateway/runtimes/node --no-audit --no-fund --loglevel=error
	touch $@

# The packages as users install them (tests/packages/check_packages.py): one version everywhere
# (infra/check_versions.py: Cargo.toml's [workspace.package] is the source), the Python client's
# sdist and wheel built and installed into a fresh virtualenv (with and without the `fastapi`
# extra), the JS client's `npm pack` tarball installed into a fresh npm project; each imported,
# run and type-checked there. Temporary folders only; PyPI and npm serve the dependencies.
packages-check: $(VENV)/.installed $(NODE_MODULES)/.installed
	$(VENV_BIN)/python infra/check_versions.py
	cd tests/packages && $(VENV_BIN)/ruff check . && $(VENV_BIN)/ruff format --check . && $(VENV_BIN)/mypy
	$(abspath $(NODE_MODULES))/.bin/prettier --check tests/packages
	$(VENV_BIN)/python tests/packages/check_packages.py $(CURDIR)

# The gateway seen by a second, independent client stack: Python websockets and boto3.
python-check: build-all $(VENV)/.installed
	$(VENV)/bin/python tests/python/check_gateway.py $(TEST_GATEWAY)

# npm packages of the browser client's checks (playwright-core, prettier, typescript, ws, react),
# pinned by clients/js/package-lock.json, into its git-ignored node_modules.
$(NODE_MODULES)/.installed: clients/js/package.json clients/js/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "node and npm not found: install Node.js 20 or later with npm (e.g. apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix clients/js --no-audit --no-fund --loglevel=error
	touch $@

# Debian's Chromium for the browser tests, installed when missing (root with apt-get), else named.
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "$(CHROMIUM) not found: install Debian's Chromium (sudo apt-get install chromium)"; exit 1; fi

# The browser client: formatting, type declarations, and its tests in Node and headless Chromium
# against real gateways (and a DynamoDB Local of its own, stopped for 10 s and 60 s, for the
# store outage at $connect).
js-check: build-all $(NODE_MODULES)/.installed chromium
	cd clients/js && npm run --silent format:check && npm run --silent typecheck
	cd clients/js && WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) \
		DYNAMODB_LOCAL_HOME="$$($(CURDIR)/infra/dynamodb-local.sh home)" npm test --silent

# The Python client: lint, strict types, and pytest against real gateways (and a DynamoDB Local
# of its own, stopped mid-test, for the 503 with a partial report).
python-client-check: build-all $(VENV)/.installed
	cd clients/python && $(VENV_BIN)/ruff check . && $(VENV_BIN)/ruff format --check . && $(VENV_BIN)/mypy
	cd clients/python && WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) \
		DYNAMODB_LOCAL_HOME="$$($(CURDIR)/infra/dynamodb-local.sh home)" $(VENV_BIN)/pytest -p no:cacheprovider

# The FastAPI comments example: lint, types, its API tests with pytest, and the pages in Chromium.
example-check: build-all $(VENV)/.installed $(NODE_MODULES)/.installed chromium
	cd examples/fastapi-comments && $(VENV_BIN)/ruff check . && $(VENV_BIN)/ruff format --check . && $(VENV_BIN)/mypy
	cd examples/fastapi-comments && $(abspath $(NODE_MODULES))/.bin/prettier --check .
	WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) $(VENV_BIN)/python -m pytest -p no:cacheprovider examples/fastapi-comments
	WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) WS_BRIDGE_PYTHON=$(VENV_BIN)/python node --test examples/fastapi-comments/test/

# The Next.js example (examples/nextjs-live): its npm packages pinned by its package-lock.json
# (@ws-bridge/client is this repository's clients/js, linked), into its git-ignored node_modules.
NEXTJS_EXAMPLE := examples/nextjs-live
NEXTJS_BUILD := cd $(NEXTJS_EXAMPLE) && NEXT_TELEMETRY_DISABLED=1 node_modules/.bin/next build
$(NEXTJS_EXAMPLE)/node_modules/.installed: $(NEXTJS_EXAMPLE)/package.json $(NEXTJS_EXAMPLE)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js 20.9 or later with npm"; exit 1; }
	npm ci --prefix $(NEXTJS_EXAMPLE) --no-audit --no-fund --loglevel=error
	touch $@

# The Next.js example: its FastAPI publisher's lint and types, the formatter, `next build`, tsc,
# then its pages in Chromium against the app under `next start`, the FastAPI publisher and a
# gateway on DynamoDB Local of its own (restarted mid-test).
nextjs-example-check: build-all $(VENV)/.installed $(NODE_MODULES)/.installed $(NEXTJS_EXAMPLE)/node_modules/.installed chromium
	cd $(NEXTJS_EXAMPLE) && $(VENV_BIN)/ruff check . && $(VENV_BIN)/ruff format --check . && $(VENV_BIN)/mypy
	cd $(NEXTJS_EXAMPLE) && $(abspath $(NODE_MODULES))/.bin/prettier --check .
	$(NEXTJS_BUILD)
	cd $(NEXTJS_EXAMPLE) && node_modules/.bin/tsc --noEmit -p tsconfig.json
	WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) WS_BRIDGE_PYTHON=$(VENV_BIN)/python \
		DYNAMODB_LOCAL_HOME="$$($(CURDIR)/infra/dynamodb-local.sh home)" node --test --test-timeout=180000 $(NEXTJS_EXAMPLE)/test/

# The gateway's inspector page (local-gateway/src/inspector/page) in headless Chromium against a
# real gateway and real clients (local-gateway/inspector-test), formatted as the browser client is;
# the Node runtime's SDK for the test of cold starts (a template's Node functions).
inspector-check: build-all $(NODE_MODULES)/.installed $(NODE_RUNTIME)/.installed chromium
	$(abspath $(NODE_MODULES))/.bin/prettier --check local-gateway/src/inspector/page local-gateway/inspector-test
	WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) node --test --test-concurrency=1 --test-timeout=90000 local-gateway/inspector-test/

# The webhook receiver example: lint, types, and its pytest against a real gateway sending it
# every event, checked by the app's verifier and by the independent `standardwebhooks` package.
webhook-example-check: build-all $(VENV)/.installed
	cd examples/webhook-receiver && $(VENV_BIN)/ruff check . && $(VENV_BIN)/ruff format --check . && $(VENV_BIN)/mypy
	cd examples/webhook-receiver && WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) $(VENV_BIN)/python -m pytest -p no:cacheprovider

## The book (docs/src) as HTML in docs/book: open docs/book/index.html.
docs: $(TOOLS_VENV)/.installed
	$(TOOLS_BIN)/mdbook build docs

# The docs cannot drift: the book builds without a warning, every link resolves, every snippet a
# reader runs is run by a test or says why not, the flags table matches --help (infra/check_docs.py);
# and the README's quickstart runs as written, in a fresh virtualenv and headless Chromium.
docs-check: build-all $(TOOLS_VENV)/.installed $(NODE_MODULES)/.installed chromium
	$(PYTHON) infra/check_docs.py --gateway $(LOCAL_GATEWAY_BIN) --mdbook $(TOOLS_BIN)/mdbook
	$(abspath $(NODE_MODULES))/.bin/prettier --check tests/docs
	node --test --test-timeout=300000 tests/docs/

## The comments example: the gateway (as make run builds it) and the FastAPI app on 127.0.0.1:8080.
example: check-rust $(VENV)/.installed
	$(GATEWAY_BUILD)
	WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) LOCAL_GATEWAY_BIN=$(abspath $(GATEWAY_BIN)) WS_BRIDGE_PYTHON=$(VENV_BIN)/python examples/fastapi-comments/run.sh

## The Next.js example: the gateway (as make run builds it, 127.0.0.1:3001), the app built and
## served by `next start` on 127.0.0.1:3000, and its FastAPI publisher on 127.0.0.1:8081.
example-nextjs: check-rust $(VENV)/.installed $(NEXTJS_EXAMPLE)/node_modules/.installed
	$(GATEWAY_BUILD)
	$(NEXTJS_BUILD)
	WS_BRIDGE_GATEWAY=$(TEST_GATEWAY) LOCAL_GATEWAY_BIN=$(abspath $(GATEWAY_BIN)) WS_BRIDGE_PYTHON=$(VENV_BIN)/python $(NEXTJS_EXAMPLE)/run.sh

# The virtualenv, brought up to date only when the pinned requirements or the Python client
# change. The client is installed as users install it (`pip install ./clients/python`).
$(VENV)/.installed: $(PY_REQUIREMENTS) $(PY_CLIENT_SOURCES)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "python3 not found: install Python 3 with venv (e.g. apt-get install python3 python3-venv)"; exit 1; }
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV) || { echo "cannot create a virtualenv: install python3-venv"; exit 1; }
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(addprefix -r ,$(PY_REQUIREMENTS))
	$(VENV)/bin/pip install --quiet --disable-pip-version-check ./clients/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./clients/python
	touch $@

$(TOOLS_VENV)/.installed: $(TOOLS_REQUIREMENTS)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "python3 not found: install Python 3 with venv (e.g. apt-get install python3 python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS_VENV) || { echo "cannot create a virtualenv: install python3-venv"; exit 1; }
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(TOOLS_REQUIREMENTS)
	touch $@

# The SAM template: cfn-lint, SAM's own validation, and agreement with infra/ and functions/.
# sam validates offline; it only needs some region and credentials to be configured.
template-check: build-all $(TOOLS_VENV)/.installed
	$(TOOLS_BIN)/cfn-lint template.yaml
	AWS_ACCESS_KEY_ID=validate AWS_SECRET_ACCESS_KEY=validate SAM_CLI_TELEMETRY=0 \
		$(TOOLS_BIN)/sam validate --lint --template template.yaml --region us-east-1
	$(TOOLS_BIN)/python infra/check_template.py template.yaml $(LOCAL_GATEWAY_BIN)

# Release builds for Lambda (cross-linked with zig): target/lambda/<function>/bootstrap.
build: check-rust $(TOOLS_VENV)/.installed
	PATH="$(TOOLS_BIN):$$PATH" cargo lambda build --release $(addprefix --package ,$(FUNCTIONS))
	@ls -l $(foreach f,$(FUNCTIONS),target/lambda/$(f)/bootstrap)

# Deploy with SAM: builds with cargo-lambda (the template's BuildMethod) and asks for the stack's
# parameters the first time.
deploy: check-rust $(TOOLS_VENV)/.installed
	PATH="$(TOOLS_BIN):$$PATH" SAM_CLI_TELEMETRY=0 sam build
	PATH="$(TOOLS_BIN):$$PATH" SAM_CLI_TELEMETRY=0 sam deploy --guided

# Benchmarks report; tests assert behaviour. Release builds of the gateway, the baseline server,
# the load generator and the http-broadcast Lambda (run under a local Runtime API), then one run
# with DynamoDB Local up. Loopback only, bounded in time.
bench: check-rust
	$(GATEWAY_BUILD)
	$(CARGO) build --profile fast -p ws-bridge-e2e --bins -p http-broadcast
	LOCAL_GATEWAY_BIN=$(abspath $(GATEWAY_BIN)) infra/dynamodb-local.sh with target/fast/bench \
		--gateway infra/local-gateway.sh \
		--direct target/fast/direct-fanout --lambda-bin target/fast/http-broadcast \
		--out bench-results/bench.json $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-broadcast

# An asynchronous broadcast to 10,000, 100,000 and 1,000,000 virtual connections: the real
# handler, queue, workers and pacer against a simulated management API with AWS's throttle and
# a latency distribution (tests/src/bin/broadcast-sim.rs; about two minutes, real time).
bench-broadcast: check-rust
	$(CARGO) build --profile fast -p ws-bridge-e2e --bin broadcast-sim
	target/fast/broadcast-sim --out bench-results/broadcast-sim.json $(SIM_ARGS)

# The reliability suite (tests/tests/reliability.rs) at full size: `make test` runs it small.
# Built with the `fast` profile, as the gateway people run; one test at a time, loopback only,
# each bounded, with DynamoDB Local up for the duration. Figures are printed per test.
soak: check-rust
	$(CARGO) test --profile fast -p ws-bridge-e2e --test reliability --no-run
	# The Ctrl-C test runs the binary as `make run` does (LOCAL_GATEWAY_BIN).
	$(CARGO) build -p local-gateway --bin local-gateway
	RELIABILITY_SCALE=full infra/dynamodb-local.sh with $(CARGO) test --profile fast \
		-p ws-bridge-e2e --test reliability -- --nocapture --test-threads=1

dynamodb-local: check-rust
	@echo "dynamodb-local: building create-table (it creates the tables) with make run's build, the fast profile: nothing to do after make run, a few minutes on a fresh clone"
	$(GATEWAY_BUILD)
	CREATE_TABLE_BIN=$(abspath $(CREATE_TABLE_BIN)) infra/dynamodb-local.sh start

dynamodb-local-stop:
	infra/dynamodb-local.sh stop

fmt:
	$(CARGO) fmt --all

check-rust:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }
	@$(CARGO) fmt --version >/dev/null 2>&1 || { echo "rustfmt missing: run 'rustup component add rustfmt'"; exit 1; }
	@$(CARGO) clippy --version >/dev/null 2>&1 || { echo "clippy missing: run 'rustup component add clippy'"; exit 1; }
