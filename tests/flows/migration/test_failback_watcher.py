"""The fail-back watcher flow catches a cut-over flow's prod run whose pod died (no hook ran).

A real Prefect server; the flow's deployment from ``deployments/sales/prefect.yaml``; a flow run
of it that a worker marked Crashed after its pod was killed (set through the API: no flow-run
process, so no hook ran). The Prefect 1 side is ``devtools.prefect1_stub``, a local
stand-in for the Prefect 1 GraphQL API (no Prefect 1 server can run here) that follows its
documented mutations and records what it received. Notifications go through a Prefect
``CustomWebhookNotificationBlock`` to a local webhook receiver.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.fakes import (
    WebhookReceiver,
    crash_flow_run,
    reset_migration_state,
    save_webhook_block,
)
from devtools.localrun import create_flow_run, register_deployment
from devtools.prefect1_stub import Prefect1Stub
from devtools.services import prefect_cli, sync_source_limits
from devtools.validation_reports import report_for
from flowctl.deployments import ensure_work_pool
from flowctl.migration import cutover, fail_back, history, init_phases, record_validation, status
from flowlib.compat import PREFECT_MAJOR
from flowlib.migration.model import Outcome
from flows.migration import failback_watcher as module
from flows.migration.failback_watcher import FailbackFailed, failback_watcher

pytestmark = pytest.mark.integration

# a slot an hour before the test runs: its date is the recovery run's `as_of`
SLOT = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=20, second=0, microsecond=0)


@contextlib.contextmanager
def cut_over_flow(
    monkeypatch, **deployment: Any
) -> Iterator[tuple[Prefect1Stub, WebhookReceiver, str]]:
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
    deployment_id = register_deployment(
        "sales", "products_snapshot", schedules_active=False, **deployment
    )
    init_phases("sales", actor="test")
    record_validation(
        "sales",
        "products_snapshot",
        report_for("sales/shop/products"),  # the gate: several passing days
    )
    [outcome] = cutover("sales", "products_snapshot", actor="user:test")
    assert outcome.status == "done" and not legacy.is_schedule_active
    try:
        yield stub, receiver, deployment_id
    finally:
        stub.close()
        receiver.close()


@pytest.fixture
def cut_over(prefect_api, lake_env, monkeypatch):
    """products_snapshot cut over (no work pool: the test sets its runs' states itself)."""
    with cut_over_flow(monkeypatch) as services:
        yield services


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
        "record",  # no target_env on the deployment: the record says dev now
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
    # the fail-back first takes prod from the new flow (failback-start), then records shadow
    assert [e.action for e in history("sales", "products_snapshot")][-3:] == [
        "cutover",
        "failback-start",
        "failback",
    ]

    # idempotent: the next pass and a late hook do nothing more
    assert failback_watcher(late_after_minutes=0)["outcomes"] == []
    again = fail_back("sales", "products_snapshot", run_id, actor="hook:late")
    assert again.status == "skipped" and "already failed back" in again.message
    assert len(stub.calls_to("create_flow_run")) == 1


KILL_POOL = "failback-kill-test"


def flow_run(run_id: str) -> Any:
    from prefect import get_client

    from flowlib.migration._aio import run_sync

    async def read() -> Any:
        async with get_client() as client:
            return await client.read_flow_run(run_id)

    return run_sync(read)


def test_watcher_fails_back_a_run_whose_process_was_killed(
    prefect_api, lake_env, sources_env, monkeypatch, tmp_path
):
    """No simulated state: a real process worker runs the cut-over flow, its flow-run process is
    killed with SIGKILL (as the kernel kills an OOM pod: no hook runs in it), the worker reports
    the run Crashed, and the flow is failed back once: by the watcher on 2.x, by the worker
    running the flow's on_crashed hook on 3.x."""
    ensure_work_pool(KILL_POOL, "process", server_env=prefect_api.env())
    with cut_over_flow(monkeypatch, work_pool=KILL_POOL) as (stub, receiver, deployment_id):
        # the source API hangs: the run stays in its first request until it is killed
        sources_env.inject_fault("/shop/v1/products", "slow", count=1000, delay=120)
        run_id = create_flow_run(deployment_id, SLOT)
        log_path = tmp_path / "worker.log"  # a file, not a pipe nobody reads while we wait
        log = log_path.open("w")
        worker = subprocess.Popen(
            [prefect_cli(), "worker", "start", "--pool", KILL_POOL, "--run-once"],
            cwd=tmp_path,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            # generous: a worker and a flow-run process start on CPUs shared with the suite
            deadline = time.monotonic() + 300
            run = flow_run(run_id)
            while not (run.state_name == "Running" and run.infrastructure_pid):
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, f"never Running: {run.state_name}"
                time.sleep(0.5)
                run = flow_run(run_id)
            pid = int(str(run.infrastructure_pid).rsplit(":", 1)[-1])
            os.kill(pid, signal.SIGKILL)
            worker.wait(timeout=300)
        finally:
            if worker.poll() is None:
                worker.kill()
            log.close()
            sources_env.clear_faults()
            # the killed run's source slots stay taken on Prefect 2: freed as an operator does
            sync_source_limits(prefect_api.api_url, reset_slots=True)

        output = log_path.read_text()
        run = flow_run(run_id)
        assert run.state_name == "Crashed", output[-3000:]
        result = failback_watcher(late_after_minutes=0)
        [row] = status("sales", "products_snapshot")
        assert (row.phase, row.deployment_target_env, row.legacy_schedule_active) == (
            "shadow",
            "record",  # no target_env on the deployment: the record says dev now
            True,
        ), (row.actor, row.reason, result)
        if PREFECT_MAJOR >= 3:
            # a 3.x worker runs a crashed run's on_crashed hooks itself, in the worker process:
            # the hook failed back first and the watcher found nothing left to do
            assert row.actor.startswith("hook:"), (row.actor, row.reason)
            assert result["outcomes"] == []
        else:
            # a 2.x worker only reports the crash: the watcher fails back
            assert row.actor == "watcher:migration-failback-watcher"
            [outcome] = result["outcomes"]
            assert (outcome["flow"], outcome["status"]) == ("products_snapshot", "done")
        assert "Crashed" in (row.reason or ""), row.reason
        [request] = [c.input for c in stub.calls_to("create_flow_run")]
        assert request["parameters"] == {"as_of": SLOT.date().isoformat()}
        receiver.wait_for(lambda m: "fail-back sales/products_snapshot" in m.text)


def test_watcher_run_fails_when_a_fail_back_fails(prefect_api, monkeypatch):
    failed = Outcome("sales", "products_snapshot", "failback", "failed", "Prefect 1 API down")

    class Result:
        def to_dict(self):
            return {"checked": ["sales/products_snapshot"], "outcomes": [failed.to_dict()]}

    monkeypatch.setattr(module, "watch", lambda **_: Result())
    with pytest.raises(FailbackFailed, match="fail-back failed for sales/products_snapshot"):
        failback_watcher(late_after_minutes=0)


CANCEL_POOL = "failback-cancel-test"


def test_a_fail_back_cancels_a_prod_run_in_flight_under_a_real_worker(
    prefect_api, lake_env, sources_env, monkeypatch, tmp_path
):
    """A real process worker runs the cut-over flow for a slot it owns in prod; another run of
    the flow crashed. The fail-back cancels the run in flight (the worker kills its process),
    its slot gets a legacy recovery run like the crashed one's, and the cancellation triggers
    no second fail-back: one fail-back event, one notification, the watcher finds nothing."""
    from prefect import get_client

    from flowlib.migration._aio import run_sync
    from flowlib.migration.failback import watch
    from flowlib.migration.store import VariableStore

    ensure_work_pool(CANCEL_POOL, "process", server_env=prefect_api.env())
    with cut_over_flow(monkeypatch, work_pool=CANCEL_POOL) as (stub, receiver, deployment_id):
        record = VariableStore().read("sales", "products_snapshot")
        assert record is not None
        # a prod slot the flow owns, tomorrow: its run starts now, as a backfill would
        owned_slot = record.handover_time.replace(minute=20) + timedelta(days=1)
        owned = owned_slot.date()
        sources_env.inject_fault("/shop/v1/products", "slow", count=1000, delay=120)
        in_flight = create_flow_run(deployment_id, owned_slot)  # its expected start: the slot

        async def due_now() -> None:
            from prefect.states import Scheduled

            async with get_client() as client:
                await client.set_flow_run_state(in_flight, Scheduled(), force=True)

        run_sync(due_now)
        crashed = create_flow_run(deployment_id, SLOT + timedelta(days=2))
        crash_flow_run(crashed)
        log_path = tmp_path / "worker.log"
        log = log_path.open("w")
        worker = subprocess.Popen(
            [prefect_cli(), "worker", "start", "--pool", CANCEL_POOL],
            cwd=tmp_path,
            env={**os.environ, "PREFECT_WORKER_QUERY_SECONDS": "2"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            run = flow_run(in_flight)
            while not (run.state_name == "Running" and run.infrastructure_pid):
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, f"never Running: {run.state_name}"
                time.sleep(0.5)
                run = flow_run(in_flight)
            outcome = fail_back("sales", "products_snapshot", crashed, actor="hook:crashed")
            assert outcome.status == "done", outcome.message
            assert outcome.details["cancelled_runs"] == [in_flight]
            deadline = time.monotonic() + 120
            while run.state_type.value not in ("CANCELLED", "CRASHED", "FAILED", "COMPLETED"):
                assert time.monotonic() < deadline, (run.state_name, log_path.read_text()[-3000:])
                time.sleep(0.5)
                run = flow_run(in_flight)
            time.sleep(3)  # room for any hook of the cancelled process to act
        finally:
            worker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=30)
            if worker.poll() is None:
                worker.kill()
            log.close()
            sources_env.clear_faults()

        assert run.state_name == "Cancelled", (run.state_name, log_path.read_text()[-3000:])
        record = VariableStore().read("sales", "products_snapshot")
        assert record is not None and record.phase == "shadow"
        assert [e.action for e in record.events].count("failback") == 1
        assert watch(late_after=None).outcomes == []  # nothing left for the watcher
        requests = [c.input for c in stub.calls_to("create_flow_run")]
        assert sorted(r["parameters"]["as_of"] for r in requests) == sorted(
            [(SLOT + timedelta(days=2)).date().isoformat(), owned.isoformat()]
        )
        receiver.wait_for(lambda m: "fail-back sales/products_snapshot" in m.text)
        time.sleep(1)
        assert sum("fail-back" in m.text for m in receiver.messages()) == 1
