# flowctl convert's benchmark (docs/convert.md); included by the main Makefile.
#
#   make bench-convert    flowctl convert on a generated 300-file Prefect 1 repository; fails when
#                         it takes a minute or more. Not part of `make test`.
BENCH_CONVERT_ARGS ?=

.PHONY: bench-convert

bench-convert: setup ## flowctl convert on a generated 300-file Prefect 1 repository (< 60 s)
	$(BIN)/python benchmarks/bench_convert.py $(BENCH_CONVERT_ARGS)
