from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from devtools.services import PrefectServer
from flowlib.lake import lake_filesystem
from flowlib.validation.samples import write_sample_lakes
from flows.migration import validate_lakes as module
from flows.migration.validate_lakes import (
    ValidationFailed,
    artifact_key,
    default_window,
    validate_lakes_flow,
)

DAY = date(2026, 11, 25)


@pytest.fixture
def lakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    prod = (tmp_path / "prod").resolve().as_uri() + "/"
    dev = (tmp_path / "dev").resolve().as_uri() + "/"
    write_sample_lakes(*lake_filesystem(prod), *lake_filesystem(dev))
    monkeypatch.setenv("LAKE_PROD_ROOT", prod)
    monkeypatch.setenv("LAKE_DEV_ROOT", dev)
    return prod, dev


def test_artifact_key() -> None:
    assert artifact_key() == "migration-validation-all"
    assert (
        artifact_key(["sales"], ["sales/Orders_Daily"])
        == "migration-validation-sales-sales-orders-daily"
    )


def test_default_window_is_the_previous_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "scheduled_start", lambda: datetime(2026, 11, 26, 6, tzinfo=UTC))
    assert default_window(None, None) == (DAY, DAY)
    assert default_window(DAY, None) == (DAY, None)


def _artifacts(key: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list[Any]:
        async with get_client() as client:
            return list(
                await client.read_artifacts(
                    artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
                )
            )

    return asyncio.run(read())


@pytest.mark.integration
def test_passing_run_publishes_its_report(
    prefect_api: PrefectServer, lakes: tuple[str, str]
) -> None:
    result = validate_lakes_flow(flows=["same", "nulls"], since=DAY, until=DAY)
    assert result["passed"] is True and result["summary"]["matched"] == 2
    artifacts = _artifacts("migration-validation-same-nulls")
    assert artifacts, "no artifact published"
    assert artifacts[0].type == "markdown"
    assert "PASSED" in artifacts[0].data


@pytest.mark.integration
def test_failing_run_fails_and_publishes(
    prefect_api: PrefectServer, lakes: tuple[str, str]
) -> None:
    prod, dev = lakes
    with pytest.raises(ValidationFailed) as failed:
        validate_lakes_flow(prod_root=prod, dev_root=dev, since=DAY, until=DAY, abs_tol=1e-6)
    assert failed.value.exit_code == 2
    assert failed.value.report["summary"]["pairs_failed"] > 0
    state = validate_lakes_flow(flows=["changed_value"], since=DAY, until=DAY, return_state=True)
    assert state.is_failed()
    artifacts = _artifacts("migration-validation-changed-value")
    assert artifacts and "FAILED" in artifacts[0].data and "99.99" in artifacts[0].data
    [table] = _artifacts("migration-validation-changed-value-mismatches")[:1]
    assert (
        table.type == "table"
        and "99.99" in str(table.data)
        and "20261125T100000" in str(table.data)
    )
    everything = _artifacts("migration-validation-all")
    assert everything and "ERROR" in everything[0].data


@pytest.mark.integration
def test_module_command_line(prefect_api: PrefectServer, lakes: tuple[str, str]) -> None:
    prod, dev = lakes
    env = {**os.environ, "PREFECT_API_URL": prefect_api.api_url}
    cmd = [sys.executable, "-m", "flows.migration.validate_lakes", "--prod", prod, "--dev", dev,
           "--since", "2026-11-25", "--until", "2026-11-25", "--flow", "changed_value"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "FAILED" in proc.stderr
    ok = subprocess.run(
        [*cmd[:-1], "same"], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "passed" in ok.stdout
