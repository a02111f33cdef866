"""Automatic fail-back, offline: the decision rules, the steps, idempotency, the watcher pass.

In-memory phase store and deployments; the legacy side is the local Prefect 1 API stub
(``devtools.prefect1_stub``, see conftest.py), which records every mutation.
The end-to-end version with a real Prefect server, a real flow run and the legacy flow really
running is ``test_failback_e2e.py``.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from flowctl.migration import cutover, fail_back, init_phases, watch
from flowlib.migration.failback import failback_from_hook

PRODUCTS = "sales-products-snapshot/products-snapshot"
ORDERS = "sales-orders-incremental/orders-incremental"
SLOT = datetime(2026, 11, 26, 2, 20, tzinfo=UTC)


@pytest.fixture
def cut_over(svc, stub, validated, clock):
    """products_snapshot and orders_incremental cut over at 12:00 on 2026-11-25.

    The fake deployments have no scheduler creating a run per slot, so these tests, about the
    runs they add, drop the slots the record expects (as records from before slots did);
    missing slots are tried in ``test_a_slot_without_a_run_fails_back_once`` below.
    """
    init_phases(actor="user:ops", services=svc)
    for flow in ("products_snapshot", "orders_incremental"):
        validated(svc, "sales", flow)
        [outcome] = cutover("sales", flow, actor="user:ops", move_to_legacy_slot=True, services=svc)
        assert outcome.status == "done"
        record = svc.store.read("sales", flow)
        assert [s["cron"] for s in record.plan["slots"]]  # the legacy slot it moved to
        plan = {k: v for k, v in record.plan.items() if k != "slots"}
        svc.store.write(replace(record, plan=plan))
    clock.advance(days=1)
    return svc


def prod_run(svc, deployment=PRODUCTS, state="FAILED", expected=SLOT, **kw):
    end = kw.pop("end", expected + timedelta(minutes=5))
    return svc.deployments.add_run(
        deployment,
        state,
        expected,
        parameters={"target_env": "prod", **kw},
        start=expected,
        end=end,
    )


def creates(stub):
    return [c.input for c in stub.calls_to("create_flow_run") if not c.error]


def test_a_failed_prod_run_fails_back_every_step(cut_over, stub):
    svc = cut_over
    run = prod_run(svc)
    outcome = fail_back("sales", "products_snapshot", run.id, actor="hook:x", services=svc)
    assert outcome.status == "done", outcome.message
    assert stub.flow("sales-products-snapshot").is_schedule_active
    [recovery] = creates(stub)
    assert recovery["parameters"] == {"as_of": "2026-11-26"}
    # the legacy slot of the failed run's partition (02:00), not its staggered 02:20: the legacy
    # flow names its files from it
    assert recovery["scheduled_start_time"] == "2026-11-26T02:00:00+00:00"
    assert recovery["idempotency_key"] == f"flowlib-failback-{run.id}"
    dep = svc.deployments.deployment(PRODUCTS)
    assert "target_env" not in dep.parameters and "phase:shadow" in dep.tags
    assert dep.schedules[0].schedule["cron"] == "20 2 * * *"  # back from the legacy slot
    record = svc.store.read("sales", "products_snapshot")
    assert (record.phase, record.actor, record.last_event.run_id) == ("shadow", "hook:x", run.id)
    assert "ended Failed: boom" in record.reason
    subject, body = svc.notifier.messages[-1]
    assert subject == "[flowlib] fail-back sales/products_snapshot: cutover -> shadow"
    assert "legacy schedule: active" in body and "as_of=2026-11-26" in body


def test_fail_back_is_idempotent(cut_over, stub):
    svc = cut_over
    run = prod_run(svc)
    assert fail_back("sales", "products_snapshot", run.id, "hook:x", services=svc).status == "done"
    again = fail_back("sales", "products_snapshot", run.id, "watcher", services=svc)
    assert again.status == "skipped" and "already failed back" in again.message
    assert watch(services=svc).outcomes == []  # no longer in cutover
    assert len(creates(stub)) == 1
    assert len([m for m in svc.notifier.messages if "fail-back" in m[0]]) == 1


def test_concurrent_hook_and_watcher_fail_back_once(cut_over, stub):
    svc = cut_over
    run = prod_run(svc)
    barrier = threading.Barrier(2)
    original = svc.store.claim

    def slow_claim(key, owner, ttl):
        barrier.wait(timeout=5)  # both arrive before either claims
        return original(key, owner, ttl)

    svc.store.claim = slow_claim
    results = []
    threads = [
        threading.Thread(
            target=lambda who=who: results.append(
                fail_back("sales", "products_snapshot", run.id, who, services=svc)
            )
        )
        for who in ("hook:x", "watcher")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(o.status for o in results) == ["done", "skipped"]
    assert len(creates(stub)) == 1
    assert svc.store.claims == {}  # released


def test_runs_that_do_not_count_are_skipped(cut_over, stub):
    svc = cut_over
    dev_run = svc.deployments.add_run(PRODUCTS, "FAILED", SLOT, parameters={"target_env": "dev"})
    retrying = prod_run(svc, state="SCHEDULED", state_name="AwaitingRetry")
    old = prod_run(svc, expected=datetime(2026, 11, 20, tzinfo=UTC))  # failed before the cutover
    for run, why in (
        (dev_run, "wrote dev"),
        (retrying, "not failed for good"),
        (old, "before the cutover"),
    ):
        outcome = fail_back("sales", "products_snapshot", run.id, "watcher", services=svc)
        assert outcome.status == "skipped" and why in outcome.message
    assert not creates(stub)
    assert svc.store.read("sales", "products_snapshot").phase == "cutover"


def test_every_missed_slot_gets_a_recovery_run(cut_over, stub):
    svc = cut_over
    first = prod_run(svc, state="CRASHED", expected=SLOT)
    prod_run(svc, expected=SLOT + timedelta(days=1))
    prod_run(svc, state="COMPLETED", expected=SLOT + timedelta(days=2))
    outcome = fail_back("sales", "products_snapshot", first.id, "watcher", services=svc)
    assert [r["parameters"] for r in outcome.details["recovery_runs"]] == [
        {"as_of": "2026-11-26"},
        {"as_of": "2026-11-27"},
    ]


def test_incremental_flows_get_one_catch_up_run(cut_over, stub):
    svc = cut_over
    runs = [prod_run(svc, ORDERS, expected=SLOT.replace(hour=h, minute=43)) for h in (3, 4, 5)]
    outcome = fail_back("sales", "orders_incremental", runs[0].id, "watcher", services=svc)
    [recovery] = creates(stub)
    assert recovery["parameters"] == {"window_end": "2026-11-26T05:00:00Z"}
    assert outcome.details["recovery_runs"][0]["failed_run"] == runs[2].id


def test_a_failing_step_leaves_cutover_for_the_watcher_to_retry(cut_over, stub):
    svc = cut_over
    run = prod_run(svc)
    stub.token = "rotated"
    outcome = fail_back("sales", "products_snapshot", run.id, "hook:x", services=svc)
    assert outcome.status == "failed" and "UNAUTHENTICATED" in outcome.message
    assert svc.store.read("sales", "products_snapshot").phase == "cutover"
    assert svc.notifier.messages[-1][0] == "[flowlib] fail-back FAILED sales/products_snapshot"
    stub.token = "p1-test-key"
    svc._legacy = None  # a new process, a new client
    result = watch(services=svc)
    assert [o.status for o in result.outcomes] == ["done"]
    assert result.checked == ["sales/orders_incremental", "sales/products_snapshot"]


def test_the_watcher_catches_crashed_and_long_late_runs(cut_over, stub, clock):
    svc = cut_over
    late = svc.deployments.add_run(
        ORDERS,
        "SCHEDULED",
        clock.now - timedelta(minutes=30),
        state_name="Late",
        parameters={"target_env": "prod"},
    )
    assert watch(services=svc).outcomes == []  # not late enough yet
    clock.advance(minutes=45)
    [outcome] = watch(services=svc).outcomes
    assert (outcome.flow, outcome.status) == ("orders_incremental", "done")
    assert outcome.details["recovery_runs"][0]["failed_run"] == late.id
    crashed = prod_run(svc, state="CRASHED", end=clock.now)
    [outcome] = watch(late_after=None, services=svc).outcomes
    assert (outcome.flow, outcome.details["failed_run_state"]) == ("products_snapshot", "Crashed")
    assert outcome.details["recovery_runs"][0]["failed_run"] == crashed.id


def test_hook_only_acts_for_prod_deployment_runs_of_cut_over_flows(cut_over, monkeypatch):
    svc = cut_over
    monkeypatch.setattr("flowlib.migration.failback.default_services", lambda: svc)
    svc.close = lambda: None
    flow = SimpleNamespace(name="sales-products-snapshot")
    state = SimpleNamespace(name="Failed", message="boom")
    adhoc = SimpleNamespace(id="x", name="n", parameters={"target_env": "prod"}, deployment_id=None)
    dev = SimpleNamespace(id="x", name="n", parameters={"target_env": "dev"}, deployment_id="d")
    assert failback_from_hook(flow, adhoc, state) is None
    assert failback_from_hook(flow, dev, state) is None
    run = prod_run(svc)
    real = SimpleNamespace(id=run.id, name=run.name, parameters=run.parameters, deployment_id="d")
    outcome = failback_from_hook(flow, real, state)
    assert outcome is not None and outcome.status == "done"
    assert outcome.details["recovery_runs"][0]["failed_run"] == run.id
    fx = SimpleNamespace(name="finance-fx-rates")  # not cut over: nothing happens
    assert failback_from_hook(fx, real, state) is None


def test_a_slot_without_a_run_fails_back_once(svc, stub, validated, clock):
    """The slot whose run was never created: the watcher fails back once and recovers it."""
    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    [done] = cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    assert done.status == "done", done.message
    record = svc.store.read("sales", "products_snapshot")
    assert record.plan["slots"] == [{"cron": "20 2 * * *", "timezone": "UTC"}]  # its own
    first = record.handover_time.replace(hour=2, minute=20)  # 2026-11-26 02:20, after 02:00
    prod_run(svc, state="COMPLETED", expected=first)
    clock.now = first + timedelta(days=1, minutes=59)  # the next slot is 59 minutes overdue
    assert watch(services=svc).outcomes == []  # its deadline (one hour) not passed yet
    clock.advance(minutes=2)
    [outcome] = watch(services=svc).outcomes
    assert outcome.status == "done", outcome.message
    [recovery] = outcome.details["recovery_runs"]
    assert recovery["slot"] == "2026-11-27T02:00:00+00:00"  # the legacy slot of that day
    assert recovery["parameters"] == {"as_of": "2026-11-27"}
    assert "no flow run for the slot 2026-11-27T02:20:00+00:00" in outcome.message + str(
        svc.store.read("sales", "products_snapshot").reason
    )
    assert [c.input["idempotency_key"] for c in stub.calls_to("create_flow_run")] == [
        f"flowlib-failback-missing-{record_dep(svc)}-20261127T022000Z"
    ]
    assert stub.flow("sales-products-snapshot").is_schedule_active
    clock.advance(days=1)  # no longer cut over: nothing more is expected of the new flow
    assert watch(services=svc).outcomes == []


def record_dep(svc):
    return svc.deployments.deployment(PRODUCTS).id


@pytest.mark.parametrize(
    ("legacy", "new_slot", "expected"),
    [
        ({"cron": "0 2 * * *", "timezone": "UTC"}, "2026-01-05T02:20:00", "2026-01-05T02:00:00"),
        ({"cron": "5 * * * *", "timezone": "UTC"}, "2026-01-05T10:43:00", "2026-01-05T10:05:00"),
        ({"cron": "30 * * * *", "timezone": "UTC"}, "2026-01-05T10:10:00", "2026-01-05T10:30:00"),
        (
            {"cron": "0 6 * * 1-5", "timezone": "Europe/Zurich"},
            "2026-01-05T05:36:00",
            "2026-01-05T05:00:00",
        ),
        (None, "2026-01-05T05:36:00", "2026-01-05T05:36:00"),
    ],
)
def test_a_recovery_runs_at_the_legacy_slot_of_the_new_runs_partition(
    legacy: dict[str, str] | None, new_slot: str, expected: str
) -> None:
    """The legacy flow names its files from its run's scheduled start: a recovery at the new
    flow's staggered minute wrote `..T022000` beside the day's `..T020000` (found by the soak)."""
    from flowlib.migration.failback import legacy_slot_of

    plan = {"legacy_slot": legacy} if legacy else {}
    utc = datetime.fromisoformat(new_slot).replace(tzinfo=UTC)
    assert legacy_slot_of(plan, utc) == datetime.fromisoformat(expected).replace(tzinfo=UTC)
