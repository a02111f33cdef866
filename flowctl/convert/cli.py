"""``flowctl convert PATH... [--project P] [--diff] [--write] [--json]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flowctl.convert.engine import convert_paths
from flowctl.convert.inventory import apply_inventory, load_inventory
from flowctl.convert.plan import plan_changes
from flowctl.convert.rules import RULES


def convert_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Prefect 1 files or folders (a whole repository).")
    ],
    project: Annotated[
        str | None,
        typer.Option(
            help="Project of every flow (default: register(project_name=...) or the folder)."
        ),
    ] = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Print the diff (the default without --write).")
    ] = False,
    write: Annotated[
        bool, typer.Option("--write", help="Write the files (nothing changes without it).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    out: Annotated[Path, typer.Option(help="The repository root the files land under.")] = Path(),
    disable: Annotated[
        list[str] | None,
        typer.Option(help="A rule id to switch off (repeatable); see --list-rules."),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option(
            help="An inventory from `flowctl legacy inventory`: schedules, defaults, labels."
        ),
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="List the rules in order and exit.")
    ] = False,
) -> None:
    """Convert Prefect 1 flows into this library's flow shape; flag what it cannot convert.

    Exit code: 0 nothing flagged, 1 something was flagged (TODO comments, unparsable files,
    files it refused to replace), 2 a usage error.
    """
    console = Console(stderr=as_json, width=160, soft_wrap=True)
    if list_rules:
        for rule in RULES:
            console.print(f"{rule.id:18} {rule.summary}")
        raise typer.Exit(0)
    try:
        conversion = convert_paths(paths, project=project, disabled=disable or ())
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]flowctl convert: {exc}[/red]")
        raise typer.Exit(2) from exc
    if inventory is not None:
        try:
            conversion.warnings.extend(apply_inventory(conversion, load_inventory(inventory)))
        except (OSError, ValueError) as exc:
            console.print(f"[red]flowctl convert: {inventory}: {exc}[/red]")
            raise typer.Exit(2) from exc
    plan = plan_changes(conversion, out)
    flagged = bool(conversion.flags or conversion.errors or plan.problems)
    if as_json:
        report = {
            "flags": [f.as_dict() for f in conversion.flags],
            "unparsable": [{"file": m.rel, "error": m.error} for m in conversion.errors],
            "problems": plan.problems,
            "warnings": conversion.warnings,
            "files": [c.path for c in plan.changes],
            "flows": [
                {
                    "legacy_name": i.legacy_name,
                    "project": i.project,
                    "module": i.path_out,
                    "function": i.function,
                }
                for m in conversion.modules
                for i in m.flows
            ],
            "written": write,
            "flagged": flagged,
        }
        if diff:
            report["diff"] = "".join(c.diff() for c in plan.changes)
        typer.echo(json.dumps(report, indent=2))
    else:
        if diff or not write:
            for change in plan.changes:
                typer.echo(change.diff(), nl=False)
        _print_report(console, conversion, plan.problems)
    if write:
        written = plan.write(out)
        if not as_json:
            console.print(f"wrote {len(written)} file(s) under {out.resolve()}")
    elif not as_json:
        console.print("nothing written (pass --write)")
    raise typer.Exit(1 if flagged else 0)


def _print_report(console: Console, conversion: object, problems: list[str]) -> None:
    from flowctl.convert.engine import Conversion

    assert isinstance(conversion, Conversion)
    if conversion.flags:
        table = Table(title="Flagged (TODO(flowctl convert) at the line)", show_lines=False)
        for col in ("file", "line", "construct", "action"):
            table.add_column(col, overflow="fold")
        for f in conversion.flags:
            table.add_row(f.file, str(f.line), f.construct, f.action)
        console.print(table)
    for m in conversion.errors:
        console.print(f"[red]skipped {m.rel}: {m.error}[/red]")
    for p in problems:
        console.print(f"[yellow]{p}[/yellow]")
    for w in conversion.warnings:
        console.print(f"[yellow]{w}[/yellow]")
    flows = sum(len(m.flows) for m in conversion.modules)
    console.print(
        f"{len(conversion.modules)} module(s), {flows} flow(s), {len(conversion.flags)} flag(s), "
        f"{len(conversion.errors)} unparsable, {len(problems)} refused"
    )


legacy_app = typer.Typer(name="legacy", help="Read the Prefect 1 side.", no_args_is_help=True)


@legacy_app.command("inventory")
def inventory_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The inventory file to write (JSON).")
    ] = Path("legacy/inventory.json"),
    no_runs: Annotated[bool, typer.Option("--no-runs", help="Skip the last-run queries.")] = False,
) -> None:
    """Read flows, versions, projects, schedules, defaults, labels, run configs and last runs.

    From the Prefect 1 GraphQL API at PREFECT1_API_URL (token: PREFECT1_API_TOKEN). Exit 2 when
    the API cannot be read.
    """
    from flowctl.convert.inventory import read_inventory
    from flowlib.migration.prefect1 import Prefect1Client, Prefect1Error

    console = Console(stderr=True, soft_wrap=True)
    try:
        with Prefect1Client.from_env() as client:
            data = read_inventory(client, last_runs=not no_runs)
    except Prefect1Error as exc:
        console.print(f"[red]flowctl legacy inventory: {exc}[/red]")
        raise typer.Exit(2) from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", "utf-8")
    flows = data["flows"]
    console.print(
        f"wrote {output}: {len(flows)} flow(s), {sum(1 for f in flows if f['clocks'])} scheduled, "
        f"{sum(1 for f in flows if f['archived'])} archived"
    )
