"""``flowctl set-env``, ``pause`` and ``resume``: change deployments on the server, in place.

Each touches only the fields it is about, through partial updates, so nothing else of a
deployment (nor its schedules' ids) changes:

- ``set-env --env dev|prod``: the ``target_env`` parameter (deployments whose flow has no
  ``target_env`` are left alone); ``--write`` sets ``parameters.target_env`` in the files too.
  Without ``--write`` the next ``flowctl deploy`` (or ``prefect deploy``) switches back to the
  files' value, and ``flowctl diff`` shows the difference.
- ``pause``: the tag ``paused`` on the deployment, then every schedule inactive. ``flowctl deploy``
  keeps a paused deployment's tag and inactive schedules; a raw ``prefect deploy`` drops the tag
  and re-activates the schedules the file marks ``active: true``, unless ``pause --write`` also
  wrote ``active: false`` into the file.
- ``resume``: the tag removed, then every schedule active (``--write``: ``active: true``).

Exit codes: 0 done; 1 something failed on the server or is not deployed; 2 bad input or an
unreachable API.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

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
    WriteOption,
    YesOption,
    exit_code,
    fail,
    out,
    print_json,
    working_directory,
)
from flowctl.deploy import confirm_everything
from flowctl.deployments.yaml_edit import Edit, edit_file, set_parameter, set_schedules_active
from flowctl.repo import FlowLoader, RepoDeployment, Selection, load_repository, select
from flowctl.server import (
    PAUSED_TAG,
    WriteLimiter,
    api_url,
    connect,
    http_error_detail,
    patch_deployment,
    read_deployments_by_name,
    watch_responses,
)
from flowlib import REPO_ROOT
from flowlib.migration.manifest import Manifests

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

CONCURRENCY = 16
TARGET_ENV = "target_env"


class TargetEnv(StrEnum):
    """The lake a flow writes: the ``target_env`` parameter."""

    dev = "dev"
    prod = "prod"


@dataclass
class Row:
    """One deployment's result."""

    dep: RepoDeployment
    result: str
    before: str = ""
    after: str = ""
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The row for ``--json``."""
        return {
            "project": self.dep.project,
            "deployment": self.dep.name,
            "flow": self.dep.flow_name,
            "file": self.dep.file.shown,
            "result": self.result,
            "before": self.before,
            "after": self.after,
            "notes": self.notes,
            "error": str(self.problem) if self.problem else None,
        }


Action = Callable[["PrefectClient", RepoDeployment, Any], Awaitable[Row]]
"""Changes one deployment: (client, the repository's deployment, the server's) → its row."""


async def _apply(selection: Selection, loader: FlowLoader, action: Action) -> list[Row]:
    rows: list[Row] = []
    ready = []
    for dep in selection.deployments:
        if dep.flow_name is None:
            rows.append(Row(dep, "error", problem=loader.resolve(dep)))
        else:
            ready.append(dep)
    async with connect() as client:
        existing = await read_deployments_by_name(
            client, [(d.flow_name or "", d.name) for d in ready]
        )
        limiter = WriteLimiter(maximum=CONCURRENCY)
        watch_responses(client, limiter)

        async def one(dep: RepoDeployment) -> Row:
            found = existing.get((dep.flow_name or "", dep.name))
            if found is None:
                problem = dep.problem(
                    f"{dep.full_name} is not deployed on {api_url()}; run `flowctl deploy` first.",
                    bad_input=False,
                )
                return Row(dep, "not deployed", problem=problem)
            async with limiter:
                try:
                    return await action(client, dep, found)
                except Exception as exc:
                    problem = dep.problem(
                        f"the server refused the change ({http_error_detail(exc)}).",
                        bad_input=False,
                    )
                    return Row(dep, "failed", problem=problem)

        rows.extend(await asyncio.gather(*(one(d) for d in ready)))
    order = {id(d): i for i, d in enumerate(selection.deployments)}
    return sorted(rows, key=lambda r: order[id(r.dep)])


def _write_files(rows: list[Row], edit: Edit, keys: list[str]) -> list[Problem]:
    """Apply ``edit`` to the files of the rows that did not fail; mark the rows written."""
    by_file: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        if row.result not in ("failed", "error", "skipped", "refused"):
            by_file[row.dep.file.path].append(row)
    problems: list[Problem] = []
    for path, file_rows in by_file.items():
        found = edit_file(path, {r.dep.name: edit for r in file_rows}, keys)
        project = file_rows[0].dep.project
        problems.extend(Problem(where, what, project=project) for where, what in found)
        if not found:
            for row in file_rows:
                row.notes.append("file written")
    return problems


def _run(
    what: str,
    project: list[str] | None,
    flow: list[str] | None,
    yes: bool,
    prefect_file: Any,
    action: Action,
) -> tuple[list[Row], list[Problem]]:
    """Select, confirm, apply ``action`` to each deployment; the rows and the files' problems."""
    with working_directory(REPO_ROOT):
        loader = FlowLoader()
        selection = select(load_repository(prefect_file), project, flow, loader)
        confirm_everything(selection, what, yes)
        rows = asyncio.run(_apply(selection, loader, action))
    return rows, list(selection.problems)


def _print(
    rows: list[Row],
    title: str,
    columns: tuple[str, str],
    as_json: bool,
    extra: list[Problem],
    notes: list[str],
) -> None:
    problems = [r.problem for r in rows if r.problem] + extra
    if as_json:
        print_json(
            {
                "api_url": api_url(),
                "deployments": [r.as_json() for r in rows],
                "problems": [str(p) for p in problems],
            }
        )
        return
    console = out()
    table = Table(title=f"{title} → {api_url()}", title_justify="left")
    for column in ("project", "deployment", *columns, "result"):
        table.add_column(column)
    for row in rows:
        style = {"failed": "red", "error": "red", "not deployed": "yellow"}.get(row.result, "")
        result = ", ".join([row.result, *row.notes])
        table.add_row(
            row.dep.project, row.dep.full_name, row.before, row.after, Text(result, style=style)
        )
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)
    for problem in problems:
        style = "red" if problem.bad_input else "yellow"
        console.print(Text.assemble(("✗ ", style), str(problem)), highlight=False)


EnvOption = Annotated[
    TargetEnv, typer.Option("--env", "-e", help="The lake the flows write: dev or prod.")
]


def set_env_command(
    env: EnvOption,
    project: ProjectOption = None,
    flow: FlowOption = None,
    yes: YesOption = False,
    write: WriteOption = False,
    prefect_file: PrefectFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Switch the target_env parameter of the selected deployments on the server (and files).

    A flow under migration (listed in ``migration/<project>.yaml``) is refused: its phase record
    decides which lake it writes, and only ``flowctl cutover`` / ``rollback`` change that.
    """
    value = env.value
    migrating = {p.deployment.split("/", 1)[1]: p for p in Manifests.load().plans}

    async def action(client: PrefectClient, dep: RepoDeployment, found: Any) -> Row:
        plan = migrating.get(dep.name)
        if plan is not None and plan.project == dep.project:
            message = (
                f"{plan.key} is under migration: its phase record decides which lake it writes "
                f"(set-env would bypass the validation gate and leave the legacy flow as it is). "
                f"Use `flowctl cutover -p {plan.project} -f {plan.flow}` or `flowctl rollback "
                f"-p {plan.project} -f {plan.flow}`; nothing was changed."
            )
            return Row(dep, "refused", "—", "—", problem=dep.problem(message, bad_input=False))
        properties = (found.parameter_openapi_schema or {}).get("properties") or {}
        params = dict(found.parameters or {})
        before = str(params.get(TARGET_ENV, "(default)"))
        if TARGET_ENV not in properties:
            return Row(dep, "skipped", "—", "—", notes=[f"flow {dep.flow_name} has no target_env"])
        if params.get(TARGET_ENV) == value:
            return Row(dep, "unchanged", before, value)
        params[TARGET_ENV] = value
        await patch_deployment(client, found.id, parameters=params)
        return Row(dep, "switched", before, value)

    try:
        rows, extra = _run(
            f"Switch target_env to {value} for", project, flow, yes, prefect_file, action
        )
    except FlowctlError as exc:
        raise fail(exc) from exc
    notes: list[str] = []
    if write:
        with working_directory(REPO_ROOT):
            extra += _write_files(rows, set_parameter(TARGET_ENV, value), ["parameters"])
    elif any(r.result in ("switched", "unchanged") for r in rows):
        notes.append(
            "The prefect.yaml files were not changed: the next deploy sets their target_env "
            "again (`flowctl diff` shows it). Add --write to change them too."
        )
    _print(rows, f"flowctl set-env --env {value}", ("before", "after"), as_json, extra, notes)
    raise typer.Exit(exit_code([r.problem for r in rows if r.problem] + extra))


def _schedules_text(found: Any) -> str:
    schedules = found.schedules or []
    if not schedules:
        return "no schedule"
    return ", ".join("active" if s.active else "inactive" for s in schedules)


def _set_paused(paused: bool) -> Action:
    async def action(client: PrefectClient, dep: RepoDeployment, found: Any) -> Row:
        before = _schedules_text(found) + (" (tag paused)" if PAUSED_TAG in found.tags else "")
        tags = list(found.tags or [])
        changed = False
        # pause: tag first, so a failure half-way still keeps a redeploy from re-activating;
        # resume: tag removed first, schedules then follow the request.
        if paused and PAUSED_TAG not in tags:
            await patch_deployment(client, found.id, tags=[*tags, PAUSED_TAG])
            changed = True
        if not paused and PAUSED_TAG in tags:
            await patch_deployment(client, found.id, tags=[t for t in tags if t != PAUSED_TAG])
            changed = True
        for schedule in found.schedules or []:
            if schedule.active == paused:
                await client.update_deployment_schedule(found.id, schedule.id, active=not paused)
                changed = True
        after = ("inactive" if paused else "active") if found.schedules else "no schedule"
        after += " (tag paused)" if paused else ""
        notes: list[str] = []
        written = [e for e in dep.raw.get("schedules") or [] if isinstance(e, dict)]
        if not paused and any(e.get("active", True) is False for e in written):
            notes.append("the file says active: false (a deploy deactivates again; --write)")
        verb = "paused" if paused else "resumed"
        return Row(dep, verb if changed else f"already {verb}", before, after, notes=notes)

    return action


def _pause_or_resume(
    paused: bool,
    project: list[str] | None,
    flow: list[str] | None,
    yes: bool,
    write: bool,
    prefect_file: Any,
    as_json: bool,
) -> None:
    word = "pause" if paused else "resume"
    try:
        rows, extra = _run(word.capitalize(), project, flow, yes, prefect_file, _set_paused(paused))
    except FlowctlError as exc:
        raise fail(exc) from exc
    notes: list[str] = []
    if write:
        with working_directory(REPO_ROOT):
            extra += _write_files(rows, set_schedules_active(not paused), ["schedules"])
    elif paused and any(r.result.endswith("paused") for r in rows):
        notes.append(
            "flowctl deploy keeps these paused (tag paused). A raw `prefect deploy` re-activates "
            "schedules the file marks active: true; add --write to write active: false."
        )
    _print(rows, f"flowctl {word}", ("before", "after"), as_json, extra, notes)
    raise typer.Exit(exit_code([r.problem for r in rows if r.problem] + extra))


def pause_command(
    project: ProjectOption = None,
    flow: FlowOption = None,
    yes: YesOption = False,
    write: WriteOption = False,
    prefect_file: PrefectFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deactivate the schedules of the selected deployments; they stay paused on redeploy."""
    _pause_or_resume(True, project, flow, yes, write, prefect_file, as_json)


def resume_command(
    project: ProjectOption = None,
    flow: FlowOption = None,
    yes: YesOption = False,
    write: WriteOption = False,
    prefect_file: PrefectFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Activate the schedules of the selected deployments again (and drop the paused tag)."""
    _pause_or_resume(False, project, flow, yes, write, prefect_file, as_json)
