"""The schedule checker reads ``flowctl legacy inventory``'s file in place of schedules.json."""

from __future__ import annotations

import json

import pytest

from flowctl.deployments.schedules import LEGACY_SCHEDULES, Plan, ScheduleError, check, load_legacy


def inventory_of(entries: list[dict]) -> dict:
    """An inventory as ``flowctl legacy inventory`` writes it, for the given schedules."""
    flows = []
    for e in entries:
        clock = {"kind": e["kind"], "timezone": e.get("timezone"), "parameter_defaults": {}}
        clock.update({k: e[k] for k in ("cron", "interval_seconds", "anchor") if k in e})
        flows.append(
            {
                "name": e["legacy_name"],
                "project": e["project"],
                "archived": False,
                "schedule_active": True,
                "clocks": [clock],
            }
        )
    flows.append(
        {
            "name": "someone-elses-flow",
            "project": "hr",
            "schedule_active": True,
            "archived": False,
            "clocks": [{"kind": "cron", "cron": "0 1 * * *"}],
        }
    )
    return {"format": "flowctl-legacy-inventory", "version": 1, "flows": flows}


def test_the_inventory_gives_the_same_plan_as_the_hand_kept_file(tmp_path):
    entries = json.loads(LEGACY_SCHEDULES.read_text())
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory_of(entries)))
    assert load_legacy(path) == load_legacy(LEGACY_SCHEDULES)
    assert check(Plan.load(path)) == check(Plan.load(LEGACY_SCHEDULES))


def test_archived_or_unscheduled_flows_start_nothing(tmp_path):
    entries = json.loads(LEGACY_SCHEDULES.read_text())
    inventory = inventory_of(entries)
    inventory["flows"][0]["archived"] = True
    inventory["flows"][1]["schedule_active"] = False
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory))
    names = {s.legacy_name for s in load_legacy(path).values()}
    assert entries[0]["legacy_name"] not in names and entries[1]["legacy_name"] not in names
    assert len(names) == len(entries) - 2


def test_an_inventory_without_any_flow_of_the_repository_is_an_error(tmp_path):
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps({"format": "flowctl-legacy-inventory", "flows": []}))
    with pytest.raises(ScheduleError, match="inventory.json: the inventory has no scheduled flow"):
        load_legacy(path)
