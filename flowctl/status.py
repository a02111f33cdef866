"""``flowctl status``: one row per selected deployment, as the server has it.

Rows come wave by wave (the migration plan, ``migration/<project>.yaml``; non-critical flows
first); deployments in no plan come last. Columns: wave, project, deployment
(``flow/deployment``), ``target_env`` (the server's parameter), schedule(s) and whether each is
active (``paused`` when ``flowctl pause`` tagged it), the last run's state and time, the next run
(the next scheduled flow run; when the scheduler has not created one yet, the next time of an
active cron schedule, marked ``(schedule)``), and the migration phase recorded on the server.
``--json`` prints the same as a list for scripts. Columns are declared in :data:`COLUMNS`, so
one more is one entry.

Exit codes: 0; 1 when a selected deployment is not deployed; 2 bad input or an unreachable API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from flowctl.common import (
    FlowctlError,
    FlowOption,
    JsonOption,
    PrefectFileOption,
    Problem,
    ProjectOption,
    exit_code,
    fail,
    out,
    print_json,
    working_directory,
)
from flowctl.repo import FlowLoader, RepoDeployment, load_repository, select
from flowctl.server import PAUSED_TAG, api_url, connect, jsonable, read_deployments_by_name
from flowlib import REPO_ROOT

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

    from flowctl.migration.status import FlowStatus

CONCURRENCY = 16
NOT_SCHEDULED = (
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "CRASHED",
    "PAUSED",
    "CANCELLING",
)


@dataclass
class DeploymentStatus:
    """What ``status`` shows of one deployment."""

    dep: RepoDeployment
    deployed: bool = False
    target_env: str | None = None
    schedules: list[dict[str, Any]] = field(default_factory=list)
    paused: bool = False
    tags: list[str] = field(default_factory=list)
    last_run: dict[str, Any] | None = None
    next_run: dict[str, Any] | None = None
    wave: int | None = None
    phase: str | None = None
    handover: str | None = None
    problem: Problem | None = None

    def as_json(self) -> dict[str, Any]:
        """The row for ``--json``."""
        return {
            "project": self.dep.project,
            "flow": self.dep.flow_name,
            "deployment": self.dep.name,
            "file": self.dep.file.shown,
            "deployed": self.deployed,
            "target_env": self.target_env,
            "schedules": self.schedules,
            "paused": self.paused,
            "tags": self.tags,
            "last_run": self.last_run,
            "next_run": self.next_run,
            "wave": self.wave,
            "phase": self.phase,
            "handover": self.handover,
            "error": str(self.problem) if self.problem else None,
        }


def _time(value: str | None) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _schedule_text(entry: dict[str, Any]) -> str:
    schedule = entry["schedule"]
    if "cron" in schedule:
        what = f"{schedule['cron']} {schedule.get('timezone') or 'UTC'}"
    elif "interval" in schedule:
        what = f"every {schedule['interval']}s"
    else:
        what = str(schedule.get("rrule", schedule))
    return what


def _active_text(row: DeploymentStatus) -> Text:
    if not row.schedules:
        return Text("—")
    words = ["active" if s["active"] else "inactive" for s in row.schedules]
    text = ", ".join(words) + (" (paused)" if row.paused else "")
    return Text(text, style="green" if all(s["active"] for s in row.schedules) else "yellow")


def _run_text(run: dict[str, Any] | None) -> str:
    if not run:
        return "—"
    label = f"{run.get('state') or ''} " if run.get("state") else ""
    source = " (schedule)" if run.get("source") == "schedule" else ""
    return f"{label}{_time(run.get('time'))}{source}".strip()


COLUMNS: list[tuple[str, Callable[[DeploymentStatus], str | Text]]] = [
    ("wave", lambda r: "—" if r.wave is None else str(r.wave)),
    ("project", lambda r: r.dep.project),
    ("deployment", lambda r: r.dep.full_name),
    ("target_env", lambda r: r.target_env or "—"),
    ("schedule", lambda r: ", ".join(_schedule_text(s) for s in r.schedules) or "—"),
    ("active", _active_text),
    ("last run", lambda r: _run_text(r.last_run)),
    ("next run", lambda r: _run_text(r.next_run)),
    ("phase", lambda r: _phase_text(r)),
]


def _phase_text(row: DeploymentStatus) -> str:
    """The recorded phase; a cut-over flow's with its handover slot (the first it owns in prod)."""
    if row.phase is None:
        return "no record" if row.wave is not None else "—"
    if row.handover and row.phase in ("cutover", "decommissioned"):
        return f"{row.phase} from {_time(row.handover)}"
    return row.phase


def recorded_phases(deps: Iterable[RepoDeployment]) -> tuple[dict[str, FlowStatus], list[str]]:
    """The migration plan and recorded phase of each deployment that has a plan; best effort.

    From migration/<project>.yaml and the phase record on the server (:mod:`flowlib.migration`,
    no live calls), read once per project of ``deps`` with one set of services. Returns the flows
    by ``flow/deployment`` and what could not be read (``flowctl status`` and ``flowctl diff``
    show everything else whatever fails here).
    """
    from flowctl.migration import status as migration_status
    from flowlib.migration.services import default_services

    wanted = {d.full_name: d.project for d in deps}
    try:
        svc = default_services()
        planned = set(svc.manifests.projects)
    except Exception as exc:
        return {}, [f"migration phases not read: {exc}"]
    flows: dict[str, FlowStatus] = {}
    notes: list[str] = []
    try:
        for project in sorted(set(wanted.values()) & planned):
            try:
                found = migration_status(project, live=False, services=svc)
            except Exception as exc:
                notes.append(f"migration phases of {project} not read: {exc}")
                continue
            for f in found:
                if f.deployment not in wanted:
                    continue
                flows[f.deployment] = f
                if f.errors:
                    notes.append(f"{f.deployment}: phase not read ({'; '.join(f.errors)})")
    finally:
        svc.close()
    return flows, notes


def fill_phases(rows: list[DeploymentStatus]) -> str | None:
    """Each deployment's migration wave and recorded phase (:func:`recorded_phases`).

    Deployments in no migration plan keep ``None``. Returns why phases could not be read, if
    they could not (the rest of the table stands).
    """
    flows, notes = recorded_phases(r.dep for r in rows)
    for row in rows:
        plan = flows.get(row.dep.full_name)
        if plan is not None:
            row.wave = plan.wave
            row.phase = plan.phase
            row.handover = plan.handover
    return "\n".join(notes) or None


def by_wave(rows: list[DeploymentStatus]) -> list[DeploymentStatus]:
    """Rows in migration order: wave by wave (non-critical flows first), then the rest."""
    return sorted(rows, key=lambda r: (r.wave is None, r.wave or 0, r.dep.project, r.dep.full_name))


def next_from_schedule(schedules: list[dict[str, Any]], now: datetime) -> datetime | None:
    """The next start of the active cron schedules after ``now`` (croniter, in their zones)."""
    from croniter import croniter

    found: list[datetime] = []
    for entry in schedules:
        schedule = entry["schedule"]
        if not entry["active"] or "cron" not in schedule:
            continue
        zone = ZoneInfo(schedule.get("timezone") or "UTC")
        found.append(croniter(schedule["cron"], now.astimezone(zone)).get_next(datetime))
    return min(found).astimezone(UTC) if found else None


async def _runs(client: PrefectClient, deployment_id: Any) -> tuple[Any, Any]:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    def runs_filter(types: list[str]) -> FlowRunFilter:
        return FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType(t) for t in types]), name=None
            ),
        )

    last = await client.read_flow_runs(
        flow_run_filter=runs_filter(list(NOT_SCHEDULED)),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=1,
    )
    upcoming = await client.read_flow_runs(
        flow_run_filter=runs_filter(["SCHEDULED"]),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=1,
    )
    return (last[0] if last else None), (upcoming[0] if upcoming else None)


async def collect(deps: list[RepoDeployment]) -> list[DeploymentStatus]:
    """The status of each deployment (flows loaded), read with one client, concurrently."""
    rows = [DeploymentStatus(dep) for dep in deps]
    async with connect() as client:
        keys = [(d.flow_name or "", d.name) for d in deps if d.flow_name]
        existing = await read_deployments_by_name(client, keys)
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def fill(row: DeploymentStatus) -> None:
            found = existing.get((row.dep.flow_name or "", row.dep.name))
            if found is None:
                row.problem = row.dep.problem(
                    f"{row.dep.full_name} is not deployed on {api_url()}.", bad_input=False
                )
                return
            data = jsonable(found)
            row.deployed = True
            row.target_env = (data.get("parameters") or {}).get("target_env")
            row.tags = list(data.get("tags") or [])
            row.paused = PAUSED_TAG in row.tags
            row.schedules = [
                {"schedule": s["schedule"], "active": bool(s["active"]), "id": s["id"]}
                for s in data.get("schedules") or []
            ]
            async with semaphore:
                last, upcoming = await _runs(client, found.id)
            if last is not None:
                run = jsonable(last)
                row.last_run = {
                    "name": run.get("name"),
                    "state": run.get("state_name") or run.get("state_type"),
                    "time": run.get("start_time") or run.get("expected_start_time"),
                }
            if upcoming is not None:
                run = jsonable(upcoming)
                row.next_run = {
                    "name": run.get("name"),
                    "state": run.get("state_name"),
                    "time": run.get("expected_start_time"),
                    "source": "flow run",
                }
            else:
                moment = next_from_schedule(row.schedules, datetime.now(UTC))
                if moment is not None:
                    row.next_run = {"time": moment.isoformat(), "source": "schedule"}

        await asyncio.gather(*(fill(r) for r in rows if r.dep.flow_name))
    return rows


def status_command(
    project: ProjectOption = None,
    flow: FlowOption = None,
    prefect_file: PrefectFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """A table per deployment: target_env, schedules and their state, last and next run."""
    try:
        with working_directory(REPO_ROOT):
            loader = FlowLoader()
            selection = select(load_repository(prefect_file), project, flow, loader)
            rows = asyncio.run(collect(selection.deployments))
    except FlowctlError as exc:
        raise fail(exc) from exc
    for row in rows:
        if row.dep.flow_name is None:
            row.problem = loader.resolve(row.dep)
    problems = list(selection.problems) + [r.problem for r in rows if r.problem]
    phase_note = fill_phases(rows)
    rows = by_wave(rows)
    if as_json:
        print_json(
            {
                "api_url": api_url(),
                "deployments": [r.as_json() for r in rows],
                "problems": [str(p) for p in problems],
                "phases_note": phase_note,
            }
        )
    else:
        table = Table(title=f"flowctl status → {api_url()}", title_justify="left")
        for header, _ in COLUMNS:
            table.add_column(header)
        for i, row in enumerate(rows):
            section = i + 1 < len(rows) and rows[i + 1].wave != row.wave
            if row.deployed:
                table.add_row(*(cell(row) for _, cell in COLUMNS), end_section=section)
                continue
            cells: list[str | Text] = [
                COLUMNS[0][1](row),
                row.dep.project,
                row.dep.full_name,
                Text("not deployed", style="yellow"),
            ]
            table.add_row(*cells, *([""] * (len(COLUMNS) - len(cells))), end_section=section)
        console = out()
        console.print(table)
        if phase_note:
            console.print(Text(phase_note, style="yellow"), highlight=False)
        for problem in problems:
            style = "red" if problem.bad_input else "yellow"
            console.print(Text.assemble(("✗ ", style), str(problem)), highlight=False)
    raise typer.Exit(exit_code(problems))
