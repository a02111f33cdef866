"""A deployment moves between work pools on the real server of each line (cutover, fail-back).

Prefect 2.20's server checks an update's ``job_variables`` against the new pool's template and
refuses a PATCH that has none ("None is not of type 'object'"), so a cutover could not move its
deployment to the prod pool (found by the soak, docs/soak.md). The move keeps the deployment's
own job variables.
"""

from __future__ import annotations

import pytest

from devtools.localrun import register_deployment
from flowctl.deployments import ensure_work_pool
from flowlib import compat
from flowlib.migration._aio import run_sync

pytestmark = pytest.mark.integration


def test_a_deployment_moves_to_another_process_pool_keeping_its_job_variables(prefect_api):
    from uuid import UUID

    from prefect import get_client

    for pool in ("move-dev", "move-prod"):
        ensure_work_pool(pool, "process", server_env=prefect_api.env())
    deployment_id = register_deployment(
        "sales",
        "products_snapshot",
        schedules_active=False,
        work_pool="move-dev",
        job_variables={"env": {"LAKE_DEV_ROOT": "file:///tmp/x/"}},
    )

    async def move() -> tuple[str | None, dict[str, object]]:
        async with get_client() as client:
            await compat.update_deployment_fields(
                client, UUID(deployment_id), work_pool_name="move-prod", tags=["phase:cutover"]
            )
            found = await client.read_deployment(UUID(deployment_id))
        return found.work_pool_name, dict(found.job_variables or {})

    pool, job_variables = run_sync(move)
    assert pool == "move-prod"
    assert job_variables == {"env": {"LAKE_DEV_ROOT": "file:///tmp/x/"}}
