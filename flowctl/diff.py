"""``flowctl diff``: where the server and the repository disagree.

The repository's side is what ``flowctl deploy`` would register (:mod:`flowctl.spec`, without
running build steps), so an empty diff means a deploy would leave everything unchanged. Each
difference is one field path: ``parameters.target_env``, ``schedules[0].active``,
``job_variables.image`` (the image tag), ``tags``, ``description``, ... A deployment paused with
``flowctl pause`` is compared as paused (that is what a deploy keeps) and noted. Deployments that
carry a selected project's ``project:<name>`` tag on the server but are in no file are listed as
only on the server. For flows in a migration plan (``migration/<project>.yaml``), the phase
declared there is compared with the phase recorded on the server (``flowctl migration diff`` also
compares what is live: target_env and the legacy schedule).

Exit codes: 0 in sync; 1 something differs; 2 bad input or an unreachable API.
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.text import Text

from flowctl.common import (
    EXIT_FAILED,
    EnvFileOption,
    FlowctlError,
    FlowOption,
    JsonOption,
    PrefectFileOption,
    ProjectOption,
    ValuesOption,
    deploy_values,
    exit_code,
    fail,
    out,
    patched_environ,
    print_json,
    working_directory,
)
from flowctl.deploy import Report, plan
from flowctl.repo import FlowLoader, Selection, load_repository, select
from flowctl.server import connect, flow_names_by_id, read_tagged_deployments
from flowctl.status import recorded_phases
from flowlib import REPO_ROOT

WORDS = {"created": "not deployed", "updated": "differs", "unchanged": "in sync", "failed": "error"}


async def only_on_server(selection: Selection, projects: list[str]) -> list[str]:
    """``flow/deployment`` names tagged ``project:<p>`` on the server but in no selected file."""
    known = {(d.flow_name, d.name) for d in selection.deployments}
    found: list[str] = []
    async with connect() as client:
        tagged = [
            d for p in projects for d in await read_tagged_deployments(client, f"project:{p}")
        ]
        names = await flow_names_by_id(client, {d.flow_id for d in tagged})
        for dep in tagged:
            key = (names.get(dep.flow_id, "?"), dep.name)
            if key not in known:
                found.append(f"{key[0]}/{key[1]}")
    return sorted(set(found))


def phase_differences(selection: Selection) -> tuple[list[str], str | None]:
    """Selected flows whose declared migration phase differs from the one recorded on the server.

    ``validated`` agrees with a declared ``shadow`` (the daily validation moves flows between the
    two). Best effort: returns the differences and a note (phases that could not be read, flows
    with no phase recorded yet: not a difference, the migration has not started there).
    """
    from flowlib.migration.model import declared_agrees

    flows, notes = recorded_phases(selection.deployments)
    found, unrecorded = [], []
    for f in flows.values():
        if f.errors:
            continue  # in the notes
        if f.phase is None:
            unrecorded.append(f.deployment)
        elif not declared_agrees(f.declared_phase, f.phase):
            found.append(
                f"{f.deployment}: declared phase {f.declared_phase} in "
                f"migration/{f.project}.yaml, server {f.phase} (since {f.since}, by "
                f"{f.actor}: {f.reason or 'no reason'})"
            )
    if unrecorded:
        notes.append(
            f"no migration phase recorded on the server for {len(unrecorded)} flow(s) "
            f"({', '.join(unrecorded)}): `flowctl migration init` records the declared ones"
        )
    return found, "\n".join(notes) or None


def print_diff(report: Report, extra: list[str], phases: list[str], note: str | None) -> None:
    """Each differing deployment with its fields (server → repository), then the summary."""
    console = out()
    for outcome in report.outcomes:
        where = f"({outcome.dep.where()})"
        if outcome.status == "updated":
            console.print(
                Text.assemble(("≠ ", "yellow"), f"{outcome.dep.full_name} {where}"),
                highlight=False,
            )
            for change in outcome.changes:
                console.print(f"    {change.describe()}", highlight=False, markup=False)
        elif outcome.status == "created":
            console.print(
                Text.assemble(("+ ", "green"), f"{outcome.dep.full_name} {where}: not deployed"),
                highlight=False,
            )
        if outcome.kept_paused:
            console.print(
                f"  paused: {outcome.dep.full_name} carries the tag paused (flowctl pause): its "
                "schedules stay inactive whatever the file says",
                highlight=False,
            )
    for name in extra:
        console.print(
            Text.assemble(("- ", "red"), f"{name}: only on the server, in no prefect.yaml"),
            highlight=False,
        )
    for line in phases:
        console.print(Text.assemble(("≠ ", "yellow"), line), highlight=False)
    if note:
        console.print(Text(note, style="yellow"), highlight=False)
    for problem in report.problems:
        console.print(Text.assemble(("✗ ", "red"), str(problem)), highlight=False)
    counts = report.counts()
    console.print(
        f"{report.api_url}: {counts['unchanged']} in sync, {counts['updated']} differ, "
        f"{counts['created']} not deployed, {len(extra)} only on the server, "
        f"{len(phases)} phases differ, {counts['failed']} errors",
        highlight=False,
    )


def diff_command(
    project: ProjectOption = None,
    flow: FlowOption = None,
    prefect_file: PrefectFileOption = None,
    env_file: EnvFileOption = None,
    values: ValuesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show where the server and the prefect.yaml files disagree (exit 1 when they do)."""
    try:
        env = deploy_values(env_file, values)
        with working_directory(REPO_ROOT), patched_environ(env):
            loader = FlowLoader()
            selection = select(load_repository(prefect_file), project, flow, loader)
            report = asyncio.run(plan(selection, loader, apply=False))
            extra: list[str] = []
            if not flow:
                projects = sorted({d.project for d in selection.deployments})
                extra = asyncio.run(only_on_server(selection, projects))
            phases, note = phase_differences(selection)
    except FlowctlError as exc:
        raise fail(exc) from exc
    if as_json:
        data: dict[str, Any] = report.as_json()
        for item, outcome in zip(data["deployments"], report.outcomes, strict=True):
            item["status"] = WORDS[outcome.status]
        data["only_on_server"] = extra
        data["phases"] = phases
        data["phases_note"] = note
        print_json(data)
    else:
        print_diff(report, extra, phases, note)
    code = exit_code(report.problems)
    differs = extra or phases or any(o.status in ("created", "updated") for o in report.outcomes)
    raise typer.Exit(code or (EXIT_FAILED if differs else 0))
