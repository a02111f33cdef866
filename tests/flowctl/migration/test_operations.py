"""cutover, rollback, decommission, set-phase, init, validations, status and diff.

In-memory phase store and deployments; the legacy side is the local Prefect 1 API stub
(``devtools.prefect1_stub``, see conftest.py), which records the mutations it received.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flowctl.migration import (
    cutover,
    decommission,
    diff,
    exit_code,
    history,
    init_phases,
    latest_validation,
    outcomes_table,
    record_validations,
    rollback,
    set_phase,
    status,
    status_table,
)
from flowctl.migration.operations import transition
from flowlib.migration.model import MigrationError

PRODUCTS = "sales-products-snapshot/products-snapshot"


def mutations(stub, name=None):
    return [c for c in stub.calls if c.kind == "mutation" and (name is None or c.field == name)]


def legacy_active(stub, name="sales-products-snapshot"):
    return stub.flow(name).is_schedule_active


def test_init_records_the_declared_phases_once(svc):
    outcomes = init_phases(actor="user:ops", services=svc)
    assert {o.status for o in outcomes} == {"done"} and len(outcomes) == 4
    assert svc.store.read("sales", "products_snapshot").phase == "shadow"
    assert {o.status for o in init_phases(actor="user:ops", services=svc)} == {"skipped"}


def test_cutover_is_refused_without_a_passing_validation(svc, stub, validated):
    init_phases(actor="user:ops", services=svc)
    [outcome] = cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    assert outcome.status == "refused" and "no validation recorded" in outcome.message
    validated(svc, "sales", "products_snapshot", passed=False)
    [outcome] = cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    assert outcome.status == "refused" and "latest validation FAILED" in outcome.message
    assert not mutations(stub) and svc.deployments.deployment(PRODUCTS).target_env == "record"
    assert exit_code([outcome]) == 1
    assert outcomes_table([outcome]).row_count == 1


def test_cutover_unschedules_legacy_records_the_handover_then_moves_the_deployment(
    svc, stub, validated, clock
):
    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    assert svc.store.read("sales", "products_snapshot").phase == "validated"
    [outcome] = cutover(
        "sales",
        "products_snapshot",
        actor="user:alice",
        move_to_legacy_slot=True,
        reason="wave 1",
        services=svc,
    )
    assert outcome.status == "done", outcome.message
    assert "owns prod from the slot 2026-11-26T02:00:00+00:00" in outcome.message
    dep = svc.deployments.deployment(PRODUCTS)
    # no target_env any more: each run asks the record which lake it writes
    assert "target_env" not in dep.parameters and "phase:cutover" in dep.tags
    assert dep.schedules[0].schedule == {"cron": "0 2 * * *", "timezone": "UTC"}
    assert not legacy_active(stub)
    assert [c.field for c in mutations(stub)] == ["set_schedule_inactive"]
    record = svc.store.read("sales", "products_snapshot")
    assert (record.phase, record.actor, record.reason, record.since) == (
        "cutover",
        "user:alice",
        "wave 1",
        "2026-11-25T12:00:00+00:00",
    )
    assert record.plan["legacy_name"] == "sales-products-snapshot"
    # 12:00 now: the next legacy slot (02:00 UTC) is the handover; earlier slots stay legacy's
    assert record.handover == "2026-11-26T02:00:00+00:00"
    assert record.owns_prod(datetime(2026, 11, 26, 2, tzinfo=UTC))
    assert not record.owns_prod(datetime(2026, 11, 25, 2, tzinfo=UTC))
    assert record.schedule_moved["schedules"][0]["schedule"]["cron"] == "20 2 * * *"
    subject, body = svc.notifier.messages[-1]
    assert "cutover sales/products_snapshot: validated -> cutover" in subject
    assert "by: user:alice" in body
    # the only other flow of the project was not validated: refused, the project goes on
    outcomes = cutover("sales", actor="user:alice", services=svc)
    assert [(o.flow, o.status) for o in outcomes] == [
        ("products_snapshot", "skipped"),
        ("orders_incremental", "refused"),
    ]


def test_forced_cutover_is_recorded_with_what_it_overrode(svc, stub):
    init_phases(actor="user:ops", services=svc)
    [outcome] = cutover("sales", "products_snapshot", force=True, actor="user:bob", services=svc)
    assert outcome.status == "done" and "FORCED" in outcome.message
    event = svc.store.read("sales", "products_snapshot").last_event
    assert event.details["forced"] is True
    assert event.details["overridden"] == [
        "no validation recorded: validate 3 consecutive days (flowctl validate)"
    ]


def test_cutover_undoes_the_switch_when_the_legacy_side_fails(svc, stub, validated):
    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    stub.token = "rotated"  # every Prefect 1 call is now refused
    [outcome] = cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    assert outcome.status == "failed"
    assert "UNAUTHENTICATED" in outcome.message
    assert svc.deployments.deployment(PRODUCTS).target_env == "record"
    assert svc.deployments.changes == []  # legacy first: nothing else was touched
    assert svc.store.read("sales", "products_snapshot").phase == "validated"
    assert exit_code([outcome]) == 2


def test_cutover_reverts_when_the_legacy_schedule_cannot_be_deactivated(svc, stub, validated):
    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    original = stub._m_set_schedule_inactive
    stub._m_set_schedule_inactive = lambda _input: {"success": False, "error": "db down"}
    [outcome] = cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    stub._m_set_schedule_inactive = original
    assert outcome.status == "failed" and "db down" in outcome.message
    assert "nothing changed: the legacy flow still writes prod" in outcome.message
    dep = svc.deployments.deployment(PRODUCTS)
    assert dep.target_env == "record" and "phase:shadow" in dep.tags
    assert svc.store.read("sales", "products_snapshot").phase == "validated"


def test_rollback_reactivates_legacy_then_sends_the_new_flow_back_to_dev(svc, stub, validated):
    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    cutover("sales", "products_snapshot", actor="user:ops", move_to_legacy_slot=True, services=svc)
    [outcome] = rollback(
        "sales", "products_snapshot", actor="user:ops", reason="late data", services=svc
    )
    assert outcome.status == "done"
    assert legacy_active(stub)
    dep = svc.deployments.deployment(PRODUCTS)
    assert "target_env" not in dep.parameters and dep.schedules[0].schedule["cron"] == "20 2 * * *"
    record = svc.store.read("sales", "products_snapshot")
    assert (record.phase, record.reason, record.schedule_moved) == ("shadow", "late data", None)
    assert [c.field for c in mutations(stub)] == ["set_schedule_inactive", "set_schedule_active"]
    assert rollback("sales", "products_snapshot", services=svc)[0].status == "skipped"
    assert [e.action for e in history("sales", "products_snapshot", services=svc)] == [
        "init",
        "validation",
        "cutover",
        "rollback",
    ]


def test_decommission_waits_for_the_quiet_period(svc, stub, validated, clock):
    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    clock.advance(days=3)
    [early] = decommission("sales", "products_snapshot", actor="user:ops", services=svc)
    assert early.status == "refused" and "quiet period is 14 days" in early.message
    assert [o.status for o in decommission("sales", actor="user:ops", services=svc)] == [
        "refused",
        "refused",  # orders_incremental is not cut over
    ]
    clock.advance(days=12)
    [done] = decommission("sales", "products_snapshot", actor="user:ops", services=svc)
    assert done.status == "done"
    assert stub.flow("sales-products-snapshot").archived
    assert svc.store.read("sales", "products_snapshot").phase == "decommissioned"
    assert "phase:decommissioned" in svc.deployments.deployment(PRODUCTS).tags
    assert decommission("sales", "products_snapshot", services=svc)[0].status == "skipped"


def test_forced_decommission_before_the_quiet_period(svc, stub, validated):
    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    [done] = decommission(
        "sales", "products_snapshot", quiet_period_days=30, force=True, actor="u", services=svc
    )
    assert done.status == "done"
    assert svc.store.read("sales", "products_snapshot").last_event.details["forced"] is True


def test_set_phase_records_only_migration_steps(svc):
    [first] = set_phase("finance", "fx_rates", "shadow", actor="user:ops", services=svc)
    assert first.status == "done"
    [refused] = set_phase("finance", "fx_rates", "cutover", actor="user:ops", services=svc)
    assert refused.status == "refused" and "flowctl cutover" in refused.message
    [bad] = set_phase("finance", "fx_rates", "decommissioned", actor="u", force=False, services=svc)
    assert bad.status == "refused"
    [back] = set_phase("finance", "fx_rates", "legacy", actor="u", reason="paused", services=svc)
    assert back.status == "done"
    with pytest.raises(MigrationError, match="legacy -> validated"):
        transition(svc, "finance", "fx_rates", "validated", actor="u", reason="", action="x")


def test_unknown_project_or_flow_is_a_failed_outcome_naming_what_exists(svc):
    [outcome] = cutover("marketing", services=svc)
    assert outcome.status == "failed" and "migration/marketing.yaml" in outcome.message
    [outcome] = rollback("sales", "nope", services=svc)
    assert "flows: products_snapshot, orders_incremental" in outcome.message


def test_validations_of_a_whole_report_go_to_each_flow(svc, make_report):
    init_phases(actor="user:ops", services=svc)
    report = make_report("sales/shop/products", "finance/ledger/fx_rates")
    report["pairs"][1]["status"] = "fail"
    records = record_validations(report, actor="validation-flow", services=svc)
    assert {(r.flow, r.verdict) for r in records} == {
        ("products_snapshot", "PASSED"),
        ("fx_rates", "FAILED"),
    }
    assert latest_validation("sales", "products_snapshot", services=svc).passed
    assert latest_validation("sales", "orders_incremental", services=svc) is None
    assert svc.store.read("sales", "products_snapshot").phase == "validated"
    assert svc.store.read("finance", "fx_rates").phase == "shadow"
    # a later failure moves it back
    record_validations(make_report("sales/shop/products", missing=True), services=svc)
    assert svc.store.read("sales", "products_snapshot").phase == "shadow"


def test_status_groups_by_wave_and_diff_shows_what_disagrees(svc, stub, validated):
    from rich.console import Console

    init_phases(actor="user:ops", services=svc)
    validated(svc, "sales", "products_snapshot")
    cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    rows = status(services=svc)
    assert [r.wave for r in rows] == sorted(r.wave for r in rows)
    products = next(r for r in rows if r.flow == "products_snapshot")
    assert (products.phase, products.deployment_target_env, products.legacy_schedule_active) == (
        "cutover",
        "record",
        False,
    )
    assert products.problems == ["declared shadow, server cutover"]
    # someone re-enabled the legacy schedule by hand: diff says so
    stub.flow("sales-products-snapshot").is_schedule_active = True
    [row] = diff(services=svc)
    assert row.flow == "products_snapshot"
    assert "legacy schedule active in phase cutover" in row.problems
    console = Console(width=220, record=True)
    console.print(status_table(rows))
    text = console.export_text()
    assert "sales/products_snapshot" in text and "new→prod (record), legacy off" in text
    assert "2026-11-26T02:00" in text  # the handover slot
    assert rows[0].to_dict()["problems"] == rows[0].problems
