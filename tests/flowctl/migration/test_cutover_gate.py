"""The cutover gate: N consecutive passing days covering every slot, the latest < 36 h old."""

from __future__ import annotations

from datetime import date

from devtools.validation_reports import report_for
from flowctl.migration import cutover, init_phases, record_validation


def _record(svc, project, flow, prefix, **kw):  # type: ignore[no-untyped-def]
    record_validation(project, flow, report_for(prefix, **kw), services=svc)


def test_one_validated_day_is_refused_naming_the_missing_days(svc, stub):  # type: ignore[no-untyped-def]
    init_phases(actor="user:ops", services=svc)
    _record(svc, "sales", "products_snapshot", "sales/shop/products", days=1)
    [outcome] = cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    assert outcome.status == "refused"
    assert "needs 3 consecutive passing days covering every slot, has 1 (2026-11-24)" in (
        outcome.message
    )
    assert "2026-11-23 not validated" in outcome.message
    assert outcome.details["gate"]
    # the next two days' validations are kept with the first: the gate opens
    _record(
        svc,
        "sales",
        "products_snapshot",
        "sales/shop/products",
        days=1,
        last_day=date(2026, 11, 23),
    )
    _record(
        svc,
        "sales",
        "products_snapshot",
        "sales/shop/products",
        days=1,
        last_day=date(2026, 11, 22),
    )
    days = [d["day"] for d in svc.store.read_validation("sales", "products_snapshot").days]
    assert days == ["2026-11-22", "2026-11-23", "2026-11-24"]
    [outcome] = cutover("sales", "products_snapshot", actor="user:ops", services=svc)
    assert outcome.status == "done", outcome.message


def test_a_missing_hourly_slot_and_a_stale_validation_are_named(svc, stub, clock):  # type: ignore[no-untyped-def]
    init_phases(actor="user:ops", services=svc)
    _record(svc, "sales", "orders_incremental", "sales/shop/orders", skip_slots=("2026-11-23T07",))
    [outcome] = cutover("sales", "orders_incremental", actor="user:ops", services=svc)
    assert outcome.status == "refused"
    assert "2026-11-23 lacks slot(s) 07" in outcome.message
    assert "has 1 (2026-11-24)" in outcome.message
    _record(svc, "sales", "orders_incremental", "sales/shop/orders")  # every slot this time
    clock.advance(hours=40)
    [outcome] = cutover("sales", "orders_incremental", actor="user:ops", services=svc)
    assert outcome.status == "refused"
    assert "the latest validation is 40.0 h old" in outcome.message
    assert "lacks slot" not in outcome.message  # the re-validation of 2026-11-23 replaced it


def test_a_failed_day_blocks_and_force_records_what_it_overrode(svc, stub):  # type: ignore[no-untyped-def]
    init_phases(actor="user:ops", services=svc)
    _record(svc, "finance", "fx_rates", "finance/ledger/fx_rates", status="fail")
    [outcome] = cutover("finance", "fx_rates", actor="user:ops", services=svc)
    assert outcome.status == "refused" and "2026-11-24 failed (day fail)" in outcome.message
    [forced] = cutover("finance", "fx_rates", force=True, actor="user:ops", services=svc)
    assert forced.status == "done"
    overridden = forced.details["overridden"]
    assert any("2026-11-24 failed" in p for p in overridden)
    record = svc.store.read("finance", "fx_rates")
    assert record.phase == "cutover" and record.reason == "forced cutover"


def test_weekend_days_without_a_legacy_slot_are_skipped(svc, stub):  # type: ignore[no-untyped-def]
    # fx_rates runs Monday to Friday: Mon 23, Fri 20 and Thu 19 Nov 2026 are consecutive slots
    init_phases(actor="user:ops", services=svc)
    report = report_for("finance/ledger/fx_rates", days=5, last_day=date(2026, 11, 23))
    report["slots"] = [s for s in report["slots"] if s["day"] not in ("2026-11-21", "2026-11-22")]
    record_validation("finance", "fx_rates", report, services=svc)
    [outcome] = cutover("finance", "fx_rates", actor="user:ops", services=svc)
    assert outcome.status == "done", outcome.message
