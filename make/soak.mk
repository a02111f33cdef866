# The migration soak: docs/soak.md. Included by the main Makefile (`-include make/*.mk`).
#
#   make soak [SEED=n] [SOAK_SLOT_SECONDS=30]   the full lifecycle of sales/products_snapshot on
#                         real parts with every fault of the seed's schedule, then the invariant
#                         checker's one line (exit 1 on any violation); at most ~20 minutes
#   make soak-short       the short version (6 slots, two faults); `make test` runs it as a test
#                         (tests/devtools/test_soak.py)
# SOAK_DIR=path keeps the journal, lakes and logs there (default: a temp folder, kept on failure).

SEED ?= 1
SOAK_SLOT_SECONDS ?=
SOAK_DIR ?=

.PHONY: soak soak-short

soak: setup ## Migration soak with seeded faults and an invariant checker (SEED=n replays; ~20 min)
	$(BIN)/python -m devtools.soak --seed $(SEED) $(if $(SOAK_SLOT_SECONDS),--slot-seconds $(SOAK_SLOT_SECONDS),) $(if $(SOAK_DIR),--workdir $(SOAK_DIR),)

soak-short: setup ## The short soak (a few slots, two faults; what `make test` runs)
	$(BIN)/python -m devtools.soak --short --seed $(SEED) $(if $(SOAK_DIR),--workdir $(SOAK_DIR),)
