"""``make demo``: the dual run on one machine, on local embedded defaults.

1. The bundled sample APIs and a local Prefect server start (nothing to configure).
2. Every project's ``prefect.yaml`` is registered with the real ``prefect deploy --all``
   (``deployments/local.env``: a process work pool), and a process worker starts.
3. Each legacy Prefect 1 flow loads one slot into the prod lake (``.lake/prod/``).
4. Each migrated flow's deployment runs the same slot through the worker into the dev lake
   (``.lake/dev/``), as its staggered schedule would half an hour later.
5. The validation flow compares the two lakes, every slot, with each flow's relaxations; its
   report is a Prefect artifact (Markdown and a mismatch table) and lands in ``.lake/``.
6. Cutover: the validated flow switches to prod and its legacy twin is unscheduled; a fault is
   injected into its production run; the automatic fail-back re-activates the legacy flow, runs it
   for the missed partition (which lands in the prod lake) and notifies; the health table ends it.
7. It prints where to look: the artifact's URL in the Prefect UI, the lakes, the reports. With
   ``--ui`` (``make demo UI=1``) the server and its UI stay up until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from devtools.legacy import run_legacy
from devtools.sample_api import SampleApi
from devtools.services import REPO_ROOT, PrefectServer, prefect_cli, prefect_server
from devtools.story import DAY, LEGACY_SLOT
from flowctl.deployments import load_environment
from flowlib.settings import default_lake_root

console = Console(width=None if sys.stdout.isatty() else 120)
NEW_SLOT = LEGACY_SLOT + timedelta(minutes=30)


@dataclass(frozen=True)
class DemoFlow:
    """One flow of the dual run: its legacy name, its new module, and the slot's parameters."""

    legacy: str
    deployment: str
    legacy_params: dict[str, Any]
    new_params: dict[str, Any]


# the window the legacy run at LEGACY_SLOT loads (its hours up to the slot): the new flow names
# its partition from the window (end + 5 min), the legacy flow from its run: the same hour
WINDOW = {"window_start": "2026-11-25T00:00:00Z", "window_end": "2026-11-25T06:00:00Z"}
FLOWS = [
    DemoFlow(
        "sales/products_snapshot",
        "sales-products-snapshot/products-snapshot",
        {"as_of": DAY.isoformat()},
        {"as_of": DAY.isoformat()},
    ),
    DemoFlow(
        "sales/orders_incremental", "sales-orders-incremental/orders-incremental", WINDOW, WINDOW
    ),
    DemoFlow(
        "finance/transactions_daily",
        "finance-transactions-daily/transactions-daily",
        {"day": DAY.isoformat()},
        {"day": DAY.isoformat()},
    ),
    DemoFlow(
        "finance/fx_rates",
        "finance-fx-rates/fx-rates",
        {"day": DAY.isoformat()},
        {"day": DAY.isoformat()},
    ),
]


def _env(api: SampleApi, server: PrefectServer, roots: dict[str, str]) -> dict[str, str]:
    env = server.env()
    env.update(
        {
            "SHOP_API_URL": api.url,
            "SHOP_API_TOKEN": api.shop_token,
            "LEDGER_API_URL": api.url,
            "LEDGER_API_TOKEN": api.ledger_key,
            "LEDGER_API_KEY": api.ledger_key,  # the legacy flows' name for it
            "LAKE_DEV_ROOT": roots["dev"],
            "LAKE_PROD_ROOT": roots["prod"],
        }
    )
    return env


DEMO_QUEUE = "demo"  # the worker takes the demo's runs only, not the schedules' runs


def _deploy_and_start_worker(
    stack: ExitStack, server: PrefectServer, values: dict[str, str], env: dict[str, str]
) -> None:
    """Register every project through the real CLI and start a process worker."""
    from flowctl.deployments import deploy_project, ensure_work_pool, project_files

    pool = values["FLOWLIB_WORK_POOL"]
    ensure_work_pool(pool, values.get("FLOWLIB_WORK_POOL_TYPE", "process"), server_env=env)
    for project in project_files():
        with console.status(f"prefect deploy --all --prefect-file deployments/{project}/..."):
            deploy_project(project, values, server_env=env)
    log = (REPO_ROOT / ".state" / "demo-worker.log").open("wb")
    stack.callback(log.close)
    worker = subprocess.Popen(
        [prefect_cli(), "worker", "start", "--pool", pool, "--work-queue", DEMO_QUEUE],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack.callback(_stop_worker, worker)
    console.print(f"registered {len(project_files())} projects; process worker on pool {pool}")


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


def _run_deployment(name: str, params: dict[str, Any], timeout: float = 600) -> Any:
    """Create a run of a deployment on the demo queue and wait until the worker finishes it."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Scheduled

    async def run() -> Any:
        async with get_client() as client:
            try:
                deployment = await client.read_deployment_by_name(name)
            except ObjectNotFound:
                known = [d.name for d in await client.read_deployments()]
                raise LookupError(f"no deployment {name!r} on the server; it has {known}") from None
            # scheduled at the staggered slot, as its schedule would: the run derives its
            # partition stamp from its scheduled start, so both lakes hold the same slot
            flow_run = await client.create_flow_run_from_deployment(
                deployment.id,
                parameters=params,
                work_queue_name=DEMO_QUEUE,
                state=Scheduled(scheduled_time=NEW_SLOT),
            )
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                flow_run = await client.read_flow_run(flow_run.id)
                if flow_run.state is not None and flow_run.state.is_final():
                    return flow_run
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{name}: run {flow_run.name} not finished in {timeout}s")
                await asyncio.sleep(1)

    return asyncio.run(run())


def _validate(server: PrefectServer, roots: dict[str, str]) -> tuple[Any, Any]:
    """Run the validation flow in-process against the demo's server; the report and run id."""
    from datetime import date

    from flows.migration.validate_lakes import ValidationFailed, validate_lakes_flow

    state: Any = validate_lakes_flow(
        prod_root=roots["prod"],
        dev_root=roots["dev"],
        since=date(2026, 11, 24),
        until=DAY,
        return_state=True,
    )
    try:
        result = state.result()
    except ValidationFailed as exc:
        result = exc.report
    return result, state.state_details.flow_run_id


def _artifact_ids(flow_run_id: Any) -> dict[str, Any]:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
            return {str(a.type): a.id for a in found}  # 3.x types it optional

    return asyncio.run(read())


def main(argv: list[str] | None = None) -> int:
    """Run the dual run, validation and the fail-back story; exit 1 if either fails."""
    import argparse
    import json

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flowlib.compat import flow_run_ui_path

    parser = argparse.ArgumentParser(prog="python -m devtools.demo")
    parser.add_argument("--ui", action="store_true", help="keep the server and UI up (Ctrl-C)")
    args = parser.parse_args(argv)

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the demo prints its own story
    lake_dir = REPO_ROOT / ".lake"
    roots = {env: default_lake_root(env, REPO_ROOT) for env in ("dev", "prod")}
    for name in roots:
        shutil.rmtree(lake_dir / name, ignore_errors=True)
    state = REPO_ROOT / ".state" / "demo-prefect"
    shutil.rmtree(state, ignore_errors=True)
    console.rule("[bold]dual run: legacy (Prefect 1) -> prod lake, migrated (Prefect 2) -> dev")
    with ExitStack() as stack:
        with console.status("starting the sample APIs and a local Prefect server"):
            api = stack.enter_context(SampleApi.start_subprocess(port=_port(8765)))
            server = stack.enter_context(
                prefect_server(home=state, ui=True, port=_port(4200) if args.ui else 0)
            )
        console.print(f"sample APIs at {api.url}; Prefect API at {server.api_url}")
        env = _env(api, server, roots)
        values = {**load_environment("local"), "SHOP_API_URL": api.url, "LEDGER_API_URL": api.url}
        _deploy_and_start_worker(stack, server, values, env)
        summary = Table("flow", "legacy run", "migrated run (worker)", "files", "rows")
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            for flow in FLOWS:
                with console.status(f"legacy {flow.legacy} (slot {LEGACY_SLOT:%H:%M} UTC)"):
                    legacy = run_legacy(flow.legacy, flow.legacy_params, LEGACY_SLOT, env)
                legacy_state = f"Completed ({len(legacy.written)} files)"
                with console.status(f"deployment {flow.deployment} on the process worker"):
                    run = _run_deployment(flow.deployment, flow.new_params)
                prefix = _dataset_prefix(flow.legacy)
                prod_files = _lake_files(lake_dir / "prod", prefix)
                dev_files = _lake_files(lake_dir / "dev", prefix)
                summary.add_row(
                    flow.legacy,
                    legacy_state,
                    f"{run.state.name} ({run.name})",
                    f"{len(prod_files)} / {len(dev_files)}",
                    f"{_rows(prod_files)} / {_rows(dev_files)}",
                )
        console.print(summary)
        console.rule("[bold]validation: prod (legacy) against dev (migrated)")
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}), _api_env(server):
            result, validation_run = _validate(server, roots)
            artifacts = _artifact_ids(validation_run)
        (lake_dir / "validation.json").write_text(json.dumps(result, indent=2) + "\n")
        passed = bool(result.get("passed"))
        verdict = "[green]PASSED" if passed else f"[red]{result.get('verdict', 'FAILED')}"
        counts = result["summary"]
        console.print(
            f"{counts['slots']} slots ({counts['slots_passed']} pass), {counts['matched']} file "
            f"pairs, {counts['missing_in_dev']} missing in dev, {counts['only_in_dev']} only in "
            f"dev; relaxations: {result.get('relaxations') or 'none (exact)'}"
        )
        console.print(f"validation {verdict}[/]")
        console.rule("[bold]cutover, a fault in production, automatic fail-back")
        from devtools.story import run_failback_story

        story = run_failback_story(
            api=api,
            server=server,
            roots=roots,
            validation_report=result,
            console=console,
            register_deployments=False,
        )
        console.rule("[bold]where to look")
        where = Table("what", "where", show_header=False)
        if "markdown" in artifacts:
            where.add_row(
                "validation report (Prefect UI)",
                f"{server.ui_url}/artifacts/artifact/{artifacts['markdown']}",
            )
        if "table" in artifacts:
            where.add_row(
                "mismatch table (Prefect UI)",
                f"{server.ui_url}/artifacts/artifact/{artifacts['table']}",
            )
        where.add_row("validation flow run", server.ui_url + flow_run_ui_path(validation_run))
        where.add_row("prod lake (legacy)", str(lake_dir / "prod"))
        where.add_row("dev lake (migrated)", str(lake_dir / "dev"))
        where.add_row("JSON report", str(lake_dir / "validation.json"))
        where.add_row("phase records", "Prefect UI > Variables (migration_phase__*)")
        console.print(where)
        if args.ui:
            console.print(f"[bold]Prefect UI at {server.ui_url}: Ctrl-C stops the server and UI")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                console.print("stopping")
        else:
            console.print("the server stops now; `make demo UI=1` keeps it and the UI up")
    return 0 if passed and story.ok else 1


@contextmanager
def _api_env(server: PrefectServer) -> Iterator[None]:
    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = old


def _port(preferred: int) -> int:
    """The documented port (deployments/local.env) when free, else any free port."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return 0
    return preferred


def _dataset_prefix(legacy_name: str) -> str:
    import importlib

    module = importlib.import_module("flows." + legacy_name.replace("/", "."))
    return str(module.DATASET.prefix)


def _lake_files(lake: Path, prefix: str) -> list[Path]:
    """The data files of a dataset (manifests, staging and other ``_``/``.`` names are not)."""
    from flowlib.lake import is_bookkeeping

    root = lake / prefix
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not is_bookkeeping(p.relative_to(root).as_posix())
    )


def _rows(paths: list[Path]) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        if path.suffix == ".csv":
            total += pacsv.read_csv(path).num_rows
        else:
            total += pq.ParquetFile(path).metadata.num_rows
    return total


if __name__ == "__main__":
    raise SystemExit(main())
