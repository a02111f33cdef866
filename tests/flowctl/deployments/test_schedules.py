"""The stagger rule, its checker and its generator, on the repository's files and edited copies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from flowctl.deployments import cli, schedules
from flowctl.deployments.schedules import (
    Lane,
    Plan,
    Schedule,
    ScheduleError,
    apply_proposals,
    blocking,
    collisions,
    propose,
    slot_hash,
)

MON = datetime(2026, 1, 5, tzinfo=UTC)


def test_cron_starts_follow_the_time_zone_across_dst():
    fx = Schedule(cron="0 6 * * 1-5", timezone="Europe/Zurich")
    winter = fx.starts(MON, MON + timedelta(days=7))
    summer_start = datetime(2026, 7, 6, tzinfo=UTC)
    summer = fx.starts(summer_start, summer_start + timedelta(days=7))
    assert [t.hour for t in winter] == [5] * 5  # 06:00 CET
    assert [t.hour for t in summer] == [4] * 5  # 06:00 CEST


def test_an_anchored_interval_equals_its_cron_form():
    legacy = Schedule(interval=timedelta(hours=1), anchor=datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert legacy.as_cron() == Schedule(cron="5 * * * *")
    window = (MON + timedelta(minutes=30), MON + timedelta(days=2))
    assert list(legacy.starts(*window)) == list(legacy.as_cron().starts(*window))
    assert next(iter(legacy.starts(*window))) == MON + timedelta(hours=1, minutes=5)


def lane(flow, cron, kind="new", source="shop", tz="UTC"):
    return Lane("sales", flow, source, kind, Schedule(cron=cron, timezone=tz))


def test_starts_exactly_gap_apart_are_fine_closer_ones_collide():
    ok = collisions([lane("a", "0 2 * * *"), lane("b", "15 2 * * *")], weeks=1)
    assert ok == []
    found = collisions([lane("a", "0 2 * * *"), lane("b", "14 2 * * *")], weeks=1)
    assert len(found) == 7
    assert found[0].describe() == (
        "shop: new sales/a at Mon 2026-01-05T02:00Z and new sales/b at Mon 2026-01-05T02:14Z "
        "(14 min apart)"
    )


def test_collisions_are_per_source_api_and_in_utc():
    zurich = lane("fx", "0 6 * * *", source="ledger", tz="Europe/Zurich")  # 05:00Z in January
    assert collisions([zurich, lane("t", "10 5 * * *", source="ledger")], weeks=1)
    assert not collisions([zurich, lane("t", "10 5 * * *", source="shop")], weeks=1)


def test_collisions_between_legacy_flows_only_are_reported_not_blocking():
    found = collisions(
        [lane("p", "0 2 * * *", "legacy"), lane("o", "5 * * * *", "legacy")], weeks=1
    )
    assert found
    assert all(c.legacy_only for c in found)
    assert blocking(found) == []


def test_the_repository_schedules_are_staggered():
    """The committed schedules: no collision caused by the migration, a year of weeks, DST incl."""
    found = schedules.check()
    assert blocking(found) == [], schedules.summarize(blocking(found))
    # the legacy products (02:00) and orders (:05) flows already collided on the shop API
    assert {(c.first.lane.flow, c.second.lane.flow) for c in found} == {
        ("products_snapshot", "orders_incremental")
    }


def test_the_generator_is_stable_on_the_repository_files():
    """Running the generator again proposes what the files already hold."""
    proposals = propose()
    assert proposals == propose()
    assert [p.describe() for p in proposals if p.changed] == []
    # every flow with a legacy twin gets a slot; the lake validation reads no source API
    assert {p.deployment.name for p in proposals} == {
        d.name for d in Plan.load().deployments if d.project != "migration"
    }


def test_the_slot_is_a_stable_hash_of_the_flow_name():
    assert slot_hash("sales-orders-incremental") == slot_hash("sales-orders-incremental")
    orders = next(p for p in propose() if p.deployment.name == "orders-incremental")
    minute = slot_hash("sales-orders-incremental") % 60
    assert orders.reason.startswith(f"H slot: hash of sales-orders-incremental -> minute {minute}")


def test_generator_resolves_colliding_files_and_writes_them_keeping_comments(plan_files):
    plan_files.edit("sales", "products-snapshot", cron="0 2 * * *")
    plan_files.edit("sales", "orders-incremental", cron="0 * * * *")
    plan_files.edit("finance", "fx-rates", cron="0 6 * * 1-5")
    plan = plan_files.plan()
    assert blocking(schedules.check(plan))
    before = {p: f.read_text() for p, f in plan_files.files.items()}

    proposals = propose(plan)
    written = apply_proposals(proposals)

    assert sorted(written) == sorted(plan_files.files[p] for p in ("finance", "sales"))
    after_plan = plan_files.plan()
    assert blocking(schedules.check(after_plan)) == []
    assert not any(p.changed for p in propose(after_plan))  # stable: nothing more to move
    for project in ("finance", "sales"):
        path = plan_files.files[project]
        old, new = before[project].splitlines(), path.read_text().splitlines()
        assert len(old) == len(new)
        changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
        assert changed
        assert all("cron:" in a and "cron:" in b for a, b in changed)  # only cron lines moved
        assert "# legacy:" in path.read_text()
        assert "&work_pool" in path.read_text() and "*work_pool" in path.read_text()


def test_after_cutover_a_flow_moves_back_to_its_legacy_slot_when_free(plan_files):
    plan_files.edit("finance", "fx-rates", phase="cutover")
    plan = plan_files.plan()
    fx = next(p for p in propose(plan) if p.deployment.name == "fx-rates")
    assert fx.proposed == Schedule(cron="0 6 * * 1-5", timezone="Europe/Zurich")
    assert fx.reason == "legacy slot: phase cutover, the legacy flow no longer runs"
    assert not any(lane.kind == "legacy" and lane.flow == "fx_rates" for lane in plan.lanes())


def test_after_cutover_the_legacy_slot_is_not_taken_while_it_collides(plan_files):
    """Products' legacy 02:00 is 5 min from the legacy orders' 02:05, still running."""
    plan_files.edit("sales", "products-snapshot", phase="decommissioned")
    products = next(
        p for p in propose(plan_files.plan()) if p.deployment.name == "products-snapshot"
    )
    assert products.reason.startswith("H slot")
    plan_files.edit("sales", "orders-incremental", phase="cutover")
    proposals = {p.deployment.name: p for p in propose(plan_files.plan())}
    assert proposals["orders-incremental"].proposed == Schedule(cron="5 * * * *")
    assert proposals["products-snapshot"].reason.startswith("H slot")


def test_no_free_minute_names_the_deployment():
    with pytest.raises(ScheduleError, match="orders-incremental: no minute of every 1:00:00"):
        propose(gap=timedelta(minutes=31), weeks=1)


def test_a_schedule_without_active_is_refused(plan_files):
    path = plan_files.files["sales"]
    path.write_text(path.read_text().replace("        active: true\n", "", 1))
    with pytest.raises(ScheduleError, match="does not state active: true|false"):
        plan_files.plan().lanes()


def test_checker_cli_fails_with_the_colliding_pairs_and_their_times(plan_files, monkeypatch):
    plan_files.edit("sales", "orders-incremental", cron="10 * * * *")
    monkeypatch.setattr(
        schedules.Plan, "load", classmethod(lambda cls, legacy_path=None: plan_files.plan())
    )
    result = CliRunner().invoke(cli.app, ["schedule-check", "--weeks", "1"])
    assert result.exit_code == 1
    assert "collision(s) caused by the new schedules" in result.output
    assert (
        "shop: legacy sales/orders_incremental at Mon 2026-01-05T00:05Z and "
        "new sales/orders_incremental at Mon 2026-01-05T00:10Z (5 min apart)"
    ) in result.output


def test_checker_cli_passes_on_the_repository_files():
    result = CliRunner().invoke(cli.app, ["schedule-check"])
    assert result.exit_code == 0, result.output
    assert "no collision caused by the new schedules over 53 week(s)" in result.output


def test_the_plan_knows_which_flows_are_no_longer_shadowed(plan_files):
    assert Plan.load().no_longer_shadowed() == []
    plan_files.edit("finance", "fx-rates", phase="cutover")
    assert [d.name for d in plan_files.plan().no_longer_shadowed()] == ["fx-rates"]
