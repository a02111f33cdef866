# Deployments, work pools, schedules and Kubernetes manifests (included by the main Makefile).
# ENV picks the Prefect environment, i.e. the values file deployments/$(ENV).env (local, dev, prod);
# PROJECT picks deployments/$(PROJECT)/prefect.yaml, or every project with PROJECT=all.
# The Prefect API is the one your Prefect profile or PREFECT_API_URL points at.
ENV ?= local
PROJECT ?= all
# the infrastructure a local process worker serves: dev (FLOWLIB_WORK_POOL_DEV) or prod
INFRA ?= dev
SCHEDULE_PICTURE ?= deployments/schedule.svg
DEPLOY_CLI = $(BIN)/python -m flowctl.deployments

.PHONY: deploy deploy-check-env work-pools worker schedule-check schedule-propose schedule-write \
	schedule-picture render-job worker-manifests

deploy: $(STAMP) ## prefect deploy --all per project (ENV=local|dev|prod PROJECT=all|sales|finance)
	$(DEPLOY_CLI) deploy --env $(ENV) --project $(PROJECT)

deploy-check-env: $(STAMP) ## Check deployments/<env>.env sets every {{ $VAR }} of the project files
	$(DEPLOY_CLI) check-env --env $(ENV) --project $(PROJECT)

work-pools: $(STAMP) ## Create/update the dev and prod pools of ENV (kubernetes: infra/work-pool/, pinned per pool)
	$(DEPLOY_CLI) work-pool --env $(ENV)

worker: $(STAMP) ## Run a process worker here for a local pool (INFRA=dev|prod; sample-API demo tokens)
	$(BIN)/python -m devtools.worker --env $(ENV) --infra $(INFRA)

schedule-check: $(STAMP) ## Fail if two starts on one source API (legacy or new) are < 15 min apart
	$(DEPLOY_CLI) schedule-check

schedule-propose: $(STAMP) ## Print the generator's staggered slot for every flow
	$(DEPLOY_CLI) schedule-propose

schedule-write: $(STAMP) ## Write the generator's slots into the prefect.yaml files
	$(DEPLOY_CLI) schedule-propose --write

schedule-picture: $(STAMP) ## Draw a week of starts per source API (deployments/schedule.svg)
	$(DEPLOY_CLI) schedule-picture --out $(SCHEDULE_PICTURE)

render-job: $(STAMP) ## Print one deployment's Kubernetes Job (DEPLOYMENT=sales/products-snapshot ENV=dev)
	$(DEPLOY_CLI) render-job $(DEPLOYMENT) --env $(if $(filter local,$(ENV)),dev,$(ENV))

worker-manifests: $(STAMP) ## Print both workers' Kubernetes objects, dev and prod infra (ENV=dev|prod), for kubectl apply -f -
	@$(DEPLOY_CLI) worker-manifests --env $(if $(filter local,$(ENV)),dev,$(ENV))
