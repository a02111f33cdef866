"""The phase store on Prefect Variables and the deployment operations, on a real Prefect server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devtools.fakes import reset_migration_state
from devtools.localrun import create_flow_run, register_deployment
from flowlib.migration.model import PhaseEvent, PhaseRecord, ValidationRecord
from flowlib.migration.prefect_api import DeploymentNotFound, PrefectDeployments
from flowlib.migration.store import VariableStore, with_event

pytestmark = pytest.mark.integration


@pytest.fixture
def store(prefect_api):
    reset_migration_state()
    return VariableStore()


def test_phase_records_round_trip_through_variables_beyond_255_characters(store):
    record = PhaseRecord("sales", "products_snapshot", "shadow", "2026-11-25T00:00:00+00:00", "a")
    store.write(record)
    for i in range(40):
        record = with_event(
            record,
            PhaseEvent(
                at=f"2026-11-25T{i % 24:02d}:00:00+00:00",
                phase="validated" if i % 2 == 0 else "shadow",
                previous="shadow" if i % 2 == 0 else "validated",
                actor="validation",
                reason="validation PASSED " + "x" * 200,
            ),
        )
        store.write(record)  # updates go beyond 2.20's client-side 255-character cap
    back = store.read("sales", "products_snapshot")
    assert back is not None and back.seq == 40 and back.phase == "shadow"
    assert 4000 < len(back.to_json()) <= 4800 and back.events[-1] == record.events[-1].trimmed()
    assert [r.key for r in store.records()] == ["sales/products_snapshot"]
    assert store.read("sales", "orders_incremental") is None
    validation = ValidationRecord(
        "sales", "products_snapshot", True, "PASSED", "2026-11-25T06:00:00+00:00", "validation"
    )
    store.write_validation(validation)
    assert store.read_validation("sales", "products_snapshot") == validation


def test_claims_are_atomic_and_expire(store):
    assert store.claim("run-1", "hook", timedelta(minutes=15))
    assert not store.claim("run-1", "watcher", timedelta(minutes=15))
    assert store.claim("run-1", "watcher", timedelta(0))  # the holder died: taken over
    store.release("run-1")
    assert store.claim("run-1", "watcher", timedelta(minutes=15))


def test_deployment_parameters_tags_schedules_and_runs(prefect_api):
    deployment_id = register_deployment("sales", "products_snapshot", schedules_active=False)
    ops = PrefectDeployments()
    dep = ops.deployment("sales-products-snapshot/products-snapshot")
    assert dep.id == deployment_id and dep.target_env == "record"  # the phase record decides
    assert "phase:shadow" in dep.tags and dep.schedules[0].schedule["cron"] == "20 2 * * *"
    ops.update_deployment(
        dep.id,
        parameters={**dep.parameters, "target_env": "prod"},
        tags=["project:sales", "phase:cutover"],
    )
    ops.set_schedule(dep.id, dep.schedules[0].id, {"cron": "0 2 * * *", "timezone": "UTC"})
    after = ops.deployment("sales-products-snapshot/products-snapshot")
    assert after.target_env == "prod" and after.tags == ("project:sales", "phase:cutover")
    assert after.schedules[0].schedule["cron"] == "0 2 * * *"
    slot = datetime(2026, 11, 24, 2, tzinfo=UTC)
    run_id = create_flow_run(dep.id, slot)
    run = ops.flow_run(run_id)
    assert (run.target_env, run.expected_start_time, run.flow_name) == (
        "prod",
        slot,
        "sales-products-snapshot",
    )
    assert run_id in [r.id for r in ops.flow_runs(dep.id, since=slot - timedelta(hours=1))]
    assert run_id not in [r.id for r in ops.flow_runs(dep.id, since=slot, state_types=["FAILED"])]
    with pytest.raises(DeploymentNotFound, match="make deploy"):
        ops.deployment("sales-products-snapshot/nope")


def test_a_record_full_of_events_and_days_fits_the_server_on_both_lines(store):
    """Fitted to the limit as the server counts it: Prefect 3 counts a text Variable's JSON
    encoding, so a record dense with quotes (details, short reasons) must still be accepted.
    The soak found this: on 3.x the second cutover of a flow failed, its record over 5000."""
    from dataclasses import replace

    from flowlib.migration.model import variable_size
    from flowlib.migration.store import VARIABLE_VALUE_LIMIT
    from flowlib.migration.validations import _fit

    record = PhaseRecord("sales", "products_snapshot", "shadow", "2026-11-25T00:00:00+00:00", "a")
    for i in range(60):
        event = PhaseEvent(
            at=f"2026-11-25T{i % 24:02d}:00:00+00:00",
            phase="cutover",
            previous="validated",
            actor="soak",
            reason="ok",
            action="cutover",
            details={f"k{j}": f"v{j}" for j in range(12)},
        )
        record = with_event(record, event)
        store.write(record)  # refused by 3.x before the size was counted as the server does
    back = store.read("sales", "products_snapshot")
    assert back is not None and back.seq == 60 and back.events[-1] == record.events[-1].trimmed()
    assert len(back.to_json()) < 4400 < variable_size(back.to_json()) <= VARIABLE_VALUE_LIMIT
    days = [{"day": f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}", "ok": True} for i in range(300)]
    validation = ValidationRecord(
        "sales", "products_snapshot", True, "PASSED", "2026-11-25T06:00:00+00:00", "v", days=days
    )
    fitted = _fit(validation)
    store.write_validation(fitted)
    stored = store.read_validation("sales", "products_snapshot")
    assert stored == fitted and 0 < len(fitted.days) < 300
    assert replace(fitted, days=[]) == replace(validation, days=[])
