"""Every deployment command against a real Prefect server, on several projects at once.

Each test deploys its own copies of the three project files, their deployments renamed with a
per-test suffix, so the tests share the session server without seeing each other.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devtools.services import REPO_ROOT, prefect_cli
from flowctl.deployments import load_env_file
from flowctl.deployments.jobs import load_base_job_template
from flowctl.deployments.yaml_edit import dump_round_trip, load_round_trip

from .conftest import K8S_POOL, PROCESS_POOL, Files, api, flowctl, write_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pools(prefect_api) -> None:
    """A process pool and a Kubernetes pool (the repository's template, which validates)."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    for pool in (
        WorkPoolCreate(name=PROCESS_POOL, type="process"),
        WorkPoolCreate(
            name=K8S_POOL, type="kubernetes", base_job_template=load_base_job_template()
        ),
    ):
        with contextlib.suppress(ObjectAlreadyExists):
            api(lambda c, pool=pool: c.create_work_pool(pool))


def read(files: Files, deployment: str) -> Any:
    return api(lambda c: c.read_deployment_by_name(files.full_name(deployment)))


def exists(files: Files, deployment: str) -> bool:
    from prefect.exceptions import ObjectNotFound

    try:
        read(files, deployment)
    except ObjectNotFound:
        return False
    return True


def run_json(*args: Any, code: int = 0) -> dict[str, Any]:
    result = flowctl(*args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def by_name(report: dict[str, Any], files: Files) -> dict[str, dict[str, Any]]:
    return {d["deployment"].removesuffix(f"-{files.suffix}"): d for d in report["deployments"]}


def prefect_deploy(path: Path, env_file: Path, server_env: dict[str, str]) -> None:
    """The real `prefect deploy --all` of one file (what people may still run)."""
    env = {**server_env, **load_env_file(env_file)}
    cmd = [prefect_cli(), "--no-prompt", "deploy", "--all", "--prefect-file", str(path)]
    proc = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def actives(files: Files, deployment: str) -> list[bool]:
    return [s.active for s in read(files, deployment).schedules]


def test_deploy_several_projects_then_nothing_is_rewritten(pools, files, env_file) -> None:
    count = len(files.names())
    report = run_json("deploy", "--yes", "--env-file", env_file, *files.args())
    assert report["summary"] == {"created": count, "updated": 0, "unchanged": 0, "failed": 0}
    products = read(files, "products-snapshot")
    assert products.work_pool_name == PROCESS_POOL and products.work_queue_name == "sales"
    assert products.parameters == {"target_env": "dev"}
    assert products.job_variables["image"] == "localhost/flowlib:0.1.0"
    assert products.job_variables["env"]["SHOP_API_URL"] == "http://127.0.0.1:8765"
    assert products.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}
    ]
    assert [(s.schedule.cron, s.active) for s in products.schedules] == [("20 2 * * *", True)]
    updated = {name: read(files, name).updated for name in files.names()}

    again = run_json("deploy", "--yes", "--env-file", env_file, *files.args())
    assert again["summary"] == {"created": 0, "updated": 0, "unchanged": count, "failed": 0}
    assert {name: read(files, name).updated for name in files.names()} == updated


def test_dry_run_and_diff_show_field_by_field_and_change_nothing(
    pools, files, env_file, tmp_path
) -> None:
    run_json("deploy", "--env-file", env_file, *files.args("sales", "finance"), "--yes")
    files.edit("finance", '"15 3 * * *"', '"25 3 * * *"')
    files.edit("finance", "      shards: 8\n", "      shards: 4\n")
    newer = write_env(
        tmp_path / "newer.env",
        FLOWLIB_WORK_POOL=PROCESS_POOL,
        FLOWLIB_IMAGE="localhost/flowlib:0.2.0",
    )
    before = {name: read(files, name).updated for name in ("transactions-daily", "fx-rates")}

    plan = by_name(
        run_json("deploy", "--dry-run", "--env-file", newer, "-p", "finance", *files.args()), files
    )
    assert plan["transactions-daily"]["status"] == "update"
    fields = {c["field"]: (c["server"], c["repo"]) for c in plan["transactions-daily"]["changes"]}
    assert fields["parameters.shards"] == (8, 4)
    assert fields["job_variables.image"] == ("localhost/flowlib:0.1.0", "localhost/flowlib:0.2.0")
    assert fields["schedules"][1][0]["schedule"]["cron"] == "25 3 * * *"
    assert [c["field"] for c in plan["fx-rates"]["changes"]] == ["job_variables.image"]
    text = flowctl("deploy", "--dry-run", "--env-file", newer, "-p", "finance", *files.args())
    assert text.exit_code == 0
    assert "parameters.shards: 8 → 4" in text.stdout
    assert (
        'job_variables.image: "localhost/flowlib:0.1.0" → "localhost/flowlib:0.2.0"' in text.stdout
    )
    assert {name: read(files, name).updated for name in before} == before
    assert read(files, "transactions-daily").schedules[0].schedule.cron == "15 3 * * *"

    diff = flowctl("diff", "--env-file", newer, *files.each("finance"), *files.args("finance"))
    assert diff.exit_code == 1, diff.output
    assert "parameters.shards: 8 → 4" in diff.stdout
    assert (
        "0 in sync, 2 differ, 0 not deployed, 0 only on the server, 0 phases differ, 0 errors"
        in diff.stdout
    )

    done = run_json("deploy", "--env-file", newer, "-p", "finance", *files.args())
    assert done["summary"] == {"created": 0, "updated": 2, "unchanged": 0, "failed": 0}
    assert read(files, "transactions-daily").parameters["shards"] == 4
    assert (
        flowctl("diff", "--env-file", newer, *files.each("finance"), *files.args()).exit_code == 0
    )

    # a deployment renamed in the file: the new name is not deployed, the old one only on the server
    files.edit("finance", f"name: {files.name('fx-rates')}", f"name: {files.name('fx')}")
    renamed = run_json("diff", "--env-file", newer, *files.args("finance"), code=1)
    assert by_name(renamed, files)["fx"]["status"] == "not deployed"
    assert f"finance-fx-rates/{files.name('fx-rates')}" in renamed["only_on_server"]


def test_set_env_round_trips_through_write(pools, files, env_file) -> None:
    run_json("deploy", "--yes", "--env-file", env_file, *files.args())
    original = {p: path.read_text() for p, path in files.paths.items()}

    report = by_name(
        run_json(
            "set-env", "--env", "prod", "--write", "-p", "sales", "-p", "migration", *files.args()
        ),
        files,
    )
    assert report["products-snapshot"]["result"] == "switched"
    assert report["products-snapshot"]["notes"] == ["file written"]
    assert report["validate-lakes"]["result"] == "skipped"  # its flow has no target_env
    assert read(files, "products-snapshot").parameters == {"target_env": "prod"}
    assert read(files, "orders-incremental").parameters == {"target_env": "prod"}
    assert read(files, "fx-rates").parameters == {"target_env": "dev"}  # not selected
    edited = files.paths["sales"].read_text()
    changed = [
        (a, b)
        for a, b in zip(original["sales"].splitlines(), edited.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [("      target_env: dev", "      target_env: prod")] * 2
    assert files.paths["migration"].read_text() == original["migration"]
    # repository and server agree: nothing to show, nothing to deploy
    assert flowctl("diff", "--env-file", env_file, *files.each(), *files.args()).exit_code == 0
    again = run_json("deploy", "--yes", "--env-file", env_file, *files.args())
    assert again["summary"]["unchanged"] == len(files.names())

    run_json("set-env", "--env", "dev", "--write", "-p", "sales", *files.args())
    assert {p: path.read_text() for p, path in files.paths.items()} == original
    assert read(files, "products-snapshot").parameters == {"target_env": "dev"}

    # without --write the server alone switches; the next deploy switches back
    result = flowctl("set-env", "-e", "prod", "-f", "fx_rates", *files.args())
    assert result.exit_code == 0 and "Add --write" in result.stdout
    assert read(files, "fx-rates").parameters == {"target_env": "prod"}
    diff = flowctl("diff", "--env-file", env_file, *files.each("finance"), *files.args("finance"))
    assert diff.exit_code == 1 and 'parameters.target_env: "prod" → "dev"' in diff.stdout
    back = run_json("deploy", "--env-file", env_file, "-f", "fx_rates", *files.args())
    assert back["summary"]["updated"] == 1
    assert read(files, "fx-rates").parameters == {"target_env": "dev"}


def test_pause_survives_a_redeploy(pools, files, env_file, prefect_api) -> None:
    run_json("deploy", "--yes", "--env-file", env_file, *files.args("sales"))
    original = files.paths["sales"].read_text()

    paused = by_name(run_json("pause", "-f", "products_snapshot", *files.args("sales")), files)
    assert paused["products-snapshot"]["result"] == "paused"
    assert actives(files, "products-snapshot") == [False]
    assert "paused" in read(files, "products-snapshot").tags
    assert actives(files, "orders-incremental") == [True]

    # the same files again: nothing to write, still paused
    same = run_json("deploy", "--yes", "--env-file", env_file, *files.args("sales"))
    assert same["summary"]["unchanged"] == 2
    assert actives(files, "products-snapshot") == [False]
    # a real change: written, and still paused
    files.edit("sales", "      Daily full snapshot", "      The daily full snapshot")
    changed = by_name(
        run_json("deploy", "--yes", "--env-file", env_file, *files.args("sales")), files
    )
    assert changed["products-snapshot"]["status"] == "updated"
    assert changed["products-snapshot"]["kept_paused"] is True
    assert read(files, "products-snapshot").description.startswith("The daily full snapshot")
    assert actives(files, "products-snapshot") == [False]
    status = by_name(run_json("status", *files.args("sales")), files)
    assert status["products-snapshot"]["paused"] is True
    assert [s["active"] for s in status["products-snapshot"]["schedules"]] == [False]

    # a raw `prefect deploy` re-activates what the file says is active (documented) ...
    prefect_deploy(files.paths["sales"], env_file, prefect_api.env())
    assert actives(files, "products-snapshot") == [True]
    assert "paused" not in read(files, "products-snapshot").tags
    # ... unless `pause --write` wrote `active: false` into the file: then both paths agree
    before_write = files.paths["sales"].read_text()
    run_json("pause", "--write", "-f", "products_snapshot", *files.args("sales"))
    assert "active: false" in files.paths["sales"].read_text()
    prefect_deploy(files.paths["sales"], env_file, prefect_api.env())
    assert actives(files, "products-snapshot") == [False]
    again = by_name(run_json("pause", "-f", "products_snapshot", *files.args("sales")), files)
    assert again["products-snapshot"]["result"] == "paused"  # the tag, dropped by prefect deploy

    resumed = by_name(
        run_json("resume", "--write", "-f", "products_snapshot", *files.args("sales")), files
    )
    assert resumed["products-snapshot"]["result"] == "resumed"
    assert actives(files, "products-snapshot") == [True]
    assert "paused" not in read(files, "products-snapshot").tags
    assert files.paths["sales"].read_text() == before_write
    assert before_write != original  # only the description edit above
    final = run_json("deploy", "--yes", "--env-file", env_file, *files.args("sales"))
    assert final["summary"]["unchanged"] == 2


def test_status_shows_target_env_schedules_and_runs(pools, files, env_file) -> None:
    from prefect.states import Completed

    run_json("deploy", "--yes", "--env-file", env_file, *files.args("sales", "migration"))
    products = read(files, "products-snapshot")
    run = api(lambda c: c.create_flow_run_from_deployment(products.id))
    api(lambda c: c.set_flow_run_state(run.id, Completed(), force=True))

    report = by_name(run_json("status", *files.args("sales", "migration")), files)
    row = report["products-snapshot"]
    assert row["deployed"] is True and row["target_env"] == "dev" and row["paused"] is False
    assert [(s["schedule"]["cron"], s["active"]) for s in row["schedules"]] == [
        ("20 2 * * *", True)
    ]
    assert row["last_run"]["state"] == "Completed"
    assert row["next_run"]["time"]
    assert report["validate-lakes"]["target_env"] is None
    assert report["orders-incremental"]["last_run"] is None

    text = flowctl("status", *files.args("sales", "migration"))
    assert text.exit_code == 0
    for header in (
        "project",
        "deployment",
        "target_env",
        "schedule",
        "active",
        "last run",
        "next run",
    ):
        assert header in text.stdout
    assert "Completed" in text.stdout and "20 2 * * * UTC" in text.stdout

    missing = run_json("status", *files.args("finance"), code=1)  # finance is not deployed
    assert {d["deployed"] for d in missing["deployments"]} == {False}


def test_bad_input_names_file_line_and_deployment_and_the_rest_is_deployed(
    pools, files, env_file
) -> None:
    # products-snapshot and the migration deployments but validate-lakes will be created
    created = len(files.names("migration"))
    finance_deployments = files.names("finance")
    files.edit(
        "sales",
        "      target_env: dev\n    enforce_parameter_schema: true\n    tags:\n"
        "      - project:sales\n      - source:shop\n      - phase:shadow\n"
        "    work_pool: *work_pool\n    pull: *pull_from_image\n    schedules:\n"
        "      # legacy: every hour",
        "      target_env: dev\n      trget_env: prod\n    enforce_parameter_schema: true\n"
        "    tags:\n      - project:sales\n      - source:shop\n      - phase:shadow\n"
        "    work_pool: *work_pool\n    pull: *pull_from_image\n    schedules:\n"
        "      # legacy: every hour",
    )
    with files.paths["sales"].open("a") as f:
        f.write(
            f"\n  - name: {files.name('broken')}\n"
            "    entrypoint: flows/sales/no_such_module.py:flow\n"
            "    work_pool: *work_pool\n"
        )
    files.edit(
        "finance",
        "    entrypoint: flows/finance/fx_rates.py:fx_rates\n",
        "    entrypoint: flows/finance/fx_rates.py:fx_rates\n    tags: [a, b\n",
    )
    path = files.paths["migration"]
    doc = load_round_trip(path)
    lakes = next(d for d in doc["deployments"] if d["name"] == files.name("validate-lakes"))
    lakes["work_pool"] = {"name": "no-such-pool"}
    path.write_text(dump_round_trip(doc))

    report = run_json("deploy", "--yes", "--env-file", env_file, *files.args(), code=2)
    # the finance file does not parse: one failure for the file
    assert report["summary"] == {"created": created, "updated": 0, "unchanged": 0, "failed": 4}
    problems = "\n".join(report["problems"])
    sales, finance, migration = (str(files.paths[p]) for p in ("sales", "finance", "migration"))
    sales_lines = files.paths["sales"].read_text().splitlines()
    param_line = sales_lines.index("      trget_env: prod") + 1
    assert (
        f"{sales}:{param_line} deployment {files.name('orders-incremental')}: parameter "
        "'trget_env' is not a parameter of flow sales-orders-incremental"
    ) in problems
    entry_line = sales_lines.index("    entrypoint: flows/sales/no_such_module.py:flow") + 1
    assert f"{sales}:{entry_line} deployment {files.name('broken')}: entrypoint" in problems
    assert "does not import" in problems
    assert f"{finance}:" in problems and "YAML syntax error" in problems
    assert (
        f"deployment {files.name('validate-lakes')}: work pool 'no-such-pool' does not exist"
        in problems
    )
    assert migration in problems
    # the good one was deployed, nothing of the bad ones
    assert exists(files, "products-snapshot")
    assert not any(exists(files, n) for n in finance_deployments)
    assert not any(exists(files, n) for n in ("orders-incremental", "validate-lakes"))

    text = flowctl("deploy", "--yes", "--env-file", env_file, *files.args())
    assert text.exit_code == 2
    assert f"✗ {sales}:{param_line} deployment {files.name('orders-incremental')}" in text.stdout


def test_a_deployment_the_server_refuses_fails_alone_with_exit_1(pools, files, tmp_path) -> None:
    env = write_env(tmp_path / "k8s.env", FLOWLIB_WORK_POOL=K8S_POOL)
    files.edit("finance", "      memory_limit: 1152Mi\n", "      memory_limit: lots\n")
    report = by_name(
        run_json("deploy", "--yes", "--env-file", env, *files.args("finance"), code=1), files
    )
    assert report["fx-rates"]["status"] == "created"
    assert report["transactions-daily"]["status"] == "failed"
    assert "the server refused the deployment (HTTP 422" in report["transactions-daily"]["error"]
    assert "memory_limit" in report["transactions-daily"]["error"]
    assert not exists(files, "transactions-daily") and exists(files, "fx-rates")
