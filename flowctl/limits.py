"""``flowctl limits [sync]``: each source API's Prefect global concurrency limit, from its contract.

Every ``SourceSpec`` in ``flows/<project>/sources.py`` declares ``global_concurrency``: how many
requests the API takes at once from all flow runs together. ``flowctl limits sync`` makes the
server's limit ``flowlib-source:<source>`` say exactly that (created, or updated, active);
``flowctl limits`` shows the contracts beside the server (with the slots in use now). Every request
of every flow run holds one slot (``flowlib.limits.source_slot``). docs/sources.md, "Limits".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer

from flowctl.common import FlowctlError, JsonOption, out, print_json
from flowctl.migrate import stops_on_bad_input
from flowlib._aio import run_sync
from flowlib.catalog import SourceContract, source_contracts
from flowlib.limits import SOURCE_LIMIT_PREFIX, source_limit_name

limits_app = typer.Typer(
    name="limits",
    help="Each source API's Prefect global concurrency limit: show it, or sync it from contracts.",
    invoke_without_command=True,
)


@dataclass(frozen=True)
class PlannedLimit:
    """One source's limit as its contract declares it."""

    source: str
    name: str
    limit: int
    declared_in: str


@dataclass(frozen=True)
class LimitOutcome:
    """What ``sync`` did (or, in ``show``, would do) to one limit."""

    source: str
    name: str
    limit: int | None
    server_limit: int | None
    active_slots: int | None
    action: str  # created | updated | unchanged | reset | would-create | would-update | orphan

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return asdict(self)


def planned_limits(contracts: list[SourceContract] | None = None) -> list[PlannedLimit]:
    """Each source's limit from the contracts; every problem of the contracts at once.

    Raises:
        FlowctlError: A contract declares no ``global_concurrency``, or one below 1, or two
            contracts of one source disagree.
    """
    found = source_contracts() if contracts is None else contracts
    problems: list[str] = []
    planned: dict[str, PlannedLimit] = {}
    for contract in found:
        spec, where = contract.spec, contract.module.replace(".", "/") + ".py"
        value = spec.global_concurrency
        if value is None or isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(
                f"{where}: SourceSpec(name={spec.name!r}) has global_concurrency={value!r}; "
                "declare how many requests the API takes at once from all flow runs together "
                "(an integer, at least 1)"
            )
            continue
        other = planned.get(spec.name)
        if other is not None and other.limit != value:
            problems.append(
                f"{where}: SourceSpec(name={spec.name!r}) has global_concurrency={value}, "
                f"{other.declared_in} has {other.limit}; one API has one limit: make them agree"
            )
            continue
        planned.setdefault(
            spec.name, PlannedLimit(spec.name, source_limit_name(spec.name), value, where)
        )
    if problems:
        raise FlowctlError("bad source contracts:\n  " + "\n  ".join(problems))
    if not planned:
        raise FlowctlError("no source contracts found (flows/<project>/sources.py, SourceSpec)")
    return sorted(planned.values(), key=lambda p: p.source)


async def _server_limits(client: Any) -> dict[str, Any]:
    """The server's ``flowlib-source:*`` limits, by name (every page)."""
    found: dict[str, Any] = {}
    offset = 0
    while True:
        page = await client.read_global_concurrency_limits(limit=200, offset=offset)
        for limit in page:
            if limit.name.startswith(f"{SOURCE_LIMIT_PREFIX}:"):
                found[limit.name] = limit
        if len(page) < 200:
            return found
        offset += len(page)


def sync_limits(
    *, dry_run: bool = False, reset_slots: bool = False, planned: list[PlannedLimit] | None = None
) -> list[LimitOutcome]:
    """Create or update every source's limit to its contract (idempotent); list orphans.

    ``reset_slots``: also set the slots in use to 0, for slots a killed process never released
    (Prefect 2 holds them until then; Prefect 3's slots expire with their lease). Only when no
    flow run is in flight: a running request's slot is freed too.
    """
    from prefect import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )

    wanted = planned_limits() if planned is None else planned

    async def run() -> list[LimitOutcome]:
        outcomes: list[LimitOutcome] = []
        async with get_client() as client:
            server = await _server_limits(client)
            for plan in wanted:
                current = server.pop(plan.name, None)
                if current is None:
                    if not dry_run:
                        create: Any = GlobalConcurrencyLimitCreate
                        await client.create_global_concurrency_limit(
                            create(name=plan.name, limit=plan.limit, active=True)
                        )
                    action, slots = ("would-create" if dry_run else "created"), 0
                    outcomes.append(
                        LimitOutcome(plan.source, plan.name, plan.limit, None, slots, action)
                    )
                    continue
                changes: dict[str, Any] = {}
                if current.limit != plan.limit:
                    changes["limit"] = plan.limit
                if not current.active:
                    changes["active"] = True
                if reset_slots and current.active_slots:
                    changes["active_slots"] = 0
                if changes and not dry_run:
                    await client.update_global_concurrency_limit(
                        plan.name,
                        GlobalConcurrencyLimitUpdate(**changes),  # type: ignore[arg-type,unused-ignore]
                    )
                if not changes:
                    action = "unchanged"
                elif dry_run:
                    action = "would-update"
                else:
                    action = "reset" if set(changes) == {"active_slots"} else "updated"
                outcomes.append(
                    LimitOutcome(
                        plan.source,
                        plan.name,
                        plan.limit,
                        current.limit,
                        0 if "active_slots" in changes and not dry_run else current.active_slots,
                        action,
                    )
                )
            for name, current in sorted(server.items()):  # no contract: left as they are
                outcomes.append(
                    LimitOutcome(
                        name.split(":", 1)[1],
                        name,
                        None,
                        current.limit,
                        current.active_slots,
                        "orphan",
                    )
                )
        return outcomes

    return run_sync(run)


def _print(outcomes: list[LimitOutcome], as_json: bool, title: str) -> None:
    if as_json:
        print_json({"limits": [o.to_dict() for o in outcomes]})
        return
    from rich.table import Table

    table = Table("source", "limit", "contract", "server", "slots in use", "action", title=title)
    for o in outcomes:
        table.add_row(
            o.source,
            o.name,
            "" if o.limit is None else str(o.limit),
            "" if o.server_limit is None else str(o.server_limit),
            "" if o.active_slots is None else str(o.active_slots),
            o.action,
        )
    out().print(table)


@limits_app.callback()
@stops_on_bad_input
def limits_show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Each source's limit: contract, server, slots in use (changes nothing)."""
    if ctx.invoked_subcommand is not None:
        return
    _print(sync_limits(dry_run=True), as_json, "source API limits (dry run of sync)")


@limits_app.command("sync")
@stops_on_bad_input
def limits_sync(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    reset_slots: Annotated[
        bool,
        typer.Option(
            "--reset-slots",
            help="Also free slots in use (leaked by killed processes on Prefect 2); only when "
            "no flow run is in flight.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create or update each source's global concurrency limit from its contract (idempotent)."""
    _print(sync_limits(dry_run=dry_run, reset_slots=reset_slots), as_json, "source API limits")
