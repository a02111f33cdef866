"""A real Prometheus scrapes ``flowctl metrics --port``; every Grafana dashboard query answers.

Debian's ``prometheus`` (``make prometheus``) with its own config and storage in a temp folder,
scraping a ``flowctl metrics`` process every second; that process reads a real Prefect server
(phase records, validation, the new deployment's runs) and the Prefect 1 stand-in (the legacy
runs). Each ``expr`` of ``infra/grafana/migration-dashboard.json`` is evaluated through
Prometheus's HTTP API (``/api/v1/query``) and must return values.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from devtools.fakes import reset_migration_state
from devtools.localrun import register_deployment
from devtools.prefect1_stub import Prefect1Stub
from devtools.services import REPO_ROOT, free_port, wait_http
from devtools.validation_reports import report_for
from flowctl.migration import record_validation

pytestmark = pytest.mark.integration

DASHBOARD = REPO_ROOT / "infra" / "grafana" / "migration-dashboard.json"
PROJECT, FLOW = "sales", "products_snapshot"


def binary(name: str) -> str:
    """The path of a Prometheus binary; missing: fail naming the make target that installs it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make prometheus` (Debian's prometheus package)")
    return found


def dashboard_exprs() -> list[str]:
    """Every ``expr`` of the dashboard's panels, the variables set to Grafana's "All"."""
    exprs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(DASHBOARD.read_text()))
    return [e.replace("$project", ".*").replace("$flow", ".*") for e in exprs]


def seed_new_runs(deployment_id: Any) -> None:
    """Two finished runs of the new deployment: one Completed, one Failed (a late start)."""
    from prefect import get_client
    from prefect.states import Completed, Failed, Running

    async def seed() -> None:
        async with get_client() as client:
            for final in (Completed(), Failed(message="seeded")):
                run = await client.create_flow_run_from_deployment(UUID(str(deployment_id)))
                await asyncio.sleep(0.2)  # a start after the expected start: some lateness
                await client.set_flow_run_state(run.id, Running(), force=True)
                await asyncio.sleep(0.3)  # some run time
                await client.set_flow_run_state(run.id, final, force=True)

    asyncio.run(seed())


@pytest.fixture
def migration_state(prefect_api, lake_env, monkeypatch) -> Iterator[Prefect1Stub]:
    """A shadow flow with a validation and runs on both sides."""
    from flowctl.migration import init_phases

    reset_migration_state()
    stub = Prefect1Stub().start()
    stub.add_flow("sales-products-snapshot", "sales", parameters=["as_of", "sample"])
    now = datetime.now(UTC)
    for hours, state in ((30, "Success"), (6, "Failed"), (2, "Success")):
        stub.add_run(
            "sales-products-snapshot",
            state,
            now - timedelta(hours=hours),
            duration=timedelta(minutes=3),
            lateness=timedelta(seconds=40),
        )
    monkeypatch.setenv("PREFECT1_API_URL", stub.url)
    deployment_id = register_deployment(PROJECT, FLOW, schedules_active=False)
    init_phases(PROJECT)
    record_validation(PROJECT, FLOW, report_for("sales/shop/products"))
    seed_new_runs(deployment_id)
    yield stub
    stub.close()


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """``/api/v1/query``: the vector's samples (an error names the expression)."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_every_series_the_dashboard_queries(migration_state, tmp_path):
    prometheus_bin, promtool = binary("prometheus"), binary("promtool")
    metrics_port, prometheus_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: flowctl\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{metrics_port}']\n"
    )
    checked = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    flowctl = subprocess.Popen(
        [sys.executable, "-m", "flowctl", "metrics", "-p", PROJECT, "--port", str(metrics_port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    prometheus = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    url = f"http://127.0.0.1:{prometheus_port}"
    try:
        wait_http(f"http://127.0.0.1:{metrics_port}/metrics", timeout=120)
        wait_http(f"{url}/-/ready", timeout=60)
        deadline = time.monotonic() + 60
        while not any(s["value"][1] == "1" for s in query(url, 'up{job="flowctl"}')):
            assert time.monotonic() < deadline, Path(tmp_path / "prometheus.log").read_text()
            time.sleep(0.5)

        exprs = dashboard_exprs()
        assert len(exprs) >= 10, exprs
        empty = []
        for expr in exprs:
            samples = query(url, expr)
            values = [float(s["value"][1]) for s in samples]
            if not values or not all(math.isfinite(v) for v in values):
                empty.append((expr, samples))
        assert not empty, f"dashboard queries without values: {empty}"

        # the numbers are the migration's: the flow's phase, both sides' runs
        [phase] = query(url, 'flowlib_migration_phase{flow="products_snapshot"} == 1')
        assert phase["metric"]["phase"] == "validated"  # by the passing validation
        failed = {
            s["metric"]["side"]: float(s["value"][1])
            for s in query(url, 'flowlib_migration_runs{flow="products_snapshot",outcome="failed"}')
        }
        assert failed == {"legacy": 1.0, "new": 1.0}
    finally:
        for process in (prometheus, flowctl):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if flowctl.stdout is not None:
            flowctl.stdout.close()
