"""The new side: deployments and flow runs on the Prefect 2/3 API, behind a small interface.

:class:`DeploymentOps` is what the migration needs from the Prefect API (read a deployment,
switch its ``target_env``, move a schedule, read flow runs); :class:`PrefectDeployments`
implements it with the Prefect client (version differences in :mod:`flowlib.compat`), and unit
tests substitute an in-memory one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID

from flowlib import compat
from flowlib.migration._aio import run_sync
from flowlib.migration.model import MigrationError
from flowlib.windows import utc_datetime

FINAL_FAILURE_STATES = ("FAILED", "CRASHED")
IN_FLIGHT_STATES = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED")
"""State types of runs that failed for good (a run waiting for a retry is SCHEDULED)."""


PAGE = 200
"""The API's largest page of flow runs."""


class DeploymentNotFound(MigrationError):
    """The deployment named in the manifest is not on the Prefect API."""


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule of a deployment: its id, whether active, its definition as JSON."""

    id: str
    active: bool
    schedule: dict[str, Any]


@dataclass(frozen=True)
class DeploymentInfo:
    """What the migration reads from a deployment."""

    id: str
    name: str
    parameters: dict[str, Any]
    tags: tuple[str, ...] = ()
    schedules: tuple[ScheduleInfo, ...] = ()
    work_pool_name: str | None = None
    job_variables: dict[str, Any] = field(default_factory=dict)

    @property
    def target_env(self) -> str:
        """The ``target_env`` parameter (``record`` when unset: the phase record decides)."""
        return str(self.parameters.get("target_env") or "record")


@dataclass(frozen=True)
class RunInfo:
    """One flow run of the new side."""

    id: str
    name: str
    flow_name: str | None
    deployment_id: str | None
    state_type: str
    state_name: str
    state_message: str
    parameters: dict[str, Any] = field(default_factory=dict)
    expected_start_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    state_time: datetime | None = None
    total_run_time_s: float | None = None
    tags: tuple[str, ...] = ()

    @property
    def target_env(self) -> str:
        """The run's ``target_env`` parameter (``record`` when unset: its phase record decides)."""
        return str(self.parameters.get("target_env") or "record")

    @property
    def may_write_prod(self) -> bool:
        """Whether the run could write prod: asked for it, or left it to the phase record."""
        return self.target_env != "dev"

    @property
    def in_flight(self) -> bool:
        """Scheduled, pending or running: not finished yet."""
        return self.state_type in IN_FLIGHT_STATES

    @property
    def failed_for_good(self) -> bool:
        """FAILED (retries exhausted: a retry is a scheduled state) or CRASHED."""
        return self.state_type in FINAL_FAILURE_STATES


class DeploymentOps(Protocol):
    """The Prefect API as the migration uses it."""

    def deployment(self, name: str) -> DeploymentInfo:
        """A deployment by ``<flow name>/<deployment name>``; :class:`DeploymentNotFound`."""
        ...

    def update_deployment(
        self,
        deployment_id: str,
        parameters: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        work_pool_name: str | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> None:
        """Replace a deployment's parameters, tags, work pool and/or job variables."""
        ...

    def pool_pins(self, pool_name: str) -> dict[str, Any]:
        """The job variables a work pool allows one value of (its namespace, secret, ...)."""
        ...

    def cancel_flow_run(self, run_id: str, message: str) -> None:
        """Cancel a run that has not finished (a running one through its worker)."""
        ...

    def set_schedule(self, deployment_id: str, schedule_id: str, schedule: dict[str, Any]) -> None:
        """Replace one schedule's definition."""
        ...

    def flow_run(self, run_id: str) -> RunInfo:
        """One flow run."""
        ...

    def flow_runs(
        self,
        deployment_id: str,
        since: datetime,
        state_types: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[RunInfo]:
        """Runs of a deployment expected to start since ``since``, newest first."""
        ...


def _dt(value: Any) -> datetime | None:
    return utc_datetime(value) if value is not None else None


def run_info(flow_run: Any, flow_name: str | None = None) -> RunInfo:
    """A :class:`RunInfo` from a Prefect ``FlowRun`` object."""
    state = flow_run.state
    state_type = getattr(flow_run.state_type, "value", flow_run.state_type)
    total = flow_run.total_run_time
    return RunInfo(
        id=str(flow_run.id),
        name=str(flow_run.name),
        flow_name=flow_name,
        deployment_id=str(flow_run.deployment_id) if flow_run.deployment_id else None,
        state_type=str(state_type or ""),
        state_name=str(flow_run.state_name or ""),
        state_message=str(getattr(state, "message", "") or ""),
        parameters=dict(flow_run.parameters or {}),
        expected_start_time=_dt(flow_run.expected_start_time),
        start_time=_dt(flow_run.start_time),
        end_time=_dt(flow_run.end_time),
        state_time=_dt(getattr(state, "timestamp", None)),
        total_run_time_s=total.total_seconds() if total is not None else None,
        tags=tuple(flow_run.tags or ()),
    )


class PrefectDeployments:
    """:class:`DeploymentOps` on the Prefect API of the current profile / ``PREFECT_API_URL``."""

    def deployment(self, name: str) -> DeploymentInfo:
        """A deployment by ``<flow name>/<deployment name>``."""
        from prefect import get_client
        from prefect.exceptions import ObjectNotFound

        async def read() -> DeploymentInfo:
            async with get_client() as client:
                try:
                    dep = await client.read_deployment_by_name(name)
                except ObjectNotFound as exc:
                    raise DeploymentNotFound(
                        f"deployment {name!r} is not on the Prefect API "
                        f"({client.api_url}): deploy it (make deploy) or fix the manifest."
                    ) from exc
                schedules = await client.read_deployment_schedules(dep.id)
            return DeploymentInfo(
                id=str(dep.id),
                name=name,
                parameters=dict(dep.parameters or {}),
                tags=tuple(dep.tags or ()),
                schedules=tuple(
                    ScheduleInfo(
                        id=str(s.id),
                        active=bool(s.active),
                        schedule=compat.schedule_to_dict(s.schedule),
                    )
                    for s in schedules
                ),
                work_pool_name=getattr(dep, "work_pool_name", None),
                job_variables=dict(getattr(dep, "job_variables", None) or {}),
            )

        return run_sync(read)

    def update_deployment(
        self,
        deployment_id: str,
        parameters: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        work_pool_name: str | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> None:
        """Replace a deployment's parameters, tags, work pool and/or job variables."""
        from prefect import get_client

        async def update() -> None:
            async with get_client() as client:
                await compat.update_deployment_fields(
                    client,
                    UUID(deployment_id),
                    parameters=parameters,
                    tags=list(tags) if tags is not None else None,
                    work_pool_name=work_pool_name,
                    job_variables=job_variables,
                )

        run_sync(update)

    def pool_pins(self, pool_name: str) -> dict[str, Any]:
        """The variables of the pool's base job template whose schema allows a single value."""
        from prefect import get_client

        async def read() -> dict[str, Any]:
            async with get_client() as client:
                pool = await client.read_work_pool(pool_name)
            return pinned_variables(pool.base_job_template)

        return run_sync(read)

    def cancel_flow_run(self, run_id: str, message: str) -> None:
        """Cancel a run: ``Cancelling`` when running (its worker stops it), else ``Cancelled``."""
        from prefect import get_client
        from prefect.states import Cancelled, Cancelling

        async def cancel() -> None:
            async with get_client() as client:
                run = await client.read_flow_run(UUID(str(run_id)))
                running = str(getattr(run.state_type, "value", run.state_type)) == "RUNNING"
                state: Any = Cancelling(message=message) if running else Cancelled(message=message)
                await client.set_flow_run_state(UUID(str(run_id)), state, force=True)

        run_sync(cancel)

    def set_schedule(self, deployment_id: str, schedule_id: str, schedule: dict[str, Any]) -> None:
        """Replace one schedule's definition (the server reschedules its future runs)."""
        from prefect import get_client

        async def update() -> None:
            async with get_client() as client:
                await update_schedule(client, UUID(deployment_id), UUID(schedule_id), schedule)

        run_sync(update)

    def flow_run(self, run_id: str) -> RunInfo:
        """One flow run, with its flow's name."""
        from prefect import get_client

        async def read() -> RunInfo:
            async with get_client() as client:
                flow_run = await client.read_flow_run(UUID(str(run_id)))
                flow = await client.read_flow(flow_run.flow_id)
            return run_info(flow_run, flow.name)

        return run_sync(read)

    def flow_runs(
        self,
        deployment_id: str,
        since: datetime,
        state_types: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> list[RunInfo]:
        """Runs of a deployment expected to start since ``since``, newest first.

        (Prefect 2.20's API filters runs by expected start, not by end time.)
        """
        from prefect import get_client
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        run_filter = FlowRunFilter(
            expected_start_time=FlowRunFilterExpectedStartTime(after_=cast(Any, since)),
            state=(
                FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType(s) for s in state_types]),
                    name=None,
                )
                if state_types
                else None
            ),
        )

        async def read() -> list[RunInfo]:
            runs: list[Any] = []
            async with get_client() as client:
                while len(runs) < limit:
                    page = await client.read_flow_runs(
                        flow_run_filter=run_filter,
                        deployment_filter=DeploymentFilter(
                            id=DeploymentFilterId(any_=[UUID(deployment_id)])
                        ),
                        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                        limit=min(PAGE, limit - len(runs)),
                        offset=len(runs),
                    )
                    runs.extend(page)
                    if len(page) < PAGE:
                        break
            return [run_info(r) for r in runs]

        return run_sync(read)


async def update_schedule(
    client: Any, deployment_id: Any, schedule_id: Any, schedule: dict[str, Any]
) -> None:
    """Replace one deployment schedule's definition (cron/interval/rrule as a JSON dict)."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    if "cron" in schedule:
        parsed: Any = CronSchedule(**schedule)
    elif "interval" in schedule:
        parsed = IntervalSchedule(**schedule)
    elif "rrule" in schedule:
        parsed = RRuleSchedule(**schedule)
    else:
        raise ValueError(f"not a schedule (cron, interval or rrule): {schedule!r}")
    await client.update_deployment_schedule(deployment_id, schedule_id, schedule=parsed)


def pinned_variables(base_job_template: dict[str, Any]) -> dict[str, Any]:
    """``{variable: value}`` for every job variable a pool's template allows one value of.

    ``flowctl`` pins each infrastructure's pool to its own namespace, secret and infra env
    (``enum: [value]``): a deployment moving to that pool must carry those values.
    """
    properties = (base_job_template.get("variables") or {}).get("properties") or {}
    return {
        name: spec["enum"][0]
        for name, spec in properties.items()
        if isinstance(spec, dict) and len(spec.get("enum") or []) == 1
    }
