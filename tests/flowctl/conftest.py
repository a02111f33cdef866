"""Copies of the project files to edit per test, values files, and the flowctl runner."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from prefect.flows import load_flow_from_entrypoint
from typer.testing import CliRunner

from devtools.services import REPO_ROOT
from flowctl.cli import app
from flowctl.deployments import load_environment, project_files

PROCESS_POOL = "flowctl-test-process"
K8S_POOL = "flowctl-test-k8s"


def flowctl(*args: str, input: str | None = None) -> Result:
    """Run ``flowctl ARGS`` in this process (the session server is the active API)."""
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def api(call: Callable[[Any], Any]) -> Any:
    """Run one async client call against the active API."""
    from prefect.client.orchestration import get_client

    async def run() -> Any:
        async with get_client() as client:
            return await call(client)

    return asyncio.run(run())


@functools.cache
def flow_name(entrypoint: str) -> str:
    """The ``@flow`` name behind an entrypoint (relative to the repository root)."""
    path, _, function = entrypoint.rpartition(":")
    flow = load_flow_from_entrypoint(f"{REPO_ROOT / path}:{function}", use_placeholder_flow=False)
    return str(flow.name)


@dataclass
class Files:
    """Copies of every project's prefect.yaml, their deployments renamed with a suffix."""

    root: Path
    paths: dict[str, Path]
    suffix: str
    deployments: dict[str, tuple[str, str]]  # repository name → (project, entrypoint)

    def project_of(self, deployment: str) -> str:
        """The project whose file holds a deployment (repository name)."""
        return self.deployments[deployment][0]

    def names(self, *projects: str) -> list[str]:
        """The repository names of the deployments of some projects (default: all), sorted."""
        return sorted(n for n, (p, _) in self.deployments.items() if not projects or p in projects)

    def each(self, *projects: str) -> list[str]:
        """``--flow NAME`` for every deployment of some projects: selects them one by one (so
        ``diff`` does not list what other tests left on the shared server)."""
        return [a for d in self.names(*projects) for a in ("--flow", self.name(d))]

    def full_name(self, deployment: str) -> str:
        """``<flow name>/<renamed deployment>``, the flow loaded from the entrypoint."""
        return f"{flow_name(self.deployments[deployment][1])}/{self.name(deployment)}"

    def args(self, *projects: str) -> list[str]:
        """``--prefect-file`` options for the given projects (default: all)."""
        chosen = projects or tuple(self.paths)
        return [a for p in chosen for a in ("--prefect-file", str(self.paths[p]))]

    def name(self, deployment: str) -> str:
        """The renamed deployment, e.g. ``products-snapshot-<suffix>``."""
        return f"{deployment}-{self.suffix}"

    def edit(self, project: str, old: str, new: str) -> None:
        """Replace text in one copy (exactly once)."""
        path = self.paths[project]
        text = path.read_text()
        assert text.count(old) == 1, (old, text.count(old))
        path.write_text(text.replace(old, new))


RECORD_DECIDES = "  # no target_env: each run asks its phase record (docs/cutover.md)\n"


def as_plain_flows(text: str) -> str:
    """The copies are flows not under migration (renamed: no manifest lists them), so they
    state their lake as such flows do: ``target_env: dev``."""
    text = text.replace(
        f"    parameters: {{}}{RECORD_DECIDES}", "    parameters:\n      target_env: dev\n"
    )
    return text.replace(
        f"    parameters:{RECORD_DECIDES}", "    parameters:\n      target_env: dev\n"
    )


@pytest.fixture
def files(tmp_path: Path, request: pytest.FixtureRequest) -> Files:
    suffix = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:6]
    paths = {}
    deployments = {}
    for project, source in project_files().items():
        for dep in yaml.safe_load(source.read_text())["deployments"]:
            deployments[dep["name"]] = (project, dep["entrypoint"])
        copy = tmp_path / "deployments" / project / "prefect.yaml"
        copy.parent.mkdir(parents=True)
        shutil.copy(source, copy)
        text = re.sub(r"^(  - name: )(\S+)$", rf"\1\2-{suffix}", copy.read_text(), flags=re.M)
        copy.write_text(as_plain_flows(text))
        paths[project] = copy
    return Files(root=tmp_path, paths=paths, suffix=suffix, deployments=deployments)


def write_env(path: Path, base: str = "local", **overrides: str | None) -> Path:
    """A values file: ``deployments/<base>.env`` resolved, with overrides (``None`` drops)."""
    values: dict[str, str | None] = {**load_environment(base), **overrides}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items() if v is not None))
    return path


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    """The local values with this suite's process pool."""
    return write_env(tmp_path / "test.env", FLOWLIB_WORK_POOL=PROCESS_POOL)
