# One image for every flow of flowlib. Build it with `make image` (buildah, local Debian base) or,
# anywhere with Docker BuildKit or buildah:
#
#   docker build -t flowlib:$(VERSION) \
#     --build-arg VERSION=0.1.0 --build-arg GIT_COMMIT=$(git rev-parse HEAD) \
#     [--build-arg CONSTRAINTS=constraints/prefect2.txt] \
#     [--secret id=pipcert,src=/path/to/corporate-ca.pem] .
#
# The optional `pipcert` secret is a CA bundle for pip behind a TLS-intercepting proxy. It is
# mounted only while pip runs and never lands in a layer. See docs/image.md.

ARG BASE_IMAGE=python:3.11-slim

# --- requirements: the runtime dependencies of pyproject.toml, without the package version ----
# Only the dependency list reaches the next stage, so bumping the version or editing other
# sections of pyproject.toml keeps the (slow) dependency layer cached.
FROM ${BASE_IMAGE} AS requirements
COPY pyproject.toml /tmp/pyproject.toml
RUN python3 -c "import tomllib; deps = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']; print(*sorted(deps), sep=chr(10))" > /tmp/requirements.txt

# --- build: /opt/venv with the locked dependencies first, then the code ----------------------
FROM ${BASE_IMAGE} AS build
# The lock of the Prefect line to install: constraints/prefect2.txt, constraints/prefect3.txt.
ARG CONSTRAINTS=constraints/prefect2.txt
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_DEFAULT_TIMEOUT=120
COPY --from=requirements /tmp/requirements.txt /tmp/requirements.txt
COPY ${CONSTRAINTS} /tmp/constraints.txt
RUN --mount=type=secret,id=pipcert,required=false \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --quiet -c /tmp/constraints.txt -r /tmp/requirements.txt

# The code: only what the package ships (see [tool.setuptools.packages.find]).
COPY pyproject.toml README.md /opt/flowlib/
COPY flowlib /opt/flowlib/flowlib
COPY flows /opt/flowlib/flows
COPY tasks /opt/flowlib/tasks
COPY flowctl /opt/flowlib/flowctl
# Editable and without dependencies: the venv points at /opt/flowlib, the one copy of the code
# (deployments run from there: `set_working_directory: /opt/flowlib`). Byte-compiled here
# because the runtime user cannot write __pycache__ next to the sources.
RUN --mount=type=secret,id=pipcert,required=false \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && /opt/venv/bin/pip install --quiet --no-deps --editable /opt/flowlib \
    && rm -rf /opt/flowlib/build \
    && /opt/venv/bin/python -m compileall -q /opt/flowlib \
    && /opt/venv/bin/python -c "import flowlib, flows, tasks, flowctl"

# --- runtime ---------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
RUN groupadd --gid 10001 flowlib \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/flowlib \
       --shell /usr/sbin/nologin flowlib
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/flowlib /opt/flowlib
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    HOME=/home/flowlib \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /opt/flowlib
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
CMD ["prefect", "version"]

# Last, so a new commit or version only rewrites the image config, not a layer.
ARG VERSION=0.0.0+unknown
ARG GIT_COMMIT=unknown
ARG CONSTRAINTS=constraints/prefect2.txt
LABEL org.opencontainers.image.title="flowlib" \
      org.opencontainers.image.description="Prefect flow library: every flow of flowlib in one image" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      io.flowlib.constraints="${CONSTRAINTS}"
