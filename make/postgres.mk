# The Postgres lane: the tests that use a Prefect server, against a server backed by PostgreSQL
# (what production runs) instead of the embedded SQLite. Included by the main Makefile.
#
#   make postgres-tools   install Debian's postgresql package when initdb/pg_ctl are missing
#   make test-postgres    pytest -m server with FLOWLIB_TEST_DB=postgres: every test that uses a
#                         Prefect server (tests/conftest.py marks them), each pytest worker with
#                         its own PostgreSQL cluster on a free port in a temp directory
#
#   make test-postgres-core  the same, on the files the issue names: deploys, cutover, fail-back
#                         (hook/watcher race included), validation records, flow runs
#
# `make test` runs the core lane on one Prefect line, POSTGRES_LINE (2, the line users run), to
# stay in CI's time budget; the whole lane is `make test-postgres`. SQLite stays the default
# everywhere else (`make demo`, `make pytest`).
POSTGRES_LINE ?= 2
POSTGRES_PYTEST_ARGS ?=

POSTGRES_CORE ?= tests/flowctl/test_same_as_prefect_deploy.py tests/flowctl/test_migrate.py \
	tests/flowlib/migration/test_one_writer.py tests/flowlib/migration/test_failback_e2e.py \
	tests/flowlib/migration/test_prefect_integration.py tests/flows/migration \
	tests/flows/sales/test_products_snapshot.py tests/flows/test_dual_run.py

.PHONY: postgres-tools test-postgres test-postgres-core

postgres-tools: ## Install Debian's postgresql when initdb/pg_ctl are missing (apt-get; idempotent)
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1; then \
		exit 0; \
	fi; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	else echo "postgres-tools: PostgreSQL missing and not root (no sudo): apt-get install postgresql" >&2; exit 1; fi; \
	command -v apt-get >/dev/null 2>&1 || { \
		echo "postgres-tools: PostgreSQL missing and no apt-get: install PostgreSQL, then set FLOWLIB_POSTGRES_BIN to its bin directory" >&2; exit 1; }; \
	echo "postgres-tools: installing postgresql (Debian)"; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq postgresql >/dev/null && \
	ls -d /usr/lib/postgresql/*/bin

test-postgres: postgres-tools setup ## The tests that use a Prefect server, on PostgreSQL (pytest -m server)
	FLOWLIB_TEST_DB=postgres $(BIN)/pytest -m server -n 2 --dist loadfile $(POSTGRES_PYTEST_ARGS)

test-postgres-core: postgres-tools setup ## The Postgres lane on its core files (what `make test` runs)
	FLOWLIB_TEST_DB=postgres $(BIN)/pytest -m server -n 2 --dist loadfile $(POSTGRES_PYTEST_ARGS) $(POSTGRES_CORE)

TEST_EXTRA += $(if $(filter $(POSTGRES_LINE),$(PREFECT)),test-postgres-core)
