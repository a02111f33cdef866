"""``flowctl cutover|rollback|decommission|health|metrics|alerts`` and ``flowctl migration ...``.

Thin commands over :mod:`flowlib.migration`: each calls one function and prints what it returns
(a rich table, or JSON with ``--json``). The procedure and where the state lives:
docs/cutover.md.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from flowctl.common import EXIT_FAILED, FlowctlError, JsonOption, fail, out, print_json
from flowctl.server import api_url, connect

F = TypeVar("F", bound=Callable[..., Any])


def stops_on_bad_input(command: F) -> F:
    """Stop as every flowctl command stops: one red line naming what is wrong, no traceback.

    The Prefect API must answer first (exit 2 naming its URL); an unknown project, a bad manifest
    or alerts file, a missing block exit 2; the API or the network failing half-way exit 1.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import httpx

        from flowlib.migration.model import MigrationError

        try:
            asyncio.run(_api_answers())
            return command(*args, **kwargs)
        except FlowctlError as exc:
            raise fail(exc) from exc
        except MigrationError as exc:
            raise fail(FlowctlError(str(exc))) from exc
        except (httpx.HTTPError, OSError) as exc:
            message = f"{type(exc).__name__}: {exc} (Prefect API {api_url()})"
            raise fail(FlowctlError(message, code=EXIT_FAILED)) from exc

    return wrapper  # type: ignore[return-value]


async def _api_answers() -> None:
    async with connect():
        pass


def outcome_exit_code(outcomes: list[Any]) -> int:
    """0 when every flow is done or skipped; 1 when one was refused or failed (the table says)."""
    return EXIT_FAILED if any(o.status in ("refused", "failed") for o in outcomes) else 0


ProjectArg = Annotated[str, typer.Option("--project", "-p", help="The project (required).")]
OneFlow = Annotated[
    str | None,
    typer.Option("--flow", "-f", help="One flow module (default: every flow of the project)."),
]
MaybeProject = Annotated[
    str | None, typer.Option("--project", "-p", help="Only this project (default: all).")
]
Actor = Annotated[
    str | None, typer.Option("--actor", help="Who acts (default: user:<login>); recorded.")
]
Reason = Annotated[str, typer.Option("--reason", help="Why; recorded in the phase history.")]

migration_app = typer.Typer(
    name="migration",
    help="Migration phases per flow: status by wave, declared vs server, history, set by hand.",
    no_args_is_help=True,
)


def _outcomes(outcomes: list[Any], title: str, as_json: bool) -> None:
    from flowctl.migration import outcomes_table

    if as_json:
        print_json({"outcomes": [o.to_dict() for o in outcomes]})
    else:
        out().print(outcomes_table(outcomes, title=title))
    raise typer.Exit(outcome_exit_code(outcomes))


@stops_on_bad_input
def cutover_command(
    project: ProjectArg,
    flow: OneFlow = None,
    force: Annotated[
        bool, typer.Option("--force", help="Cut over without a passing validation (recorded).")
    ] = False,
    legacy_slot: Annotated[
        bool,
        typer.Option("--legacy-slot", help="Also move the new schedule back to the legacy slot."),
    ] = False,
    actor: Actor = None,
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Hand prod over to validated flows: legacy unscheduled, handover slot recorded.

    The deployment moves to the prod pool (FLOWLIB_WORK_POOL_PROD) when the environment sets it.
    """
    from flowctl.migration import cutover, pools_from_environment

    outcomes = cutover(
        project,
        flow,
        force=force,
        actor=actor,
        move_to_legacy_slot=legacy_slot,
        reason=reason,
        pools=pools_from_environment(),
    )
    _outcomes(outcomes, f"cutover {project}", as_json)


@stops_on_bad_input
def rollback_command(
    project: ProjectArg,
    flow: OneFlow = None,
    actor: Actor = None,
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Undo a cutover by hand: legacy schedule on, new deployment back to dev, phase shadow."""
    from flowctl.migration import rollback

    _outcomes(rollback(project, flow, actor=actor, reason=reason), f"rollback {project}", as_json)


@stops_on_bad_input
def decommission_command(
    project: ProjectArg,
    flow: OneFlow = None,
    quiet_days: Annotated[
        int | None,
        typer.Option(
            "--quiet-days", min=0, help="Days in cutover without a fail-back (default: plan's)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Ignore the quiet period.")] = False,
    actor: Actor = None,
    reason: Reason = "",
    as_json: JsonOption = False,
) -> None:
    """Archive the legacy flows of flows cut over for longer than the quiet period."""
    from flowctl.migration import decommission

    outcomes = decommission(
        project, flow, actor=actor, quiet_period_days=quiet_days, force=force, reason=reason
    )
    _outcomes(outcomes, f"decommission {project}", as_json)


@stops_on_bad_input
def health_command(
    project: MaybeProject = None,
    days: Annotated[int, typer.Option("--days", min=1, help="The window of runs, in days.")] = 7,
    as_json: JsonOption = False,
) -> None:
    """Legacy and new run outcomes side by side, the latest validation and the phase."""
    from flowctl.migration import health, health_table

    report = health(project, days)
    if as_json:
        print_json(report.to_dict())
    else:
        out().print(health_table(report))


@stops_on_bad_input
def metrics_command(
    project: MaybeProject = None,
    days: Annotated[int, typer.Option("--days", min=1, help="The window of runs, in days.")] = 7,
    textfile: Annotated[
        Path | None,
        typer.Option("--textfile", help="Write once for node-exporter's textfile collector."),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Serve /metrics on this port.")] = 9464,
) -> None:
    """Prometheus metrics of the migration: a textfile, or served on ``--port`` until stopped."""
    from flowctl.migration import health, serve_metrics, write_textfile

    if textfile is not None:
        out().print(f"wrote {write_textfile(textfile, health(project, days))}")
        return
    serve_metrics(port, lambda: health(project, days))
    out().print(f"serving http://0.0.0.0:{port}/metrics (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return


@stops_on_bad_input
def alerts_command(
    path: Annotated[
        Path | None, typer.Option("--file", help="Default: infra/alerts/alerts.yaml.")
    ] = None,
    block: Annotated[
        str | None,
        typer.Option(
            "--block", help="Notification block <type-slug>/<name> for alerts naming none."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Apply the server-side alerts (2.x notification policies, 3.x automations) from code."""
    from rich.table import Table

    from flowctl.migration import apply_alerts

    outcomes = apply_alerts(path, block=block, dry_run=dry_run)
    if as_json:
        print_json({"alerts": [o.to_dict() for o in outcomes]})
        return
    table = Table("alert", "action", "block", title="server-side alerts")
    for o in outcomes:
        table.add_row(o.name, o.action, o.block or "")
    out().print(table)


@migration_app.command("status")
@stops_on_bad_input
def migration_status(
    project: MaybeProject = None, flow: OneFlow = None, as_json: JsonOption = False
) -> None:
    """Every flow's phase, since when, by whom and why, validation and live state, by wave."""
    from flowctl.migration import status, status_table

    rows = status(project, flow)
    if as_json:
        print_json({"flows": [r.to_dict() for r in rows]})
    else:
        out().print(status_table(rows))


@migration_app.command("diff")
@stops_on_bad_input
def migration_diff(project: MaybeProject = None, as_json: JsonOption = False) -> None:
    """Where the declared phase (migration/<project>.yaml) and the server disagree; exit 1 if so."""
    from flowctl.migration import diff, diff_table

    rows = diff(project)
    if as_json:
        print_json({"differences": [r.to_dict() for r in rows]})
    elif rows:
        out().print(diff_table(rows))
    else:
        out().print("declared and recorded phases agree")
    raise typer.Exit(1 if rows else 0)


@migration_app.command("reconcile")
@stops_on_bad_input
def migration_reconcile(
    project: ProjectArg,
    flow: OneFlow = None,
    yes: Annotated[bool, typer.Option("--yes", help="Repair (default: --dry-run).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the drifts.")] = False,
    actor: Actor = None,
    as_json: JsonOption = False,
) -> None:
    """Every drift between each flow's phase record and the live state; --yes repairs them.

    Checked: the deployment's target_env (none: the record decides), its phase tag and work
    pool, and the legacy schedule. Exit 1 when a drift is left (a dry run that found one).
    """
    from flowctl.migration import reconcile

    outcomes = reconcile(project, flow, dry_run=dry_run or not yes, actor=actor)
    _outcomes(
        outcomes, f"reconcile {project}" + ("" if yes and not dry_run else " (dry run)"), as_json
    )


@migration_app.command("history")
@stops_on_bad_input
def migration_history(
    project: ProjectArg, flow: Annotated[str, typer.Option("--flow", "-f")]
) -> None:
    """A flow's phase history: when, by whom or what, why."""
    from flowctl.migration import history

    print_json({"events": [e.to_dict() for e in history(project, flow)]})


@migration_app.command("init")
@stops_on_bad_input
def migration_init(project: MaybeProject = None, actor: Actor = None) -> None:
    """Record the declared phase of flows that have none on the server yet."""
    from flowctl.migration import init_phases, outcomes_table

    outcomes = init_phases(project, actor=actor)
    out().print(outcomes_table(outcomes, title="init phases"))
    raise typer.Exit(outcome_exit_code(outcomes))


@migration_app.command("set-phase")
@stops_on_bad_input
def migration_set_phase(
    project: ProjectArg,
    flow: Annotated[str, typer.Option("--flow", "-f")],
    phase: Annotated[str, typer.Option("--phase")],
    force: Annotated[
        bool, typer.Option("--force", help="Allow a transition out of order.")
    ] = False,
    actor: Actor = None,
    reason: Reason = "",
) -> None:
    """Record a phase by hand (e.g. ``validated`` after a manual review)."""
    from flowctl.migration import outcomes_table, set_phase
    from flowlib.migration.model import check_phase

    outcomes = set_phase(
        project, flow, check_phase(phase, "--phase"), actor=actor, reason=reason, force=force
    )
    out().print(outcomes_table(outcomes, title=f"set-phase {project}/{flow}"))
    raise typer.Exit(outcome_exit_code(outcomes))
