# flowctl (docs/flowctl.md) and its benchmark; included by the main Makefile.
#
#   make bench-deploy     prefect deploy --all vs flowctl deploy: 300 generated deployments into
#                         fresh local servers, direct and through a 50 ms latency proxy
#                         (benchmarks/README.md, "bench-deploy"); not part of `make test`.
BENCH_DEPLOY_ARGS ?=

.PHONY: bench-deploy

bench-deploy: setup ## prefect deploy vs flowctl deploy, 300 deployments, direct and via 50 ms proxy
	$(BIN)/python benchmarks/bench_deploy.py $(BENCH_DEPLOY_ARGS)
