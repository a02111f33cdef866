"""``make demo``: the dual run on one machine, on local embedded defaults.

1. The bundled sample APIs and a local Prefect server start (nothing to configure).
2. Each legacy Prefect 1 flow loads one slot into the prod lake (``.lake/prod/``).
3. Each migrated Prefect 2 flow loads the same slot into the dev lake (``.lake/dev/``),
   half an hour later, as its staggered schedule would.
4. Path and data-frame validation compares the two lakes; the reports land in ``.lake/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from flowlib.devservices import REPO_ROOT, PrefectServer, prefect_server
from flowlib.legacy import run_legacy
from flowlib.sample_api import SampleApi
from flowlib.settings import default_lake_root

console = Console()
DAY = date(2026, 11, 24)
LEGACY_SLOT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
NEW_SLOT = LEGACY_SLOT + timedelta(minutes=30)


@dataclass(frozen=True)
class DemoFlow:
    """One flow of the dual run: its legacy name, its new module, and the slot's parameters."""

    legacy: str
    module: str
    legacy_params: dict[str, Any]
    new_params: dict[str, Any]


FLOWS = [
    DemoFlow(
        "sales/products_snapshot",
        "flows.sales.products_snapshot",
        {"as_of": DAY.isoformat()},
        {"as_of": DAY},
    ),
    DemoFlow(
        "sales/orders_incremental",
        "flows.sales.orders_incremental",
        {"window_start": "2026-11-24T00:00:00Z", "window_end": "2026-11-24T06:00:00Z"},
        {
            "window_start": datetime(2026, 11, 24, tzinfo=UTC),
            "window_end": datetime(2026, 11, 24, 6, tzinfo=UTC),
        },
    ),
    DemoFlow(
        "finance/transactions_daily",
        "flows.finance.transactions_daily",
        {"day": DAY.isoformat()},
        {"day": DAY},
    ),
    DemoFlow("finance/fx_rates", "flows.finance.fx_rates", {"day": DAY.isoformat()}, {"day": DAY}),
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


def _run_new(flow: DemoFlow, env: dict[str, str]) -> dict[str, Any]:
    import importlib

    from prefect.settings import PREFECT_API_URL, temporary_settings

    module = importlib.import_module(flow.module)
    fn: Callable[..., dict[str, Any]] = getattr(module, flow.module.rsplit(".", 1)[1])
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}):
            return fn(target_env="dev", **flow.new_params)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> int:
    """Run the dual run and the validation; exit 1 if validation fails."""
    from flowlib.validation import validate_lakes

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
            api = stack.enter_context(SampleApi.start_subprocess(port=0))
            server = stack.enter_context(prefect_server(home=state))
        console.print(f"sample APIs at {api.url}; Prefect API at {server.api_url}")
        env = _env(api, server, roots)
        summary = Table("flow", "files legacy/new", "rows legacy/new", "first file (dev lake)")
        for flow in FLOWS:
            with console.status(f"legacy {flow.legacy} (slot {LEGACY_SLOT:%H:%M} UTC)"):
                legacy = run_legacy(flow.legacy, flow.legacy_params, LEGACY_SLOT, env)
            with console.status(f"migrated {flow.module} (slot {NEW_SLOT:%H:%M} UTC)"):
                new = _run_new(flow, env)
            legacy_rows = _rows(lake_dir / "prod", legacy.written, roots["prod"])
            summary.add_row(
                flow.legacy,
                f"{len(legacy.written)} / {len(new['files'])}",  # type: ignore[arg-type]
                f"{legacy_rows} / {new['rows']}",
                str(new["files"][0]),  # type: ignore[index]
            )
        console.print(summary)
    console.rule("[bold]validation: prod (legacy) against dev (migrated)")
    report = validate_lakes(roots["prod"], roots["dev"])
    (lake_dir / "validation.json").write_text(report.to_json())
    (lake_dir / "validation.md").write_text(report.to_markdown())
    verdict = "[green]PASSED" if report.passed else "[red]FAILED"
    counts = report.summary()
    new_columns = sorted({c for p in report.pairs for c in p.result.new_columns})
    console.print(
        f"{counts['matched']} paths matched, {counts['missing_in_dev']} missing in dev, "
        f"{counts['only_in_dev']} only in dev; {counts['pairs_passed']}/{len(report.pairs)} "
        f"data-frame pairs pass; new columns allowed: {new_columns}"
    )
    console.print(f"validation {verdict}[/]: reports in .lake/validation.md and .json")
    return 0 if report.passed else 1


def _rel(url: str, root: str) -> str:
    return url[len(root) :] if url.startswith(root) else url


def _rows(lake: Path, urls: list[str], root: str) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    total = 0
    for url in urls:
        path = lake / _rel(url, root)
        if path.suffix == ".csv":
            total += pacsv.read_csv(path).num_rows
        else:
            total += pq.ParquetFile(path).metadata.num_rows
    return total


if __name__ == "__main__":
    raise SystemExit(main())
