# flowctl (docs/flowctl.md) and its benchmark; included by the main Makefile.
#
#   make bench-deploy     prefect deploy --all vs flowctl deploy: 300 generated deployments into
#                         fresh local servers, direct and through a 50 ms latency proxy
#                         (benchmarks/README.md, "bench-deploy"); not part of `make test`.
#                         DB=postgres: the servers on PostgreSQL (make postgres-tools).
BENCH_DEPLOY_ARGS ?=
DB ?= sqlite

.PHONY: bench-deploy

bench-deploy: setup $(if $(filter postgres,$(DB)),postgres-tools) ## prefect deploy vs flowctl deploy, 300 deployments, direct and via 50 ms proxy (DB=sqlite|postgres)
	$(BIN)/python benchmarks/bench_deploy.py --db $(DB) $(BENCH_DEPLOY_ARGS)
