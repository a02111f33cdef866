"""The fail-back watcher flow catches a cut-over flow's prod run whose pod died (no hook ran).

A real Prefect server; the flow's deployment from ``deployments/sales/prefect.yaml``; a flow run
of it that a worker marked Crashed after its pod was killed (set through the API: no flow-run
process, so no hook ran). The Prefect 1 side is ``flowlib.migration.prefect1_stub``, a local
stand-in for the Prefect 1 GraphQL API (no Prefect 1 server can run here) that follows its
documented mutations and records what it received. Notifications go through a Prefect
``CustomWebhookNotificationBlock`` to a local webhook receiver.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flowlib.migration import cutover, fail_back, history, init_phases, record_validation, status
from flowlib.migration.localrun import create_flow_run, register_deployment
from flowlib.migration.model import Outcome
from flowlib.migration.prefect1_stub import Prefect1Stub
from flowlib.migration.testing import (
    WebhookReceiver,
    crash_flow_run,
    reset_migration_state,
    save_webhook_block,
)
from flows.migration import failback_watcher as module
from flows.migration.failback_watcher import FailbackFailed, failback_watcher

pytestmark = pytest.mark.integration

# a slot an hour before the test runs: its date is the recovery run's `as_of`
SLOT = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=20, second=0, microsecond=0)


@pytest.fixture
def cut_over(prefect_api, lake_env, monkeypatch):
    """products_snapshot cut over on a real server, Prefect 1 stubbed, a webhook listening."""
    reset_migration_state()
    receiver = WebhookReceiver()
    stub = Prefect1Stub().start()
    legacy = stub.add_flow("sales-products-snapshot", "sales", parameters=["as_of", "sample"])
    stub.add_flow(
        "sales-orders-incremental", "sales", parameters=["window_start", "window_end", "sample"]
    )
    monkeypatch.setenv("PREFECT1_API_URL", stub.url)
    monkeypatch.setenv("FLOWLIB_NOTIFY_BLOCK", save_webhook_block("watcher", receiver.url))
    deployment_id = register_deployment("sales", "products_snapshot", schedules_active=False)
    init_phases("sales", actor="test")
    path = "sales/shop/products/2026/11/23/products.parquet"
    record_validation(
        "sales",
        "products_snapshot",
        {
            "paths": {"matched": [{"normalized": path}], "missing_in_dev": [], "only_in_dev": []},
            "pairs": [{"normalized": path, "status": "pass"}],
            "errors": [],
        },
    )
    [outcome] = cutover("sales", "products_snapshot", actor="user:test")
    assert outcome.status == "done" and not legacy.is_schedule_active
    yield stub, receiver, deployment_id
    stub.close()
    receiver.close()


def test_watcher_fails_back_a_run_whose_pod_died(cut_over):
    stub, receiver, deployment_id = cut_over
    run_id = create_flow_run(deployment_id, SLOT)
    crash_flow_run(run_id)  # the worker saw the pod die: Crashed, and no hook ran
    assert status("sales", "products_snapshot")[0].phase == "cutover"

    result = failback_watcher(late_after_minutes=0)
    [outcome] = result["outcomes"]
    assert (outcome["flow"], outcome["status"]) == ("products_snapshot", "done")
    assert result["checked"] == ["sales/products_snapshot"]

    [row] = status("sales", "products_snapshot")
    assert (row.phase, row.deployment_target_env, row.legacy_schedule_active) == (
        "shadow",
        "dev",
        True,
    )
    assert row.actor == "watcher:migration-failback-watcher"
    assert "ended Crashed: pod killed (OOMKilled)" in (row.reason or "")
    [request] = [c.input for c in stub.calls_to("create_flow_run")]
    assert request["parameters"] == {"as_of": SLOT.date().isoformat()}
    assert request["idempotency_key"] == f"flowlib-failback-{run_id}"
    message = receiver.wait_for(lambda m: "fail-back sales/products_snapshot" in m.text)
    assert "cutover -> shadow" in message.json()["subject"]
    # the history is in the prod lake too
    assert [e.action for e in history("sales", "products_snapshot")][-2:] == [
        "cutover",
        "failback",
    ]

    # idempotent: the next pass and a late hook do nothing more
    assert failback_watcher(late_after_minutes=0)["outcomes"] == []
    again = fail_back("sales", "products_snapshot", run_id, actor="hook:late")
    assert again.status == "skipped" and "already failed back" in again.message
    assert len(stub.calls_to("create_flow_run")) == 1


def test_watcher_run_fails_when_a_fail_back_fails(prefect_api, monkeypatch):
    failed = Outcome("sales", "products_snapshot", "failback", "failed", "Prefect 1 API down")

    class Result:
        def to_dict(self):
            return {"checked": ["sales/products_snapshot"], "outcomes": [failed.to_dict()]}

    monkeypatch.setattr(module, "watch", lambda **_: Result())
    with pytest.raises(FailbackFailed, match="fail-back failed for sales/products_snapshot"):
        failback_watcher(late_after_minutes=0)
