"""Run Prefect's own CLI for deployments and work pools: the commands a user types, unchanged.

``deploy_project`` is ``prefect --no-prompt deploy --all --prefect-file
deployments/<project>/prefect.yaml`` from the repository root, with one Prefect environment's
variables; ``ensure_work_pool`` is ``prefect work-pool create NAME --type TYPE
[--base-job-template FILE] --overwrite``. Both check first what would otherwise fail late or
silently, and raise with the command's output when it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from flowctl.deployments.envfile import check_vars, env_file_path, load_env_file
from flowctl.deployments.prefect_yaml import prefect_file, project_files, required_vars
from flowlib import REPO_ROOT

KUBERNETES_TEMPLATE = REPO_ROOT / "infra" / "work-pool" / "kubernetes-base-job-template.json"
WORK_POOL_VAR = "FLOWLIB_WORK_POOL"
WORK_POOL_TYPE_VAR = "FLOWLIB_WORK_POOL_TYPE"


class DeployError(RuntimeError):
    """A Prefect CLI command failed; the message holds the command and the end of its output."""


def _run(
    args: Sequence[str], env: Mapping[str, str], stream: bool, timeout: float, what: str
) -> str:
    cmd = [prefect_cli(), *args]
    try:
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=None if stream else subprocess.PIPE,
            stderr=None if stream else subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DeployError(f"{what}: `{' '.join(cmd)}` took longer than {timeout:.0f}s") from exc
    output = proc.stdout or ""
    if proc.returncode != 0:
        raise DeployError(
            f"{what}: `{' '.join(cmd)}` exited with {proc.returncode}.\n{output[-4000:]}"
        )
    return output


def deploy_env(
    env: Mapping[str, str], server_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment the CLI runs in: the server's (or this process's), then ``env`` on top."""
    return {**(os.environ if server_env is None else server_env), **env}


def deploy_project(
    project: str,
    env: Mapping[str, str],
    server_env: Mapping[str, str] | None = None,
    *,
    check: bool = True,
    stream: bool = False,
    timeout: float = 900,
) -> str:
    """Register every deployment of one project through ``prefect deploy --all`` (the real CLI).

    Args:
        project: The project, i.e. ``deployments/<project>/prefect.yaml``.
        env: The Prefect environment's variables (``load_env_file(...)``), plus any overrides.
        server_env: The environment that selects the Prefect API (``PrefectServer.env()``);
            default: this process's environment (its profile or ``PREFECT_API_URL``).
        check: Fail before running the CLI when a ``{{ $VAR }}`` of the file is unset or empty
            (the file's own build step fails the same way, after the CLI has started).
        stream: Let the CLI print to this terminal instead of capturing its output.
        timeout: Seconds before the CLI is stopped.

    Returns:
        The CLI's output (empty when streamed).

    Raises:
        MissingVariablesError: ``check`` found unset variables.
        DeployError: The CLI failed; the message holds its output.
    """
    path = prefect_file(project)
    full_env = deploy_env(env, server_env)
    if check:
        check_vars(required_vars(path), full_env, str(path.relative_to(REPO_ROOT)))
    args = ["--no-prompt", "deploy", "--all", "--prefect-file", str(path.relative_to(REPO_ROOT))]
    return _run(args, full_env, stream, timeout, f"deploy {project}")


def ensure_work_pool(
    name: str,
    type: str,
    template_path: str | Path | None = None,
    server_env: Mapping[str, str] | None = None,
    *,
    stream: bool = False,
    timeout: float = 300,
) -> str:
    """Create a work pool, or update it to the given base job template (idempotent).

    Args:
        name: The pool's name (``FLOWLIB_WORK_POOL`` of the environment).
        type: The worker type: ``kubernetes`` in dev and prod, ``process`` locally and in tests.
        template_path: A base job template JSON (``infra/work-pool/...``); ``None`` keeps
            Prefect's default template of the type.
        server_env: The environment that selects the Prefect API (default: this process's).
        stream: Let the CLI print to this terminal instead of capturing its output.
        timeout: Seconds before the CLI is stopped.

    Returns:
        The CLI's output (empty when streamed).
    """
    args = ["work-pool", "create", name, "--type", type, "--overwrite"]
    if template_path is not None:
        args += ["--base-job-template", str(template_path)]
    env = dict(os.environ if server_env is None else server_env)
    return _run(args, env, stream, timeout, f"work pool {name}")


def ensure_infra_work_pools(
    values: Mapping[str, str],
    server_env: Mapping[str, str] | None = None,
    *,
    where: str = "the env file",
    stream: bool = False,
) -> list[str]:
    """Create or update an environment's two pools, dev and prod infrastructure (idempotent).

    Kubernetes pools get the reviewed template pinned to their infrastructure
    (:func:`flowctl.deployments.jobs.pool_job_template`: ``FLOWLIB_INFRA_ENV``, namespace, secret,
    pull policy from ``FLOWLIB_IMAGE``); process pools get Prefect's default template, and their
    worker sets ``FLOWLIB_INFRA_ENV`` (``make worker ENV=local INFRA=dev|prod``).

    Returns:
        The pools' names, dev first.
    """
    from flowctl.deployments import jobs

    check_vars([WORK_POOL_TYPE_VAR], values, where)
    pool_type = values[WORK_POOL_TYPE_VAR]
    kubernetes = pool_type == "kubernetes"
    if kubernetes:
        check_vars([jobs.IMAGE_VAR], values, where)
    pools = jobs.infra_pools(values, where, kubernetes=kubernetes)
    for pool in pools:
        if not kubernetes:
            ensure_work_pool(pool.name, pool_type, None, server_env, stream=stream)
            continue
        template = jobs.pool_job_template(pool, values[jobs.IMAGE_VAR])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{pool.name}.json"
            path.write_text(json.dumps(template, indent=2), encoding="utf-8")
            ensure_work_pool(pool.name, pool_type, path, server_env, stream=stream)
    return [p.name for p in pools]


def pool_template(pool_type: str) -> Path | None:
    """The base job template this repository keeps for a worker type (``None``: the default)."""
    return KUBERNETES_TEMPLATE if pool_type == "kubernetes" else None


def load_environment(env_name: str) -> dict[str, str]:
    """``deployments/<env_name>.env`` loaded from the repository root."""
    return load_env_file(env_file_path(env_name), cwd=REPO_ROOT)


def selected_projects(project: str | None) -> list[str]:
    """One project, or every project with a ``prefect.yaml`` when ``project`` is empty/``all``."""
    files = project_files()
    if not project or project == "all":
        return list(files)
    if project not in files:
        raise ValueError(f"no deployments/{project}/prefect.yaml; projects: {', '.join(files)}")
    return [project]


def prefect_cli() -> str:
    """The ``prefect`` command of the running interpreter's venv."""
    path = Path(sys.executable).parent / "prefect"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make setup` to install the package.")
    return str(path)
