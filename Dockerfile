# One image for every flow of flowlib. Build it with `make image` (buildah, local Debian base) or,
# anywhere with Docker BuildKit (Docker >= 23) or buildah:
#
#   docker build -t flowlib:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg GIT_COMMIT="$(git rev-parse HEAD)" \
#     [--build-arg CONSTRAINTS=constraints/prefect2.txt] \
#     [--secret id=pipcert,src=/path/to/corporate-ca-bundle.pem] .
#
# The optional `pipcert` secret is a CA bundle for pip behind a TLS-intercepting proxy: it is
# mounted only while pip runs and never lands in a layer. See docs/image.md.
#
# Layout: /opt/venv (the locked dependencies; flowlib installed editable), /opt/flowlib (the code;
# deployments `set_working_directory: /opt/flowlib`), user 10001, no secret inside.
# Few instructions after the big layers on purpose: with buildah's vfs driver every step copies
# the whole image.

ARG BASE_IMAGE=python:3.11-slim

# --- requirements: the lock and the runtime dependencies of pyproject.toml ---------------------
# Only the dependency list goes on, so bumping the version or editing another section of
# pyproject.toml keeps the (slow) dependency layer cached.
FROM ${BASE_IMAGE} AS requirements
# The lock of the Prefect line to install: constraints/prefect2.txt, constraints/prefect3.txt.
ARG CONSTRAINTS=constraints/prefect2.txt
COPY pyproject.toml ${CONSTRAINTS} /tmp/in/
RUN mkdir /tmp/req \
    && mv "/tmp/in/$(basename "${CONSTRAINTS}")" /tmp/req/constraints.txt \
    && python3 -c "import tomllib; deps = tomllib.load(open('/tmp/in/pyproject.toml', 'rb'))['project']['dependencies']; print(*sorted(deps), sep=chr(10))" > /tmp/req/requirements.txt

# --- deps: /opt/venv with the locked dependencies, and nothing of the code ---------------------
FROM ${BASE_IMAGE} AS deps
COPY --from=requirements /tmp/req/ /tmp/req/
RUN --mount=type=secret,id=pipcert,required=false \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet -c /tmp/req/constraints.txt -r /tmp/req/requirements.txt

# --- source: the runtime layer only (flowlib, flows, tasks, and the migration manifests the ------
# fail-back reads); operations (flowctl) and test support (devtools) stay out of the image.
FROM scratch AS source
COPY pyproject.toml README.md /
COPY flowlib /flowlib
COPY flows /flows
COPY tasks /tasks
COPY migration /migration

# --- code: flowlib installed editable, without dependencies, into /stage ---------------------
# The [project.scripts] entry (flowctl, an operator tool) is dropped first: the image has no
# flowctl. pip --root /stage puts what it adds for flowlib (the path hook pointing at
# /opt/flowlib, the dist-info) under /stage/opt/venv: the same files as in any venv at /opt/venv. So
# this runs on the small base, and a code change rebuilds a layer of about a megabyte, never the
# dependency layer. Byte-compiled here: the runtime user cannot write __pycache__.
FROM ${BASE_IMAGE} AS code
COPY --from=source / /opt/flowlib/
RUN --mount=type=secret,id=pipcert,required=false \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore \
    && sed -i '/^\[project.scripts\]/,/^$/d' /opt/flowlib/pyproject.toml \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet --no-deps --no-warn-script-location \
       --root /stage --editable /opt/flowlib \
    && rm -rf /opt/flowlib/build \
    && python3 -m compileall -q --invalidation-mode checked-hash /opt/flowlib \
    && cp -a /opt/flowlib /stage/opt/flowlib

# --- runtime -----------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --gid 10001 flowlib \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/flowlib \
       --shell /usr/sbin/nologin flowlib
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    HOME=/home/flowlib \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ARROW_DEFAULT_MEMORY_POOL=system
WORKDIR /opt/flowlib
# Numeric, so Kubernetes' runAsNonRoot can verify it. Code and venv stay root-owned (read-only).
USER 10001:10001
CMD ["prefect", "version"]
ARG VERSION=0.0.0+unknown
ARG GIT_COMMIT=unknown
ARG CONSTRAINTS=constraints/prefect2.txt
# Dependencies, then code: a code-only release changes only the last, small layer.
COPY --from=deps /opt/venv /opt/venv
COPY --from=code /stage/ /
# `make image` also passes these as --label flags (buildah's layer cache ignores ARG values here).
LABEL org.opencontainers.image.title="flowlib" \
      org.opencontainers.image.description="Prefect flow library: every flow of flowlib in one image" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      io.flowlib.constraints="${CONSTRAINTS}"
