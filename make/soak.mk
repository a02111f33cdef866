# The migration soak: docs/soak.md. Included by the main Makefile (`-include make/*.mk`).
#
#   make soak [SEED=n] [SOAK_SLOT_SECONDS=30] [LAKE=azurite|local] [FLOWS=a,b]
#                         the full lifecycle of sales/products_snapshot and
#                         finance/transactions_daily (lakes in Azurite by default) on real parts
#                         with every fault of the seed's schedule, then the invariant checker's
#                         one line (exit 1 on any violation); at most ~20 minutes
#   make soak-short       the short version (products_snapshot on local lakes, 6 slots, two
#                         faults); `make test` runs it as a test (tests/devtools/test_soak.py)
# SOAK_DIR=path keeps the journal, lakes and logs there (default: a temp folder, kept on failure).

SEED ?= 1
SOAK_SLOT_SECONDS ?=
SOAK_DIR ?=
LAKE ?=
FLOWS ?=

SOAK_ARGS = --seed $(SEED) $(if $(SOAK_SLOT_SECONDS),--slot-seconds $(SOAK_SLOT_SECONDS),) \
	$(if $(SOAK_DIR),--workdir $(SOAK_DIR),) $(if $(LAKE),--lake $(LAKE),) \
	$(if $(FLOWS),--flows $(FLOWS),)

.PHONY: soak soak-short

soak: setup ## Migration soak with seeded faults and an invariant checker (SEED=n replays; ~20 min)
	$(BIN)/python -m devtools.soak $(SOAK_ARGS)

soak-short: setup ## The short soak (a few slots, two faults; what `make test` runs)
	$(BIN)/python -m devtools.soak --short $(SOAK_ARGS)
