"""Deployments and their runs on a local Prefect server, without a work pool (tests, the demo).

:func:`register_deployment` creates a flow's deployment from its ``deployments/<project>/
prefect.yaml`` entry (name, entrypoint, parameters, tags, schedules) on the current Prefect API,
pointing at this checkout instead of an image. :func:`execute_flow_run` runs one of its flow runs
the way a process worker does (``python -m prefect.engine`` with the run's id on Prefect 2) in
a subprocess:
the run's hooks run in that process, exactly as in a pod.

``fast_retries`` sets every retry *delay* of the flow and its tasks to 0 in that process (the
number of retries is unchanged), so a run that fails for good does so in seconds instead of the
production delays (minutes); that is the only difference from a worker's run.

    python -m devtools.localrun [FLOW_RUN_ID] [--fast-retries]   (id default: PREFECT__FLOW_RUN_ID)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from devtools.services import REPO_ROOT
from flowlib.migration._aio import run_sync
from flowlib.migration.model import MigrationError


def _deployment_config(project: str, flow: str) -> Any:
    from flowctl.deployments import deployments

    for config in deployments(project):
        if config.module_name == flow:
            return config
    raise MigrationError(f"deployments/{project}/prefect.yaml has no deployment of flow {flow}")


def register_deployment(
    project: str,
    flow: str,
    parameters: Mapping[str, Any] | None = None,
    schedules_active: bool | None = None,
    work_pool: str | None = None,
    job_variables: Mapping[str, Any] | None = None,
) -> str:
    """(Re)create a flow's deployment as declared in its ``prefect.yaml``.

    Args:
        project: The project.
        flow: The flow module's name.
        parameters: Parameters to use instead of the file's.
        schedules_active: Override every schedule's ``active`` (e.g. False in tests, so the
            server's scheduler does not create runs of its own).
        work_pool: A work pool whose workers run it (e.g. a local process pool).
        job_variables: The deployment's job variables for that pool (e.g. ``env``).
    """
    from prefect import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule

    config = _deployment_config(project, flow)
    flow_name = f"{project}-{flow.replace('_', '-')}"
    schedules = [
        DeploymentScheduleCreate(
            schedule=CronSchedule(cron=s.cron, timezone=s.timezone or "UTC"),
            active=bool(s.active if schedules_active is None else schedules_active),
        )
        for s in config.schedules
        if s.cron
    ]

    async def create() -> str:
        from prefect.exceptions import ObjectNotFound

        async with get_client() as client:
            # recreated, not upserted: an upsert keeps the work pool of an earlier `prefect deploy`
            # (a Kubernetes pool whose schema would refuse runs without an image)
            try:
                old = await client.read_deployment_by_name(f"{flow_name}/{config.name}")
            except ObjectNotFound:
                pass
            else:
                await client.delete_deployment(old.id)
            flow_id = await client.create_flow_from_name(flow_name)
            deployment_id = await client.create_deployment(
                flow_id=flow_id,
                name=config.name,
                entrypoint=config.entrypoint,
                path=str(REPO_ROOT),
                parameters=dict(parameters if parameters is not None else config.parameters),
                tags=list(config.tags),
                schedules=schedules,
                work_pool_name=work_pool,
                job_variables=dict(job_variables or {}),
                pull_steps=[
                    {
                        "prefect.deployments.steps.set_working_directory": {
                            "directory": str(REPO_ROOT)
                        }
                    }
                ],
            )
        return str(deployment_id)

    return run_sync(create)


def create_flow_run(
    deployment_id: str, scheduled: datetime | None = None, pending: bool = False
) -> str:
    """A flow run of the deployment, scheduled at ``scheduled`` (its slot), as the scheduler does.

    ``pending``: create it Pending instead (its slot is now), so that no worker polling the
    deployment's pool takes it before :func:`execute_flow_run` does.
    """
    from prefect import get_client
    from prefect.states import Pending, Scheduled

    if pending:
        state: Any = Pending()
    else:
        state = Scheduled(scheduled_time=scheduled) if scheduled else None

    async def create() -> str:
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(UUID(deployment_id), state=state)
        return str(run.id)

    return run_sync(create)


def execute_flow_run(
    flow_run_id: str,
    env: Mapping[str, str] | None = None,
    fast_retries: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run one flow run like a process worker (``python -m prefect.engine``), in a subprocess."""
    cmd = [sys.executable, "-m", "devtools.localrun", str(flow_run_id)]
    if fast_retries:
        cmd.append("--fast-retries")
    return subprocess.run(
        cmd,
        env=dict(env if env is not None else os.environ),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _zero_retry_delays(flow: Any) -> Any:
    from prefect import Task

    for value in list(getattr(flow.fn, "__globals__", {}).values()):
        if isinstance(value, Task):
            cast(Any, value).retry_delay_seconds = 0
    return flow.with_options(retry_delay_seconds=0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one flow run in this process, as a process worker's subprocess does."""
    import argparse

    from flowlib.compat import run_flow_run_here

    parser = argparse.ArgumentParser(prog="python -m devtools.localrun")
    # a process worker gives the run's id in PREFECT__FLOW_RUN_ID (the soak's pools run this)
    parser.add_argument("flow_run_id", nargs="?", default=os.environ.get("PREFECT__FLOW_RUN_ID"))
    parser.add_argument("--fast-retries", action="store_true")
    args = parser.parse_args(argv)
    if not args.flow_run_id:
        parser.error("give FLOW_RUN_ID or set PREFECT__FLOW_RUN_ID")
    adapt = _zero_retry_delays if args.fast_retries else None
    return 0 if run_flow_run_here(args.flow_run_id, adapt) else 1


if __name__ == "__main__":
    raise SystemExit(main())
