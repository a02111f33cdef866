"""The phase model, the manifests (checked against the repository) and recovery parameters."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from croniter import croniter

from devtools.services import REPO_ROOT
from flowctl.deployments import deployments
from flowlib.catalog import flow_modules
from flowlib.migration.manifest import (
    CRITICALITIES,
    ManifestError,
    Manifests,
    normalize_flow,
    parse_manifest,
    split_flow_name,
)
from flowlib.migration.model import (
    TARGET_ENV_OF_PHASE,
    MigrationError,
    PhaseEvent,
    PhaseRecord,
    check_phase,
    check_transition,
    declared_agrees,
)
from flowlib.migration.recovery import recovery_parameters
from flowlib.migration.store import VARIABLE_VALUE_LIMIT, phase_variable, with_event

PLANS = Manifests.load().plans
IDS = [p.key for p in PLANS]
SCHEDULES = {
    e["legacy_name"]: e for e in json.loads((REPO_ROOT / "legacy/schedules.json").read_text())
}


# --- model ---------------------------------------------------------------------------------------
def test_transitions_follow_the_migration_and_force_overrides():
    check_transition("shadow", "validated", False, "k")
    check_transition("validated", "cutover", False, "k")
    check_transition("cutover", "shadow", False, "k")  # fail-back / rollback
    check_transition("cutover", "decommissioned", False, "k")
    with pytest.raises(MigrationError, match="legacy -> cutover is not a migration step"):
        check_transition("legacy", "cutover", False, "k")
    with pytest.raises(MigrationError, match="decommissioned -> shadow"):
        check_transition("decommissioned", "shadow", False, "k")
    check_transition("legacy", "cutover", True, "k")


def test_validated_agrees_with_a_declared_shadow_and_nothing_else_is_loose():
    assert declared_agrees("shadow", "validated") and declared_agrees("validated", "shadow")
    assert declared_agrees("cutover", "cutover")
    assert not declared_agrees("shadow", "cutover")
    assert not declared_agrees("legacy", "shadow")
    with pytest.raises(MigrationError, match="'bogus' is not a phase; one of legacy, shadow"):
        check_phase("bogus", "--phase")


def test_record_round_trips_and_fits_a_variable_keeping_the_latest_events():
    record = PhaseRecord("sales", "orders_incremental", "shadow", "2026-11-01T00:00:00+00:00", "a")
    for i in range(200):
        event = PhaseEvent(
            at=f"2026-11-{1 + i % 28:02d}T00:00:00+00:00",
            phase="validated" if i % 2 else "shadow",
            previous="shadow" if i % 2 else "validated",
            actor=f"user:{i}",
            reason="x" * 1000,
        )
        record = with_event(record, event)
    fitted = record.fitted(VARIABLE_VALUE_LIMIT)
    assert len(fitted.to_json()) <= VARIABLE_VALUE_LIMIT
    assert fitted.events[-1].actor == "user:199" and len(fitted.events) >= 5
    assert all(len(e.reason) <= 300 for e in fitted.events)
    assert PhaseRecord.from_dict(json.loads(fitted.to_json())) == fitted
    assert fitted.seq == 200


def test_variable_names_are_valid_prefect_variable_names():
    name = phase_variable("sales", "products_snapshot")
    assert name == "migration_phase__sales__products_snapshot"
    assert re.fullmatch(r"[a-z0-9_]+", name)


# --- manifests against the repository ------------------------------------------------------------
def test_every_flow_module_has_a_plan_and_every_plan_a_flow_module():
    modules = {f"{m.project}/{m.name}": m for m in flow_modules() if m.dataset is not None}
    assert set(modules) == {p.key for p in PLANS}
    for plan in PLANS:
        assert modules[plan.key].flow.name == plan.flow_name, plan.key


@pytest.mark.parametrize("plan", PLANS, ids=IDS)
def test_legacy_side_matches_the_legacy_repository(plan):
    entry = SCHEDULES[plan.legacy.name]
    assert (entry["project"], entry["flow"]) == (plan.project, plan.flow)
    assert entry["source_api"] == plan.source_api
    # the legacy module declares exactly these Parameters (read as text: Prefect 1 is not here)
    source = (REPO_ROOT / "legacy" / plan.project / f"{plan.flow}.py").read_text()
    declared = set(re.findall(r'Parameter\("(\w+)"', source))
    assert declared == set(plan.legacy.parameters)
    # the slot a cutover moves to starts exactly when the legacy schedule does
    start = datetime(2026, 3, 23, tzinfo=UTC)  # a week across the Zurich DST switch
    slot = croniter(plan.legacy.slot["cron"], start.astimezone(_tz(plan.legacy.slot["timezone"])))
    got = [slot.get_next(datetime).astimezone(UTC) for _ in range(30)]
    assert got == _legacy_starts(entry, start, 30)


def _tz(name):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _legacy_starts(entry, start, count):
    if entry["kind"] == "cron":
        it = croniter(entry["cron"], start.astimezone(_tz(entry["timezone"])))
        return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]
    anchor = datetime.fromisoformat(entry["anchor"])
    step = timedelta(seconds=entry["interval_seconds"])
    first = anchor + ((start - anchor) // step + 1) * step
    return [first + i * step for i in range(count)]


@pytest.mark.parametrize("plan", PLANS, ids=IDS)
def test_deployment_and_phase_match_the_prefect_yaml(plan):
    by_name = {f"{plan.project}-{d.name}": d for d in deployments(plan.project)}
    flow_name, deployment_name = plan.deployment.split("/")
    config = by_name[flow_name]
    assert config.name == deployment_name and config.module_name == plan.flow
    assert config.phase == plan.phase, "declare the same phase in the manifest and prefect.yaml"
    expected_env = TARGET_ENV_OF_PHASE[plan.phase]
    if expected_env is not None:
        assert config.parameters.get("target_env", "dev") == expected_env
    assert config.source_api == plan.source_api


@pytest.mark.parametrize("plan", PLANS, ids=IDS)
def test_recovery_copies_only_parameters_the_new_flow_has(plan):
    module = importlib.import_module(f"flows.{plan.project}.{plan.flow}")
    params = inspect.signature(getattr(module, plan.flow).fn).parameters
    for name, rule in plan.recovery.items():
        if rule.param:
            assert rule.param in params, f"{plan.key}: recovery.{name}.param {rule.param}"


def test_non_critical_flows_go_first():
    rank = {c: i for i, c in enumerate(CRITICALITIES)}
    for a in PLANS:
        for b in PLANS:
            if rank[a.criticality] < rank[b.criticality]:
                assert a.wave <= b.wave, f"{a.key} ({a.criticality}) after {b.key}"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"criticality": "meh"}, "criticality 'meh'"),
        ({"wave": 0}, "`wave` must be"),
        ({"phase": "live"}, "'live' is not a phase"),
        ({"deployment": "nodash"}, "<flow name>/<deployment name>"),
        ({"recovery": {"bogus": {"param": "x"}}}, "does not have"),
        ({"recovery": {"as_of": {"default": "tomorrow"}}}, "not one of"),
        ({"recovery_runs": "some"}, "recovery_runs"),
    ],
)
def test_manifest_errors_name_the_file_flow_and_field(patch, message):
    entry = {
        "flow": "products_snapshot",
        "legacy": {"name": "l", "project": "sales", "parameters": ["as_of", "sample"]},
        "deployment": "sales-products-snapshot/products-snapshot",
        "source_api": "shop",
        "criticality": "low",
        "wave": 1,
        "phase": "shadow",
        **patch,
    }
    with pytest.raises(ManifestError, match=re.escape(message)) as info:
        parse_manifest({"project": "sales", "flows": [entry]}, Path("migration/sales.yaml"))
    assert "migration/sales.yaml flow products_snapshot" in str(info.value)


def test_flow_names_are_accepted_in_every_spelling():
    manifests = Manifests.load()
    for spelling in (
        "products_snapshot",
        "products-snapshot",
        "sales-products-snapshot",
        "sales-products-snapshot/products-snapshot",
    ):
        assert normalize_flow(spelling, "sales") == "products_snapshot"
        assert manifests.get("sales", spelling).flow == "products_snapshot"
    assert split_flow_name("finance-fx-rates", ["finance", "sales"]) == ("finance", "fx_rates")
    with pytest.raises(ManifestError, match="flows: products_snapshot, orders_incremental"):
        manifests.select("sales", "nope")


# --- recovery parameters: the interval a failed run missed --------------------------------------
def _plan(key):
    return next(p for p in PLANS if p.key == key)


def test_recovery_of_a_daily_snapshot_is_its_scheduled_date():
    slot = datetime(2026, 11, 24, 2, 20, tzinfo=UTC)
    plan = _plan("sales/products_snapshot")
    assert recovery_parameters(plan.recovery, {"target_env": "prod"}, slot) == {
        "as_of": "2026-11-24"
    }
    explicit = {"target_env": "prod", "as_of": "2026-11-20", "sample": True}
    assert recovery_parameters(plan.recovery, explicit, slot) == {
        "as_of": "2026-11-20",
        "sample": True,
    }


def test_recovery_of_transactions_is_the_previous_day():
    plan = _plan("finance/transactions_daily")
    slot = datetime(2026, 11, 25, 3, 15, tzinfo=UTC)
    assert recovery_parameters(plan.recovery, {}, slot) == {"day": "2026-11-24"}
    assert recovery_parameters(plan.recovery, {"shards": 4}, slot) == {
        "day": "2026-11-24",
        "shards": 4,
    }


def test_recovery_of_fx_rates_uses_the_zurich_date():
    plan = _plan("finance/fx_rates")
    late_evening_utc = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # already the 25th in Zurich
    assert recovery_parameters(plan.recovery, {}, late_evening_utc) == {"day": "2026-11-25"}


def test_recovery_of_orders_runs_up_to_the_missed_hour_from_the_watermark():
    plan = _plan("sales/orders_incremental")
    assert plan.recovery_runs == "latest"
    slot = datetime(2026, 11, 24, 10, 43, tzinfo=UTC)
    assert recovery_parameters(plan.snapshot()["recovery"], {"target_env": "prod"}, slot) == {
        "window_end": "2026-11-24T10:00:00Z"
    }
