"""The legacy venv, the legacy package's isolation, its schedules and its CLI."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LEGACY_DIR = REPO_ROOT / "legacy"
LEGACY_VENV = REPO_ROOT / ".venv-legacy"
LEGACY_PYTHON = LEGACY_VENV / "bin" / "python"
RUN_PY = LEGACY_DIR / "run.py"
NEW_PACKAGES = {"flowlib", "flows", "tasks"}


def test_legacy_venv_exists() -> None:
    # a missing venv is a failure, never a skip: the dual run cannot be checked without it
    assert LEGACY_PYTHON.exists(), (
        f"{LEGACY_VENV} is missing: run `make setup` (or `bash legacy/setup-venv.sh`) to create it."
    )


def test_legacy_sources_do_not_import_the_new_packages() -> None:
    offenders = []
    for path in sorted(LEGACY_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in NEW_PACKAGES
            ]
    assert not offenders, offenders


def test_setup_script_and_lock_are_consistent() -> None:
    lock = (LEGACY_DIR / "requirements.lock").read_text().splitlines()
    pins = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in lock
        if line and not line.startswith("#")
    }
    assert pins["prefect"] == "1.4.1"
    assert all(pin for pin in pins.values()), "every lock line is pinned with =="
    for top in ("pandas", "pyarrow", "requests", "adlfs", "fsspec", "pendulum", "marshmallow"):
        assert top in pins, f"{top} missing from requirements.lock"
    assert pins["pendulum"].startswith("2."), "prefect 1.4.1 breaks with pendulum 3"
    script = (LEGACY_DIR / "setup-venv.sh").read_text()
    assert "requirements.lock" in script
    assert ".venv-legacy" in script


@pytest.mark.integration
def test_legacy_venv_runs_prefect_1(
    legacy_python: Path, legacy_subprocess_env: dict[str, str]
) -> None:
    code = r"""
import sys, prefect, pandas
from prefect import Flow, Parameter, task, unmapped
assert prefect.__version__ == "1.4.1", prefect.__version__

@task
def add(x, y):
    return x + y

with Flow("smoke") as flow:
    y = Parameter("y", default=1)
    out = add.map([1, 2, 3], unmapped(y))
state = flow.run(parameters={"y": 10}, run_on_schedule=False)
assert state.is_successful(), state
assert state.result[out].result == [11, 12, 13]

import legacy.sales.products_snapshot, legacy.sales.orders_incremental
import legacy.finance.transactions_daily, legacy.finance.fx_rates
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {"flowlib", "flows", "tasks"})
assert not leaked, leaked
print("ok", sys.version_info[:2], pandas.__version__)
"""
    proc = subprocess.run(
        [str(legacy_python), "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=legacy_subprocess_env,
        cwd=REPO_ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ok (3, 11)" in proc.stdout


@pytest.mark.integration
def test_schedules_json_matches_the_modules(
    legacy_python: Path, legacy_subprocess_env: dict[str, str]
) -> None:
    recorded = json.loads((LEGACY_DIR / "schedules.json").read_text())
    proc = subprocess.run(
        [
            str(legacy_python),
            str(LEGACY_DIR / "schedules.py"),
            "--next",
            "2",
            "--after",
            "2026-07-01T00:00:00Z",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=legacy_subprocess_env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    declared = json.loads(proc.stdout)
    next_runs = {entry["flow"]: entry.pop("next_runs") for entry in declared}
    assert declared == recorded

    by_flow = {entry["flow"]: entry for entry in recorded}
    assert set(by_flow) == {
        "products_snapshot",
        "orders_incremental",
        "transactions_daily",
        "fx_rates",
    }
    assert by_flow["products_snapshot"] == {
        "project": "sales",
        "flow": "products_snapshot",
        "module": "legacy.sales.products_snapshot",
        "legacy_name": "sales-products-snapshot",
        "source_api": "shop",
        "kind": "cron",
        "cron": "0 2 * * *",
        "timezone": "UTC",
    }
    orders = by_flow["orders_incremental"]
    assert (orders["kind"], orders["interval_seconds"], orders["timezone"]) == (
        "interval",
        3600,
        "UTC",
    )
    assert orders["anchor"] == "2026-01-01T00:05:00+00:00"
    assert (by_flow["transactions_daily"]["cron"], by_flow["fx_rates"]["cron"]) == (
        "0 3 * * *",
        "0 6 * * 1-5",
    )
    assert by_flow["fx_rates"]["timezone"] == "Europe/Zurich"
    assert {e["legacy_name"] for e in recorded} == {
        "sales-products-snapshot",
        "sales-orders-incremental",
        "finance-transactions-daily",
        "finance-fx-rates",
    }

    # what the clocks actually produce (2026-07-01 is a Wednesday, in Zurich's summer time)
    assert next_runs["products_snapshot"] == ["2026-07-01T02:00:00Z", "2026-07-02T02:00:00Z"]
    assert next_runs["orders_incremental"] == ["2026-07-01T00:05:00Z", "2026-07-01T01:05:00Z"]
    assert next_runs["transactions_daily"] == ["2026-07-01T03:00:00Z", "2026-07-02T03:00:00Z"]
    assert next_runs["fx_rates"] == ["2026-07-01T04:00:00Z", "2026-07-02T04:00:00Z"]

    # the --check mode agrees
    check = subprocess.run(
        [str(legacy_python), str(LEGACY_DIR / "schedules.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=legacy_subprocess_env,
        check=False,
    )
    assert check.returncode == 0, check.stderr[-3000:]


@pytest.mark.integration
def test_fx_schedule_follows_zurich_winter_time_and_skips_weekends(
    legacy_python: Path, legacy_subprocess_env: dict[str, str]
) -> None:
    proc = subprocess.run(
        [
            str(legacy_python),
            str(LEGACY_DIR / "schedules.py"),
            "--next",
            "3",
            "--after",
            "2026-11-27T12:00:00Z",  # a Friday afternoon
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=legacy_subprocess_env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    fx = next(e for e in json.loads(proc.stdout) if e["flow"] == "fx_rates")
    assert fx["next_runs"] == [
        "2026-11-30T05:00:00Z",
        "2026-12-01T05:00:00Z",
        "2026-12-02T05:00:00Z",
    ]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sales/nope"], "invalid choice"),
        (["sales/products_snapshot", "--param", "bogus=1"], "has no parameter"),
        (["sales/products_snapshot", "--param", "no-equals-sign"], "KEY=VALUE"),
        (["sales/products_snapshot", "--scheduled-start", "not-a-date"], "--scheduled-start"),
    ],
)
def test_run_py_usage_errors(
    legacy_python: Path, legacy_subprocess_env: dict[str, str], args: list[str], message: str
) -> None:
    proc = subprocess.run(
        [str(legacy_python), str(RUN_PY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=legacy_subprocess_env,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "WROTE" not in proc.stdout
