"""``flowctl cutover|rollback|health|metrics|migration ...`` against a real Prefect server.

The Prefect 1 side is ``devtools.prefect1_stub``, a local stand-in for the Prefect 1
GraphQL API (no Prefect 1 server can run here) that follows its documented mutations and records
what it received.
"""

from __future__ import annotations

import json

import pytest

from devtools.fakes import WebhookReceiver, reset_migration_state, save_webhook_block
from devtools.localrun import register_deployment
from devtools.prefect1_stub import Prefect1Stub
from devtools.validation_reports import report_for
from flowctl.deployments import ensure_work_pool
from flowctl.migration import record_validation

from .conftest import flowctl, write_env

pytestmark = pytest.mark.integration

POOL = "flowctl-migrate-test"
PATH = "sales/shop/products/2026/11/24/products.parquet"
PASSING = report_for("sales/shop/products")  # 7 passing days: the cutover gate opens


@pytest.fixture
def prefect1(prefect_api, lake_env, monkeypatch):
    reset_migration_state()
    stub = Prefect1Stub().start()
    legacy = stub.add_flow("sales-products-snapshot", "sales", parameters=["as_of", "sample"])
    stub.add_flow(
        "sales-orders-incremental", "sales", parameters=["window_start", "window_end", "sample"]
    )
    monkeypatch.setenv("PREFECT1_API_URL", stub.url)
    register_deployment("sales", "products_snapshot", schedules_active=False)
    yield legacy
    stub.close()


def test_cutover_is_gated_then_rolled_back_by_hand(prefect1, prefect_api, tmp_path):
    ensure_work_pool(POOL, "process", server_env=prefect_api.env())
    values = write_env(tmp_path / "values.env", FLOWLIB_WORK_POOL=POOL)
    diff = ("diff", "--env-file", values, "-p", "sales", "-f", "products_snapshot", "--json")
    assert flowctl("migration", "init", "--project", "sales").exit_code == 0

    refused = flowctl("cutover", "--project", "sales", "--flow", "products_snapshot", "--json")
    assert refused.exit_code == 1, refused.output
    [outcome] = json.loads(refused.output)["outcomes"]
    assert outcome["status"] == "refused" and "validation" in outcome["message"]
    assert prefect1.is_schedule_active

    record_validation("sales", "products_snapshot", PASSING)
    # validated (by the validation) agrees with the declared shadow: no phase difference
    validated = flowctl(*diff)
    assert json.loads(validated.output)["phases"] == [], validated.output
    done = flowctl("cutover", "-p", "sales", "-f", "products_snapshot", "--reason", "wave 1")
    assert done.exit_code == 0, done.output
    assert not prefect1.is_schedule_active

    status = flowctl("migration", "status", "--project", "sales", "--json")
    [row] = [r for r in json.loads(status.output)["flows"] if r["flow"] == "products_snapshot"]
    assert (row["phase"], row["deployment_target_env"], row["reason"]) == (
        "cutover",
        "record",  # the deployment names no lake: the record decides (prod)
        "wave 1",
    )

    table = flowctl("status", "--project", "sales", "--flow", "products_snapshot", "--json")
    [dep] = json.loads(table.output)["deployments"]
    # no target_env on the deployment: its runs ask the record (prod from the handover slot)
    assert (dep["wave"], dep["phase"], dep["target_env"]) == (1, "cutover", None)

    drift = flowctl(*diff)
    assert drift.exit_code == 1, drift.output
    [phase] = json.loads(drift.output)["phases"]
    assert "declared phase shadow in migration/sales.yaml, server cutover" in phase

    back = flowctl("rollback", "-p", "sales", "-f", "products_snapshot", "--reason", "by hand")
    assert back.exit_code == 0, back.output
    assert prefect1.is_schedule_active
    after = json.loads(flowctl("migration", "status", "-p", "sales", "--json").output)["flows"]
    assert next(r for r in after if r["flow"] == "products_snapshot")["phase"] == "shadow"


def test_health_and_metrics(prefect1, tmp_path):
    assert flowctl("migration", "init", "--project", "sales").exit_code == 0
    health = flowctl("health", "--project", "sales", "--json")
    assert health.exit_code == 0, health.output
    flows = {f["flow"] for f in json.loads(health.output)["flows"]}
    assert "products_snapshot" in flows
    path = tmp_path / "flowlib.prom"
    metrics = flowctl("metrics", "--project", "sales", "--textfile", str(path))
    assert metrics.exit_code == 0, metrics.output
    sample = 'flowlib_migration_phase{flow="products_snapshot",phase="shadow",project="sales"} 1.0'
    assert sample in path.read_text()


def test_decommission_waits_for_the_quiet_period_then_archives(prefect1):
    assert flowctl("migration", "init", "--project", "sales").exit_code == 0
    record_validation("sales", "products_snapshot", PASSING)
    assert flowctl("cutover", "-p", "sales", "-f", "products_snapshot").exit_code == 0

    early = flowctl("decommission", "-p", "sales", "-f", "products_snapshot", "--json")
    assert early.exit_code == 1, early.output
    [outcome] = json.loads(early.output)["outcomes"]
    assert outcome["status"] == "refused" and "quiet period is 14 days" in outcome["message"]
    assert not prefect1.archived

    done = flowctl("decommission", "-p", "sales", "-f", "products_snapshot", "--quiet-days", "0")
    assert done.exit_code == 0, done.output
    assert prefect1.archived
    [row] = json.loads(
        flowctl("migration", "status", "-p", "sales", "-f", "products_snapshot", "--json").output
    )["flows"]
    assert row["phase"] == "decommissioned"


def test_alerts_dry_run_lists_the_alerts_of_the_file_and_changes_nothing(prefect1):
    missing = flowctl("alerts", "--dry-run", "--block", "custom-webhook/nowhere")
    assert missing.exit_code == 2
    assert "notification block 'custom-webhook/nowhere' not found" in missing.output

    receiver = WebhookReceiver()
    try:
        block = save_webhook_block("flowctl-alerts", receiver.url)
        result = flowctl("alerts", "--dry-run", "--block", block, "--json")
        again = flowctl("alerts", "--dry-run", "--block", block, "--json")
    finally:
        receiver.close()
    assert result.exit_code == 0, result.output
    alerts = json.loads(result.output)["alerts"]
    assert "failback-watcher-failed" in {a["name"] for a in alerts}
    # would-update where another test of this server applied them; a dry run changes nothing
    assert {a["action"] for a in alerts} <= {"would-create", "would-update"}
    assert json.loads(again.output) == json.loads(result.output)
    assert flowctl("migration", "status", "-p", "nope").exit_code == 2
