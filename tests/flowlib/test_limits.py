"""Source APIs' global concurrency limits across flow runs (flowlib.limits, docs/sources.md).

Real processes against a real Prefect server and one sample API, which counts the requests it is
answering at once: several flows and a backfill together never exceed a source's limit, and reach
it. Then what a run does when the server is unreachable, or the limit is missing.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from devtools.fakes import reset_migration_state
from devtools.sample_api import SampleApi
from devtools.services import REPO_ROOT, free_port, sync_source_limits
from flowlib.http import SourceClient, SourceError
from flowlib.limits import SOURCE_LIMITS_VAR, forget_checked_limits, source_limit_name
from flows.finance.sources import LEDGER
from flows.sales.sources import SHOP

pytestmark = pytest.mark.integration

LATENCY_SECONDS = 2.5  # every request takes this long: the runs' requests overlap
SHARDS = 16  # one page each: 16 ledger requests per run, 4 at once in one process


def flow_process(module: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, "--target-env", "dev", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def flow_run_intervals(names: list[str], since: datetime) -> list[tuple[datetime, datetime]]:
    """(start, end) of the completed runs of these flows that started after ``since``."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async def read() -> list[tuple[datetime, datetime]]:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=names)), limit=200
            )
        return [
            (r.start_time, r.end_time)
            for r in runs
            if r.start_time and r.end_time and r.start_time >= since
        ]

    return asyncio.run(read())


def test_several_flows_and_a_backfill_never_exceed_a_source_limit(prefect_api, lake_env):
    reset_migration_state()
    since = datetime.now(UTC)
    with SampleApi.start_subprocess(port=0, latency=LATENCY_SECONDS) as api:
        env = {
            **os.environ,
            "PREFECT_API_URL": prefect_api.api_url,
            "SHOP_API_URL": api.url,
            "SHOP_API_TOKEN": api.shop_token,
            "LEDGER_API_URL": api.url,
            "LEDGER_API_TOKEN": api.ledger_key,
            "SHOP_API_MAX_CONCURRENCY": "4",  # per process; the contracts' limits are lower
            "LEDGER_API_MAX_CONCURRENCY": "4",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        env.pop(SOURCE_LIMITS_VAR, None)
        started = time.monotonic()
        runs = [
            flow_process(
                "flows.finance.transactions_daily",
                *("--day", "2026-11-24", "--shards", str(SHARDS)),
                env=env,
            ),
            # a backfill of an earlier day beside it
            flow_process(
                "flows.finance.transactions_daily",
                *("--day", "2026-11-02", "--shards", str(SHARDS)),
                env=env,
            ),
            flow_process("flows.finance.fx_rates", "--day", "2026-11-24", env=env),
            flow_process("flows.sales.products_snapshot", "--as-of", "2026-11-24", env=env),
            flow_process(
                "flows.sales.orders_incremental",
                *("--window-start", "2026-11-24T08:00:00Z", "--window-end", "2026-11-24T12:00:00Z"),
                env=env,
            ),
        ]
        outputs = [run.communicate(timeout=600)[0] for run in runs]
        elapsed = time.monotonic() - started
        for run, output in zip(runs, outputs, strict=True):
            assert run.returncode == 0, output[-3000:]
        in_flight = api.stats()["in_flight_max"]

    assert in_flight["ledger"] == LEDGER.global_concurrency, in_flight  # reached, not exceeded
    assert SHOP.global_concurrency is not None
    assert 1 <= in_flight["shop"] <= SHOP.global_concurrency, in_flight
    # the ledger runs overlapped: alone, each process would have had 4 requests in flight,
    # together up to 9; the server-side limit held them to 4
    ledger_runs = flow_run_intervals(["finance-transactions-daily", "finance-fx-rates"], since)
    assert len(ledger_runs) == 3, ledger_runs
    assert max(s for s, _ in ledger_runs) < min(e for _, e in ledger_runs), ledger_runs
    print(f"5 flow runs, {elapsed:.0f} s; most requests in flight: {in_flight}")


def fetch_one_page(sample_api: SampleApi) -> object:
    with SourceClient.from_settings(SHOP) as client:
        return client.get_json("/shop/v1/products", {"as_of": "2026-11-24", "page_size": 1}, "p1")


def test_an_unreachable_server_stops_the_request_naming_it_unless_local(
    prefect_api, sources_env, monkeypatch
):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    dead = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("SHOP_API_MAX_ATTEMPTS", "1")
    monkeypatch.delenv(SOURCE_LIMITS_VAR, raising=False)
    sources_env.reset_stats()
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        with pytest.raises(SourceError) as failed:
            fetch_one_page(sources_env)
        message = str(failed.value)
        assert f"the Prefect server at {dead} did not answer" in message
        assert "flowlib-source:shop" in message and f"{SOURCE_LIMITS_VAR}=local" in message
        assert sources_env.stats()["total"] == 0  # nothing was sent to the source

        # the documented fallback: this process's own limit only
        monkeypatch.setenv(SOURCE_LIMITS_VAR, "local")
        assert fetch_one_page(sources_env)
    assert sources_env.stats()["total"] == 1


def test_no_server_configured_means_the_local_limit(sources_env, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv(SOURCE_LIMITS_VAR, raising=False)
    with temporary_settings(updates={PREFECT_API_URL: ""}):  # unset, as on a laptop
        assert fetch_one_page(sources_env)  # a laptop run on the ephemeral API
        monkeypatch.setenv(SOURCE_LIMITS_VAR, "server")  # asked for, but there is no server
        with pytest.raises(SourceError, match="PREFECT_API_URL is unset"):
            fetch_one_page(sources_env)


def test_a_missing_or_inactive_limit_stops_the_request_naming_the_fix(
    prefect_api, sources_env, monkeypatch
):
    from prefect import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    name = source_limit_name("shop")
    monkeypatch.delenv(SOURCE_LIMITS_VAR, raising=False)
    monkeypatch.setenv("SHOP_API_MAX_ATTEMPTS", "1")

    async def change(update: dict[str, object] | None) -> None:
        async with get_client() as client:
            if update is None:
                await client.delete_global_concurrency_limit_by_name(name)
            else:
                await client.update_global_concurrency_limit(
                    name,
                    GlobalConcurrencyLimitUpdate(**update),  # type: ignore[arg-type,unused-ignore]
                )

    try:
        # 2.20's server creates a missing limit inactive when a slot is asked for; 3.x does not
        asyncio.run(change({"active": False}))
        forget_checked_limits()
        with pytest.raises(SourceError, match=f"'{name}' is inactive.*flowctl limits sync"):
            fetch_one_page(sources_env)
        asyncio.run(change(None))
        forget_checked_limits()
        with pytest.raises(SourceError, match=f"'{name}' is missing.*flowctl limits sync"):
            fetch_one_page(sources_env)
    finally:
        sync_source_limits(prefect_api.api_url)
        forget_checked_limits()
    assert fetch_one_page(sources_env)
