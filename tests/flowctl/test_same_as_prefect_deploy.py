"""`flowctl deploy` registers what `prefect deploy` registers: every field of every deployment.

The repository's three project files, with the dev values (deployments/dev.env: a Kubernetes
pool with the repository's template, the image, /opt/flowlib), go into two fresh servers: one
through the real `prefect --no-prompt deploy --all --prefect-file ...` per file, one through
`flowctl deploy --values dev`. The servers must then hold the same deployments, field by field,
ids and timestamps aside.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devtools.services import REPO_ROOT, Database, PrefectServer, prefect_server
from flowctl.deployments import deploy_project, deployments, load_environment, project_files
from flowctl.deployments.jobs import load_base_job_template
from flowctl.server import jsonable

pytestmark = pytest.mark.integration

IGNORED = {"id", "created", "updated", "flow_id", "work_queue_id"}
IGNORED_IN_SCHEDULES = {"id", "created", "updated", "deployment_id"}


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, prefect_db: Database
) -> Iterator[list[PrefectServer]]:
    """Two fresh servers, started side by side, on the suite's database (FLOWLIB_TEST_DB)."""
    managers = [
        prefect_server(home=tmp_path_factory.mktemp(f"server-{n}"), db=prefect_db, timeout=300)
        for n in "ab"
    ]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(m.__enter__) for m in managers]
    started = [m for m, f in zip(managers, futures, strict=True) if f.exception() is None]
    try:
        yield [f.result() for f in futures]
    finally:
        for manager in started:
            manager.__exit__(None, None, None)


def on(server: PrefectServer, call: Any) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def run() -> Any:
        async with get_client() as client:
            return await call(client)

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        return asyncio.run(run())


def create_pool(server: PrefectServer, name: str) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate

    pool = WorkPoolCreate(name=name, type="kubernetes", base_job_template=load_base_job_template())
    on(server, lambda c: c.create_work_pool(pool))


def every_deployment(server: PrefectServer) -> dict[str, dict[str, Any]]:
    """The server's deployments as JSON by ``flow/deployment``, ids and timestamps removed."""

    async def read(client: Any) -> tuple[list[Any], list[Any]]:
        return await client.read_deployments(), await client.read_flows()

    deployments, flows = on(server, read)
    flow_names = {f.id: f.name for f in flows}
    found = {}
    for dep in deployments:
        data = {k: v for k, v in jsonable(dep).items() if k not in IGNORED}
        if isinstance(data.get("labels"), dict):  # Prefect 3 labels hold the flow's id
            data["labels"].pop("prefect.flow.id", None)
        data["schedules"] = [
            {k: v for k, v in s.items() if k not in IGNORED_IN_SCHEDULES} for s in data["schedules"]
        ]
        found[f"{flow_names[dep.flow_id]}/{dep.name}"] = data
    return found


def flowctl(server: PrefectServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "flowctl"), *args]
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_flowctl_deploy_registers_what_prefect_deploy_registers(servers) -> None:
    by_cli, by_flowctl = servers
    values = load_environment("dev")
    for server in servers:
        create_pool(server, values["FLOWLIB_WORK_POOL"])

    for project in project_files():
        deploy_project(project, values, server_env=by_cli.env())
    result = flowctl(by_flowctl, "deploy", "--values", "dev", "--yes", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(deployments())
    assert json.loads(result.stdout)["summary"]["created"] == count

    expected, actual = every_deployment(by_cli), every_deployment(by_flowctl)
    assert sorted(actual) == sorted(expected) and len(actual) == count
    differences = [
        f"{name}: {field}: prefect deploy {expected[name].get(field)!r}, "
        f"flowctl {actual[name].get(field)!r}"
        for name in expected
        for field in sorted(set(expected[name]) | set(actual[name]))
        if expected[name].get(field) != actual[name].get(field)
    ]
    assert differences == []
    compared = set(next(iter(expected.values())))
    assert {
        "parameters",
        "parameter_openapi_schema",
        "job_variables",
        "pull_steps",
        "schedules",
        "tags",
        "description",
        "work_queue_name",
        "enforce_parameter_schema",
    } <= compared

    # and flowctl judges the CLI's result as its own: nothing to change on either server
    for server in servers:
        again = flowctl(server, "diff", "--values", "dev", "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        assert json.loads(again.stdout)["summary"]["unchanged"] == count


RACE_FILE = """\
name: queue-race
prefect-version: 2.20.27
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: /opt/flowlib
deployments:
"""
RACE_ENTRY = """\
  - name: race-{i:02d}
    entrypoint: flows/sales/products_snapshot.py:products_snapshot
    work_pool:
      name: race-pool
      work_queue_name: queue-{queue}
"""


def test_deployments_naming_one_new_queue_side_by_side_all_land(
    tmp_path: Path, prefect_db: Database
) -> None:
    """Prefect's server makes a missing work queue with a check, then an insert: on PostgreSQL
    two deployments naming one new queue at once made one of them fail with 409 (24 of 300 in
    bench-deploy). flowctl writes the first deployment of each queue alone."""
    path = tmp_path / "queue-race" / "prefect.yaml"
    path.parent.mkdir()
    entries = [RACE_ENTRY.format(i=i, queue=i % 3) for i in range(48)]
    path.write_text(RACE_FILE + "".join(entries), encoding="utf-8")
    with prefect_server(home=tmp_path / "server", db=prefect_db, timeout=300) as server:
        from prefect.client.schemas.actions import WorkPoolCreate

        on(server, lambda c: c.create_work_pool(WorkPoolCreate(name="race-pool", type="process")))
        result = flowctl(
            server, "deploy", "--yes", "--json", "--concurrency", "16", "--prefect-file", str(path)
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        report = json.loads(result.stdout)
        assert report["summary"] == {"created": 48, "updated": 0, "unchanged": 0, "failed": 0}
        queues = on(server, lambda c: c.read_work_queues(work_pool_name="race-pool"))
        assert {q.name for q in queues} >= {"queue-0", "queue-1", "queue-2"}
