# Container image of flowlib: Dockerfile, infra/docker/, docs/image.md.
# Included by the main Makefile (`-include make/*.mk`); `make test` runs image-smoke (and so image).
#
#   make image            build localhost/flowlib:<version> with buildah (tools and base as needed)
#   make image-smoke      run a flow inside the image against the sample API, into a temp lake
#   make image-release    smoke, then tag :<version> and :<major.minor>; push them to IMAGE_REGISTRY
#                         (dev follows :<major.minor>; prod names :<version> in prod.env: docs/image.md)
#   make image-clean      drop the images, the cached layers and the local base (a cold start)

IMAGE_NAME ?= flowlib
# A registry prefix such as registry.example.com/data. `localhost` keeps the images local.
IMAGE_REGISTRY ?= localhost
IMAGE_LOCAL_BASE := localhost/flowlib-base:bookworm
# A normal base works too where a registry is reachable: make image IMAGE_BASE=python:3.11-slim
IMAGE_BASE ?= $(IMAGE_LOCAL_BASE)
# vfs + chroot: what works without a container engine or overlay mounts (docs/image.md).
BUILDAH ?= buildah --storage-driver vfs
IMAGE_ISOLATION ?= chroot
# The CA bundle this machine's pip trusts (pip config: global.cert), passed as the pipcert secret.
IMAGE_PIP_CERT ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
IMAGE_BUILD_ARGS ?=
IMAGE_SMOKE_ARGS ?=
# Extra `buildah push` flags, e.g. --tls-verify=false for a plain-HTTP test registry.
IMAGE_PUSH_FLAGS ?=
IMAGE_PREFECT := $(or $(PREFECT),2)
IMAGE_CONSTRAINTS ?= $(or $(CONSTRAINTS),constraints/prefect$(IMAGE_PREFECT).txt)
IMAGE_PYTHON ?= $(if $(BIN),$(BIN)/python,python3)

# Evaluated once, on first use (not on every make invocation).
IMAGE_VERSION = $(eval IMAGE_VERSION := $(shell python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])"))$(IMAGE_VERSION)
# The commit, with -dirty when what goes into the image differs from it.
IMAGE_SOURCES := Dockerfile .dockerignore pyproject.toml README.md constraints flowlib flows tasks migration
IMAGE_GIT_COMMIT = $(eval IMAGE_GIT_COMMIT := $(shell c=$$(git rev-parse HEAD 2>/dev/null || echo unknown); \
	[ "$$c" != unknown ] && [ -n "$$(git status --porcelain -- $(IMAGE_SOURCES) 2>/dev/null)" ] && c="$$c-dirty"; echo $$c))$(IMAGE_GIT_COMMIT)
# Prefect 2 images are flowlib:<version>; other lines get a suffix: flowlib:<version>-prefect3.
IMAGE_VARIANT := $(if $(filter 2,$(IMAGE_PREFECT)),,-prefect$(IMAGE_PREFECT))
IMAGE_REPO = $(IMAGE_REGISTRY)/$(IMAGE_NAME)
IMAGE_TAG = $(IMAGE_REPO):$(IMAGE_VERSION)$(IMAGE_VARIANT)
IMAGE_MINOR = $(word 1,$(subst ., ,$(IMAGE_VERSION))).$(word 2,$(subst ., ,$(IMAGE_VERSION)))
IMAGE_MOVING_TAG = $(IMAGE_REPO):$(IMAGE_MINOR)$(IMAGE_VARIANT)
_image_comma := ,

.PHONY: image-tools image-base image image-smoke image-release-check image-release image-clean

image-tools: ## Install buildah and debootstrap when missing (apt-get; idempotent)
	@bash infra/docker/ensure-tools.sh

image-base: image-tools ## Build the local Debian base with debootstrap (cached in buildah's storage)
	@if [ "$(IMAGE_BASE)" = "$(IMAGE_LOCAL_BASE)" ]; then \
		BUILDAH="$(BUILDAH)" bash infra/docker/build-base.sh $(IMAGE_LOCAL_BASE); \
	else echo "image-base: using $(IMAGE_BASE)"; fi

# The --label flags repeat two of the Dockerfile's labels on purpose: buildah 1.28's layer cache
# keys a LABEL step by its unexpanded text, so a cached `LABEL ...=${GIT_COMMIT}` would keep the
# previous commit when only the commit changed. (Each flag is one more step: only these two.)
image: image-base ## Build localhost/flowlib:<version> from the Dockerfile (buildah, vfs, chroot)
	@test -f $(IMAGE_CONSTRAINTS) || { echo "image: no lock $(IMAGE_CONSTRAINTS) (PREFECT=$(IMAGE_PREFECT))"; exit 1; }
	@echo "image: building $(IMAGE_TAG) (revision $(IMAGE_GIT_COMMIT), $(IMAGE_CONSTRAINTS), base $(IMAGE_BASE))"
	@start=$$SECONDS; \
	$(BUILDAH) build --isolation $(IMAGE_ISOLATION) --layers --pull=false \
		$(if $(IMAGE_PIP_CERT),--secret id=pipcert$(_image_comma)src=$(IMAGE_PIP_CERT)) \
		--build-arg BASE_IMAGE=$(IMAGE_BASE) \
		--build-arg CONSTRAINTS=$(IMAGE_CONSTRAINTS) \
		--build-arg VERSION=$(IMAGE_VERSION) \
		--build-arg GIT_COMMIT=$(IMAGE_GIT_COMMIT) \
		--label org.opencontainers.image.version=$(IMAGE_VERSION) \
		--label org.opencontainers.image.revision=$(IMAGE_GIT_COMMIT) \
		$(IMAGE_BUILD_ARGS) -f Dockerfile -t $(IMAGE_TAG) . && \
	echo "image: $(IMAGE_TAG) built in $$((SECONDS - start)) s, $$($(BUILDAH) images --format '{{.Size}}' $(IMAGE_TAG))"

image-smoke: image $(STAMP) ## Run a flow in the image against the sample API into a temp lake; print peak RSS
	$(IMAGE_PYTHON) infra/docker/smoke.py --image $(IMAGE_TAG) --version $(IMAGE_VERSION) \
		--buildah "$(BUILDAH)" --isolation $(IMAGE_ISOLATION) \
		$(if $(IMAGE_PIP_CERT),--pip-cert $(IMAGE_PIP_CERT)) $(IMAGE_SMOKE_ARGS)

# A release is traceable: its revision label must name a commit that holds exactly what it ships.
image-release-check:
	@case "$(IMAGE_GIT_COMMIT)" in unknown|*-dirty) \
		if [ "$(ALLOW_DIRTY)" != 1 ]; then \
			echo "image-release: revision is $(IMAGE_GIT_COMMIT): commit first (or ALLOW_DIRTY=1 for a trial)"; exit 1; \
		fi;; esac

image-release: image-release-check image-smoke ## Smoke, tag :<version> and the moving :<major.minor>; push both unless IMAGE_REGISTRY=localhost
	$(BUILDAH) tag $(IMAGE_TAG) $(IMAGE_MOVING_TAG)
	@if [ "$(IMAGE_REGISTRY)" = localhost ]; then \
		echo "image-release: tagged $(IMAGE_TAG) and $(IMAGE_MOVING_TAG) locally;"; \
		echo "  set IMAGE_REGISTRY=<registry>/<path> (after buildah login) to push them"; \
	else \
		$(BUILDAH) push $(IMAGE_PUSH_FLAGS) $(IMAGE_TAG) docker://$(IMAGE_TAG) && \
		$(BUILDAH) push $(IMAGE_PUSH_FLAGS) $(IMAGE_MOVING_TAG) docker://$(IMAGE_MOVING_TAG) && \
		echo "image-release: pushed $(IMAGE_TAG) and moved $(IMAGE_MOVING_TAG) to it;" && \
		echo "  dev/local deployments on :$(IMAGE_MINOR)$(IMAGE_VARIANT) (pulled Always) run it from their next run;" && \
		echo "  prod: set FLOWLIB_IMAGE=$(IMAGE_TAG) in deployments/prod.env, then make deploy ENV=prod (docs/image.md)"; \
	fi

image-clean: ## Remove the flowlib images, their cached layers and the local base (next build is cold)
	-$(BUILDAH) rmi --force $$($(BUILDAH) images --format '{{.Name}}:{{.Tag}}' | grep -E '/($(IMAGE_NAME)|flowlib-base):' ) 2>/dev/null
	-$(BUILDAH) rmi --prune >/dev/null 2>&1

TEST_EXTRA += image-smoke
