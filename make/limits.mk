# Source APIs' server-side limits (docs/sources.md, "Limits"); included by the main Makefile.
#
#   make bench-source-slot   what one slot of a source's Prefect global concurrency limit costs
#                            per request, against the process-local limit in the same run
#                            (benchmarks/README.md, "bench-source-slot"); not part of `make test`.
BENCH_SOURCE_SLOT_ARGS ?=

.PHONY: bench-source-slot

bench-source-slot: setup ## Per-request cost of a source's server-side slot vs the local limit
	$(BIN)/python benchmarks/bench_source_slot.py $(BENCH_SOURCE_SLOT_ARGS)
