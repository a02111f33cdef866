"""One deployment end to end: registered through the real CLI, run by a real process worker, its
output found in the lake.

The deployments are the committed ones; only the values of deployments/local.env change: the pool
variable names a process pool of this test, the lakes are tmp folders, the shop API is the sample
API. A process worker ignores the Kubernetes job variables (image, namespace, resources) and
applies ``env``; the pull step's directory is ``FLOWLIB_CODE_DIR``, the repository root in
local.env (``/opt/flowlib`` in the image).
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow.parquet as pq
import pytest

from devtools.fakes import reset_migration_state
from devtools.services import REPO_ROOT, prefect_cli
from flowctl.deployments import deploy_project, ensure_work_pool, load_environment

pytestmark = pytest.mark.integration

POOL = "flowlib-process-e2e-test"
QUEUE = "e2e"  # its own queue: the worker takes this run only, not the deployment's schedule


def api(call):
    from prefect.client.orchestration import get_client

    async def run() -> Any:
        async with get_client() as client:
            return await call(client)

    return asyncio.run(run())


def test_products_snapshot_runs_on_a_process_worker_and_lands_in_the_lake(
    prefect_api, sources_env, lake_env, tmp_path
):
    reset_migration_state()  # no phase record left by another file's test on this server
    ensure_work_pool(POOL, "process", server_env=prefect_api.env())
    values = {
        **load_environment("local"),
        "FLOWLIB_WORK_POOL": POOL,
        "LAKE_DEV_ROOT": lake_env["dev"],
        "LAKE_PROD_ROOT": lake_env["prod"],
        "SHOP_API_URL": sources_env.url,
    }
    deploy_project("sales", values, server_env=prefect_api.env())

    deployment = api(
        lambda c: c.read_deployment_by_name("sales-products-snapshot/products-snapshot")
    )
    assert deployment.work_pool_name == POOL
    assert deployment.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}
    ]
    flow_run = api(
        lambda c: c.create_flow_run_from_deployment(
            deployment.id, parameters={"sample": True}, work_queue_name=QUEUE
        )
    )

    # the worker's own environment carries the secrets only (as the Kubernetes secret would);
    # lake roots and the API URL come from the deployment's job variables
    worker_env = {
        k: v
        for k, v in prefect_api.env().items()
        if not k.startswith("LAKE_") and k != "SHOP_API_URL"
    }
    assert "SHOP_API_TOKEN" in worker_env
    worker = subprocess.run(
        [prefect_cli(), "worker", "start", "--pool", POOL, "--work-queue", QUEUE, "--run-once"],
        cwd=tmp_path,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = worker.stdout + worker.stderr
    assert worker.returncode == 0, output[-3000:]

    finished = api(lambda c: c.read_flow_run(flow_run.id))
    assert finished.state.is_completed(), f"{finished.state}\n{output[-3000:]}"
    assert finished.parameters == {"sample": True}  # no record: the default, dev

    dev_lake = Path(urlparse(lake_env["dev"]).path)
    files = sorted(dev_lake.glob("_samples/sales/shop/products/*/*/*/products_*.parquet"))
    assert len(files) == 1, output[-3000:]
    assert pq.read_metadata(files[0]).num_rows == 500  # one page of the sample API
    assert not list(dev_lake.glob("sales/**/*.parquet"))  # a sample never lands in a partition
    assert not list(Path(urlparse(lake_env["prod"]).path).rglob("*.parquet"))
