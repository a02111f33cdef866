"""Deployment entries, migration entries and the schedule arithmetic behind them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flowctl.cli import app
from flowctl.convert.emit import deployment_entries, interval_as_cron, migration_yaml, stagger
from flowctl.convert.model import Clock, FlowInfo, Param
from flowlib.migration.manifest import parse_manifest

from .conftest import REPO_ROOT
from .test_cli import CLEAN


def _info(**changes):
    base = dict(
        legacy_name="demo-flow",
        function="demo_flow",
        module_out="flows.demo.demo_flow",
        path_out="flows/demo/demo_flow.py",
        source="demo_flow.py",
        project="demo",
        params=[Param("day", None, "None"), Param("limit", 5, "5", annotation="int")],
    )
    base.update(changes)
    return FlowInfo(**base)


def test_interval_clocks_become_cron_when_they_fit():
    hourly = Clock("interval", interval_seconds=3600, anchor="2026-01-01T00:05:00+00:00")
    assert interval_as_cron(hourly) == "5 * * * *"
    quarter = Clock("interval", interval_seconds=900, anchor="2026-01-01T00:05:00+00:00")
    assert interval_as_cron(quarter) == "5/15 * * * *"
    six_hours = Clock("interval", interval_seconds=6 * 3600, anchor="2026-01-01T02:30:00+00:00")
    assert interval_as_cron(six_hours) == "30 2/6 * * *"
    daily = Clock("interval", interval_seconds=86400, anchor="2026-01-01T04:10:00+00:00")
    assert interval_as_cron(daily) == "10 4 * * *"
    odd = Clock("interval", interval_seconds=7 * 60, anchor="2026-01-01T00:00:00+00:00")
    assert interval_as_cron(odd) is None


def test_stagger_moves_the_minute_15_to_45_and_keeps_the_hour():
    seen = set()
    for key in ("a", "b", "c", "d", "e", "f"):
        new, offset = stagger("0 2 * * *", key)
        minute, rest = new.split(" ", 1)
        assert rest == "2 * * *" and 15 <= offset <= 45 and int(minute) == offset
        assert stagger("0 2 * * *", key) == (new, offset)  # stable
        seen.add(offset)
    assert len(seen) > 1
    late, offset = stagger("50 2 * * *", "a")
    assert late.split(" ", 1)[1] == "2 * * *" and 0 <= int(late.split()[0]) < 60
    assert stagger("*/5 * * * *", "a") == ("*/5 * * * *", 0)


def test_one_deployment_per_set_of_clock_defaults_with_defaults_labels_job_variables_pull():
    eu = Clock("cron", cron="0 6 * * *", timezone="Europe/Paris", parameter_defaults={"limit": 1})
    eu2 = Clock("cron", cron="0 18 * * *", timezone="Europe/Paris", parameter_defaults={"limit": 1})
    us = Clock(
        "cron", cron="0 6 * * *", timezone="America/New_York", parameter_defaults={"limit": 2}
    )
    info = _info(
        clocks=[eu, us, eu2],
        labels=["k8s"],
        run_config={
            "type": "KubernetesRun",
            "image": "img:1",
            "memory_request": "1Gi",
            "cpu_limit": "2",
        },
        storage={"type": "GitHub", "repo": "acme/flows", "ref": "main"},
    )
    first, second = deployment_entries(info)
    assert (first["name"], second["name"]) == ("demo-flow-1", "demo-flow-2")
    assert first["parameters"] == {"target_env": "dev", "limit": 1}
    assert second["parameters"] == {"target_env": "dev", "limit": 2}
    assert [s["timezone"] for s in first["schedules"]] == ["Europe/Paris", "Europe/Paris"]
    assert all(s["active"] is True for s in first["schedules"] + second["schedules"])
    assert first["tags"] == ["project:demo", "k8s", "phase:shadow"]
    assert first["work_pool"]["job_variables"] == {
        "image": "img:1",
        "cpu_limit": "2",
        "memory_request": "1Gi",
    }
    assert first["pull"][0]["prefect.deployments.steps.git_clone"] == {
        "repository": "https://github.com/acme/flows.git",
        "branch": "main",
    }
    assert first["entrypoint"] == "flows/demo/demo_flow.py:demo_flow"


def test_migration_entry_parses_with_the_manifest_reader_and_keeps_hand_written_entries():
    current = (REPO_ROOT / "migration/sales.yaml").read_text()
    text, problems = migration_yaml(
        current, "sales", [_info(project="sales", legacy_name="sales-x")]
    )
    assert problems == []
    assert text.startswith(current.split("\n", 1)[0])  # comments kept
    plans = parse_manifest(yaml.safe_load(text), Path("sales.yaml"))
    names = [p.legacy.name for p in plans]
    assert names[:2] == ["sales-products-snapshot", "sales-orders-incremental"]
    new = plans[-1]
    assert new.legacy.name == "sales-x" and new.deployment == "sales-x/demo-flow"
    assert new.phase == "shadow" and set(new.recovery) == {"day", "limit"}
    _clash, problems = migration_yaml(current, "sales", [_info(function="products_snapshot")])
    assert problems and "not made by flowctl convert" in problems[0]


@pytest.mark.integration
def test_the_generated_prefect_yaml_deploys_with_prefect_deploy(tmp_path, prefect_api):
    src = tmp_path / "src"
    src.mkdir()
    (src / "tidy.py").write_text(CLEAN)
    out = tmp_path / "repo"
    result = CliRunner().invoke(app, ["convert", str(src), "--out", str(out), "--write"])
    assert result.exit_code == 0, result.output
    prefect = str(Path(sys.executable).parent / "prefect")
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api.api_url,
        "PYTHONPATH": f"{out}:{REPO_ROOT}",
        "FLOWLIB_WORK_POOL": "convert-pool",
        "FLOWLIB_CODE_DIR": str(out),
    }
    pool = subprocess.run(
        [prefect, "work-pool", "create", "convert-pool", "--type", "process"],
        env=env,
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert pool.returncode == 0 or "already exists" in pool.stdout, pool.stdout + pool.stderr
    deploy = subprocess.run(
        [
            prefect,
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            "deployments/tidy/prefect.yaml",
        ],
        env=env,
        cwd=out,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr[-4000:]
    shown = subprocess.run(
        [prefect, "deployment", "inspect", "tidy-flow/tidy"],
        env=env,
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "'x': 3" in shown.stdout and "'target_env': 'dev'" in shown.stdout
    assert "Europe" not in shown.stdout and "'cron': '" in shown.stdout
