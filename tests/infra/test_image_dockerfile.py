"""The image's build files keep their promises (static: no build here; `make image-smoke` runs it).

Dockerfile: dependencies from the lock before the code, user 10001, code at /opt/flowlib, the
optional pipcert secret on every pip call, OCI labels; .dockerignore; make/image.mk.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions(text: str) -> list[str]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]


def stages(text: str) -> dict[str, list[str]]:
    """Instructions of each named stage."""
    result: dict[str, list[str]] = {}
    current = None
    for ins in instructions(text):
        match = re.match(r"FROM \S+ AS (\S+)", ins, re.I)
        if match:
            current = match.group(1)
            result[current] = []
        elif current is not None:
            result[current].append(ins)
    return result


STAGES = stages(DOCKERFILE)


def load_smoke():
    spec = importlib.util.spec_from_file_location("image_smoke", REPO / "infra/docker/smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_base_image_is_a_build_arg_defaulting_to_python_slim():
    assert instructions(DOCKERFILE)[0] == "ARG BASE_IMAGE=python:3.11-slim"
    assert all(
        ins.startswith(("FROM ${BASE_IMAGE} ", "FROM scratch "))
        for ins in instructions(DOCKERFILE)
        if ins.startswith("FROM ")
    )


def test_runtime_stage_is_last_non_root_and_works_in_opt_flowlib():
    assert list(STAGES)[-1] == "runtime"
    runtime = STAGES["runtime"]
    assert "USER 10001:10001" in runtime
    assert "WORKDIR /opt/flowlib" in runtime
    assert not any(ins.startswith("RUN ") and "pip" in ins for ins in runtime)
    copies = [ins for ins in runtime if ins.startswith("COPY")]
    # dependencies first, code last: a code-only release changes only the last layer
    assert copies == ["COPY --from=deps /opt/venv /opt/venv", "COPY --from=code /stage/ /"]
    assert any("PATH=/opt/venv/bin:$PATH" in ins for ins in runtime if ins.startswith("ENV"))


def test_dependencies_come_from_the_constraints_build_arg_before_any_code():
    assert "ARG CONSTRAINTS=constraints/prefect2.txt" in STAGES["requirements"]
    deps = " ".join(STAGES["deps"])
    assert "-c /tmp/req/constraints.txt -r /tmp/req/requirements.txt" in deps
    # the deps stage sees the dependency list only, never the code
    assert not any(re.search(r"\b(flowlib|flows|tasks|flowctl)\b", ins) for ins in STAGES["deps"])


def test_every_pip_call_takes_the_optional_pipcert_secret_and_no_secret_is_baked_in():
    pip_runs = [
        ins for ins in instructions(DOCKERFILE) if ins.startswith("RUN") and "pip install" in ins
    ]
    assert len(pip_runs) == 2
    for ins in pip_runs:
        assert "--mount=type=secret,id=pipcert,required=false" in ins
        assert "PIP_CERT=/run/secrets/pipcert" in ins
    for ins in instructions(DOCKERFILE):
        if ins.startswith(("ENV", "ARG", "LABEL")):
            assert not re.search(r"TOKEN|SECRET|PASSW|PIP_CERT|CERT=", ins), ins


RUNTIME_LAYER = ("flowlib", "flows", "tasks", "migration")
"""What a flow-run pod needs: the three runtime packages and the migration manifests."""


def test_the_source_stage_copies_the_runtime_layer_and_nothing_else():
    copies = [ins for ins in STAGES["source"] if ins.startswith("COPY")]
    assert copies == [
        "COPY pyproject.toml README.md /",
        *(f"COPY {name} /{name}" for name in RUNTIME_LAYER),
    ]
    # every top-level package is either shipped or named as operations / test support
    packages = {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()}
    assert packages - set(RUNTIME_LAYER) == {"flowctl", "devtools", "legacy"}


def test_the_image_installs_the_runtime_dependencies_only_and_no_flowctl_script():
    requirements = " ".join(STAGES["requirements"])
    assert "['project']['dependencies']" in requirements  # not optional-dependencies
    code = " ".join(STAGES["code"])
    assert "/^\\[project.scripts\\]/,/^$/d" in code  # the flowctl entry point is dropped


def test_oci_labels():
    labels = " ".join(ins for ins in STAGES["runtime"] if ins.startswith("LABEL"))
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert 'org.opencontainers.image.revision="${GIT_COMMIT}"' in labels


def test_dockerignore_keeps_venvs_lakes_caches_and_git_out():
    ignored = set((REPO / ".dockerignore").read_text().split())
    for entry in (
        ".git",
        ".venv*",
        "node_modules",
        ".lake",
        "benchmarks/results",
        "**/__pycache__",
    ):
        assert entry in ignored


def test_make_fragment_builds_with_vfs_and_chroot_and_joins_make_test():
    fragment = (REPO / "make/image.mk").read_text()
    assert "buildah --storage-driver vfs" in fragment
    assert "--isolation $(IMAGE_ISOLATION)" in fragment
    assert "IMAGE_ISOLATION ?= chroot" in fragment
    assert re.search(r"^TEST_EXTRA \+= image-smoke$", fragment, re.M)
    assert re.search(r"^image-smoke: image\b", fragment, re.M)


def test_memory_advice_rounds_peak_times_headroom_up_to_64_mib():
    smoke = load_smoke()
    assert "576Mi" in smoke.memory_advice(345.4, 1.5)
    assert "384Mi" in smoke.memory_advice(240.0, 1.5)


def test_secret_only_certs_are_those_the_image_bundle_lacks(tmp_path):
    smoke = load_smoke()

    def pem(body):
        return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"

    (tmp_path / "etc/ssl/certs").mkdir(parents=True)
    (tmp_path / "etc/ssl/certs/ca-certificates.crt").write_text(pem("AAAA"))
    bundle = tmp_path / "pipcert.pem"
    bundle.write_text(pem("AAAA") + pem("PROXYCA"))
    assert smoke.secret_only_certs(bundle, tmp_path) == ["PROXYCA\n"]
    assert smoke.secret_only_certs(None, tmp_path) == []
