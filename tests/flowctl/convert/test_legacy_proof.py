"""Proof on this repository: ``flowctl convert legacy/`` yields flows that, run against the
sample API, write lakes that pass ``flowctl validate`` against the legacy originals' output."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from devtools.legacy import run_legacy
from flowctl.cli import app

from .conftest import REPO_ROOT, import_all, prefect1_leftovers, ruff_problems

SLOT = datetime(2026, 11, 25, 6, tzinfo=UTC)
CASES = [
    ("sales/products_snapshot", {"as_of": "2026-11-24"}, ["--as-of", "2026-11-24"]),
    (
        "sales/orders_incremental",
        {"window_start": "2026-11-24T00:00:00Z", "window_end": "2026-11-24T04:00:00Z"},
        ["--window-start", "2026-11-24T00:00:00Z", "--window-end", "2026-11-24T04:00:00Z"],
    ),
    (
        "finance/transactions_daily",
        {"day": "2026-11-24", "shards": 3},
        ["--day", "2026-11-24", "--shards", "3"],
    ),
    ("finance/fx_rates", {"day": "2026-11-24"}, ["--day", "2026-11-24"]),
]


@pytest.fixture(scope="module")
def converted_legacy(tmp_path_factory):
    out = tmp_path_factory.mktemp("converted-legacy")
    result = CliRunner().invoke(
        app, ["convert", str(REPO_ROOT / "legacy"), "--out", str(out), "--write"]
    )
    # legacy/ has constructs that need a person (signals.SKIP, os.environ, run.py's runner)
    assert result.exit_code == 1, result.output
    assert "4 flow(s)" in result.output and "0 unparsable" in result.output
    return out


def test_converted_legacy_modules_are_clean_and_import(converted_legacy):
    out = converted_legacy
    assert ruff_problems(out / "flows") == ""
    modules = []
    for path in sorted((out / "flows").rglob("*.py")):
        code = path.read_text()
        assert prefect1_leftovers(code) == [], path
        modules.append(
            ".".join(path.relative_to(out).with_suffix("").parts).removesuffix(".__init__")
        )
    proc = import_all(out, modules)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "deployments/sales/prefect.yaml").exists()
    assert (out / "migration/finance.yaml").exists()


@pytest.mark.integration
@pytest.mark.parametrize(("legacy", "legacy_params", "args"), CASES, ids=[c[0] for c in CASES])
def test_converted_flows_write_what_the_legacy_flows_write(
    legacy, legacy_params, args, converted_legacy, prefect_api, sources_env, lake_env, monkeypatch
):
    monkeypatch.setenv("LEDGER_API_KEY", sources_env.ledger_key)  # the legacy flows' name
    legacy_run = run_legacy(legacy, legacy_params, SLOT)
    assert legacy_run.written
    # the converted helpers still read LAKE_PROD_ROOT (flagged: os.environ); point it at dev
    env = {
        **os.environ,
        "PYTHONPATH": f"{converted_legacy}:{REPO_ROOT}",
        "LAKE_PROD_ROOT": lake_env["dev"],
        "LEGACY_RETRY_DELAY_SECONDS": "0.1",
        "PREFECT_API_URL": prefect_api.api_url,
    }
    module = "flows." + legacy.replace("/", ".")
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=converted_legacy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "'target_env': 'dev'" in proc.stdout
    # run by hand, a converted flow stamps its file with its run time (the hand-written flows
    # stamp the partition's slot): for the hourly orders the manifest's hourly slots cannot pair
    # them, so each stamp is its own slot here (--no-rules)
    extra = ["--no-rules"] if legacy == "sales/orders_incremental" else []
    result = CliRunner().invoke(
        app, ["validate", "--prod", lake_env["prod"], "--dev", lake_env["dev"], *extra]
    )
    assert result.exit_code == 0, result.output
    project = legacy.split("/")[0]
    dev_files = sorted(
        p.relative_to(lake_env["dev"].removeprefix("file://")).as_posix()
        for p in __import__("pathlib").Path(lake_env["dev"].removeprefix("file://")).rglob("*")
        if p.is_file() and not p.name.endswith(".json")
    )
    assert dev_files and all(f.startswith(project + "/") for f in dev_files)
