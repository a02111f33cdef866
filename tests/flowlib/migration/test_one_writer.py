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
from uuid import UUID

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


def cut_over_products(monkeypatch: pytest.MonkeyPatch, schedules_active: bool) -> Prefect1Stub:
    """products_snapshot validated and cut over on the real server; the stub is Prefect 1."""
    reset_migration_state()
    stub = Prefect1Stub().start()
    stub.add_flow("sales-products-snapshot", "sales", parameters=["as_of", "sample"])
    stub.add_flow("sales-orders-incremental", "sales", parameters=["window_start", "window_end"])
    monkeypatch.setenv("PREFECT1_API_URL", stub.url)
    register_deployment("sales", "products_snapshot", schedules_active=schedules_active)
    init_phases("sales", actor="test")
    record_validation("sales", "products_snapshot", report_for("sales/shop/products"))
    [outcome] = cutover("sales", "products_snapshot", actor="user:test")
    assert outcome.status == "done", outcome.message
    return stub


@pytest.fixture
def cut_over(prefect_api, lake_env, sources_env, monkeypatch):
    """Cut over, its schedule inactive (the server's scheduler creates no run of its own)."""
    stub = cut_over_products(monkeypatch, schedules_active=False)
    yield stub
    stub.close()


@pytest.fixture
def cut_over_scheduled(prefect_api, lake_env, sources_env, monkeypatch):
    """Cut over with its schedule active: the record expects a run for each of its slots."""
    stub = cut_over_products(monkeypatch, schedules_active=True)
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


def test_flowctl_status_shows_the_handover_slot(cut_over, prefect_api):
    env = {**os.environ, **load_environment("local"), "PREFECT_API_URL": prefect_api.api_url}
    flowctl = [sys.executable, "-m", "flowctl", "status", "-p", "sales", "-f", "products_snapshot"]
    shown = run(*flowctl, "--json", env=env)
    [row] = json.loads(shown.stdout)["deployments"]
    record = VariableStore().read("sales", "products_snapshot")
    assert record is not None and record.handover
    assert (row["phase"], row["handover"]) == ("cutover", record.handover), shown.stdout
    table = run(*flowctl, env={**env, "COLUMNS": "250"})
    assert f"cutover from {handover():%Y-%m-%d %H:%M} UTC" in table.stdout, table.stdout


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


WATCHER = """
import json, sys
from datetime import datetime
from flowlib.migration.failback import watch
from flowlib.migration.services import default_services
svc = default_services()
svc.now = lambda: datetime.fromisoformat(sys.argv[1])  # the watcher's pass, a day ahead
result = watch(actor=sys.argv[2], services=svc)
print("OUTCOMES " + json.dumps([[o.status, o.message] for o in result.outcomes]))
"""


def test_a_slot_that_got_no_run_fails_the_flow_back_once(cut_over_scheduled, prefect_api, tmp_path):
    """The schedule paused after the cutover: the next slot gets no run, and nothing fails.

    Two watcher processes pass at once, after that slot's deadline: one fail-back, one legacy
    recovery run for the slot, the legacy flow scheduled again.
    """
    from prefect import get_client
    from prefect.states import Completed

    from flowlib.migration._aio import run_sync
    from flowlib.migration.prefect_api import PrefectDeployments

    stub = cut_over_scheduled
    record = VariableStore().read("sales", "products_snapshot")
    assert record is not None
    [expected] = record.plan["slots"]  # the deployment's own active schedule, from the cutover
    assert expected["cron"] == "20 2 * * *"
    dep = PrefectDeployments().deployment("sales-products-snapshot/products-snapshot")
    first = handover().replace(minute=20)  # 02:20, the deployment's slot after the 02:00 handover
    ran = create_flow_run(dep.id, first)

    async def complete_then_pause() -> None:
        async with get_client() as client:
            await client.set_flow_run_state(UUID(ran), Completed(), force=True)
            for schedule in await client.read_deployment_schedules(UUID(dep.id)):
                # paused by hand: the server deletes its auto-scheduled runs, none is created
                await client.update_deployment_schedule(UUID(dep.id), schedule.id, active=False)

    run_sync(complete_then_pause)
    missed = first + timedelta(days=1)
    script = tmp_path / "watcher.py"
    script.write_text(WATCHER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PREFECT_API_URL": prefect_api.api_url}
    at = (missed + timedelta(hours=1, minutes=1)).isoformat()
    watchers = [
        subprocess.Popen(
            [sys.executable, str(script), at, actor],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for actor in ("watcher:a", "watcher:b")
    ]
    outputs = [p.communicate(timeout=240)[0] for p in watchers]
    outcomes = [
        outcome
        for out in outputs
        for line in out.splitlines()
        if line.startswith("OUTCOMES ")
        for outcome in json.loads(line.removeprefix("OUTCOMES "))
    ]
    assert [o[0] for o in outcomes].count("done") == 1, outputs
    assert all(o[0] in ("done", "skipped") for o in outcomes), outputs
    record = VariableStore().read("sales", "products_snapshot")
    assert record is not None and record.phase == "shadow"
    assert [e.action for e in record.events].count("failback") == 1
    assert f"no flow run for the slot {missed.isoformat(timespec='seconds')}" in record.reason
    assert stub.flow("sales-products-snapshot").is_schedule_active
    [request] = [c.input for c in stub.calls_to("create_flow_run")]
    assert request["parameters"] == {"as_of": missed.date().isoformat()}
    assert request["idempotency_key"].endswith(f"-{missed:%Y%m%dT%H%M%SZ}")


SLOW_COMMIT = """
import sys, time
from datetime import datetime
from pathlib import Path
from flowlib.migration.ownership import NotOwnerError, prod_commit
slot, go = datetime.fromisoformat(sys.argv[1]), Path(sys.argv[2])
try:
    with prod_commit(slot, "sales-products-snapshot"):
        print("HELD", time.time(), flush=True)
        deadline = time.time() + 180
        while not go.exists() and time.time() < deadline:  # until the fail-back is under way
            time.sleep(0.1)
        time.sleep(5)  # publishing, slowly
        print("PUBLISHED", time.time(), flush=True)
except NotOwnerError as exc:
    print("REFUSED", time.time(), exc, flush=True)
"""

FLIP = """
import sys, time
from flowlib.migration.failback import fail_back
print("READY", time.time(), flush=True)
outcome = fail_back("sales", "products_snapshot", sys.argv[1], actor="hook:slow")
print("FAILED_BACK", time.time(), outcome.status, outcome.message, flush=True)
"""


def test_a_fail_back_waits_for_a_commit_in_progress_and_refuses_the_next(
    cut_over, prefect_api, tmp_path
):
    """Two real processes: a prod commit held open, and a fail-back starting in the middle.

    The commit passes its ownership check, then publishes for 5 s once the fail-back process
    has started. Without the commit lock the fail-back marks the record failing_back during
    that publish (its recovery and the publish would overlap); with it, the flip waits until
    the publish is done, and a commit after the flip is refused.
    """
    from flowlib.migration.prefect_api import PrefectDeployments

    dep = PrefectDeployments().deployment("sales-products-snapshot/products-snapshot")
    slot = handover() + timedelta(days=1, minutes=20)
    failed = create_flow_run(dep.id, slot)
    crash_flow_run(failed)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PREFECT_API_URL": prefect_api.api_url}
    (tmp_path / "commit.py").write_text(SLOW_COMMIT)
    (tmp_path / "flip.py").write_text(FLIP)
    go = tmp_path / "go"

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    committer = start(str(tmp_path / "commit.py"), slot.isoformat(), str(go))
    assert committer.stdout is not None
    held = committer.stdout.readline()
    assert held.startswith("HELD"), held + committer.communicate(timeout=60)[0]
    flipper = start(str(tmp_path / "flip.py"), failed)
    assert flipper.stdout is not None
    ready = flipper.stdout.readline()
    assert ready.startswith("READY"), ready + flipper.communicate(timeout=60)[0]
    go.touch()  # the fail-back is starting: the commit publishes for the next 5 s
    committed = held + committer.communicate(timeout=120)[0]
    flipped = ready + flipper.communicate(timeout=240)[0]
    [published] = [line for line in committed.splitlines() if line.startswith("PUBLISHED")]
    [done] = [line for line in flipped.splitlines() if line.startswith("FAILED_BACK")]
    assert done.split()[2] == "done", flipped
    record = VariableStore().read("sales", "products_snapshot")
    assert record is not None and record.phase == "shadow"
    [start_event] = [e for e in record.events if e.action == "failback-start"]
    flipped_at = datetime.fromisoformat(start_event.at).timestamp()  # whole seconds
    assert flipped_at >= float(published.split()[1]) - 1, (committed, start_event.at)
    later = start(str(tmp_path / "commit.py"), slot.isoformat(), str(go))
    refused = later.communicate(timeout=120)[0]
    assert "REFUSED" in refused and "commit to prod refused" in refused, refused
