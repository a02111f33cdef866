# The contributor contract: CI runs `make test`; `make demo` shows the whole story locally.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# The Prefect line: 2 (default, what the users run) or 3. `make test` runs every line in
# PREFECT_LINES, one after the other; `make test PREFECT=3` runs that line only.
PREFECT ?= 2
ifeq ($(origin PREFECT),command line)
PREFECT_LINES ?= $(PREFECT)
else
PREFECT_LINES ?= 2 3
endif
VENV := $(if $(filter 3,$(PREFECT)),.venv3,.venv)
BIN := $(VENV)/bin
CONSTRAINTS := constraints/prefect$(PREFECT).txt
STAMP := $(VENV)/.installed-$(PREFECT)
PYTEST_ARGS ?=
SAMPLE_API_PORT ?= 8765
# Targets that make/*.mk files append to `make test` (e.g. the image smoke run).
TEST_EXTRA :=
-include make/*.mk

.PHONY: help setup lint format test test-line pytest test-unit test-integration demo sample-api bench-ingest bench-validate chromium prometheus clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e ".[ops,dev]"
	rm -f $(VENV)/.installed-*
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.venv-legacy/.stamp: legacy/requirements.lock legacy/setup-venv.sh
	bash legacy/setup-venv.sh
	touch $@

setup: $(STAMP) node_modules/.package-lock.json .venv-legacy/.stamp ## Install everything (venvs, Azurite) from the lock files

chromium: ## Install Debian's chromium (the browser test of the validation artifact; needs root)
	@command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

prometheus: ## Install Debian's prometheus and promtool when missing (the metrics test scrapes flowctl with it; apt-get, root)
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus; }; }

lint: $(STAMP) ## ruff (lint + format check), mypy, and the layers (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-unit: setup ## Offline unit tests (seconds)
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

test-integration: setup prometheus ## Integration tests against real services
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

test: ## The whole suite on Prefect 2, then Prefect 3: lint, unit and integration tests, image
	@set -e; for line in $(PREFECT_LINES); do \
		echo "=== make test-line PREFECT=$$line ==="; \
		$(MAKE) --no-print-directory test-line PREFECT=$$line; \
	done

test-line: setup lint pytest $(TEST_EXTRA) ## The whole suite on one Prefect line (PREFECT=2|3)

pytest: setup prometheus ## Every pytest test (unit and integration), two workers
	$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

demo: setup ## Legacy flows fill the prod lake, migrated flows the dev lake, then validate (UI=1: keep the Prefect UI up until Ctrl-C)
	$(BIN)/python -m devtools.demo $(if $(filter 1,$(UI)),--ui,)

sample-api: $(STAMP) ## Run the sample source APIs in the foreground
	$(BIN)/python -m devtools.sample_api --port $(SAMPLE_API_PORT)

bench-ingest: setup ## Flow vs plain script (and the fixed plain script), 5M and 20M rows
	$(BIN)/python benchmarks/bench_ingest.py

bench-validate: setup ## flowctl validate vs datacompy, 5M rows
	$(BIN)/python benchmarks/bench_validate.py

clean: ## Remove the venvs, node modules and local lakes
	rm -rf $(VENV) .venv-legacy node_modules .lake
