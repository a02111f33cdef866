"""The cutover story for the demo: validate, cut over, fail in production, fail back, recover.

:func:`run_failback_story` runs it against services the caller started (``make demo`` calls it
after its dual run and validation); ``python -m devtools.story`` starts its own (sample
APIs, a Prefect server, one dual-run slot of ``products_snapshot``) and then runs it.

1. The Prefect 1 side is a local stand-in for its GraphQL API
   (:class:`~devtools.prefect1_stub.Prefect1Stub`) whose agent really runs the legacy
   flows; the four flows' deployments are registered from their ``prefect.yaml``.
2. The phases come from the manifests, the validation verdicts from the report.
3. ``products_snapshot`` is cut over: its deployment writes prod, its legacy twin is unscheduled.
4. The shop API fails every request (fault injection) and a production run fails for good
   (retry delays shortened to seconds; the number of retries is the production one).
5. The flow's failure hook fails it back: legacy schedule on, a recovery run for the missed slot,
   deployment back on dev, phase ``shadow``; the notifications reach a local webhook.
6. The Prefect 1 agent runs the recovery: the missed partition lands in the prod lake.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from devtools.prefect1_stub import Prefect1Stub, legacy_executor
from devtools.sample_api import SampleApi
from devtools.services import PrefectServer, api_environment
from flowlib.migration.manifest import Manifests

STORY_FLOW = ("sales", "products_snapshot")

# The dual-run slot the demo and the story share: products of DAY, legacy at 06:00 UTC.
DAY = date(2026, 11, 24)
LEGACY_SLOT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


@dataclass
class StoryResult:
    """What happened; ``ok`` when the missed partition is in the prod lake after the fail-back."""

    ok: bool
    phase_after: str | None
    partition: str | None
    seconds_to_recovery: float | None
    notifications: list[str] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def run_failback_story(
    *,
    api: SampleApi,
    server: PrefectServer,
    roots: Mapping[str, str],
    validation_report: Mapping[str, Any] | None = None,
    console: Console | None = None,
    workdir: Path | None = None,
    register_deployments: bool = True,
) -> StoryResult:
    """Run the cutover / fault / fail-back / recovery story; print it; return what happened.

    Args:
        api: The running sample APIs (faults are injected into it, then cleared).
        server: The running Prefect server.
        roots: The ``dev`` and ``prod`` lake roots the dual run wrote.
        validation_report: ``Report.to_dict()`` of the dual run's validation; without it the
            lakes are validated here.
        console: Where to print (default: a new rich console).
        workdir: Scratch space (Prefect 1 home); default a temporary folder.
        register_deployments: Create the four deployments from their ``prefect.yaml`` (no work
            pool). False when the caller deployed them already (``prefect deploy``): the story's
            production run is created Pending, so a running worker does not take it.
    """
    from devtools.fakes import (
        WebhookReceiver,
        legacy_run_env,
        reset_migration_state,
        save_webhook_block,
    )
    from devtools.localrun import create_flow_run, execute_flow_run, register_deployment
    from flowctl.migration import (
        cutover,
        health,
        health_table,
        init_phases,
        record_validations,
        status,
        status_table,
    )

    out = console or Console()
    scratch = workdir or Path(tempfile.mkdtemp(prefix="flowlib-story-"))
    project, flow = STORY_FLOW
    with ExitStack() as stack:
        receiver = stack.enter_context(WebhookReceiver())
        stub = Prefect1Stub(
            executor=legacy_executor(
                legacy_run_env(
                    roots["prod"],
                    api.url,
                    api.shop_token,
                    api.url,
                    api.ledger_key,
                    scratch / "prefect1-home",
                )
            )
        ).start()
        stack.callback(stub.close)
        plans = Manifests.load().plans
        for plan in plans:
            stub.add_flow(
                plan.legacy.name,
                plan.legacy.project,
                parameters=plan.legacy.parameters,
                legacy_path=f"{plan.project}/{plan.flow}",
            )
        env = server.env()
        env.update(
            {
                "LAKE_DEV_ROOT": roots["dev"],
                "LAKE_PROD_ROOT": roots["prod"],
                "SHOP_API_URL": api.url,
                "SHOP_API_TOKEN": api.shop_token,
                "LEDGER_API_URL": api.url,
                "LEDGER_API_TOKEN": api.ledger_key,
                "PREFECT1_API_URL": stub.url,
                "SHOP_API_MAX_ATTEMPTS": "1",
                "FLOWLIB_ACTOR": "user:demo",
            }
        )
        stack.enter_context(api_environment(env))
        env["FLOWLIB_NOTIFY_BLOCK"] = save_webhook_block("flowlib-demo", receiver.url)
        os.environ["FLOWLIB_NOTIFY_BLOCK"] = env["FLOWLIB_NOTIFY_BLOCK"]

        out.rule("[bold]cutover with automatic fail-back")
        reset_migration_state()
        if register_deployments:
            for p in plans:
                register_deployment(p.project, p.flow, schedules_active=False)
        from flowlib.migration.prefect_api import PrefectDeployments

        story_plan = next(p for p in plans if (p.project, p.flow) == STORY_FLOW)
        deployment_id = PrefectDeployments().deployment(story_plan.deployment).id
        init_phases(actor="user:demo")
        if validation_report is None:
            from flowlib.validation import validate_lakes

            validation_report = validate_lakes(roots["prod"], roots["dev"]).to_dict()
        record_validations(validation_report, actor="validation")
        out.print(status_table(status(live=True)))

        gated = cutover(project, flow, actor="user:demo", move_to_legacy_slot=False)
        for outcome in gated:  # one day of dual run: the gate wants 3 passing days
            out.print(f"cutover {outcome.key}: [bold]{outcome.status}[/] {outcome.message}")
        outcomes = cutover(
            project,
            flow,
            force=any(o.status == "refused" for o in gated),
            actor="user:demo",
            move_to_legacy_slot=False,
            reason="demo: one day of dual run stands in for the gate's three (forced, recorded)",
        )
        for outcome in outcomes:
            out.print(f"cutover {outcome.key}: [bold]{outcome.status}[/] {outcome.message}")
        if not all(o.status == "done" for o in outcomes):
            return StoryResult(False, None, None, None, outcomes=[o.to_dict() for o in outcomes])

        out.print(
            f"the shop API now fails every request; a production run of {project}/{flow} starts"
        )
        api.inject_fault("/shop/v1/products", "500", count=10_000)
        run_id = create_flow_run(deployment_id, pending=True)
        started = time.monotonic()
        with out.status("production run (fails for good after its retries)"):
            proc = execute_flow_run(run_id, env=dict(os.environ))
        api.clear_faults()
        out.print(f"the run ended with exit code {proc.returncode} (failed); the source API heals")
        [row] = status(project, flow)
        out.print(
            f"phase {row.phase} (by {row.actor}: {row.reason}); new deployment writes "
            f"{row.deployment_target_env}; legacy schedule "
            f"{'active' if row.legacy_schedule_active else 'inactive'}"
        )

        stub.start_agent(poll_seconds=0.2)

        def pending() -> bool:
            runs = stub.runs_of(story_plan.legacy.name)
            return not runs or any(r.state in ("Scheduled", "Running") for r in runs)

        with out.status("the Prefect 1 agent runs the recovery run"):
            while pending() and time.monotonic() - started < 300:
                time.sleep(0.2)
        recoveries = stub.runs_of(story_plan.legacy.name)
        written = [url for run in recoveries for url in run.written]
        recovered = bool(written) and all(r.state == "Success" for r in recoveries)
        seconds = time.monotonic() - started if recovered else None
        for run in recoveries:
            out.print(f"legacy recovery run {run.name}: {run.state} {run.parameters}")
        partition = written[0].removeprefix(roots["prod"]) if written else None
        out.print(
            f"missed partition in the prod lake: {partition or '-'} "
            + (f"[green]yes[/] ({seconds:.0f} s after the failure)" if recovered else "[red]no[/]")
        )

        time.sleep(0.5)
        notes = Table("notifications received by the local webhook")
        for message in receiver.messages():
            notes.add_row(str(message.json().get("subject", message.text[:100])))
        out.print(notes)
        out.print(status_table(status(live=True)))
        out.print(health_table(health(days=7)))
        return StoryResult(
            ok=recovered and row.phase == "shadow",
            phase_after=row.phase,
            partition=partition if recovered else None,
            seconds_to_recovery=seconds,
            notifications=[str(m.json().get("subject")) for m in receiver.messages()],
            outcomes=[o.to_dict() for o in outcomes],
        )


def main() -> int:
    """Standalone: sample APIs, a Prefect server, one dual-run slot of products, then the story."""
    from devtools.fakes import legacy_run_env
    from devtools.legacy import run_legacy
    from devtools.services import prefect_server
    from flowlib.settings import default_lake_root

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    console = Console()
    scratch = Path(tempfile.mkdtemp(prefix="flowlib-story-"))
    roots = {env: default_lake_root(env, scratch) for env in ("dev", "prod")}
    try:
        with ExitStack() as stack:
            with console.status("starting the sample APIs and a local Prefect server"):
                api = stack.enter_context(SampleApi.start_subprocess(port=0))
                server = stack.enter_context(prefect_server(home=scratch / "prefect"))
            legacy_env = legacy_run_env(
                roots["prod"], api.url, api.shop_token, api.url, api.ledger_key, scratch / "p1"
            )
            with console.status("dual run of sales/products_snapshot"):
                run_legacy(
                    "sales/products_snapshot", {"as_of": DAY.isoformat()}, LEGACY_SLOT, legacy_env
                )
                env = server.env() | {
                    "LAKE_DEV_ROOT": roots["dev"],
                    "LAKE_PROD_ROOT": roots["prod"],
                    "SHOP_API_URL": api.url,
                    "SHOP_API_TOKEN": api.shop_token,
                }
                with api_environment(env):
                    from flows.sales.products_snapshot import products_snapshot

                    products_snapshot(target_env="dev", as_of=DAY)
            result = run_failback_story(
                api=api, server=server, roots=roots, console=console, workdir=scratch
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
