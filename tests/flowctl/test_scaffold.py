"""``flowctl new flow``: a new flow in the house shape lints, passes its own test and deploys.

Each test scaffolds into a copy of the repository (the tracked files), so the checkout is never
touched; the copy is imported first (``PYTHONPATH``), as a clone would be.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devtools.services import REPO_ROOT, PrefectServer

from .conftest import PROCESS_POOL, api, write_env

NEW = "sales/refunds_daily"


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.decode()
    root = tmp_path / "repo"
    for name in filter(None, tracked.split("\0")):
        source = REPO_ROOT / name
        if source.is_file() and not name.startswith(("benchmarks/", "infra/grafana")):
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return root


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, *args], cwd=root, env=full_env, capture_output=True, text=True, timeout=300
    )


def scaffold(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return run(root, "-m", "flowctl", "new", "flow", NEW, "--source", "shop", *extra)


def test_new_flow_writes_four_files_that_lint_and_pass_their_own_test(repo_copy: Path) -> None:
    done = scaffold(repo_copy)
    assert done.returncode == 0, done.stderr
    module = repo_copy / "flows/sales/refunds_daily.py"
    test = repo_copy / "tests/flows/sales/test_refunds_daily.py"
    assert module.is_file() and test.is_file()
    for path in ("flows/sales/refunds_daily.py", "deployments/sales/prefect.yaml"):
        assert f"wrote {path}" in done.stdout

    ruff = Path(sys.executable).parent / "ruff"
    for args in (["check"], ["format", "--check"]):
        lint = subprocess.run(
            [str(ruff), *args, str(module), str(test)], cwd=repo_copy, capture_output=True
        )
        assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()
    own = run(repo_copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test))
    assert own.returncode == 0 and "2 passed" in own.stdout, own.stdout + own.stderr

    # the same shape as a hand-written flow: parameters, hooks, run_cli
    source = module.read_text()
    for needle in (
        "on_failure=FAILURE_HOOKS",
        "on_crashed=FAILURE_HOOKS",
        "target_env: TargetEnv | None = None",
        "sample: bool = False",
        "raise SystemExit(run_cli(refunds_daily))",
        "from flows.sales.sources import SHOP",
    ):
        assert needle in source

    deployments = yaml.safe_load((repo_copy / "deployments/sales/prefect.yaml").read_text())
    entry = deployments["deployments"][-1]
    assert entry["name"] == "refunds-daily"
    assert entry["entrypoint"] == "flows/sales/refunds_daily.py:refunds_daily"
    assert entry["work_pool"] == deployments["deployments"][0]["work_pool"]  # the shared anchor
    assert entry["tags"] == ["project:sales", "source:shop", "phase:shadow"]
    assert entry["schedules"][0]["active"] is True
    assert entry["schedules"][0]["cron"] != "0 4 * * *"  # moved by the generator
    manifest = yaml.safe_load((repo_copy / "migration/sales.yaml").read_text())
    plan = manifest["flows"][-1]
    assert plan["deployment"] == "sales-refunds-daily/refunds-daily"
    assert plan["phase"] == "shadow" and plan["source_api"] == "shop"

    # the repository's own checks accept the result: manifests parse, schedules do not collide
    check = run(repo_copy, "-m", "flowctl.deployments", "schedule-check")
    assert check.returncode == 0, check.stdout + check.stderr
    parsed = run(
        repo_copy,
        "-c",
        "from flowlib.migration.manifest import Manifests; "
        "print(sorted(p.flow for p in Manifests.load().select('sales')))",
    )
    assert "refunds_daily" in parsed.stdout, parsed.stdout + parsed.stderr


def test_a_second_run_and_a_bad_source_change_nothing_and_say_why(repo_copy: Path) -> None:
    before = (repo_copy / "deployments/sales/prefect.yaml").read_text()
    bad = scaffold(repo_copy, "--source", "ledger")
    assert bad.returncode == 2
    assert "flows/sales/sources.py: no SourceSpec(name='ledger'); sources of sales: shop" in (
        " ".join(bad.stderr.split())
    )
    assert (repo_copy / "deployments/sales/prefect.yaml").read_text() == before
    assert not (repo_copy / "flows/sales/refunds_daily.py").exists()

    assert scaffold(repo_copy).returncode == 0
    after = (repo_copy / "deployments/sales/prefect.yaml").read_text()
    again = scaffold(repo_copy)
    assert again.returncode == 2
    assert "refunds_daily.py exists already: nothing was written" in " ".join(again.stderr.split())
    assert (repo_copy / "deployments/sales/prefect.yaml").read_text() == after


@pytest.mark.integration
def test_the_new_flow_deploys_to_a_real_server(
    repo_copy: Path, prefect_api: PrefectServer, tmp_path: Path
) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with contextlib.suppress(ObjectAlreadyExists):
        api(lambda c: c.create_work_pool(WorkPoolCreate(name=PROCESS_POOL, type="process")))
    assert scaffold(repo_copy).returncode == 0
    env_file = write_env(
        tmp_path / "t.env", FLOWLIB_CODE_DIR=str(repo_copy), FLOWLIB_WORK_POOL=PROCESS_POOL
    )
    env = {"PREFECT_API_URL": prefect_api.api_url}
    deployed = run(
        repo_copy,
        "-m",
        "flowctl",
        "deploy",
        "--yes",
        "--project",
        "sales",
        "--flow",
        "refunds_daily",
        "--env-file",
        str(env_file),
        env=env,
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    shown = run(repo_copy, "-m", "flowctl", "status", "--project", "sales", env=env)
    assert "sales-refunds-daily/refunds-daily" in shown.stdout, shown.stdout + shown.stderr
