"""One writer per prod partition, tried the ways an operator drifts (issue "One writer").

Real: a Prefect server (``prefect_api``: Variables hold the phase records, deployments, runs),
the sample API, local lakes, Prefect's own ``prefect deploy``, ``flowctl`` as a subprocess, and
two real processes racing to fail one flow back. Stands in: the Prefect 1 API
(``devtools.prefect1_stub``, an HTTP double; no Prefect 1 server runs here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from devtools.fakes import (
    WebhookReceiver,
    crash_flow_run,
    reset_migration_state,
    save_webhook_block,
)
from devtools.localrun import create_flow_run, register_deployment
from devtools.prefect1_stub import Prefect1Stub
from devtools.services import REPO_ROOT, prefect_cli
from devtools.validation_reports import report_for
from flowctl.deployments import load_environment
from flowctl.migration import cutover, init_phases, record_validation
from flowlib.lake import Lake
from flowlib.migration.ownership import NotOwnerError, check_prod_owner
from flowlib.migration.store import VariableStore
from flowlib.settings import resolve_lake
from flows.sales import products_snapshot as products

pytestmark = pytest.mark.integration


@pytest.fixture
def cut_over(prefect_api, lake_env, sources_env, monkeypatch):
    """products_snapshot validated and cut over on the real server; the stub is Prefect 1."""
    reset_migration_state()
    stub = Prefect1Stub().start()
    stub.add_flow("sales-products-snapshot", "sales", parameters=["as_of", "sample"])
    stub.add_flow("sales-orders-incremental", "sales", parameters=["window_start", "window_end"])
    monkeypatch.setenv("PREFECT1_API_URL", stub.url)
    register_deployment("sales", "products_snapshot", schedules_active=False)
    init_phases("sales", actor="test")
    record_validation("sales", "products_snapshot", report_for("sales/shop/products"))
    [outcome] = cutover("sales", "products_snapshot", actor="user:test")
    assert outcome.status == "done", outcome.message
    yield stub
    stub.close()


def handover() -> datetime:
    record = VariableStore().read("sales", "products_snapshot")
    assert record is not None and record.phase == "cutover"
    return record.handover_time


def test_the_record_decides_each_slot_and_an_explicit_prod_is_refused(cut_over, lake_env):
    first = handover()  # the next 02:00 UTC after now
    assert first > datetime.now(UTC) and (first.hour, first.minute) == (2, 0)
    dev, prod = Lake(resolve_lake("dev")), Lake(resolve_lake("prod"))
    before, owned = first.date() - timedelta(days=1), first.date()

    # a run for the slot before the handover (its legacy twin loads it in prod) writes dev
    early = products.products_snapshot(as_of=before)
    assert early["target_env"] == "dev" and prod.list_files("sales") == []
    # from the handover slot on, the new flow writes prod
    late = products.products_snapshot(as_of=owned)
    assert late["target_env"] == "prod"
    assert prod.list_files("sales") == [products.DATASET.daily(owned).file()]
    # asking for prod on a legacy slot is refused at flow start, nothing written
    with pytest.raises(NotOwnerError, match=r"target_env=prod refused: slot .* belongs to"):
        products.products_snapshot.with_options(retries=0)(target_env="prod", as_of=before)
    assert prod.list_files("sales") == [products.DATASET.daily(owned).file()]
    assert len(dev.list_files("sales")) == 1


def test_a_fail_back_in_flight_refuses_the_commit(cut_over):
    from flowctl.migration import fail_back  # noqa: F401 (the module the hook calls)
    from flowlib.migration.services import default_services
    from flowlib.migration.transitions import transition

    slot = handover() + timedelta(days=1)
    check_prod_owner(slot, "sales-products-snapshot")  # owned while cut over
    svc = default_services()
    try:
        transition(
            svc,
            "sales",
            "products_snapshot",
            "cutover",
            actor="test",
            reason="failing back",
            action="failback-start",
            failing_back=True,
        )
    finally:
        svc.close()
    with pytest.raises(NotOwnerError, match="commit to prod refused.*it is failing back"):
        check_prod_owner(slot, "sales-products-snapshot")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_stale_prefect_deploy_is_refused_and_flowctl_deploy_follows_the_record(
    cut_over, prefect_api
):
    env = {**os.environ, **load_environment("local"), "PREFECT_API_URL": prefect_api.api_url}
    flowctl = [sys.executable, "-m", "flowctl"]
    assert run(
        prefect_cli(), "work-pool", "create", env["FLOWLIB_WORK_POOL"], "--type", "process", env=env
    ).returncode in (0, 1)  # exists already: fine
    stale = run(
        prefect_cli(),
        "--no-prompt",
        "deploy",
        "--all",
        "--prefect-file",
        "deployments/sales/prefect.yaml",
        env=env,
    )
    output = " ".join((stale.stdout + stale.stderr).split())
    assert stale.returncode != 0, output[-2000:]
    assert "sales/products_snapshot is cutover (phase record since" in output
    assert "flowctl deploy --project sales" in output
    from flowlib.migration.prefect_api import PrefectDeployments

    dep = PrefectDeployments().deployment("sales-products-snapshot/products-snapshot")
    assert "phase:cutover" in dep.tags and "target_env" not in dep.parameters

    done = run(*flowctl, "deploy", "--yes", "--project", "sales", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    dep = PrefectDeployments().deployment("sales-products-snapshot/products-snapshot")
    assert "phase:cutover" in dep.tags and "target_env" not in dep.parameters
    drift = run(*flowctl, "migration", "reconcile", "-p", "sales", "--dry-run", env=env)
    assert "sales/products_snapshot" in drift.stdout
    assert "in step with its record" in " ".join(drift.stdout.split()), drift.stdout


def test_set_env_on_a_flow_under_migration_is_refused(cut_over, prefect_api):
    env = {**os.environ, **load_environment("local"), "PREFECT_API_URL": prefect_api.api_url}
    refused = run(
        sys.executable,
        "-m",
        "flowctl",
        "set-env",
        "--env",
        "prod",
        "-p",
        "sales",
        "-f",
        "products_snapshot",
        "--yes",
        env=env,
    )
    text = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0, text
    assert "sales/products_snapshot is under migration" in text
    assert "flowctl cutover -p sales -f products_snapshot" in text


RACER = """
import json, sys
from flowlib.migration.failback import fail_back
outcome = fail_back("sales", "products_snapshot", sys.argv[1], actor=sys.argv[2])
print("OUTCOME " + json.dumps({"status": outcome.status, "message": outcome.message}))
"""


def test_the_hook_and_the_watcher_racing_on_two_runs_fail_back_once(
    cut_over, prefect_api, tmp_path, monkeypatch
):
    """Two real processes, each failing the flow back for another failed run, at once."""
    stub = cut_over
    receiver = WebhookReceiver()
    monkeypatch.setenv("FLOWLIB_NOTIFY_BLOCK", save_webhook_block("race", receiver.url))
    from flowlib.migration.prefect_api import PrefectDeployments

    dep = PrefectDeployments().deployment("sales-products-snapshot/products-snapshot")
    slot = handover()
    runs = [create_flow_run(dep.id, slot + timedelta(days=n)) for n in (0, 1)]
    for run_id in runs:
        crash_flow_run(run_id)
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PREFECT_API_URL": prefect_api.api_url}
    racers = [
        subprocess.Popen(
            [sys.executable, str(script), run_id, actor],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for run_id, actor in zip(runs, ("hook:run-1", "watcher"), strict=True)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in racers]
    outcomes = [
        json.loads(line.removeprefix("OUTCOME "))
        for out in outputs
        for line in out.splitlines()
        if line.startswith("OUTCOME ")
    ]
    assert sorted(o["status"] for o in outcomes) == ["done", "skipped"], outputs
    record = VariableStore().read("sales", "products_snapshot")
    assert record is not None and record.phase == "shadow" and not record.failing_back
    assert [e.action for e in record.events].count("failback") == 1
    assert stub.flow("sales-products-snapshot").is_schedule_active
    # one fail-back: its recovery runs cover both failed runs, once each
    keys = sorted(c.input["idempotency_key"] for c in stub.calls_to("create_flow_run"))
    assert keys == sorted(f"flowlib-failback-{r}" for r in runs)
    receiver.wait_for(lambda m: "fail-back" in str(m.json().get("subject")))
    subjects = [str(m.json().get("subject")) for m in receiver.messages()]
    assert sum("fail-back" in s for s in subjects) == 1, subjects
    receiver.close()


def test_flows_not_under_migration_write_where_they_are_told(prefect_api, lake_env, sources_env):
    reset_migration_state()
    result = products.products_snapshot(target_env="prod", as_of=date(2026, 11, 24))
    assert result["target_env"] == "prod"  # no phase record: target_env decides, as before
    assert Path(lake_env["prod"].removeprefix("file://")).joinpath(result["files"][0]).exists()
