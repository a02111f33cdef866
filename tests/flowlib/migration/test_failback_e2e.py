"""End to end: a cut-over flow fails in production and fails back by itself, losing no data.

What is real: a Prefect server (``prefect_api``), the flow's deployment as declared in
``deployments/sales/prefect.yaml``, a flow run of it executed the way a process worker does
(``python -m prefect.engine`` in a subprocess, so the failure hooks run in the flow-run process),
the bundled sample API with fault injection, local dev and prod lakes, the legacy Prefect 1 flow
(run in ``.venv-legacy``), and a local webhook receiving the notifications through a Prefect
``CustomWebhookNotificationBlock``.

What stands in: the Prefect 1 API. No Prefect 1 server can run here, so
``devtools.prefect1_stub`` serves its documented GraphQL mutations and queries and
records what it received; its agent executes a ``create_flow_run`` by really running the legacy
flow locally (``devtools.legacy.run_legacy``), so the missed partition really lands in the prod
lake. And time: the flow-run process sets every retry *delay* to 0 (the retries themselves are
unchanged), so the run fails for good in seconds instead of after the production delays.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from devtools.fakes import (
    WebhookReceiver,
    legacy_run_env,
    reset_migration_state,
    save_webhook_block,
)
from devtools.legacy import legacy_python
from devtools.localrun import create_flow_run, execute_flow_run, register_deployment
from devtools.prefect1_stub import Prefect1Stub, legacy_executor
from devtools.validation_reports import report_for
from flowctl.migration import cutover, init_phases, record_validation, status
from flowlib.migration.prefect_api import PrefectDeployments

pytestmark = pytest.mark.integration

SLOT = datetime(2026, 11, 24, 2, 20, tzinfo=UTC)  # the deployment's 02:20 slot
# the recovery writes the name the legacy flow writes for that day (its 02:00 slot), so the day
# keeps one partition whichever side wrote it
PARTITION = "sales/shop/products/2026/11/24/products_20261124T020000.parquet"
BOUND_SECONDS = 120


def test_a_cut_over_flow_failing_in_production_fails_back_and_the_partition_is_recovered(
    prefect_api, lake_env, sources_env, tmp_path, monkeypatch
):
    legacy_python()  # fails with the command to run when .venv-legacy is missing
    reset_migration_state()
    receiver = WebhookReceiver()
    stub = Prefect1Stub(
        executor=legacy_executor(
            legacy_run_env(
                lake_env["prod"],
                sources_env.url,
                sources_env.shop_token,
                sources_env.url,
                sources_env.ledger_key,
                tmp_path / "prefect1-home",
            )
        )
    ).start()
    try:
        legacy = stub.add_flow(
            "sales-products-snapshot",
            "sales",
            parameters=["as_of", "sample"],
            legacy_path="sales/products_snapshot",
        )
        stub.add_flow(
            "sales-orders-incremental", "sales", parameters=["window_start", "window_end", "sample"]
        )
        monkeypatch.setenv("PREFECT1_API_URL", stub.url)
        monkeypatch.setenv("FLOWLIB_NOTIFY_BLOCK", save_webhook_block("e2e", receiver.url))
        monkeypatch.setenv("SHOP_API_MAX_ATTEMPTS", "1")  # one HTTP try per task try
        deployment_id = register_deployment("sales", "products_snapshot", schedules_active=False)

        # the flow is validated and cut over (the real services: Variables, deployments, stub)
        init_phases("sales", actor="test")
        record_validation(
            "sales",
            "products_snapshot",
            report_for("sales/shop/products"),  # the gate: several passing days
        )
        [outcome] = cutover("sales", "products_snapshot", actor="user:test")
        assert outcome.status == "done", outcome.message
        assert not legacy.is_schedule_active

        # production run of the slot; the source API fails every request
        sources_env.inject_fault("/shop/v1/products", "500", count=1000)
        run_id = create_flow_run(deployment_id, SLOT)
        started = time.monotonic()
        proc = execute_flow_run(run_id, env=dict(os.environ), timeout=BOUND_SECONDS)
        sources_env.clear_faults()
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "Running hook 'fail_back_if_cut_over'" in proc.stderr + proc.stdout

        # failed back by the hook, before the flow-run process ended
        [row] = status("sales", "products_snapshot")
        assert (row.phase, row.deployment_target_env, row.legacy_schedule_active) == (
            "shadow",
            "record",  # no target_env on the deployment: the record says dev now
            True,
        )
        assert row.actor.startswith("hook:") and "HTTP 500" in (row.reason or "")
        [request] = [c.input for c in stub.calls_to("create_flow_run")]
        assert request["parameters"] == {"as_of": "2026-11-24"}
        # the legacy slot of the failed run's day (its files are named from it), not 02:20
        assert request["scheduled_start_time"] == "2026-11-24T02:00:00+00:00"
        # the deployment names no lake: its runs ask the record, which gives prod back to legacy
        assert (
            PrefectDeployments().deployment("sales-products-snapshot/products-snapshot").target_env
            == "record"
        )

        # the Prefect 1 agent picks the recovery run up: the partition lands in the prod lake
        stub.start_agent(poll_seconds=0.2)
        prod = tmp_path / "lake" / "prod" / PARTITION

        def recovered() -> bool:
            runs = stub.runs_of("sales-products-snapshot")
            # the file lands before the agent records the run's final state
            return prod.exists() and bool(runs) and runs[0].state in ("Success", "Failed")

        while not recovered() and time.monotonic() - started < BOUND_SECONDS:
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        [recovery] = stub.runs_of("sales-products-snapshot")
        assert prod.exists(), f"{recovery.state}: {recovery.state_message}"
        assert elapsed < BOUND_SECONDS
        assert pq.read_table(prod).num_rows > 0
        assert (recovery.state, recovery.written) == ("Success", [lake_env["prod"] + PARTITION])

        # everyone heard: the failure (with its link) and the fail-back
        failure = receiver.wait_for(lambda m: "[flowlib] FAILED sales-products-snapshot" in m.text)
        body = failure.json()["body"]
        assert "deployment: sales-products-snapshot/products-snapshot" in body
        assert (
            "target env: as its phase record decides" in body
            and f"/flow-runs/flow-run/{run_id}" in body
        )
        failback = receiver.wait_for(lambda m: "fail-back sales/products_snapshot" in m.text)
        assert "as_of=2026-11-24" in failback.json()["body"]
    finally:
        stub.close()
        receiver.close()
