# Dockyard: the two commands are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
HOST ?= 127.0.0.1
PORT ?= 8700
TEST_ENV := /run/dockyard-test/env.sh
PYTEST_ARGS ?=

.PHONY: help run test lint fmt typecheck bench build-ui gen-client check-client \
        deps py-deps ui-deps test-env test-env-down test-py test-ui clean image

help:
	@echo "make run     install, build the UI, migrate, start the server on http://$(HOST):$(PORT)"
	@echo "make test    install and start what tests need, then lint, typecheck and run every test"
	@echo "other targets: lint fmt typecheck bench build-ui gen-client check-client test-env test-env-down image clean"

# ---- installation -----------------------------------------------------------------------
deps: py-deps ui-deps

py-deps:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || { \
	  echo "installing uv"; python3 -m pip install --quiet --disable-pip-version-check uv; }
	@$(UV) sync --frozen --quiet

ui-deps:
	@command -v npm >/dev/null 2>&1 || { echo "Node.js >= 20.19 and npm are required (apt-get install nodejs npm)"; exit 1; }
	@if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then \
	  cd frontend && npm ci --no-audit --no-fund --loglevel=error; fi

build-ui: ui-deps
	@cd frontend && npm run --silent build

# ---- running ----------------------------------------------------------------------------
run: py-deps build-ui
	@mkdir -p "$${DOCKYARD_DATA_DIR:-./data}"
	@export DOCKYARD_DATA_DIR="$${DOCKYARD_DATA_DIR:-./data}" DOCKYARD_LOG_FORMAT="$${DOCKYARD_LOG_FORMAT:-console}"; \
	  $(UV) run --frozen dockyard migrate && \
	  exec $(UV) run --frozen dockyard serve --host $(HOST) --port $(PORT)

# ---- quality ----------------------------------------------------------------------------
lint: py-deps
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

fmt: py-deps
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

typecheck: py-deps
	$(UV) run --frozen mypy

gen-client: py-deps ui-deps
	@bash scripts/gen-client.sh

check-client: py-deps ui-deps
	@bash scripts/gen-client.sh --check

# ---- container image --------------------------------------------------------------------
# `make image` builds the Dockerfile; LOCAL_BASE=1 (root) first makes the base images locally
# (scripts/build-base-images.sh: no registry needed) and builds with the host's network.
DOCKYARD_IMAGE ?= dockyard:latest
image:
	@if [ "$${LOCAL_BASE:-0}" = 1 ]; then \
	  bash scripts/build-base-images.sh >/dev/null && \
	  DOCKER_BUILDKIT=0 docker build --network host \
	    --build-arg BASE_IMAGE=dockyard-test/bookworm:base \
	    --build-arg NODE_IMAGE=dockyard-test/node:20 -t $(DOCKYARD_IMAGE) . ; \
	else docker build -t $(DOCKYARD_IMAGE) . ; fi

# ---- tests ------------------------------------------------------------------------------
test-env:
	@bash scripts/test-env.sh up

test-env-down:
	@bash scripts/test-env.sh down

test-ui: ui-deps
	@cd frontend && npm run --silent typecheck && npm test --silent

# Browser tests run in their own process: Playwright's sync API keeps an event loop
# of its own that must not share a process with the asyncio suites.
test-py: py-deps
	@source $(TEST_ENV) && $(UV) run --frozen pytest tests/unit tests/integration $(PYTEST_ARGS)
	@source $(TEST_ENV) && $(UV) run --frozen pytest tests/e2e $(PYTEST_ARGS)

test: deps test-env lint typecheck check-client test-ui build-ui test-py

bench: deps test-env build-ui
	@source $(TEST_ENV) && $(UV) run --frozen python bench/run_all.py

clean:
	rm -rf .venv frontend/node_modules src/dockyard/static .mypy_cache .ruff_cache .pytest_cache test-artifacts
