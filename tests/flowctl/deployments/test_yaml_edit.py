"""Round-trip editing keeps the files byte for byte, apart from the values set."""

from __future__ import annotations

import pytest

from flowctl.deployments.prefect_yaml import load_prefect_yaml, project_files
from flowctl.deployments.yaml_edit import (
    YamlEditError,
    dump_round_trip,
    load_round_trip,
    set_schedule,
)


@pytest.mark.parametrize("project", sorted(project_files()))
def test_a_load_and_dump_without_changes_gives_the_same_text(project):
    path = project_files()[project]
    assert dump_round_trip(load_round_trip(path)) == path.read_text()


def test_set_schedule_changes_only_the_named_fields(plan_files):
    path = plan_files.files["finance"]
    before = path.read_text()
    set_schedule(path, {"fx-rates": {"cron": "50 6 * * 1-5", "timezone": "Europe/Zurich"}})
    after = path.read_text()
    diff = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(diff) == 1
    assert diff[0][1].strip() == '- cron: "50 6 * * 1-5"'
    fx = next(d for d in load_prefect_yaml(path)["deployments"] if d["name"] == "fx-rates")
    assert fx["schedules"] == [
        {"cron": "50 6 * * 1-5", "timezone": "Europe/Zurich", "active": True}
    ]
    # aliases still resolve to the shared definitions
    assert fx["work_pool"]["job_variables"]["memory_limit"] == "1Gi"


def test_set_schedule_names_a_missing_deployment(plan_files):
    with pytest.raises(YamlEditError, match="no deployment named 'nope'"):
        set_schedule(plan_files.files["sales"], {"nope": {"cron": "0 1 * * *"}})
